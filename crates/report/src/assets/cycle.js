// Draws each transactional anomaly's cycle as SVG: transactions on a circle, one arrow per
// dependency, coloured by kind, with the dependency in words as its tooltip.
(function () {
  "use strict";
  var NS = "http://www.w3.org/2000/svg";
  var COLOURS = { ww: "#c0392b", wr: "#2471a3", rw: "#b9770e", process: "#7d3c98", realtime: "#1e8449" };
  function el(name, attrs, parent) {
    var e = document.createElementNS(NS, name);
    for (var k in attrs) { e.setAttribute(k, attrs[k]); }
    if (parent) { parent.appendChild(e); }
    return e;
  }
  function draw(fig) {
    var steps;
    try { steps = JSON.parse(fig.dataset.cycle); } catch (e) { return; }
    var n = steps.length;
    if (!n) { return; }
    var size = Math.min(520, 180 + 50 * n), r = size / 2 - 60, cx = size / 2, cy = size / 2, nodeR = 24;
    var svg = el("svg", { width: size, height: size, viewBox: "0 0 " + size + " " + size, role: "img",
      "aria-label": "dependency cycle of " + n + " transactions" });
    var defs = el("defs", {}, svg);
    Object.keys(COLOURS).forEach(function (k) {
      var m = el("marker", { id: "arrow-" + k, viewBox: "0 0 10 10", refX: 10, refY: 5,
        markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" }, defs);
      el("path", { d: "M 0 0 L 10 5 L 0 10 z", fill: COLOURS[k] }, m);
    });
    var pos = steps.map(function (_, i) {
      var a = -Math.PI / 2 + 2 * Math.PI * i / n;
      return [cx + r * Math.cos(a), cy + r * Math.sin(a)];
    });
    steps.forEach(function (s, i) {
      var a = pos[i], b = pos[(i + 1) % n];
      var dx = b[0] - a[0], dy = b[1] - a[1], len = Math.sqrt(dx * dx + dy * dy) || 1;
      var ux = dx / len, uy = dy / len;
      // Bend each arrow outwards a little so a two-transaction cycle shows two arrows.
      var mx = (a[0] + b[0]) / 2 + uy * 30, my = (a[1] + b[1]) / 2 - ux * 30;
      var x1 = a[0] + ux * nodeR, y1 = a[1] + uy * nodeR, x2 = b[0] - ux * nodeR, y2 = b[1] - uy * nodeR;
      var colour = COLOURS[s.edge] || "#555";
      var g = el("g", { class: "cycle-edge" }, svg);
      el("title", {}, g).textContent = s.why || s.edge;
      el("path", { d: "M " + x1 + " " + y1 + " Q " + mx + " " + my + " " + x2 + " " + y2,
        fill: "none", stroke: colour, "stroke-width": 2.5,
        "marker-end": "url(#arrow-" + (COLOURS[s.edge] ? s.edge : "ww") + ")" }, g);
      var label = el("text", { x: mx, y: my, "text-anchor": "middle", "font-size": 13,
        fill: colour, "font-weight": "bold" }, g);
      label.textContent = s.edge;
    });
    steps.forEach(function (s, i) {
      var g = el("g", { class: "cycle-node" }, svg);
      el("title", {}, g).textContent = "T" + s.t + " (process " + s.process + "): " + s.ops;
      el("circle", { cx: pos[i][0], cy: pos[i][1], r: nodeR, fill: "#fff", stroke: "#333", "stroke-width": 1.5 }, g);
      var t = el("text", { x: pos[i][0], y: pos[i][1] + 5, "text-anchor": "middle", "font-size": 14 }, g);
      t.textContent = "T" + s.t;
    });
    fig.insertBefore(svg, fig.firstChild);
  }
  var figs = document.querySelectorAll("figure.cycle");
  for (var i = 0; i < figs.length; i++) { draw(figs[i]); }
})();
