"""bench/html_report_speed.py and the browser helper, on small inputs."""

from __future__ import annotations

import importlib.util

import pytest

import tests.browser as browser
from tests.conftest import PROJECT_DIR


def _bench():
    spec = importlib.util.spec_from_file_location("html_bench",
                                                  PROJECT_DIR / "bench" / "html_report_speed.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_measures_a_small_page_without_chromium(tmp_path, monkeypatch, capsys):
    """
    Given no Chromium on the machine
    When the benchmark runs on 3,000 candles
    Then it prints the candle count, write time and page size and says Chromium is missing
    """
    monkeypatch.setattr(browser, "find_chromium", lambda: None)
    bench = _bench()
    rows = dict(bench.measure(3000, "macd", tmp_path))
    assert rows["candles"] == "3,000" and rows["page size"].endswith("MB")
    assert rows["chromium"].startswith("not installed")
    assert bench.main(["--candles", "3000", "--strategy", "macd"]) == 0
    assert "write the page" in capsys.readouterr().out


def test_find_and_require_chromium_without_one(monkeypatch):
    """
    Given an empty PATH
    When Chromium is looked for
    Then find_chromium gives None and require_chromium skips saying how to install it
    """
    monkeypatch.setenv("PATH", "")
    assert browser.find_chromium() is None
    with pytest.raises(pytest.skip.Exception, match="apt-get install -y chromium"):
        browser.require_chromium()


def test_candle_formats_bench_reads_every_layout(tmp_path, capsys):
    """
    Given 500 candles
    When the reader benchmark runs
    Then it times every layout and prints one row each
    """
    spec = importlib.util.spec_from_file_location(
        "formats_bench", PROJECT_DIR / "bench" / "candle_formats_speed.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    from tests.candle_layouts import LAYOUTS

    rows = bench.measure(500, tmp_path)
    assert [r[0] for r in rows] == list(LAYOUTS) and all(r[2] > 0 for r in rows)
    assert bench.main(["--candles", "500"]) == 0
    assert "Binance kline CSV in microseconds" in capsys.readouterr().out
