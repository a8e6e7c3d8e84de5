"""``python main.py import``: the project's candle CSV from any known layout."""

from __future__ import annotations

from commands.import_candles import candle_csv_bytes
from main import main
from tests.candle_layouts import candles, write_layout


def test_candle_csv_bytes_is_the_project_header_and_plain_numbers():
    """
    Given two candles
    When candle_csv_bytes renders them
    Then the text is the project's header, epoch ms and the prices as stored
    """
    text = candle_csv_bytes(candles(2)).decode()
    lines = text.splitlines()
    assert lines[0] == "timestamp,open,high,low,close,volume"
    assert lines[1].startswith("1704067200000,30000.0,")


def test_import_replaces_only_with_force(tmp_path, capsys):
    """
    Given a Binance kline file and an existing output file
    When import runs without and then with --force
    Then the first run keeps the file and exits 2, the second replaces it and exits 0
    """
    src = write_layout("a Binance kline CSV in milliseconds", candles(5), tmp_path)
    out = tmp_path / "out.csv"
    out.write_text("keep\n")
    assert main(["import", str(src), "--out", str(out)]) == 2
    assert out.read_text() == "keep\n"
    assert main(["import", str(src), "--out", str(out), "--force"]) == 0
    assert out.read_text().startswith("timestamp,")
    assert "5 5m candles (Binance kline CSV) from 2024-01-01 00:00 UTC to 2024-01-01 00:20 UTC" \
        in capsys.readouterr().out


def test_import_of_a_bad_file_is_one_line_and_writes_nothing(tmp_path, capsys):
    """
    Given a file in no known layout
    When import runs
    Then it exits 2 with one line and no output file appears
    """
    src = tmp_path / "x.csv"
    src.write_text("a,b\n1,2\n")
    assert main(["import", str(src), "--out", str(tmp_path / "o.csv")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("import: ") and "unknown candle layout" in err[0]
    assert not (tmp_path / "o.csv").exists()


def test_import_into_an_unwritable_place_is_one_line(tmp_path, capsys):
    """
    Given an output path under a regular file (not a folder)
    When import runs
    Then it exits 2 saying it cannot write there
    """
    src = write_layout("a freqtrade json file", candles(5), tmp_path)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["import", str(src), "--out", str(blocker / "o.csv")]) == 2
    assert "import: cannot write" in capsys.readouterr().err
