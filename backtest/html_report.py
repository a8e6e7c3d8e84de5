"""``backtest --html FILE``: one self-contained, offline, interactive chart of a backtest.

Candlesticks with volume, the strategy's indicators (moving averages on the price, oscillators
such as RSI / MACD in their own pane), entry and exit markers with a hover, equity with
buy-and-hold and the drawdown, all on one time scale that zooms and pans together. The chart
library (TradingView Lightweight Charts, ``backtest/assets``) and the data are inlined, so the
file opens without a network. Every candle is in the file; the page aggregates what it shows to
about 1,500 bars per pane (decision 0131), so a million candles stay responsive.
"""

from __future__ import annotations

import base64
import html
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from backtest.engine import REASONS
from backtest.run import BacktestResult

ASSETS = Path(__file__).with_name("assets")
LIBRARY = ASSETS / "lightweight-charts.standalone.production.js"
# A long range gets a log price scale: past this ratio of highest to lowest close a linear
# scale flattens the early years.
LOG_SCALE_RATIO = 3.0


def packed(values: np.ndarray, dtype: str = "float32") -> str:
    """A numeric array as base64 of its little-endian bytes (NaN kept), for the page."""
    array = np.ascontiguousarray(values, dtype=np.dtype(dtype).newbyteorder("<"))
    return base64.b64encode(array.tobytes()).decode("ascii")


def indicator_panes(indicators: Any, close: np.ndarray) -> tuple[list[str], list[str]]:
    """(columns drawn on the price, columns drawn in the oscillator pane) of a strategy frame.

    A float column whose values sit in the price's range is a moving average; any other float
    column (RSI, MACD and its signal and histogram) goes to the oscillator pane.
    """
    if indicators is None:
        return [], []
    lo, hi = float(np.nanmin(close)), float(np.nanmax(close))
    span = hi - lo
    overlays, oscillators = [], []
    for col in indicators.columns:
        if col == "signal" or indicators[col].dtype.kind != "f":
            continue
        values = indicators[col].to_numpy()
        if not np.isfinite(values).any():
            continue
        median = float(np.nanmedian(values))
        if lo - span <= median <= hi + span and median > 0.2 * hi:
            overlays.append(col)
        else:
            oscillators.append(col)
    return overlays[:4], oscillators[:4]


def buy_and_hold(open_: np.ndarray, close: np.ndarray, qty: float, capital: float) -> np.ndarray:
    """Equity of buying the strategy's trade size at the first open and holding it."""
    return capital + qty * (np.asarray(close, dtype="float64") - float(open_[0]))


def drawdown(equity: np.ndarray, capital: float) -> np.ndarray:
    """Equity below its running peak (<= 0), the peak starting at the initial capital."""
    curve = np.concatenate(([capital], np.asarray(equity, dtype="float64")))
    return (curve - np.maximum.accumulate(curve))[1:]


def trade_columns(result: BacktestResult) -> dict[str, list]:
    """The trades as columns: bars, side, prices, net P&L, % of entry value, reason, open."""
    t, led = result.trades, result.ledger
    with np.errstate(divide="ignore", invalid="ignore"):
        pct = np.where(led.entry_value > 0, 100.0 * led.net_pnl / led.entry_value, 0.0)
    return {
        "entry": t.entry_bar.astype(int).tolist(),
        "exit": t.exit_bar.astype(int).tolist(),
        "side": t.direction.astype(int).tolist(),
        "entryPrice": t.entry_price.astype(float).tolist(),
        "exitPrice": t.exit_price.astype(float).tolist(),
        "pnl": np.round(led.net_pnl.astype(float), 8).tolist(),
        "pct": np.round(pct.astype(float), 4).tolist(),
        "reason": [REASONS[int(r)] for r in t.reason],
        "open": t.is_open.astype(bool).tolist(),
    }


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


HEADLINE = ("Net Profit", "Total Closed Trades", "Percent Profitable", "Profit Factor",
            "Max Drawdown", "Buy & Hold Return", "Commission Paid")


