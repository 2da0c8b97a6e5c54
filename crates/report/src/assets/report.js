// faultline report: timeline and plots drawn on <canvas>, only the visible time range.
// Data comes from the JSON in #faultline-data; every string from it is put in the page
// with textContent, never as markup.
(function () {
  "use strict";
  var D = JSON.parse(document.getElementById("faultline-data").textContent);
  // One operation = OPW numbers in D.ops: row, invoke µs, completion µs (-1: none),
  // type (0 ok, 1 fail, 2 info, 3 nemesis), index into D.fs, invoke index, completion index (-1),
  // process (-1: nemesis). A row holds one worker's processes in turn.
  var OPW = 8;
  var ops = D.ops;
  var n = Math.floor(ops.length / OPW);
  var tEnd = Math.max(D.t_end, 1);
  var TYPE_NAMES = ["ok", "fail", "info", "nemesis"];
  var COLORS = ["#2e9e4f", "#d64541", "#e8a33d", "#7a6fb0"];
  var HL = "#0050ff";
  var SERIES = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f"];
  var LEFT = 64, RIGHT = 12, TOP = 22, BOTTOM = 30;

  function t0(i) { return ops[i * OPW + 1]; }
  function t1raw(i) { return ops[i * OPW + 2]; }
  function t1(i) { var t = ops[i * OPW + 2]; return t < 0 ? tEnd : t; }
  function typ(i) { return ops[i * OPW + 3]; }
  function row(i) { return ops[i * OPW]; }

  // Event index -> operation, and the bounds that make visible-range queries cheap.
  var evToOp = new Map();
  var maxDur = 0, openEnded = [];
  var rowOps = D.procs.map(function () { return []; });
  var minLat = Infinity, maxLat = 0;
  for (var i = 0; i < n; i++) {
    evToOp.set(ops[i * OPW + 5], i);
    if (ops[i * OPW + 6] >= 0) evToOp.set(ops[i * OPW + 6], i);
    if (t1raw(i) < 0) openEnded.push(i); else {
      var d = t1raw(i) - t0(i);
      if (d > maxDur) maxDur = d;
      if (typ(i) < 3) { if (d > 0 && d < minLat) minLat = d; if (d > maxLat) maxLat = d; }
    }
    rowOps[row(i)].push(i);
  }
  if (!isFinite(minLat)) { minLat = 1; maxLat = 10; }
  if (maxLat <= minLat) maxLat = minLat * 10;

  var full = { t0: -tEnd * 0.01, t1: tEnd * 1.01 };
  var view = { t0: full.t0, t1: full.t1 };
  var highlight = new Set();

  // First operation whose invocation is at or after t.
  function lowerBound(t) {
    var lo = 0, hi = n;
    while (lo < hi) { var mid = (lo + hi) >> 1; if (t0(mid) < t) lo = mid + 1; else hi = mid; }
    return lo;
  }
  // Calls fn(i) for every operation that overlaps [a, b].
  function forVisible(a, b, fn) {
    var lo = lowerBound(a - maxDur), hi = lowerBound(b + 1e-9);
    for (var i = lo; i < hi; i++) if (t1(i) >= a) fn(i);
    for (var k = 0; k < openEnded.length; k++) { var j = openEnded[k]; if (j < lo && t1(j) >= a) fn(j); }
  }

  function fmtTime(us, span) {
    var s = us / 1e6;
    var digits = span > 20e6 ? 0 : span > 2e6 ? 1 : span > 2e5 ? 2 : span > 2e4 ? 3 : span > 2e3 ? 4 : 6;
    return s.toFixed(digits) + "s";
  }
  function fmtDur(us) {
    if (us >= 1e6) return (us / 1e6).toFixed(3) + " s";
    if (us >= 1e3) return (us / 1e3).toFixed(2) + " ms";
    return us.toFixed(0) + " µs";
  }
  function niceTicks(a, b, count) {
    var span = b - a; if (!(span > 0)) return [];
    var raw = span / count, mag = Math.pow(10, Math.floor(Math.log10(raw)));
    var step = [1, 2, 5, 10].map(function (m) { return m * mag; }).find(function (s) { return s >= raw; });
    var out = [];
    for (var t = Math.ceil(a / step) * step; t <= b; t += step) out.push(t);
    return out;
  }

  // A canvas sized to its CSS box and the device pixel ratio.
  function setup(canvas, cssHeight) {
    var dpr = window.devicePixelRatio || 1;
    var w = Math.max(200, canvas.parentElement.clientWidth);
    canvas.style.height = cssHeight + "px";
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(cssHeight * dpr);
    var ctx = canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, cssHeight);
    ctx.font = "11px system-ui, sans-serif";
    return { ctx: ctx, w: w, h: cssHeight, pw: w - LEFT - RIGHT };
  }
  function xOf(c, t) { return LEFT + (t - view.t0) / (view.t1 - view.t0) * c.pw; }
  function tOf(c, x) { return view.t0 + (x - LEFT) / c.pw * (view.t1 - view.t0); }
  function clampX(c, x) { return Math.max(LEFT - 2, Math.min(LEFT + c.pw + 2, x)); }

  // Shades fault periods; labelY, if given, is where the fault names go.
  function shadeNemesis(c, top, bottom, labelY) {
    var ctx = c.ctx;
    D.nemesis.forEach(function (f) {
      var end = f[1] > f[0] ? f[1] : f[0];
      if (end < view.t0 || f[0] > view.t1) return;
      var x0 = clampX(c, xOf(c, f[0])), x1 = clampX(c, xOf(c, end));
      ctx.fillStyle = "rgba(122,111,176,0.16)";
      ctx.fillRect(x0, top, Math.max(2, x1 - x0), bottom - top);
      if (labelY && x1 - x0 > 30) {
        ctx.fillStyle = "#5b4f96";
        ctx.fillText(f[2], x0 + 3, labelY, x1 - x0 - 6);
      }
    });
  }
  function timeAxis(c, top, bottom, labelsOnTop) {
    var ctx = c.ctx, span = view.t1 - view.t0;
    ctx.strokeStyle = "#e6e9ed"; ctx.fillStyle = "#5d6b78"; ctx.lineWidth = 1;
    niceTicks(view.t0, view.t1, Math.max(2, Math.floor(c.pw / 110))).forEach(function (t) {
      var x = Math.round(xOf(c, t)) + 0.5;
      ctx.beginPath(); ctx.moveTo(x, top); ctx.lineTo(x, bottom); ctx.stroke();
      ctx.fillText(fmtTime(t, span), x + 2, labelsOnTop ? top - 8 : bottom + 12);
    });
  }

  // ---- Timeline ------------------------------------------------------------------------
  var tl = document.getElementById("timeline");
  var rows = D.procs.length;
  var rowH = rows <= 3000 ? Math.min(18, Math.max(3, Math.floor(600 / Math.max(rows, 1)))) : 1;
  var tlC = null;

  function opRect(i) {
    var c = tlC;
    var x0 = xOf(c, t0(i)), x1 = xOf(c, t1(i));
    var y = TOP + row(i) * rowH;
    return { x0: x0, x1: Math.max(x1, x0 + 1), y0: y + (rowH > 4 ? 1 : 0), y1: y + rowH - (rowH > 4 ? 1 : 0) };
  }

  function drawTimeline() {
    var c = tlC = setup(tl, TOP + rows * rowH + 8);
    var ctx = c.ctx, bottom = TOP + rows * rowH;
    timeAxis(c, TOP, bottom, true);
    ctx.fillStyle = "#5d6b78";
    var every = Math.max(1, Math.ceil(12 / rowH));
    for (var r = 0; r < rows; r += every) ctx.fillText(D.procs[r], 4, TOP + r * rowH + Math.min(rowH, 12) - 1, LEFT - 8);
    ctx.save();
    ctx.beginPath(); ctx.rect(LEFT, 0, c.pw, c.h); ctx.clip();
    shadeNemesis(c, 0, bottom, D.procs[0] === "nemesis" ? TOP + Math.min(rowH, 13) - 2 : 0);
    var paths = [new Path2D(), new Path2D(), new Path2D(), new Path2D()];
    var hlPath = new Path2D(), hlBars = [];
    // Bars of one row and type that touch on screen are merged into one rectangle, so a
    // zoomed-out view of 100,000 operations draws a few thousand rectangles, not 100,000.
    var pend = new Array(rows).fill(null);
    function flush(p) { paths[p.k].rect(p.x0, p.y0, Math.max(1, p.x1 - p.x0), Math.max(1, p.y1 - p.y0)); }
    forVisible(view.t0, view.t1, function (i) {
      var r = opRect(i);
      var x0 = clampX(c, r.x0), x1 = clampX(c, r.x1);
      if (highlight.has(i)) { hlPath.rect(x0 - 3, r.y0 - 2, x1 - x0 + 6, r.y1 - r.y0 + 4); hlBars.push(i); return; }
      var p = pend[row(i)], k = typ(i);
      if (p && p.k === k && x0 <= p.x1 + 1) { if (x1 > p.x1) p.x1 = x1; return; }
      if (p) flush(p);
      pend[row(i)] = { k: k, x0: x0, x1: x1, y0: r.y0, y1: r.y1 };
    });
    pend.forEach(function (p) { if (p) flush(p); });
    ctx.globalAlpha = highlight.size ? 0.3 : 1;
    for (var k = 0; k < 4; k++) { ctx.fillStyle = COLORS[k]; ctx.fill(paths[k]); }
    ctx.globalAlpha = 1;
    ctx.fillStyle = HL; ctx.fill(hlPath);
    hlBars.forEach(function (i) {
      var r = opRect(i), x0 = clampX(c, r.x0), x1 = clampX(c, r.x1);
      ctx.fillStyle = COLORS[typ(i)];
      ctx.fillRect(x0, r.y0, Math.max(1, x1 - x0), Math.max(1, r.y1 - r.y0));
    });
    ctx.restore();
  }

  function opAt(x, y) {
    if (!tlC) return -1;
    var r = Math.floor((y - TOP) / rowH);
    if (r < 0 || r >= rows) return -1;
    var t = tOf(tlC, x), tol = 3 / tlC.pw * (view.t1 - view.t0);
    var list = rowOps[r], best = -1;
    // Binary search for the last op invoked before t + tol, then look back a little.
    var lo = 0, hi = list.length;
    while (lo < hi) { var mid = (lo + hi) >> 1; if (t0(list[mid]) <= t + tol) lo = mid + 1; else hi = mid; }
    for (var k = lo - 1; k >= 0 && k >= lo - 64; k--) {
      var i = list[k];
      if (t1(i) + tol >= t) { best = i; break; }
    }
    return best;
  }

  function describe(i) {
    var lines = [];
    var comp = ops[i * OPW + 6];
    var p = ops[i * OPW + 7];
    lines.push((p < 0 ? "nemesis" : "process " + p) + "  " + TYPE_NAMES[typ(i)] + "  " + D.fs[ops[i * OPW + 4]]);
    lines.push("events " + ops[i * OPW + 5] + (comp >= 0 ? " → " + comp : " → (no completion)"));
    lines.push("invoked " + fmtTime(t0(i), 1) + (t1raw(i) >= 0 ? ", latency " + fmtDur(t1raw(i) - t0(i)) : ""));
    lines.push(D.vals[i]);
    return lines.join("\n");
  }

  // ---- Plots -----------------------------------------------------------------------------
  function yAxis(c, top, bottom, ticks, yOf, fmt) {
    var ctx = c.ctx;
    ctx.strokeStyle = "#eef0f3"; ctx.fillStyle = "#5d6b78";
    ticks.forEach(function (v) {
      var y = Math.round(yOf(v)) + 0.5;
      if (y < top - 1 || y > bottom + 1) return;
      ctx.beginPath(); ctx.moveTo(LEFT, y); ctx.lineTo(LEFT + c.pw, y); ctx.stroke();
      ctx.fillText(fmt(v), 4, y + 4, LEFT - 8);
    });
  }
  function legend(c, items) {
    var ctx = c.ctx, x = LEFT + 6;
    items.forEach(function (it) {
      ctx.fillStyle = it[1]; ctx.fillRect(x, 6, 10, 10);
      ctx.fillStyle = "#1d232a"; ctx.fillText(it[0], x + 14, 15);
      x += 22 + ctx.measureText(it[0]).width;
    });
  }
  function logTicks(a, b) {
    var out = [];
    for (var e = Math.floor(Math.log10(a)); e <= Math.ceil(Math.log10(b)); e++) out.push(Math.pow(10, e));
    return out;
  }
  function fmtLatTick(us) { return us >= 1e6 ? (us / 1e6) + "s" : us >= 1e3 ? (us / 1e3) + "ms" : us + "µs"; }

  var latCanvas = document.getElementById("latency-raw");
  var latQCanvas = document.getElementById("latency-quantiles");
  var thrCanvas = document.getElementById("throughput");
  var clkCanvas = document.getElementById("clock-offsets");
  var PLOT_H = 260;

  function latY(top, bottom) {
    var la = Math.log10(minLat / 1.5), lb = Math.log10(maxLat * 1.5);
    return function (v) { return bottom - (Math.log10(Math.max(v, minLat / 1.5)) - la) / (lb - la) * (bottom - top); };
  }

  function drawLatencyRaw() {
    var c = setup(latCanvas, PLOT_H), ctx = c.ctx, top = TOP, bottom = PLOT_H - BOTTOM;
    var yOf = latY(top, bottom);
    timeAxis(c, top, bottom);
    yAxis(c, top, bottom, logTicks(minLat, maxLat), yOf, fmtLatTick);
    ctx.save(); ctx.beginPath(); ctx.rect(LEFT, top, c.pw, bottom - top); ctx.clip();
    shadeNemesis(c, top, bottom, false);
    // Points go into a pixel buffer, then onto the canvas in one drawImage: cheap at 100,000.
    var dpr = window.devicePixelRatio || 1;
    var w = Math.max(1, Math.round(c.pw * dpr)), h = Math.max(1, Math.round((bottom - top) * dpr));
    var img = new ImageData(w, h), px = img.data, size = Math.max(2, Math.round(2 * dpr));
    var rgb = COLORS.slice(0, 3).map(function (hex) {
      return [parseInt(hex.slice(1, 3), 16), parseInt(hex.slice(3, 5), 16), parseInt(hex.slice(5, 7), 16)];
    });
    var hl = new Path2D();
    forVisible(view.t0, view.t1, function (i) {
      if (typ(i) > 2 || t1raw(i) < 0) return;
      var x = xOf(c, t0(i)), y = yOf(t1raw(i) - t0(i));
      if (highlight.has(i)) hl.rect(x - 3, y - 3, 6, 6);
      var bx = Math.round((x - LEFT) * dpr) - 1, by = Math.round((y - top) * dpr) - 1, col = rgb[typ(i)];
      for (var dy = 0; dy < size; dy++) {
        var yy = by + dy; if (yy < 0 || yy >= h) continue;
        for (var dx = 0; dx < size; dx++) {
          var xx = bx + dx; if (xx < 0 || xx >= w) continue;
          var o = (yy * w + xx) * 4;
          px[o] = col[0]; px[o + 1] = col[1]; px[o + 2] = col[2]; px[o + 3] = 255;
        }
      }
    });
    var off = document.createElement("canvas");
    off.width = w; off.height = h;
    off.getContext("2d").putImageData(img, 0, 0);
    ctx.drawImage(off, LEFT, top, c.pw, bottom - top);
    ctx.fillStyle = HL; ctx.fill(hl);
    ctx.restore();
    legend(c, [["ok", COLORS[0]], ["fail", COLORS[1]], ["info", COLORS[2]]]);
  }

  // Buckets the visible range; per bucket, the operations invoked in it.
  function buckets(c, count) {
    var a = Math.max(view.t0, 0), b = Math.min(view.t1, tEnd), w = (b - a) / count;
    var out = []; for (var k = 0; k < count; k++) out.push([]);
    if (!(w > 0)) return { a: a, w: 1, b: out };
    var lo = lowerBound(a), hi = lowerBound(b);
    for (var i = lo; i < hi; i++) {
      var k2 = Math.min(count - 1, Math.floor((t0(i) - a) / w));
      out[k2].push(i);
    }
    return { a: a, w: w, b: out };
  }
  function polyline(ctx, pts, color, dash, width) {
    if (pts.length === 0) return;
    ctx.strokeStyle = color; ctx.setLineDash(dash); ctx.lineWidth = width;
    ctx.beginPath();
    pts.forEach(function (p, k) { if (k === 0 || p[2]) ctx.moveTo(p[0], p[1]); else ctx.lineTo(p[0], p[1]); });
    ctx.stroke(); ctx.setLineDash([]); ctx.lineWidth = 1;
  }

  function drawLatencyQuantiles() {
    var c = setup(latQCanvas, PLOT_H), ctx = c.ctx, top = TOP, bottom = PLOT_H - BOTTOM;
    var yOf = latY(top, bottom);
    timeAxis(c, top, bottom);
    yAxis(c, top, bottom, logTicks(minLat, maxLat), yOf, fmtLatTick);
    ctx.save(); ctx.beginPath(); ctx.rect(LEFT, top, c.pw, bottom - top); ctx.clip();
    shadeNemesis(c, top, bottom, false);
    var bk = buckets(c, Math.max(10, Math.min(120, Math.floor(c.pw / 8))));
    var QS = [[0.5, []], [0.95, [6, 3]], [0.99, [2, 2]]];
    D.fs.forEach(function (f, fi) {
      if (D.fs_nemesis[fi]) return;
      var lines = QS.map(function () { return []; }), gap = true;
      bk.b.forEach(function (list, k) {
        var lat = [];
        list.forEach(function (i) { if (ops[i * OPW + 4] === fi && typ(i) < 3 && t1raw(i) >= 0) lat.push(t1raw(i) - t0(i)); });
        if (lat.length === 0) { gap = true; return; }
        lat.sort(function (x, y) { return x - y; });
        var x = xOf(c, bk.a + (k + 0.5) * bk.w);
        QS.forEach(function (q, qi) {
          var v = lat[Math.min(lat.length - 1, Math.max(0, Math.ceil(q[0] * lat.length) - 1))];
          lines[qi].push([x, yOf(v), gap]);
        });
        gap = false;
      });
      QS.forEach(function (q, qi) { polyline(ctx, lines[qi], SERIES[fi % SERIES.length], q[1], qi === 0 ? 2 : 1.5); });
    });
    ctx.restore();
    var items = [];
    D.fs.forEach(function (f, fi) { if (!D.fs_nemesis[fi]) items.push([f, SERIES[fi % SERIES.length]]); });
    items.push(["— p50  - - p95  ··· p99", "#ffffff"]);
    legend(c, items);
  }

  function drawThroughput() {
    var c = setup(thrCanvas, PLOT_H), ctx = c.ctx, top = TOP, bottom = PLOT_H - BOTTOM;
    var bk = buckets(c, Math.max(10, Math.min(150, Math.floor(c.pw / 6))));
    var secs = bk.w / 1e6, series = [[], [], []], ymax = 1;
    bk.b.forEach(function (list) {
      var cnt = [0, 0, 0];
      list.forEach(function (i) { if (typ(i) < 3) cnt[typ(i)]++; });
      for (var k = 0; k < 3; k++) { var v = cnt[k] / secs; series[k].push(v); if (v > ymax) ymax = v; }
    });
    ymax *= 1.1;
    var yOf = function (v) { return bottom - v / ymax * (bottom - top); };
    timeAxis(c, top, bottom);
    yAxis(c, top, bottom, niceTicks(0, ymax, 5), yOf, function (v) { return v >= 1000 ? (v / 1000) + "k/s" : v + "/s"; });
    ctx.save(); ctx.beginPath(); ctx.rect(LEFT, top, c.pw, bottom - top); ctx.clip();
    shadeNemesis(c, top, bottom, false);
    for (var k = 0; k < 3; k++) {
      polyline(ctx, series[k].map(function (v, j) { return [xOf(c, bk.a + (j + 0.5) * bk.w), yOf(v), false]; }), COLORS[k], [], 2);
    }
    ctx.restore();
    legend(c, [["ok/s", COLORS[0]], ["fail/s", COLORS[1]], ["info/s", COLORS[2]]]);
  }

  function drawClock() {
    if (!clkCanvas) return;
    var c = setup(clkCanvas, PLOT_H), ctx = c.ctx, top = TOP, bottom = PLOT_H - BOTTOM;
    var nodes = [], lo = 0, hi = 0;
    D.clock.forEach(function (s) {
      Object.keys(s.o).forEach(function (k) {
        if (nodes.indexOf(k) < 0) nodes.push(k);
        var ms = s.o[k] / 1e6; if (ms < lo) lo = ms; if (ms > hi) hi = ms;
      });
    });
    if (hi - lo < 1e-6) { hi += 1; lo -= 1; }
    var pad = (hi - lo) * 0.1; lo -= pad; hi += pad;
    var yOf = function (v) { return bottom - (v - lo) / (hi - lo) * (bottom - top); };
    timeAxis(c, top, bottom);
    yAxis(c, top, bottom, niceTicks(lo, hi, 5), yOf, function (v) { return +v.toPrecision(3) + "ms"; });
    ctx.save(); ctx.beginPath(); ctx.rect(LEFT, top, c.pw, bottom - top); ctx.clip();
    shadeNemesis(c, top, bottom, false);
    nodes.forEach(function (node, k) {
      var pts = [], color = SERIES[k % SERIES.length];
      D.clock.forEach(function (s) {
        if (!(node in s.o)) return;
        pts.push([xOf(c, s.t), yOf(s.o[node] / 1e6), false]);
      });
      polyline(ctx, pts, color, [], 2);
      ctx.fillStyle = color;
      pts.forEach(function (p) { ctx.fillRect(p[0] - 2, p[1] - 2, 4, 4); });
    });
    ctx.restore();
    legend(c, nodes.map(function (node, k) { return [node, SERIES[k % SERIES.length]]; }));
  }

  // ---- Drawing, zoom and pan -------------------------------------------------------------
  var pending = false;
  function drawAll() {
    pending = false;
    drawTimeline(); drawLatencyRaw(); drawLatencyQuantiles(); drawThroughput(); drawClock();
    var span = view.t1 - view.t0;
    document.getElementById("view-range").textContent =
      fmtTime(Math.max(view.t0, 0), span) + " – " + fmtTime(view.t1, span) + " (" + fmtDur(span) + ")";
  }
  function redraw() { if (!pending) { pending = true; requestAnimationFrame(drawAll); } }
  function setView(a, b) {
    var minSpan = 1; // 1 µs
    if (b - a < minSpan) { var m = (a + b) / 2; a = m - minSpan / 2; b = m + minSpan / 2; }
    var fullSpan = full.t1 - full.t0;
    if (b - a > fullSpan) { a = full.t0; b = full.t1; }
    if (a < full.t0) { b += full.t0 - a; a = full.t0; }
    if (b > full.t1) { a -= b - full.t1; b = full.t1; }
    view.t0 = a; view.t1 = b; redraw();
  }
  function zoom(factor, centerT) {
    var c = centerT === undefined ? (view.t0 + view.t1) / 2 : centerT;
    setView(c - (c - view.t0) * factor, c + (view.t1 - c) * factor);
  }

  var tooltip = document.getElementById("tooltip");
  var detail = document.getElementById("op-detail");
  [tl, latCanvas, latQCanvas, thrCanvas, clkCanvas].forEach(function (cv) {
    if (!cv) return;
    var drag = null;
    function localX(ev) { return ev.clientX - cv.getBoundingClientRect().left; }
    function plotW() { return cv.getBoundingClientRect().width - LEFT - RIGHT; }
    cv.addEventListener("wheel", function (ev) {
      ev.preventDefault();
      var t = view.t0 + (localX(ev) - LEFT) / plotW() * (view.t1 - view.t0);
      zoom(ev.deltaY > 0 ? 1.25 : 0.8, t);
    }, { passive: false });
    cv.addEventListener("mousedown", function (ev) {
      drag = { x: ev.clientX, y: ev.clientY, t0: view.t0, t1: view.t1, moved: false };
      cv.classList.add("dragging");
    });
    window.addEventListener("mousemove", function (ev) {
      if (!drag) return;
      var dx = ev.clientX - drag.x;
      if (Math.abs(dx) > 3) drag.moved = true;
      if (drag.moved) {
        var dt = dx / plotW() * (drag.t1 - drag.t0);
        setView(drag.t0 - dt, drag.t1 - dt);
      }
    });
    window.addEventListener("mouseup", function (ev) {
      if (!drag) return;
      var clicked = !drag.moved;
      drag = null; cv.classList.remove("dragging");
      if (clicked && cv === tl) {
        var r = cv.getBoundingClientRect();
        var i = opAt(ev.clientX - r.left, ev.clientY - r.top);
        detail.textContent = i >= 0 ? describe(i) : "";
      }
    });
    cv.addEventListener("dblclick", function () { setView(full.t0, full.t1); });
  });
  tl.addEventListener("mousemove", function (ev) {
    var r = tl.getBoundingClientRect();
    var i = opAt(ev.clientX - r.left, ev.clientY - r.top);
    if (i < 0) { tooltip.style.display = "none"; return; }
    tooltip.textContent = describe(i);
    tooltip.style.display = "block";
    tooltip.style.left = Math.min(ev.clientX + 14, window.innerWidth - 420) + "px";
    tooltip.style.top = (ev.clientY + 14) + "px";
  });
  tl.addEventListener("mouseleave", function () { tooltip.style.display = "none"; });
  document.getElementById("zoom-in").addEventListener("click", function () { zoom(0.5); });
  document.getElementById("zoom-out").addEventListener("click", function () { zoom(2); });
  document.getElementById("zoom-reset").addEventListener("click", function () { setView(full.t0, full.t1); });
  document.getElementById("clear-highlight").addEventListener("click", function () { selectAnomaly(-1); });
  window.addEventListener("resize", redraw);

  // ---- Anomalies ----------------------------------------------------------------------
  var status = document.getElementById("highlight-status");
  function selectAnomaly(k) {
    highlight = new Set();
    var items = document.querySelectorAll("li.anomaly");
    for (var j = 0; j < items.length; j++) items[j].classList.toggle("active", j === k);
    if (k < 0) { status.textContent = ""; tl.removeAttribute("data-highlight"); redraw(); return; }
    var a = D.anomalies[k];
    a.events.forEach(function (e) { if (evToOp.has(e)) highlight.add(evToOp.get(e)); });
    var list = Array.from(highlight).sort(function (x, y) { return x - y; });
    tl.setAttribute("data-highlight", list.join(","));
    status.textContent = list.length + " operation" + (list.length === 1 ? "" : "s") +
      " highlighted for anomaly " + (k + 1) + " (" + a.kind + ")";
    if (list.length) {
      var a0 = Infinity, b0 = -Infinity, r0 = Infinity;
      list.forEach(function (i) { a0 = Math.min(a0, t0(i)); b0 = Math.max(b0, t1(i)); r0 = Math.min(r0, row(i)); });
      var pad = Math.max((b0 - a0) * 0.25, 50);
      setView(a0 - pad, b0 + pad);
      var y = tl.getBoundingClientRect().top + window.scrollY + TOP + r0 * rowH;
      window.scrollTo({ top: Math.max(0, y - 120), behavior: "auto" });
    } else redraw();
  }
  var buttons = document.querySelectorAll("li.anomaly button.show");
  for (var b = 0; b < buttons.length; b++) {
    (function (btn) {
      btn.addEventListener("click", function () { selectAnomaly(+btn.closest("li.anomaly").dataset.anomaly); });
    })(buttons[b]);
  }

  var copy = document.getElementById("copy-command");
  if (copy) copy.addEventListener("click", function () {
    var text = document.getElementById("command").textContent;
    if (navigator.clipboard) navigator.clipboard.writeText(text).catch(function () {});
  });

  // Hooks for tests and benchmarks: the state, and pixel colours of the timeline.
  window.faultlineReport = {
    view: view,
    operations: n,
    highlighted: function () { return Array.from(highlight); },
    opRect: function (i) { return opRect(i); },
    events: function (i) { return [ops[i * OPW + 5], ops[i * OPW + 6]]; },
    redrawNow: drawAll,
    pixel: function (x, y) {
      var dpr = window.devicePixelRatio || 1;
      var p = tl.getContext("2d").getImageData(Math.round(x * dpr), Math.round(y * dpr), 1, 1).data;
      return [p[0], p[1], p[2], p[3]];
    },
    selectAnomaly: selectAnomaly
  };
  drawAll();
  window.faultlineDrawnMs = performance.now();
  // data-rendered is set once the first frame with the drawing has been painted.
  requestAnimationFrame(function () {
    setTimeout(function () {
      window.faultlineRenderedMs = performance.now();
      document.documentElement.setAttribute("data-rendered", "1");
    }, 0);
  });
})();
