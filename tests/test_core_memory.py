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
