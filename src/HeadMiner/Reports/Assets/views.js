/* HeadMiner shared views: one set of SVG/HTML components for the explorer page and the static reports.
   Plain browser JavaScript (no modules, no network): a report inlines this file, so it must work from file://.
   Every value reaches the page through textContent or attributes, never through innerHTML. */
(function (global) {
  "use strict";
  var SVG = "http://www.w3.org/2000/svg";

  function el(tag, attrs, parent) {
    var node = document.createElement(tag);
    for (var k in attrs || {}) node.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(node);
    return node;
  }
  function svg(tag, attrs, parent) {
    var node = document.createElementNS(SVG, tag);
    for (var k in attrs || {}) node.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(node);
    return node;
  }
  function text(parent, x, y, s, attrs) {
    var t = svg("text", Object.assign({ x: x, y: y }, attrs || {}), parent);
    t.textContent = s;
    return t;
  }
  function fmt(v) {
    if (v === null || v === undefined || !isFinite(v)) return "n/a";
    var a = Math.abs(v);
    if (a !== 0 && (a < 0.001 || a >= 10000)) return v.toExponential(2);
    return (Math.round(v * 1000) / 1000).toString();
  }
  function container(target, title, cls) {
    var box = el("div", { "class": "hm-view " + (cls || "") }, target);
    if (title) el("h3", {}, box).textContent = title;
    return box;
  }

  /* Colour scales. sequential: 0 (white) .. max (dark blue); diverging: -m (blue) .. 0 (white) .. +m (red). */
  function lerp(a, b, t) { return Math.round(a + (b - a) * t); }
  function rgb(c) { return "rgb(" + c[0] + "," + c[1] + "," + c[2] + ")"; }
  function makeScale(values, kind, min, max) {
    var lo = Infinity, hi = -Infinity;
    values.forEach(function (row) { row.forEach(function (v) { if (v !== null && isFinite(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); } }); });
    if (!isFinite(lo)) { lo = 0; hi = 1; }
    if (kind === "diverging") {
      var m = Math.max(Math.abs(min !== undefined ? min : lo), Math.abs(max !== undefined ? max : hi)) || 1;
      lo = -m; hi = m;
    } else {
      lo = min !== undefined ? min : Math.min(0, lo);
      hi = max !== undefined ? max : (hi > lo ? hi : lo + 1);
    }
    var white = [255, 255, 255], blue = [33, 82, 158], red = [178, 34, 34];
    function colour(v) {
      if (v === null || v === undefined || !isFinite(v)) return "#ddd";
      var t = Math.max(0, Math.min(1, (v - lo) / (hi - lo)));
      if (kind === "diverging") {
        var s = t * 2 - 1, end = s < 0 ? blue : red, u = Math.abs(s);
        return rgb([lerp(255, end[0], u), lerp(255, end[1], u), lerp(255, end[2], u)]);
      }
      return rgb([lerp(white[0], blue[0], t), lerp(white[1], blue[1], t), lerp(white[2], blue[2], t)]);
    }
    return { lo: lo, hi: hi, colour: colour };
  }

  function legend(parent, scale, x, y, height) {
    var g = svg("g", { "class": "hm-legend", transform: "translate(" + x + "," + y + ")" }, parent);
    var steps = 24;
    for (var i = 0; i < steps; i++) {
      var v = scale.hi - (scale.hi - scale.lo) * (i + 0.5) / steps;
      svg("rect", { x: 0, y: i * height / steps, width: 12, height: height / steps + 0.5, fill: scale.colour(v) }, g);
    }
    text(g, 16, 9, fmt(scale.hi), { "class": "hm-legend-max" });
    text(g, 16, height, fmt(scale.lo), { "class": "hm-legend-min" });
    return g;
  }

  /* heatmap: spec = { title, rows, cols, values[r][c] (null = not computed), rowTitle, colTitle, scale, min, max,
     cell, onCell(r, c, v), selected: [r, c], legend (default true), labels (default true) } */
  function heatmap(target, spec) {
    var box = container(target, spec.title, "hm-heatmap " + (spec.className || ""));
    var rows = spec.values.length, cols = rows ? spec.values[0].length : 0;
    var cell = spec.cell || Math.max(8, Math.min(28, Math.floor(420 / Math.max(rows, cols, 1))));
    var showLabels = spec.labels !== false;
    var rowLabels = spec.rows || [], colLabels = spec.cols || [];
    var longest = function (a) { return a.reduce(function (m, s) { return Math.max(m, String(s).length); }, 0); };
    var left = showLabels ? 16 + Math.min(18, longest(rowLabels)) * 6.5 + 8 : 2;
    var top = showLabels ? 16 + Math.min(18, longest(colLabels)) * 5 + 10 : 2;
    var scale = makeScale(spec.values, spec.scale, spec.min, spec.max);
    var width = left + cols * cell + (spec.legend === false ? 4 : 70), height = top + rows * cell + 6;
    var root = svg("svg", { width: width, height: height, viewBox: "0 0 " + width + " " + height, role: "img" }, box);
    if (showLabels) {
      if (spec.rowTitle) text(root, 10, top + rows * cell / 2, spec.rowTitle, { "class": "hm-axis-title", transform: "rotate(-90 10 " + (top + rows * cell / 2) + ")", "text-anchor": "middle" });
      if (spec.colTitle) text(root, left + cols * cell / 2, 11, spec.colTitle, { "class": "hm-axis-title", "text-anchor": "middle" });
      rowLabels.forEach(function (s, r) { text(root, left - 4, top + r * cell + cell / 2 + 4, String(s).slice(0, 18), { "text-anchor": "end", "class": "hm-row-label" }); });
      colLabels.forEach(function (s, c) {
        var x = left + c * cell + cell / 2 + 4, y = top - 4;
        text(root, x, y, String(s).slice(0, 18), { "class": "hm-col-label", transform: "rotate(-60 " + x + " " + y + ")" });
      });
    }
    var grid = svg("g", { "class": "hm-grid" }, root);
    for (var r = 0; r < rows; r++) {
      for (var c = 0; c < cols; c++) {
        var v = spec.values[r][c];
        var rect = svg("rect", {
          "class": "hm-cell" + (spec.onCell ? " hm-clickable" : ""), x: left + c * cell, y: top + r * cell, width: cell, height: cell,
          fill: scale.colour(v), "data-row": r, "data-col": c, "data-value": v === null || v === undefined ? "" : String(v)
        }, grid);
        var tip = svg("title", {}, rect);
        tip.textContent = (rowLabels[r] !== undefined ? rowLabels[r] : r) + " / " + (colLabels[c] !== undefined ? colLabels[c] : c) + ": " + fmt(v);
        if (spec.selected && spec.selected[0] === r && spec.selected[1] === c) rect.classList.add("hm-selected");
        if (spec.onCell) (function (rr, cc, vv, node) {
          node.addEventListener("click", function () {
            grid.querySelectorAll(".hm-selected").forEach(function (n) { n.classList.remove("hm-selected"); });
            node.classList.add("hm-selected");
            spec.onCell(rr, cc, vv);
          });
        })(r, c, v, rect);
      }
    }
    if (spec.legend !== false) legend(root, scale, left + cols * cell + 10, top, Math.max(40, Math.min(rows * cell, 160)));
    return box;
  }

  /* attention: the CircuitsVis-style grid, query tokens down, key tokens across; spec = { title, tokens, pattern } */
  function attention(target, spec) {
    return heatmap(target, {
      title: spec.title, rows: spec.tokens, cols: spec.tokens, values: spec.pattern, rowTitle: "query", colTitle: "key",
      scale: "sequential", min: 0, max: 1, className: "hm-attention", cell: spec.cell
    });
  }

  /* tokens: CircuitsVis-style colored tokens. Hovering a token shades, in blue, the tokens it attends to (its row of
     the pattern: keys at or before it) and, in orange, the tokens that attend to it (its column: queries after it);
     causality keeps the two apart. A click pins the token until the next click. spec = { title, tokens, pattern } */
  function tokens(target, spec) {
    var box = container(target, spec.title, "hm-tokens");
    var line = el("div", { "class": "hm-token-line" }, box);
    var spans = spec.tokens.map(function (t, i) {
      var s = el("span", { "class": "hm-token", "data-index": i }, line);
      s.textContent = t;
      return s;
    });
    if (spec.pattern) el("div", { "class": "hm-token-key hm-note" }, box).textContent = "hover or click a token: blue = where it attends, orange = what attends to it";
    var pinned = null;
    function show(i) {
      spans.forEach(function (s, k) {
        var from = spec.pattern && i !== null && k <= i ? (spec.pattern[i][k] || 0) : 0;
        var to = spec.pattern && i !== null && k > i ? (spec.pattern[k][i] || 0) : 0;
        var w = k <= i ? from : to;
        s.style.background = i === null ? "" : k <= i ? "rgba(33,82,158," + from.toFixed(3) + ")" : "rgba(217,130,43," + to.toFixed(3) + ")";
        s.style.color = w > 0.55 ? "#fff" : "";
        s.setAttribute("data-attention-from", i === null || k > i ? "" : String(from));
        s.setAttribute("data-attention-to", i === null || k <= i ? "" : String(to));
        s.title = i === null ? "" : k <= i ? "attention from " + spec.tokens[i] + ": " + fmt(from) : "attention to " + spec.tokens[i] + " from here: " + fmt(to);
        s.classList.toggle("hm-query", k === i);
      });
    }
    spans.forEach(function (s, i) {
      s.addEventListener("mouseenter", function () { show(i); });
      s.addEventListener("mouseleave", function () { show(pinned); });
      s.addEventListener("click", function () { pinned = pinned === i ? null : i; show(pinned); });
    });
    return box;
  }

  /* multiples: every head of a layer as a small grid; spec = { title, tokens, patterns[h][q][k], labels, selected, onSelect(h) } */
  function multiples(target, spec) {
    var box = container(target, spec.title, "hm-multiples-box");
    var wrap = el("div", { "class": "hm-multiples" }, box);
    var n = spec.tokens.length, cell = Math.max(2, Math.floor(120 / Math.max(n, 1)));
    spec.patterns.forEach(function (p, h) {
      var item = el("div", { "class": "hm-multiple" + (spec.selected === h ? " hm-selected" : ""), "data-head": h }, wrap);
      heatmap(item, { values: p, labels: false, legend: false, cell: cell, scale: "sequential", min: 0, max: 1 });
      el("div", {}, item).textContent = spec.labels ? spec.labels[h] : "head " + h;
      if (spec.onSelect) item.addEventListener("click", function () { spec.onSelect(h); });
    });
    return box;
  }

  /* line: spec = { title, xTitle, yTitle, series: [{ name, x: [], y: [] }], logY } — e.g. a training curve */
  function line(target, spec) {
    var box = container(target, spec.title, "hm-line");
    var W = 640, H = 300, L = 60, R = 150, T = 12, B = 40;
    var root = svg("svg", { width: W, height: H, viewBox: "0 0 " + W + " " + H, role: "img" }, box);
    var pts = [];
    spec.series.forEach(function (s) { s.x.forEach(function (x, i) { var y = s.y[i]; if (y !== null && isFinite(y) && (!spec.logY || y > 0)) pts.push([x, y]); }); });
    if (!pts.length) { text(root, L, T + 20, "no finite values"); return box; }
    var ty = function (y) { return spec.logY ? Math.log10(y) : y; };
    var x0 = Math.min.apply(null, pts.map(function (p) { return p[0]; })), x1 = Math.max.apply(null, pts.map(function (p) { return p[0]; }));
    var y0 = Math.min.apply(null, pts.map(function (p) { return ty(p[1]); })), y1 = Math.max.apply(null, pts.map(function (p) { return ty(p[1]); }));
    if (x1 === x0) x1 = x0 + 1;
    if (y1 === y0) { y1 = y0 + 1; }
    var px = function (x) { return L + (x - x0) / (x1 - x0) * (W - L - R); };
    var py = function (y) { return T + (1 - (ty(y) - y0) / (y1 - y0)) * (H - T - B); };
    svg("line", { x1: L, y1: H - B, x2: W - R, y2: H - B, stroke: "#333" }, root);
    svg("line", { x1: L, y1: T, x2: L, y2: H - B, stroke: "#333" }, root);
    for (var i = 0; i <= 4; i++) {
      var xv = x0 + (x1 - x0) * i / 4, yv = y0 + (y1 - y0) * i / 4, yl = spec.logY ? Math.pow(10, yv) : yv;
      text(root, px(xv), H - B + 14, fmt(xv), { "text-anchor": "middle" });
      text(root, L - 4, T + (1 - i / 4) * (H - T - B) + 4, fmt(yl), { "text-anchor": "end" });
    }
    if (spec.xTitle) text(root, L + (W - L - R) / 2, H - 6, spec.xTitle, { "class": "hm-axis-title", "text-anchor": "middle" });
    if (spec.yTitle) text(root, 12, T + (H - T - B) / 2, spec.yTitle, { "class": "hm-axis-title", "text-anchor": "middle", transform: "rotate(-90 12 " + (T + (H - T - B) / 2) + ")" });
    var palette = ["#21529e", "#d9822b", "#2e8b57", "#b22222", "#7b4fa0", "#8c6d31", "#17becf", "#555"];
    spec.series.forEach(function (s, k) {
      var d = "";
      s.x.forEach(function (x, i) {
        var y = s.y[i];
        if (y === null || !isFinite(y) || (spec.logY && y <= 0)) return;
        d += (d ? "L" : "M") + px(x).toFixed(1) + "," + py(y).toFixed(1);
      });
      svg("path", { d: d, fill: "none", stroke: palette[k % palette.length], "stroke-width": 1.5, "class": "hm-series", "data-name": s.name }, root);
      svg("rect", { x: W - R + 10, y: T + k * 16, width: 10, height: 10, fill: palette[k % palette.length] }, root);
      text(root, W - R + 24, T + k * 16 + 9, s.name);
    });
    return box;
  }

  /* bars: a next-token distribution, optionally before/after; spec = { title, rows: [{ label, value, after }] } */
  function bars(target, spec) {
    var box = container(target, spec.title, "hm-bars");
    var table = el("table", {}, box);
    var max = spec.rows.reduce(function (m, r) { return Math.max(m, r.value || 0, r.after || 0); }, 0) || 1;
    spec.rows.forEach(function (r) {
      var tr = el("tr", { "class": "hm-bar-row" }, table);
      el("td", {}, tr).textContent = r.label;
      var cell = el("td", {}, tr);
      el("span", { "class": "hm-bar", style: "width:" + Math.round(160 * (r.value || 0) / max) + "px" }, cell);
      el("td", { "class": "hm-bar-value" }, tr).textContent = fmt(r.value);
      if (r.after !== undefined && r.after !== null) {
        var c2 = el("td", {}, tr);
        el("span", { "class": "hm-bar hm-bar-after", style: "width:" + Math.round(160 * r.after / max) + "px" }, c2);
        el("td", { "class": "hm-bar-after-value" }, tr).textContent = fmt(r.after);
      }
    });
    return box;
  }

  /* table: spec = { title, columns: [name…], rows: [[cell…]…] }; a cell is a string or number, or
     { text, href } for a link (only http(s) links are made clickable), or { text, shade } with shade in [0, 1]
     to tint the cell. */
  function table(target, spec) {
    var box = container(target, spec.title, "hm-table");
    var t = el("table", {}, box);
    var head = el("tr", {}, el("thead", {}, t));
    spec.columns.forEach(function (c) { el("th", {}, head).textContent = c; });
    var body = el("tbody", {}, t);
    spec.rows.forEach(function (row) {
      var tr = el("tr", {}, body);
      row.forEach(function (cell) {
        var td = el("td", {}, tr);
        if (cell === null || cell === undefined) { td.textContent = ""; return; }
        if (typeof cell === "number") { td.textContent = fmt(cell); td.className = "hm-num"; return; }
        if (typeof cell === "string") { td.textContent = cell; return; }
        if (cell.href && /^https?:\/\//.test(cell.href)) {
          var a = el("a", { href: cell.href, rel: "noopener noreferrer", target: "_blank" }, td);
          a.textContent = cell.text;
        } else td.textContent = cell.text;
        if (cell.shade !== undefined && cell.shade !== null) td.style.background = makeScale([[0, 1]], "sequential", 0, 1).colour(Math.max(0, Math.min(1, cell.shade)) * 0.6);
      });
    });
    return box;
  }

  function note(target, spec) {
    var box = container(target, spec.title, "hm-text");
    el("p", { "class": "hm-note" }, box).textContent = spec.text;
    return box;
  }

  /* A figure drawn on the server (a circuit: CircuitSvg), parsed as SVG — never as HTML — and placed in the page. */
  function svgFigure(target, spec) {
    var box = container(target, spec.title, "hm-svg");
    var root = new DOMParser().parseFromString(spec.svg, "image/svg+xml").documentElement;
    if (root.nodeName !== "svg") throw new Error("the figure is not an SVG document");
    box.appendChild(document.importNode(root, true));
    return box;
  }

  var kinds = { heatmap: heatmap, attention: attention, tokens: tokens, multiples: multiples, line: line, bars: bars, table: table, text: note, svg: svgFigure };
  /* More views (atlas.js, flow.js) add themselves here, so a report and the explorer find them by kind. */
  function register(kind, f) { kinds[kind] = f; global.HMViews[kind] = f; }
  function render(target, spec) {
    var f = kinds[spec.kind];
    if (!f) throw new Error("unknown view kind " + spec.kind);
    return f(target, spec);
  }

  /* A static report: <script type="application/json" id="hm-report-data"> holds { sections: [spec…] }. */
  function renderReport() {
    var data = document.getElementById("hm-report-data");
    var target = document.getElementById("hm-report");
    if (!data || !target) return;
    JSON.parse(data.textContent).sections.forEach(function (s) { render(target, s); });
  }

  global.HMViews = { heatmap: heatmap, attention: attention, tokens: tokens, multiples: multiples, line: line, bars: bars, table: table, text: note, svg: svgFigure, render: render, renderReport: renderReport, format: fmt, register: register, colourScale: makeScale };
})(window);
