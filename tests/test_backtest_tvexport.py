"""Reading TradingView "List of trades" exports in both header layouts."""

import pytest

from backtest.tvexport import Number, TvExportError, export_columns, parse_number, read_tv_trades

CURRENT = ("Trade #,Type,Date/Time,Signal,Price USD,Position size (qty),Position size (value),"
           "Net P&L USD,Net P&L %,Run-up USD,Run-up %,Drawdown USD,Drawdown %,"
           "Cumulative P&L USD,Cumulative P&L %")
OLD = ("Trade #,Type,Signal,Date/Time,Price USD,Contracts,Profit USD,Profit %,Cum. Profit USD,"
       "Cum. Profit %,Run-up USD,Run-up %,Drawdown USD,Drawdown %")


def write(tmp_path, lines, name="export.csv"):
    """A file with the given lines."""
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_current_layout_rows_in_any_order_are_keyed_by_trade_number(tmp_path):
    """
    Given a current-layout export listing the newest trade first and exits before entries
    When it is read
    Then trades come back in number order with their sides, times, prices, sizes and P&L
    """
    path = write(tmp_path, [
        CURRENT,
        "2,Exit short,2022-01-14T14:00:00-0500,Open,1.14097,1,1.13554,-0.01,-0.48,0.01,0.62,"
        "-0.01,-1.12,-0.0001,0",
        "2,Entry short,2022-01-09T18:00:00-0500,RsiSE,1.13554,1,1.13554,-0.01,-0.48,0.01,0.62,"
        "-0.01,-1.12,-0.0001,0",
        "1,Exit long,2022-01-09T18:00:00-0500,RsiSE,1.13554,1,1.13018,0.01,0.47,0.01,0.55,"
        "-0.003,-0.26,0.01,0",
        "1,Entry long,2022-01-03T19:00:00-0500,RsiLE,1.13018,1,1.13018,0.01,0.47,0.01,0.55,"
        "-0.003,-0.26,0.01,0",
    ])
    first, second = read_tv_trades(path)
    assert (first.number, first.direction, second.number, second.direction) == (1, 1, 2, -1)
    assert first.entry_time == "2022-01-03T19:00:00-0500"
    assert first.exit_time == "2022-01-09T18:00:00-0500"
    assert (first.entry_price.value, first.exit_price.value) == (1.13018, 1.13554)
    assert first.pnl == Number(0.01, 2)
    assert (first.entry_signal, first.exit_signal, first.qty) == ("RsiLE", "RsiSE", 1.0)
    assert second.is_open and not first.is_open


def test_old_layout_is_read_too(tmp_path):
    """
    Given an older export (Signal before Date/Time, Contracts, Profit USD) with naive dates
    When it is read
    Then its trades come back the same way
    """
    path = write(tmp_path, [
        OLD,
        "1,Entry Long,RsiLE,2022-01-03 19:00,1.13018,3,0.016,0.47,0.016,0,0.02,0.55,-0.009,-0.26",
        "1,Exit Long,RsiSE,2022-01-09 18:00,1.13554,3,0.016,0.47,0.016,0,0.02,0.55,-0.009,-0.26",
    ])
    (trade,) = read_tv_trades(path)
    assert (trade.direction, trade.qty, trade.pnl.value) == (1, 3.0, 0.016)
    assert (trade.entry_time, trade.exit_time) == ("2022-01-03 19:00", "2022-01-09 18:00")
    assert trade.exit_signal == "RsiSE"


def test_export_columns_map_both_layouts():
    """
    Given the current and the old header
    When their columns are mapped
    Then price, size and P&L point at the right columns in each
    """
    current = export_columns(CURRENT.replace("USD", "USDT").split(","))
    old = export_columns(OLD.split(","))
    assert (current["price"], current["qty"], current["pnl"]) == (
        "Price USDT", "Position size (qty)", "Net P&L USDT")
    assert (old["price"], old["qty"], old["pnl"]) == ("Price USD", "Contracts", "Profit USD")


