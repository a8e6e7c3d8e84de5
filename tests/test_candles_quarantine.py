"""A damaged candle file found at start is moved aside, never overwritten; a torn tail is cut."""

import logging
import os
import re
from datetime import datetime

import pytest

from storage import candles
from storage.candles import append_candles, quarantine_if_damaged, read_candles
from tests.test_candles_file import HEADER, frame, good_rows


def write(path, text: str | bytes):
    if isinstance(text, str):
        text = text.encode("utf-8")
    path.write_bytes(text)
    return path


def good_text(n=3):
    return HEADER + "".join(",".join(str(v) for v in row) + "\n" for row in good_rows(n))


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (good_text(2) + "1700000120000,101,abc,100,101,5\n" + good_text(3)[len(HEADER):],
         "line 4: high 'abc' is not a number"),
        (good_text(3) + "1700000060000,100,102,99,101,5\n", "line 5: timestamp is not after"),
        ("timestamp,open,high,low,close\n1,1,1,1,1\n", "missing column(s) volume"),
        (good_text(2) + "1700000120000,101,99,100,101,5\n", "line 4: high is below low"),
        (b"timestamp,open,high,low,close,volume\n\xff\xfe\x00garbage\n", "not a readable CSV"),
    ],
    ids=["text-in-a-price", "out-of-order", "missing-column", "high-below-low", "binary"],
)
def test_damaged_file_is_moved_aside_with_a_one_line_warning(tmp_path, caplog, body, reason):
    """
    Given a candle file with a damaged row or header
    When the bot start checks it
    Then it is renamed to historical_data.csv.corrupt-<UTC stamp> with its bytes unchanged,
     the original name is free for a fresh file, and one WARNING line names the reason and copy
    """
    path = write(tmp_path / "historical_data.csv", body)
    before = path.read_bytes()
    with caplog.at_level(logging.WARNING, logger="paperbot"):
        aside = quarantine_if_damaged(path)
    assert aside is not None and not path.exists()
    assert re.fullmatch(r"historical_data\.csv\.corrupt-\d{8}T\d{6}Z", aside.name)
    assert aside.read_bytes() == before
    [record] = [r for r in caplog.records if r.levelno == logging.WARNING]
    message = record.getMessage()
    assert "\n" not in message and reason in message and aside.name in message
    assert "starting a fresh candle file" in message


def test_fresh_file_is_started_after_a_quarantine(tmp_path):
    """
    Given a damaged candle file was moved aside
    When the bot then appends candles
    Then a new file with a header and only the new rows exists next to the kept copy
    """
    path = write(tmp_path / "historical_data.csv", HEADER + "oops,1,2,3,4,5\n")
    aside = quarantine_if_damaged(path)
    assert append_candles(path, frame(good_rows(3))) == 3
    assert len(read_candles(path)) == 3 and aside.read_text().endswith("oops,1,2,3,4,5\n")


def test_sound_file_is_left_alone(tmp_path):
    """
    Given a sound candle file, a header-only file, an empty file and no file at all
    When each is checked
    Then nothing is moved and every file keeps its bytes
    """
    sound = write(tmp_path / "a.csv", good_text(3))
    header_only = write(tmp_path / "b.csv", HEADER)
    empty = write(tmp_path / "c.csv", b"")
    for path in (sound, header_only, empty):
        before = path.read_bytes()
        assert quarantine_if_damaged(path) is None
        assert path.read_bytes() == before
    assert quarantine_if_damaged(tmp_path / "absent.csv") is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv", "b.csv", "c.csv"]


def test_truncated_last_line_is_repaired_in_place_not_moved(tmp_path, caplog):
    """
    Given a candle file whose last line was cut mid-write (no newline at the end)
    When it is checked
    Then only the partial line is removed, the file stays in place, and a warning says so
    """
    path = write(tmp_path / "historical_data.csv", good_text(3) + "1700000180000,103,10")
    with caplog.at_level(logging.WARNING, logger="paperbot"):
        assert quarantine_if_damaged(path) is None
    assert path.read_text() == good_text(3)
    assert "cut a partial last line" in caplog.text


def test_two_quarantines_in_the_same_second_get_distinct_names(tmp_path, monkeypatch):
    """
    Given a damaged file was moved aside, and a second damaged file appears at once
    When the second is checked in the same second
    Then it gets its own name with a counter and the first copy is not overwritten
    """
    class FrozenTime(datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime(2025, 1, 2, 3, 4, 5, tzinfo=tz)

    monkeypatch.setattr(candles, "datetime", FrozenTime)
    path = tmp_path / "historical_data.csv"
    first = quarantine_if_damaged(write(path, HEADER + "x,1,1,1,1,1\n"))
    second = quarantine_if_damaged(write(path, HEADER + "y,1,1,1,1,1\n"))
    assert first != second and first.exists() and second.exists()
    assert first.name == "historical_data.csv.corrupt-20250102T030405Z"
    assert second.name == "historical_data.csv.corrupt-20250102T030405Z-1"
    assert first.read_text() != second.read_text()


def test_unreadable_file_is_not_moved(tmp_path):
    """
    Given a candle file the process may not read
    When it is checked
    Then the OSError propagates (moving it would not help) and the file stays where it is
    """
    if os.geteuid() == 0:
        pytest.skip("root reads files regardless of their permission bits")
    path = write(tmp_path / "historical_data.csv", good_text(2))
    path.chmod(0)
    try:
        with pytest.raises(OSError):
            quarantine_if_damaged(path)
        assert path.exists()
    finally:
        path.chmod(0o600)
