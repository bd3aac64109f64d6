/* HeadMiner atlas view: the layers × heads grid coloured by each head's strongest head type, a legend of the types,
   and a head's card (scores with intervals, causal grade, papers, attended examples). Shared by atlas.html (static,
   from file://) and the explorer (which adds the head's attention on the current prompt through spec.onCard).
   Needs views.js (HMViews) first. Values reach the page through textContent and attributes only. */
(function (HM) {
  "use strict";
  var SVG = "http://www.w3.org/2000/svg";
  function el(tag, attrs, parent, textValue) {
    var node = document.createElement(tag);
    for (var k in attrs || {}) node.setAttribute(k, attrs[k]);
    if (textValue !== undefined) node.textContent = textValue;
    if (parent) parent.appendChild(node);
    return node;
  }
  function svg(tag, attrs, parent, textValue) {
    var node = document.createElementNS(SVG, tag);
    for (var k in attrs || {}) node.setAttribute(k, attrs[k]);
    if (textValue !== undefined) node.textContent = textValue;
    if (parent) parent.appendChild(node);
    return node;
  }
  var fmt = HM.format;

  /* A type's colour: its place in the head catalog (sent as catalog[type].index) walked round the colour wheel by the
     golden angle, so neighbouring types differ and a type has the same colour in every model's atlas; a type the
     catalog lacks gets a place from its name. Dark enough for white text. */
  function typeColour(type, catalog) {
    var i = catalog && catalog[type] && typeof catalog[type].index === "number" ? catalog[type].index : -1;
    if (i < 0) { i = 0; for (var k = 0; k < type.length; k++) i = (i * 31 + type.charCodeAt(k)) % 997; }
    return "hsl(" + Math.round((i * 137.508) % 360) + ",58%," + (36 + (i % 3) * 6) + "%)";
  }
  function abbreviation(type) {
    var words = type.split(/[_\s-]+/).filter(Boolean);
    return (words.length > 1 ? words.map(function (w) { return w[0]; }).join("") : type).slice(0, 3).toUpperCase();
  }
  function headEntry(atlas, l, h) {
    return (atlas.heads || []).filter(function (e) { return e.layer === l && e.head === h; })[0] || { layer: l, head: h, labels: [], top_attended: [] };
  }
  function typeName(catalog, type) { return catalog && catalog[type] && catalog[type].name ? catalog[type].name : type; }

  /* grid: spec = { atlas, catalog, title, selected: [l, h], onHead(l, h) } — one cell per head, coloured by its first
     (strongest) label; the legend lists every type present. */
  function grid(target, spec) {
    var atlas = spec.atlas, m = atlas.model, L = m.layers, H = m.heads;
    var box = el("div", { "class": "hm-view hm-atlas-grid", "data-model": m.name || "" }, target);
    if (spec.title) el("h3", {}, box, spec.title);
    var cell = Math.max(12, Math.min(56, Math.floor(460 / Math.max(L, H, 1))));
    var left = 34, top = 22, width = left + H * cell + 4, height = top + L * cell + 4;
    var root = svg("svg", { width: width, height: height, viewBox: "0 0 " + width + " " + height, role: "img" }, box);
    svg("text", { x: left + H * cell / 2, y: 10, "text-anchor": "middle", "class": "hm-axis-title" }, root, "head");
    for (var h = 0; h < H; h++) if (cell >= 16 || h % 4 === 0) svg("text", { x: left + h * cell + cell / 2, y: top - 3, "text-anchor": "middle" }, root, String(h));
    var present = {};
    var cells = svg("g", { "class": "hm-grid" }, root);
    for (var l = 0; l < L; l++) {
      if (cell >= 16 || l % 4 === 0) svg("text", { x: left - 4, y: top + l * cell + cell / 2 + 4, "text-anchor": "end" }, root, "L" + l);
      for (h = 0; h < H; h++) {
        var entry = headEntry(atlas, l, h), best = entry.labels[0];
        if (best) present[best.type] = best.stage || "";
        var g = svg("g", { "class": "hm-atlas-cell hm-clickable", "data-layer": l, "data-head": h, "data-type": best ? best.type : "" }, cells);
        svg("rect", { x: left + h * cell, y: top + l * cell, width: cell, height: cell, fill: best ? typeColour(best.type, spec.catalog) : "#eee", "class": "hm-cell" }, g);
        if (best && cell >= 30) svg("text", { x: left + h * cell + cell / 2, y: top + l * cell + cell / 2 + 4, "text-anchor": "middle", "class": "hm-atlas-abbr" }, g,
          abbreviation(best.type) + (entry.labels.length > 1 ? "+" + (entry.labels.length - 1) : ""));
        svg("title", {}, g, "L" + l + "H" + h + ": " + (entry.labels.length ? entry.labels.map(function (x) { return x.type + " " + fmt(x.score); }).join(", ") : "no label"));
        if (spec.selected && spec.selected[0] === l && spec.selected[1] === h) g.classList.add("hm-selected");
        if (spec.onHead) (function (ll, hh, node) {
          node.addEventListener("click", function () {
            cells.querySelectorAll(".hm-selected").forEach(function (n) { n.classList.remove("hm-selected"); });
            node.classList.add("hm-selected");
            spec.onHead(ll, hh);
          });
        })(l, h, g);
      }
    }
    var legend = el("div", { "class": "hm-atlas-legend" }, box);
    Object.keys(present).sort(function (a, b) { return (present[a] + a).localeCompare(present[b] + b); }).forEach(function (t) {
      var item = el("span", { "class": "hm-atlas-legend-item", "data-type": t }, legend);
      el("span", { "class": "hm-swatch", style: "background:" + typeColour(t, spec.catalog) }, item);
      el("span", {}, item, (present[t] ? present[t] + " · " : "") + typeName(spec.catalog, t));
    });
    var none = el("span", { "class": "hm-atlas-legend-item" }, legend);
    el("span", { "class": "hm-swatch", style: "background:#eee" }, none);
    el("span", {}, none, "no label");
    return box;
  }

  function signed(v) { return v === null || v === undefined ? "n/a" : (v > 0 ? "+" : "") + fmt(v); }

  /* card: spec = { atlas, catalog, layer, head, onCard(slot, l, h) } — what the atlas knows about one head. */
  function card(target, spec) {
    var atlas = spec.atlas, l = spec.layer, h = spec.head, entry = headEntry(atlas, l, h);
    var box = el("div", { "class": "hm-view hm-head-card", "data-layer": l, "data-head": h }, target);
    el("h3", {}, box, "L" + l + "H" + h + " — " + (entry.labels.length ? entry.labels.map(function (x) { return typeName(spec.catalog, x.type); }).join(", ") : "no label"));

    if (entry.labels.length) {
      var t = el("table", { "class": "hm-card-labels" }, box);
      var hr = el("tr", {}, el("thead", {}, t));
      ["type", "stage", "score [95% interval]", "false-positive rate", "effect alone (percentile)", "effect with its set (percentile)", "causal grade"].forEach(function (s) { el("th", {}, hr, s); });
      var body = el("tbody", {}, t);
      entry.labels.forEach(function (x) {
        var tr = el("tr", { "data-type": x.type, "data-score": String(x.score), "data-interval": x.interval ? x.interval.join(",") : "", "data-grade": x.grade || "" }, body);
        var sw = el("td", {}, tr);
        el("span", { "class": "hm-swatch", style: "background:" + typeColour(x.type, spec.catalog) }, sw);
        sw.appendChild(document.createTextNode(typeName(spec.catalog, x.type)));
        el("td", {}, tr, x.stage || "");
        el("td", { "class": "hm-num hm-card-score" }, tr, fmt(x.score) + (x.interval ? " [" + fmt(x.interval[0]) + ", " + fmt(x.interval[1]) + "]" : ""));
        el("td", { "class": "hm-num" }, tr, x.false_positive_rate === null || x.false_positive_rate === undefined ? "n/a" : fmt(x.false_positive_rate));
        el("td", { "class": "hm-num" }, tr, x.effect_alone === null || x.effect_alone === undefined ? "—" : signed(x.effect_alone) + " (p" + fmt(x.effect_alone_percentile) + ")");
        el("td", { "class": "hm-num" }, tr, x.effect_together === null || x.effect_together === undefined ? "—" : signed(x.effect_together) + " (p" + fmt(x.effect_together_percentile) + ")");
        el("td", { "class": "hm-card-grade" }, tr, x.grade || "");
      });
    } else el("p", { "class": "hm-note" }, box, "No detector's threshold is passed by this head.");

    /* Every detector's score for this head, with its interval and threshold: why a label is there or not. */
    var details = el("details", { "class": "hm-card-scores" }, box);
    el("summary", {}, details, "every detector's score for this head");
    var st = el("table", {}, details);
    var sh = el("tr", {}, el("thead", {}, st));
    ["detector", "score", "95% interval", "threshold", "passes"].forEach(function (s) { el("th", {}, sh, s); });
    var sb = el("tbody", {}, st);
    (atlas.detectors || []).forEach(function (d) {
      var tr = el("tr", { "data-detector": d.id }, sb);
      el("td", {}, tr, d.id + (d.stage ? " (" + d.stage + ")" : ""));
      if (!d.scores) { el("td", { colspan: 4, "class": "hm-note" }, tr, d.status + (d.reason ? ": " + d.reason : "")); return; }
      var v = d.scores[l][h];
      el("td", { "class": "hm-num" }, tr, fmt(v));
      el("td", { "class": "hm-num" }, tr, d.interval_low && d.interval_high ? "[" + fmt(d.interval_low[l][h]) + ", " + fmt(d.interval_high[l][h]) + "]" : "");
      el("td", { "class": "hm-num" }, tr, d.threshold === null || d.threshold === undefined ? "" : fmt(d.threshold));
      el("td", {}, tr, d.threshold === null || d.threshold === undefined || v === null ? "" : v >= d.threshold ? "yes" : "no");
    });

    var types = entry.labels.map(function (x) { return x.type; }).filter(function (x, i, a) { return a.indexOf(x) === i; });
    if (types.length) {
      el("h4", {}, box, "What the literature says");
      types.forEach(function (type) {
        var info = spec.catalog && spec.catalog[type];
        var p = el("div", { "class": "hm-card-papers", "data-type": type }, box);
        el("strong", {}, p, typeName(spec.catalog, type) + ": ");
        p.appendChild(document.createTextNode(info ? info.function : "not in the catalog"));
        var ul = el("ul", {}, p);
        (info && info.papers || []).forEach(function (paper) {
          var li = el("li", {}, ul);
          if (/^https?:\/\//.test(paper.url)) el("a", { href: paper.url, rel: "noopener noreferrer", target: "_blank" }, li, paper.title);
          else li.textContent = paper.title;
          li.appendChild(document.createTextNode(" (" + paper.date + ")"));
        });
        if (info && !(info.papers || []).length) el("li", { "class": "hm-note" }, ul, "no paper in the survey's list");
      });
    }

    if ((entry.top_attended || []).length) {
      el("h4", {}, box, "Strongest attention on the atlas's prompts");
      var at = el("table", { "class": "hm-card-attended" }, box);
      var ah = el("tr", {}, el("thead", {}, at));
      ["prompt", "query (position)", "key (position)", "weight"].forEach(function (s) { el("th", {}, ah, s); });
      var ab = el("tbody", {}, at);
      entry.top_attended.forEach(function (a) {
        var tr = el("tr", {}, ab);
        el("td", {}, tr, a.prompt);
        el("td", { "class": "hm-mono" }, tr, JSON.stringify(a.query) + " (" + a.query_index + ")");
        el("td", { "class": "hm-mono" }, tr, JSON.stringify(a.key) + " (" + a.key_index + ")");
        el("td", { "class": "hm-num" }, tr, fmt(a.weight));
      });
    }
    var slot = el("div", { "class": "hm-card-prompt" }, box);
    if (spec.onCard) spec.onCard(slot, l, h);
    else el("p", { "class": "hm-note" }, slot, "Its attention on a prompt of your own: headminer serve (the explorer) shows it in this card.");
    return box;
  }

  /* atlas: the report section — title, the model line, the grid and the card of the clicked head (the first labelled
     head at first). spec = { atlas, catalog, title, onCard } */
  function atlasView(target, spec) {
    var box = el("div", { "class": "hm-view hm-atlas" }, target);
    if (spec.title) el("h3", {}, box, spec.title);
    var row = el("div", { "class": "hm-atlas-row" }, box);
    var gridBox = el("div", {}, row), cardBox = el("div", { "class": "hm-atlas-card-box" }, row);
    var first = (spec.atlas.heads || []).filter(function (e) { return e.labels.length; })[0];
    var selected = first ? [first.layer, first.head] : [0, 0];
    function show(l, h) {
      while (cardBox.firstChild) cardBox.removeChild(cardBox.firstChild);
      card(cardBox, { atlas: spec.atlas, catalog: spec.catalog, layer: l, head: h, onCard: spec.onCard });
      if (spec.onHead) spec.onHead(l, h);
    }
    grid(gridBox, { atlas: spec.atlas, catalog: spec.catalog, selected: selected, onHead: show });
    show(selected[0], selected[1]);
    return box;
  }

  HM.register("atlas", atlasView);
  HM.atlasGrid = grid;
  HM.headCard = card;
  HM.typeColour = typeColour;
})(window.HMViews);
