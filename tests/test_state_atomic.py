"""Crash-safe file primitives: atomic replace, leftover temp files, partial-tail repair."""

from __future__ import annotations

import os
import stat

import pytest

from storage import atomic
from storage.atomic import cut_partial_tail, fsync_dir, temp_files_for, write_atomic


def test_write_atomic_replaces_content_with_owner_only_permission(tmp_path):
    """
    Given an existing file with old content
    When write_atomic writes new content over it
    Then the file holds the new content, is readable by its owner only and no temp file is left
    """
    target = tmp_path / "state.json"
    target.write_text("old")
    write_atomic(target, b"new")
    assert target.read_bytes() == b"new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]


def test_write_atomic_creates_missing_directory(tmp_path):
    """
    Given a path whose directory does not exist yet
    When write_atomic writes to it
    Then the directory is created and the file written
    """
    target = tmp_path / "deep" / "dir" / "state.json"
    write_atomic(target, b"{}")
    assert target.read_bytes() == b"{}"


def test_write_atomic_failing_rename_keeps_old_file_and_no_temp(tmp_path, monkeypatch):
    """
    Given an existing file and a rename that fails (as a full disk or a kill would)
    When write_atomic is called
    Then the error propagates, the old content is intact and the temp file is removed
    """
    target = tmp_path / "state.json"
    target.write_text("old")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(atomic.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        write_atomic(target, b"new")
    assert target.read_text() == "old"
    assert temp_files_for(target) == []


def test_temp_files_for_finds_leftovers_of_that_file_only(tmp_path):
    """
    Given temp files left by a killed write of state.json and an unrelated file
    When temp_files_for(state.json) is asked
    Then only the state.json leftovers are listed
    """
    (tmp_path / ".state.json.abc123.tmp").write_text("x")
    (tmp_path / ".other.json.abc.tmp").write_text("x")
    (tmp_path / "state.json").write_text("{}")
    found = temp_files_for(tmp_path / "state.json")
    assert [p.name for p in found] == [".state.json.abc123.tmp"]
    assert temp_files_for(tmp_path / "absent-dir" / "state.json") == []


def test_fsync_dir_tolerates_a_missing_directory(tmp_path):
    """
    Given a directory that exists and one that does not
    When fsync_dir is called on each
    Then neither raises
    """
    fsync_dir(tmp_path)
    fsync_dir(tmp_path / "missing")


@pytest.mark.parametrize(
    ("content", "cut", "left"),
    [
        (b"a,b\n1,2\n3,", b"3,", b"a,b\n1,2\n"),
        (b"a,b\n1,2\n", b"", b"a,b\n1,2\n"),
        (b"a,b", b"a,b", b""),
        (b"", b"", b""),
    ],
)
def test_cut_partial_tail_removes_only_an_unterminated_last_line(tmp_path, content, cut, left):
    """
    Given a file whose last line may lack its newline
    When cut_partial_tail runs
    Then it returns the cut bytes and leaves only whole lines
    """
    path = tmp_path / "j.csv"
    path.write_bytes(content)
    assert cut_partial_tail(path) == cut
    assert path.read_bytes() == left


def test_cut_partial_tail_handles_a_long_partial_line(tmp_path):
    """
    Given a partial last line longer than the 4 KiB read block
    When cut_partial_tail runs
    Then the whole partial line is cut and the earlier lines stay
    """
    path = tmp_path / "j.csv"
    long_tail = b"x" * 10_000
    path.write_bytes(b"h\n1\n" + long_tail)
    assert cut_partial_tail(path) == long_tail
    assert path.read_bytes() == b"h\n1\n"
    assert cut_partial_tail(tmp_path / "absent.csv") == b""
    assert os.path.exists(path)


def test_repair_tail_keeps_a_complete_line_and_cuts_a_torn_one(tmp_path):
    """
    Given files ending in an unterminated line the judge calls complete, and one it does not
    When repair_tail runs on each
    Then the complete line gets its newline, the torn one is cut, a sound file is untouched
    """
    from storage.atomic import COMPLETED, CUT, repair_tail

    path = tmp_path / "a.csv"
    path.write_bytes(b"h\n1,2")
    assert repair_tail(path, lambda line: line == b"1,2") == (COMPLETED, b"1,2")
    assert path.read_bytes() == b"h\n1,2\n"
    assert repair_tail(path, lambda line: True) == ("", b"")
    path.write_bytes(b"h\n1,")
    assert repair_tail(path, lambda line: line == b"1,2") == (CUT, b"1,")
    assert path.read_bytes() == b"h\n"
    assert repair_tail(tmp_path / "absent", lambda line: True) == ("", b"")


def test_append_whole_is_all_or_nothing(tmp_path, monkeypatch):
    """
    Given a file and a write that fails part-way (the disk filled up)
    When append_whole appends two lines
    Then the error propagates and the file is cut back to what it held; a later append works
    """
    import errno

    import storage.atomic as atomic
    from storage.atomic import append_whole

    path = tmp_path / "a.csv"
    append_whole(path, b"one\n")
    real_write = os.write
    calls = []

    def short_then_full(fd, data):
        calls.append(len(data))
        if len(calls) == 1:
            return real_write(fd, bytes(data[:3]))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic.os, "write", short_then_full)
    with pytest.raises(OSError, match="No space"):
        append_whole(path, b"two\nthree\n")
    monkeypatch.undo()
    assert path.read_bytes() == b"one\n"
    append_whole(path, b"two\n")
    assert path.read_bytes() == b"one\ntwo\n"


def test_move_aside_keeps_the_bytes_under_a_free_name(tmp_path):
    """
    Given a damaged file, and a second one moved aside in the same second
    When move_aside runs on each
    Then each gets its own .corrupt-<stamp> name with the bytes intact
    """
    from storage.atomic import move_aside

    path = tmp_path / "x.json"
    path.write_text("one")
    first = move_aside(path)
    path.write_text("two")
    second = move_aside(path)
    assert first != second and not path.exists()
    assert first.read_text() == "one" and second.read_text() == "two"
    assert first.name.startswith("x.json.corrupt-")
