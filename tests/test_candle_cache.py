"""The columnar copy of a candle file: served while current, rebuilt on change, never in the way."""

from __future__ import annotations

import os

import pandas as pd
import pytest

from backtest.data import load_candles
from backtest.synthetic import synthetic_candles
from storage import candle_cache
from storage.candle_cache import cache_path, cached_read


@pytest.fixture(autouse=True)
def own_cache_folder(tmp_path, monkeypatch):
    """Each test's copies go to its own cache folder, never the user's."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))


@pytest.fixture
def counted_reader():
    """A reader that counts how often it parses the file."""
    calls = []

    def reader(path):
        calls.append(path)
        return pd.read_csv(path), ("a note",)

    return reader, calls


def test_a_repeated_read_comes_from_the_copy_until_the_file_changes(tmp_path, counted_reader):
    """
    Given a candle file read once through the cache
    When it is read again, then appended to and read once more
    Then the second read parses nothing and equals the first; the third parses the new file
    """
    reader, calls = counted_reader
    path = tmp_path / "c.csv"
    synthetic_candles(200, seed=1).to_csv(path, index=False)
    first, notes = cached_read(path, reader, min_bytes=0)
    again, notes_again = cached_read(path, reader, min_bytes=0)
    assert len(calls) == 1 and notes_again == notes == ("a note",)
    pd.testing.assert_frame_equal(first, again)
    assert cache_path(path).is_file() and not cache_path(path, beside=True).exists()
    with path.open("a") as handle:
        handle.write("1704079200000,1,1,1,1,1\n")
    newer, _ = cached_read(path, reader, min_bytes=0)
    assert len(calls) == 2 and len(newer) == 201


def test_a_damaged_copy_is_ignored_and_rebuilt(tmp_path, counted_reader):
    """
    Given a cached candle file whose copy is then overwritten with garbage
    When it is read
    Then the file is parsed again and a sound copy replaces the garbage
    """
    reader, calls = counted_reader
    path = tmp_path / "c.csv"
    synthetic_candles(50, seed=2).to_csv(path, index=False)
    cached_read(path, reader, min_bytes=0)
    cache_path(path).write_bytes(b"not a zip")
    cached_read(path, reader, min_bytes=0)
    cached_read(path, reader, min_bytes=0)
    assert len(calls) == 2


def test_an_unusable_cache_folder_falls_back_to_beside_the_file(tmp_path, counted_reader,
                                                                monkeypatch):
    """
    Given a user cache folder where the copy cannot be written (a file holds its name)
    When the candle file is read twice
    Then the copy goes beside the file as .<name>.columns and serves the second read
    """
    reader, calls = counted_reader
    (tmp_path / "xdg").write_text("not a folder")
    path = tmp_path / "c.csv"
    synthetic_candles(50, seed=3).to_csv(path, index=False)
    cached_read(path, reader, min_bytes=0)
    cached_read(path, reader, min_bytes=0)
    assert len(calls) == 1
    assert (tmp_path / ".c.csv.columns").is_file()


def test_small_files_are_not_copied_and_errors_pass_through(tmp_path, counted_reader):
    """
    Given a file below the size threshold and a missing file
    When they are read through the cache with the backtester's loader
    Then no copy appears, and the missing file gives the reader's one-line error
    """
    reader, calls = counted_reader
    path = tmp_path / "c.csv"
    synthetic_candles(20, seed=4).to_csv(path, index=False)
    assert os.path.getsize(path) < candle_cache.MIN_BYTES
    cached_read(path, reader)
    assert not cache_path(path).exists()
    with pytest.raises(ValueError, match="no such candle file"):
        load_candles(tmp_path / "missing.csv")


def test_the_backtest_loader_serves_a_large_file_from_its_copy(tmp_path, monkeypatch):
    """
    Given a candle file over the threshold read once with load_candles
    When it is read again with the parser made unusable
    Then the candles still come back, equal, from the copy
    """
    monkeypatch.setattr(candle_cache, "MIN_BYTES", 0)
    monkeypatch.setattr(cached_read, "__defaults__", (0,))
    path = tmp_path / "c.csv"
    synthetic_candles(300, seed=6).to_csv(path, index=False)
    first = load_candles(path)
    import backtest.data as data

    def broken(_path):
        raise AssertionError("the file was parsed again")

    monkeypatch.setattr(data, "read_candle_source", broken)
    pd.testing.assert_frame_equal(load_candles(path), first)


def test_a_served_frame_may_be_written_without_touching_the_copy(tmp_path, counted_reader):
    """
    Given a frame served from the copy
    When a caller writes into one of its columns
    Then the next read still serves the file's values
    """
    reader, _ = counted_reader
    path = tmp_path / "c.csv"
    synthetic_candles(100, seed=7).to_csv(path, index=False)
    cached_read(path, reader, min_bytes=0)
    served, _ = cached_read(path, reader, min_bytes=0)
    original = float(served["close"].iloc[3])
    served["close"].to_numpy()[3] = -1.0
    again, _ = cached_read(path, reader, min_bytes=0)
    assert float(again["close"].iloc[3]) == original
    assert served["timestamp"].dtype == "int64"
