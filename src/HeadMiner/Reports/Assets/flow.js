/* HeadMiner information-flow view (Ferrando and Voita 2024; the LLM Transparency Tool's graph): token positions
   across, the residual stream's points up the model (resid_pre, resid_mid, resid_post of each layer), and the routes
   into the last token — an edge per head and source position, MLP and residual connection whose share of the sum it
   feeds passes the threshold, width by share. Below it, every head's and MLP's share at the last position. Needs
   views.js (HMViews) first.
   spec = { title, tokens, layers, heads, parallel, threshold, edges: [{ kind, layer, head, from: [depth, pos], to, share }],
            last: { position, heads[l][h], mlp[l] } } */
(function (HM) {
  "use strict";
  var SVG = "http://www.w3.org/2000/svg";
  function svg(tag, attrs, parent, textValue) {
    var node = document.createElementNS(SVG, tag);
    for (var k in attrs || {}) node.setAttribute(k, attrs[k]);
    if (textValue !== undefined) node.textContent = textValue;
    if (parent) parent.appendChild(node);
    return node;
  }
  var fmt = HM.format;
  var palette = ["#21529e", "#b22222", "#2e8b57", "#7b4fa0", "#8c6d31", "#17becf", "#d62790", "#555", "#1f77b4", "#bcbd22", "#e377c2", "#9467bd"];

  function flow(target, spec) {
    var box = document.createElement("div");
    box.className = "hm-view hm-flow";
    target.appendChild(box);
    if (spec.title) { var h3 = document.createElement("h3"); h3.textContent = spec.title; box.appendChild(h3); }
    var T = spec.tokens.length, depths = 2 * spec.layers;
    var colW = Math.max(34, Math.min(80, Math.floor(760 / Math.max(T, 1)))), rowH = spec.parallel ? 22 : 30;
    var left = 78, top = 16, bottom = 70;
    var width = left + T * colW + 20, height = top + depths * rowH + bottom;
    var root = svg("svg", { width: width, height: height, viewBox: "0 0 " + width + " " + height, role: "img" }, box);
    var x = function (p) { return left + p * colW + colW / 2; };
    var y = function (d) { return top + (depths - d) * rowH; };

    for (var l = 0; l < spec.layers; l++) {
      if (spec.parallel) svg("text", { x: left - 6, y: y(2 * l + 2) + 4, "text-anchor": "end" }, root, "L" + l);
      else {
        svg("text", { x: left - 6, y: y(2 * l + 1) + 4, "text-anchor": "end" }, root, "L" + l + " attn");
        svg("text", { x: left - 6, y: y(2 * l + 2) + 4, "text-anchor": "end" }, root, "L" + l + " mlp");
      }
      svg("line", { x1: left, x2: left + T * colW, y1: y(2 * l + 2), y2: y(2 * l + 2), stroke: "#eee" }, root);
    }
    svg("text", { x: left - 6, y: y(0) + 4, "text-anchor": "end" }, root, "embed");
    spec.tokens.forEach(function (t, p) {
      var tx = x(p), ty = y(0) + 16;
      svg("text", { x: tx, y: ty, "class": "hm-flow-token" + (p === T - 1 ? " hm-flow-last" : ""), "data-index": p, transform: "rotate(35 " + tx + " " + ty + ")" }, root, String(t).slice(0, 14));
    });

    var edges = svg("g", { "class": "hm-flow-edges" }, root), nodes = {};
    (spec.edges || []).slice().sort(function (a, b) { return a.share - b.share; }).forEach(function (e) {
      var x1 = x(e.from[1]), y1 = y(e.from[0]), x2 = x(e.to[1]), y2 = y(e.to[0]);
      var w = (1 + 7 * e.share).toFixed(2), d, colour;
      if (e.kind === "head") {
        colour = palette[e.head % palette.length];
        d = x1 === x2 ? "M" + x1 + "," + y1 + " C" + (x1 - 16) + "," + y1 + " " + (x2 - 16) + "," + y2 + " " + x2 + "," + y2
          : "M" + x1 + "," + y1 + " C" + x1 + "," + (y1 + y2) / 2 + " " + x2 + "," + (y1 + y2) / 2 + " " + x2 + "," + y2;
      } else if (e.kind === "mlp") {
        colour = "#d9822b";
        d = "M" + x1 + "," + y1 + " C" + (x1 + 18) + "," + y1 + " " + (x2 + 18) + "," + y2 + " " + x2 + "," + y2;
      } else {
        colour = "#999";
        d = "M" + x1 + "," + y1 + " L" + x2 + "," + y2;
      }
      var path = svg("path", {
        d: d, fill: "none", stroke: colour, "stroke-width": w, "stroke-opacity": (0.35 + 0.65 * e.share).toFixed(2),
        "class": "hm-flow-edge hm-flow-" + e.kind, "data-kind": e.kind, "data-layer": e.layer, "data-head": e.head === null || e.head === undefined ? "" : e.head,
        "data-from": e.from.join(","), "data-to": e.to.join(","), "data-share": String(e.share)
      }, edges);
      var what = e.kind === "head" ? "L" + e.layer + "H" + e.head + " reads " + JSON.stringify(spec.tokens[e.from[1]]) + " (" + e.from[1] + ")"
        : e.kind === "mlp" ? "L" + e.layer + " MLP" : "residual";
      svg("title", {}, path, what + " → position " + e.to[1] + ": share " + fmt(e.share));
      // The strongest head edges carry their head's name, so the main route reads without hovering.
      if (e.kind === "head" && e.share >= Math.max(0.1, spec.threshold))
        svg("text", { x: (x1 + x2) / 2 + (x1 === x2 ? -20 : 3), y: (y1 + y2) / 2 - 2, "class": "hm-flow-label", fill: colour }, edges, "L" + e.layer + "H" + e.head);
      if (e.kind === "mlp") svg("rect", { x: (x1 + x2) / 2 + 9, y: (y1 + y2) / 2 - 4, width: 8, height: 8, fill: colour, "class": "hm-flow-mlp-box" }, edges);
      nodes[e.from.join(",")] = e.from; nodes[e.to.join(",")] = e.to;
    });
    Object.keys(nodes).forEach(function (k) {
      var n = nodes[k];
      svg("circle", { cx: x(n[1]), cy: y(n[0]), r: 3.5, fill: "#fff", stroke: "#333", "class": "hm-flow-node", "data-node": k }, root);
    });
    if (!(spec.edges || []).length) svg("text", { x: left, y: top + 12, "class": "hm-note" }, root, "no edge passes the threshold " + fmt(spec.threshold));

    var key = document.createElement("p");
    key.className = "hm-note";
    key.textContent = "edges kept: share ≥ " + fmt(spec.threshold) + " of the sum they feed (width by share); coloured curves: heads (by head index), "
      + "orange: MLP, grey: residual. Hover an edge for its head and share.";
    box.appendChild(key);

    if (spec.last) {
      var cols = [];
      for (var h = 0; h < spec.heads; h++) cols.push("H" + h);
      cols.push("MLP");
      var values = spec.last.heads.map(function (row, ll) { return row.concat([spec.last.mlp[ll]]); });
      HM.heatmap(box, {
        title: "share of each head and MLP in its sum at the last token, " + JSON.stringify(spec.tokens[T - 1]) + " (position " + (T - 1) + ")",
        values: values, rows: values.map(function (_, ll) { return "L" + ll; }), cols: cols, rowTitle: "layer", colTitle: "component",
        scale: "sequential", min: 0, className: "hm-flow-last-shares"
      });
    }
    return box;
  }

  HM.register("flow", flow);
})(window.HMViews);
