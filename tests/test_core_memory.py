"""reuse_freed_memory: large numpy temporaries stop costing fresh pages each time."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import PROJECT_DIR

CHILD = """
import resource, sys
import numpy as np
from core.memory import reuse_freed_memory
if sys.argv[1] == "on":
    assert reuse_freed_memory() and reuse_freed_memory()
x = np.ones(5_000_000)  # 40 MB: above glibc's largest adaptive mmap threshold
(x * 2.0).sum()  # warm: the first block is faulted in either way
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    (x * 2.0).sum()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def test_freed_arrays_are_reused_without_new_page_faults():
    """
    Given a process that creates and drops twenty 40 MB arrays
    When it runs with and without reuse_freed_memory
    Then without it every array faults its pages in afresh (thousands of faults; fewer with
      transparent huge pages), with it almost none do
    """
    faults = {}
    for mode in ("off", "on"):
        done = subprocess.run([sys.executable, "-c", CHILD, mode], cwd=PROJECT_DIR,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        faults[mode] = int(done.stdout.strip())
    assert faults["off"] > 2000
    assert faults["on"] < faults["off"] / 20


def test_main_keeps_blas_single_threaded_unless_the_user_says_otherwise():
    """
    Given main.py imported without OPENBLAS_NUM_THREADS, then with it set to 2
    When the variable is read
    Then it is 1 by default and the user's 2 otherwise
    """
    import os

    code = "import os, main; print(os.environ['OPENBLAS_NUM_THREADS'])"
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    for extra, want in (({}, "1"), ({"OPENBLAS_NUM_THREADS": "2"}, "2")):
        done = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_DIR, text=True,
                              capture_output=True, env={**env, **extra}, timeout=60)
        assert done.stdout.strip() == want, done.stderr