@pytest.mark.parametrize(
    ("text", "value", "decimals"),
    [("1.13018", 1.13018, 5), ("-0.0003", -0.0003, 4), ("1,234.5", 1234.5, 1),
     ("\u22120.01", -0.01, 2), ("0.47%", 0.47, 2), ("12", 12.0, 0), ("1.5e-05", 1.5e-05, 6)],
)
def test_parse_number_keeps_the_shown_precision(text, value, decimals):
    """
    Given a number as an export writes it
    When it is parsed
    Then its value and its count of shown decimals come back
    """
    assert parse_number(text) == Number(value, decimals)


def test_parse_number_rejects_text():
    """
    Given a cell that is not a number
    When it is parsed
    Then ValueError is raised
    """
    with pytest.raises(ValueError):
        parse_number("n/a")


def test_number_matches_within_half_a_shown_unit():
    """
    Given the export value 0.01 (two decimals)
    When backtest values are checked against it
    Then 0.00536 and 0.0149 match but 0.0151 does not
    """
    shown = Number(0.01, 2)
    assert shown.matches(0.00536) and shown.matches(0.0149)
    assert not shown.matches(0.0151)


@pytest.mark.parametrize(
    ("lines", "words"),
    [
        (["Date,Open,High", "1,2,3"], "not a TradingView trade list"),
        ([CURRENT, "1,Buy long,2022-01-03,X,1.1,1,1,0,0,0,0,0,0,0,0"], "is not Entry/Exit"),
        ([CURRENT, "x,Entry long,2022-01-03,X,1.1,1,1,0,0,0,0,0,0,0,0"], "Trade #"),
        ([CURRENT, "1,Entry long,2022-01-03,X,1.1,1,1,0,0,0,0,0,0,0,0"], "no exit row"),
        ([CURRENT, "1,Entry long,2022-01-03,X,abc,1,1,0,0,0,0,0,0,0,0",
          "1,Exit long,2022-01-04,X,1.2,1,1,0,0,0,0,0,0,0,0"], "not a number"),
        ([CURRENT, "1,Entry long,2022-01-03,X,1.1,1,1,0,0,0,0,0,0,0,0",
          "1,Entry long,2022-01-04,X,1.2,1,1,0,0,0,0,0,0,0,0"], "two entry rows"),
        ([CURRENT, "1,Entry long,2022-01-03,X,1.1,1,1,0,0,0,0,0,0,0,0",
          "1,Exit short,2022-01-04,X,1.2,1,1,0,0,0,0,0,0,0,0"], "different side"),
    ],
)
def test_bad_exports_raise_one_line_errors(tmp_path, lines, words):
    """
    Given an export with a wrong header, type, number, missing row or bad price
    When it is read
    Then a one-line TvExportError says what is wrong
    """
    with pytest.raises(TvExportError, match=words) as caught:
        read_tv_trades(write(tmp_path, lines))
    assert "\n" not in str(caught.value)


def test_missing_file_is_a_clear_error(tmp_path):
    """
    Given a path with no file
    When it is read
    Then TvExportError names the file
    """
    with pytest.raises(TvExportError, match="no such trade list file"):
        read_tv_trades(tmp_path / "absent.csv")


def test_semicolon_export_with_bom_is_read(tmp_path):
    """
    Given a current-layout export saved by a spreadsheet with ';' separators and a BOM
    When it is read
    Then its trade comes back
    """
    lines = [CURRENT.replace(",", ";"),
             "1;Entry long;2022-01-03T19:00:00-0500;L;1.1;1;1.1;0.1;9;0.1;9;0;0;0.1;0",
             "1;Exit long;2022-01-04T19:00:00-0500;S;1.2;1;1.1;0.1;9;0.1;9;0;0;0.1;0"]
    path = tmp_path / "bom.csv"
    path.write_text("\ufeff" + "\n".join(lines), encoding="utf-8")
    (trade,) = read_tv_trades(path)
    assert trade.exit_price.value == 1.2