def headline(report: dict[str, Any]) -> dict[str, Any]:
    """The figures shown above the chart, with the base of the percent figures."""
    perf = report.get("performance", {})
    out: dict[str, Any] = {name: _finite(perf.get(name)) for name in HEADLINE if name in perf}
    if out.get("Total Closed Trades") is not None:
        out["Total Closed Trades"] = f"{int(out['Total Closed Trades']):,}"
    if "Percent Profitable" in out and out["Percent Profitable"] is not None:
        out["Percent Profitable"] = f"{out['Percent Profitable']:.1f} %"
    base = report.get("percent_base")
    if base:
        out["% base"] = f"{base['name']} {base['amount']:,.2f}"
    return out


def report_payload(result: BacktestResult, report: dict[str, Any], title: str,
                   currency: str, volume: np.ndarray | None = None) -> dict[str, Any]:
    """Everything the page draws, JSON-ready (arrays packed by ``packed``)."""
    close = result.close
    overlays, oscillators = indicator_panes(result.indicators, close)
    ind = result.indicators
    finite = close[np.isfinite(close)]
    log_scale = bool(finite.size and finite.max() / max(finite.min(), 1e-12) > LOG_SCALE_RATIO)
    volume = np.zeros(close.size) if volume is None else np.asarray(volume)
    return {
        "title": title,
        "currency": currency,
        "logScale": log_scale,
        "t": packed(result.timestamps // 1000, "float64"),
        "o": packed(result.open), "h": packed(result.high), "l": packed(result.low),
        "c": packed(close), "v": packed(volume),
        "overlays": {name: packed(ind[name].to_numpy()) for name in overlays},
        "oscillators": {name: packed(ind[name].to_numpy()) for name in oscillators},
        "equity": packed(result.equity),
        "hold": packed(buy_and_hold(result.open, close, result.rules.qty, result.capital)),
        "drawdown": packed(drawdown(result.equity, result.capital)),
        "trades": trade_columns(result),
        "summary": headline(report),
    }


def render_html(payload: dict[str, Any]) -> str:
    """The page: the inlined library, the data and the drawing script."""
    data = json.dumps(payload, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")
    library = LIBRARY.read_text(encoding="utf-8").replace("</script", "<\\/script")
    return (PAGE.replace("__TITLE__", html.escape(payload["title"]))
            .replace("__LIBRARY__", library)
            .replace("__SCRIPT__", SCRIPT)
            .replace("__DATA__", data))


def write_html_report(result: BacktestResult, path: str | Path, report: dict[str, Any],
                      title: str | None = None, currency: str = "USDT",
                      volume: np.ndarray | None = None) -> Path:
    """Write the interactive report to ``path`` and return the path."""
    path = Path(path)
    params = ", ".join(f"{k}={v}" for k, v in result.params.items())
    heading = title or f"{result.strategy or 'signals'} backtest ({params})"
    page = render_html(report_payload(result, report, heading, currency, volume))
    path.write_text(page, encoding="utf-8")
    return path


PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>__TITLE__</title>
<style>
  html, body { margin: 0; height: 100%; font: 13px system-ui, sans-serif; color: #222;
    background: #fff; }
  body { display: flex; flex-direction: column; }
  header { padding: 6px 10px; border-bottom: 1px solid #ddd; }
  h1 { font-size: 15px; margin: 0 0 4px 0; }
  #summary { display: flex; flex-wrap: wrap; }
  #summary span { margin-right: 14px; white-space: nowrap; }
  #summary b { font-weight: 600; }
  #controls button { font-size: 12px; margin-right: 6px; }
  #chart { flex: 1; position: relative; min-height: 420px; }
  #tip { position: absolute; z-index: 10; pointer-events: none; display: none;
    background: rgba(255,255,255,0.95); border: 1px solid #999; border-radius: 4px;
    padding: 5px 7px; font-size: 12px; line-height: 1.35; max-width: 340px; }
  #legend { position: absolute; z-index: 9; left: 8px; top: 4px; font-size: 12px;
    pointer-events: none; }
  footer { padding: 3px 10px; font-size: 11px; color: #777; border-top: 1px solid #ddd; }
</style></head>
<body data-status="loading" data-errors="0">
<header><h1>__TITLE__</h1><div id="summary"></div>
<div id="controls"><button id="fit">Show all</button><button id="scale">Linear / log</button>
<span id="lod"></span></div></header>
<div id="chart"><div id="legend"></div><div id="tip"></div></div>
<footer>Panes: price with volume and the strategy's moving averages; the strategy's
oscillators; equity and buy-and-hold of the same size; drawdown. Scroll to zoom, drag to pan.
Charts by TradingView Lightweight Charts&trade; (Copyright TradingView, Inc., Apache 2.0,
tradingview.com).</footer>
<script>
window.onerror = function () {
  document.body.dataset.errors = String(Number(document.body.dataset.errors) + 1);
};
</script>
<script>__LIBRARY__</script>
<script type="application/json" id="data">__DATA__</script>
<script>__SCRIPT__</script>
</body></html>
"""

SCRIPT = r"""
(function () {
  'use strict';
  const LWC = window.LightweightCharts;
  document.body.dataset.loadedMs = performance.now().toFixed(0);
  const dataElement = document.getElementById('data');
  const D = JSON.parse(dataElement.textContent);
  dataElement.remove();  // the text is decoded below; keeping it would hold it twice
  function bytes(b64) {
    const bin = atob(b64), out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  }
  const f32 = (s) => new Float32Array(bytes(s));
  const T = new Float64Array(bytes(D.t)), O = f32(D.o), H = f32(D.h), L = f32(D.l),
    C = f32(D.c), V = f32(D.v), EQ = f32(D.equity), BH = f32(D.hold), DD = f32(D.drawdown);
  document.body.dataset.decodedMs = performance.now().toFixed(0);
  const N = T.length, TARGET_BARS = 1500, MAX_MARKERS = 300, MAX_GROUPS = 60;
  const TR = D.trades, NT = TR.entry.length;
  const COLORS = { signal: '#555555', stop_loss: '#d62728', take_profit: '#2ca02c',
    end: '#9467bd' };
  const LINE_COLORS = ['#ff7f0e', '#8c564b', '#17becf', '#bcbd22'];
  const money = (x) => x == null ? 'n/a' : Number(x).toLocaleString('en-US',
    { maximumFractionDigits: 2, minimumFractionDigits: 2 });
  const price = (x) => {
    const a = Math.abs(x), digits = a >= 1000 ? 2 : a >= 1 ? 4 : 8;
    return Number(x).toFixed(digits).replace(/(\.\d*?)0+$/, '$1').replace(/\.$/, '');
  };

  const summary = document.getElementById('summary');
  Object.entries(D.summary).forEach(([k, v]) => {
    const s = document.createElement('span');
    s.innerHTML = '<b></b> ';
    s.firstChild.textContent = k + ':';
    s.appendChild(document.createTextNode(typeof v === 'number' ? money(v) : String(v)));
    summary.appendChild(s);
  });

  const el = document.getElementById('chart');
  const chart = LWC.createChart(el, {
    autoSize: true,
    layout: { background: { color: '#ffffff' }, textColor: '#333' },
    grid: { vertLines: { color: '#f0f0f0' }, horzLines: { color: '#f0f0f0' } },
    crosshair: { mode: LWC.CrosshairMode.Normal },
    rightPriceScale: { mode: D.logScale ? LWC.PriceScaleMode.Logarithmic
      : LWC.PriceScaleMode.Normal },
    timeScale: { timeVisible: true, secondsVisible: false, rightOffset: 3 },
  });
  const candles = chart.addSeries(LWC.CandlestickSeries, { upColor: '#26a69a',
    downColor: '#ef5350', borderVisible: false, wickUpColor: '#26a69a',
    wickDownColor: '#ef5350' }, 0);
  const volume = chart.addSeries(LWC.HistogramSeries, { priceScaleId: 'volume',
    priceFormat: { type: 'volume' }, lastValueVisible: false, priceLineVisible: false }, 0);
  volume.priceScale().applyOptions({ scaleMargins: { top: 0.82, bottom: 0 } });
  const lines = [];  // [series, values, how]
  Object.entries(D.overlays).forEach(([name, b64], k) => {
    lines.push([chart.addSeries(LWC.LineSeries, { color: LINE_COLORS[k % 4], lineWidth: 1,
      title: name, lastValueVisible: false, priceLineVisible: false }, 0), f32(b64), 'last']);
  });
  let pane = 1;
  const osc = Object.entries(D.oscillators);
  if (osc.length) {
    osc.forEach(([name, b64], k) => {
      const hist = /hist/i.test(name);
      const kind = hist ? LWC.HistogramSeries : LWC.LineSeries;
      const series = chart.addSeries(kind, { color: hist ? '#90a4ae' : LINE_COLORS[k % 4],
        lineWidth: 1, title: name, lastValueVisible: false, priceLineVisible: false }, pane);
      if (/rsi/i.test(name)) {
        [30, 70].forEach((level) => series.createPriceLine({ price: level, color: '#bbbbbb',
          lineWidth: 1, lineStyle: LWC.LineStyle.Dotted, axisLabelVisible: false }));
      }
      lines.push([series, f32(b64), 'last']);
    });
    pane += 1;
  }
  const equityPane = pane;
  lines.push([chart.addSeries(LWC.LineSeries, { color: '#1f77b4', lineWidth: 2,
    title: 'equity', priceLineVisible: false }, equityPane), EQ, 'last']);
  lines.push([chart.addSeries(LWC.LineSeries, { color: '#999999', lineWidth: 1,
    lineStyle: LWC.LineStyle.Dashed, title: 'buy & hold', priceLineVisible: false },
    equityPane), BH, 'last']);
  lines.push([chart.addSeries(LWC.AreaSeries, { lineColor: '#d62728',
    topColor: 'rgba(214,39,40,0.05)', bottomColor: 'rgba(214,39,40,0.45)', lineWidth: 1,
    title: 'drawdown', priceLineVisible: false, invertFilledArea: false }, equityPane + 1),
    DD, 'min']);
  const panes = chart.panes();
  const stretch = osc.length ? [4, 1.4, 1.6, 1] : [4, 1.6, 1];
  panes.forEach((p, k) => p.setStretchFactor(stretch[k] || 1));
  const markers = LWC.createSeriesMarkers(candles, []);

  // --- level of detail: the view as buckets of 2^k candles --------------------------------
  const view = { b: 0, lo: 0, hi: 0, times: null };
  function bucketFor(count) {
    let b = 1;
    while (count / b > TARGET_BARS) b *= 2;
    return b;
  }
  function lowerBound(arr, x) {
    let a = 0, z = arr.length;
    while (a < z) { const m = (a + z) >> 1; if (arr[m] < x) a = m + 1; else z = m; }
    return a;
  }
  function render(b, lo, hi) {
    lo = Math.max(0, Math.floor(lo / b) * b);
    hi = Math.min(N, hi);
    const nb = Math.ceil((hi - lo) / b);
    const cd = new Array(nb), vd = new Array(nb), times = new Float64Array(nb);
    const ld = lines.map(() => new Array(nb));
    for (let k = 0; k < nb; k++) {
      const s = lo + k * b, e = Math.min(s + b, N);
      let hh = -Infinity, ll = Infinity, vv = 0;
      for (let i = s; i < e; i++) {
        if (H[i] > hh) hh = H[i];
        if (L[i] < ll) ll = L[i];
        vv += V[i];
      }
      const time = T[s];
      times[k] = time;
      cd[k] = { time: time, open: O[s], high: hh, low: ll, close: C[e - 1] };
      vd[k] = { time: time, value: vv,
        color: C[e - 1] >= O[s] ? 'rgba(38,166,154,0.45)' : 'rgba(239,83,80,0.45)' };
      for (let j = 0; j < lines.length; j++) {
        const arr = lines[j][1];
        let value = arr[e - 1];
        if (lines[j][2] === 'min') {
          for (let i = s; i < e; i++) if (arr[i] < value) value = arr[i];
        }
        ld[j][k] = Number.isFinite(value) ? { time: time, value: value } : { time: time };
      }
    }
    candles.setData(cd);
    volume.setData(vd);
    lines.forEach((line, j) => line[0].setData(ld[j]));
    view.b = b; view.lo = lo; view.hi = lo + nb * b; view.times = times;
    drawMarkers();
  }
  function barTime(bar) {
    return view.times[Math.min(view.times.length - 1, Math.floor((bar - view.lo) / view.b))];
  }
  function drawMarkers() {
    const a = lowerBound(TR.exit, view.lo), z = lowerBound(TR.entry, view.hi);
    const out = [], count = Math.max(0, z - a);
    const group = count <= MAX_MARKERS ? 1 : Math.ceil(count / MAX_GROUPS);
    for (let k = a; k < z; k += group) {
      if (group === 1) {
        const long = TR.side[k] > 0;
        if (TR.entry[k] >= view.lo) out.push({ time: barTime(TR.entry[k]),
          position: long ? 'belowBar' : 'aboveBar', shape: long ? 'arrowUp' : 'arrowDown',
          color: long ? '#1565c0' : '#ef6c00', id: 'e' + k });
        if (!TR.open[k] && TR.exit[k] < view.hi) out.push({ time: barTime(TR.exit[k]),
          position: long ? 'aboveBar' : 'belowBar', shape: 'circle',
          color: COLORS[TR.reason[k]] || '#555', id: 'x' + k });
      } else {
        const last = Math.min(z, k + group);
        let pnl = 0;
        for (let i = k; i < last; i++) pnl += TR.pnl[i];
        if (TR.entry[k] >= view.lo) out.push({ time: barTime(TR.entry[k]), position: 'aboveBar',
          shape: 'square', size: 0.6, color: pnl >= 0 ? '#2ca02c' : '#d62728', id: 'g' + k });
      }
    }
    out.sort((p, q) => p.time - q.time);
    markers.setMarkers(out);
    document.body.dataset.markers = String(out.length);
    document.getElementById('lod').textContent = (view.b === 1 ? 'every candle shown'
      : '1 bar = ' + view.b + ' candles (zoom in for detail)') + (group > 1
      ? '; ' + count.toLocaleString('en-US') + ' trades in view: one square per ' + group
        + ' trades (green: their P&L >= 0), zoom in to see each' : '');
  }

  // Re-aggregate when the zoom changes the bucket or the view nears the window's edge.
  let busy = false, pending = 0;
  function visibleRaw() {
    const r = chart.timeScale().getVisibleLogicalRange();
    if (!r) return null;
    return [Math.max(0, view.lo + Math.floor(r.from) * view.b),
      Math.min(N, view.lo + Math.ceil(r.to + 1) * view.b)];
  }
  function refresh() {
    if (busy) return;
    const vis = visibleRaw();
    if (!vis) return;
    const [a, z] = vis, span = Math.max(z - a, 2), b = bucketFor(span);
    const margin = span / 4;
    const nearEdge = (a - view.lo < margin && view.lo > 0) || (view.hi - z < margin && view.hi < N);
    if (b === view.b && !nearEdge) return;
    show(a, z, b);
  }
  function show(a, z, b) {
    busy = true;
    const span = z - a;
    render(b, a - span, z + span);
    chart.timeScale().setVisibleLogicalRange({ from: (a - view.lo) / b, to: (z - view.lo) / b });
    setTimeout(() => { busy = false; }, 30);
  }
  chart.timeScale().subscribeVisibleLogicalRangeChange(() => {
    clearTimeout(pending);
    pending = setTimeout(refresh, 60);
  });
  document.getElementById('fit').onclick = () => show(0, N, bucketFor(N));
  document.getElementById('scale').onclick = () => {
    const log = candles.priceScale().options().mode === LWC.PriceScaleMode.Logarithmic;
    candles.priceScale().applyOptions({ mode: log ? LWC.PriceScaleMode.Normal
      : LWC.PriceScaleMode.Logarithmic });
  };

  // --- hover: the trades of the bar under the cursor --------------------------------------
  const tip = document.getElementById('tip'), legend = document.getElementById('legend');
  function describe(k) {
    const side = TR.side[k] > 0 ? 'long' : 'short';
    const when = (bar) => new Date(T[bar] * 1000).toISOString().slice(0, 16).replace('T', ' ');
    const exit = TR.open[k] ? 'open, marked at ' + price(TR.exitPrice[k])
      : price(TR.exitPrice[k]) + ' (' + TR.reason[k].replace('_', '-') + ') ' + when(TR.exit[k]);
    return '<b>#' + (k + 1) + ' ' + side + '</b> entry ' + price(TR.entryPrice[k]) + ' '
      + when(TR.entry[k]) + '<br>exit ' + exit + '<br>P&amp;L ' + money(TR.pnl[k]) + ' '
      + D.currency + ' (' + TR.pct[k].toFixed(2) + ' %)';
  }
  chart.subscribeCrosshairMove((param) => hoverAt(param.time, param.point));
  function hoverAt(time, point) {
    if (!time || !point || !view.times) { tip.style.display = 'none'; return; }
    const k = lowerBound(view.times, time);
    const s = view.lo + k * view.b, e = s + view.b;
    legend.textContent = 'O ' + price(O[s]) + '  C ' + price(C[Math.min(e, N) - 1])
      + (view.b > 1 ? '  (' + view.b + ' candles)' : '');
    const hits = [];
    const a = lowerBound(TR.exit, s), z = lowerBound(TR.entry, e);
    for (let i = a; i < z && hits.length < 6; i++) {
      if ((TR.entry[i] >= s && TR.entry[i] < e) || (TR.exit[i] >= s && TR.exit[i] < e)) {
        hits.push(i);
      }
    }
    if (!hits.length) { tip.style.display = 'none'; return; }
    tip.innerHTML = hits.slice(0, 5).map(describe).join('<hr>')
      + (hits.length > 5 ? '<br>... and more in this bar' : '');
    tip.style.display = 'block';
    const x = Math.min(point.x + 16, el.clientWidth - 350);
    tip.style.left = Math.max(0, x) + 'px';
    tip.style.top = Math.max(0, point.y - 10) + 'px';
    document.body.dataset.hover = tip.textContent;
  }

  const started = performance.now();
  show(0, N, bucketFor(N));
  document.body.dataset.renderMs = (performance.now() - started).toFixed(1);
  document.body.dataset.candles = String(N);
  document.body.dataset.bucket = String(view.b);
  requestAnimationFrame(() => requestAnimationFrame(() => {
    // Drawn: the price pane's canvas holds pixels of both candle colours.
    let painted = 0;
    el.querySelectorAll('canvas').forEach((cv) => {
      try {
        const ctx = cv.getContext('2d');
        const px = ctx.getImageData(0, 0, cv.width, cv.height).data;
        for (let i = 0; i < px.length; i += 4) {
          if (px[i + 3] > 0 && !(px[i] > 240 && px[i + 1] > 240 && px[i + 2] > 240)) painted++;
        }
      } catch (err) { /* a canvas without a 2d context */ }
    });
    document.body.dataset.painted = String(painted);
    selfTest();
    document.body.dataset.status = 'drawn';
  }));
  // '#zoom=A-B' shows candles A..B; '#hover=K' points the crosshair at trade K's entry: the
  // browser test's way to drive the page without a mouse.
  function selfTest() {
    const zoom = /zoom=(\d+)-(\d+)/.exec(location.hash);
    if (zoom) {
      show(Number(zoom[1]), Number(zoom[2]), bucketFor(Number(zoom[2]) - Number(zoom[1])));
      document.body.dataset.bucket = String(view.b);
    }
    const hover = /hover=(\d+)/.exec(location.hash);
    if (hover && Number(hover[1]) < NT) {
      const k = Number(hover[1]);
      const time = barTime(TR.entry[k]);
      const x = chart.timeScale().timeToCoordinate(time) || 40;
      const y = candles.priceToCoordinate(TR.entryPrice[k]) || 40;
      hoverAt(time, { x: x, y: y });
    }
  }
  window.paperbotReport = { show: show, view: view, chart: chart, N: N };
})();
"""
