/* The explorer page: asks the JSON API (same origin) and draws with the shared views (views.js). */
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  var state = { detail: "", models: [], model: null, tokens: null, tokenIds: null, patterns: null, atlas: null, catalog: null, selected: null, card: null, ranPrompt: null, runs: 0, flows: 0, pending: 0, started: 0 };

  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); return node; }
  function textEl(tag, s, parent) { var e = document.createElement(tag); e.textContent = s; if (parent) parent.appendChild(e); return e; }
  function showError(message) { var e = $("error"); e.hidden = !message; e.textContent = message || ""; }

  /* Every call shows progress (elapsed seconds) until it answers; errors arrive as { error } with a 4xx/5xx status. */
  var ticker = null;
  function busy(delta, label) {
    state.pending += delta;
    if (delta > 0 && state.pending === 1) state.started = Date.now();
    $("progress").hidden = state.pending === 0;
    document.body.setAttribute("data-busy", state.pending > 0 ? "true" : "false");
    if (state.pending > 0 && !ticker) ticker = setInterval(function () {
      $("status").textContent = "computing… " + ((Date.now() - state.started) / 1000).toFixed(1) + " s" + (state.detail ? " — " + state.detail : "");
    }, 100);
    if (state.pending === 0) { clearInterval(ticker); ticker = null; $("status").textContent = label || "ready"; }
  }
  function call(method, path, body) {
    busy(1);
    return fetch(path, { method: method, headers: body ? { "Content-Type": "application/json" } : {}, body: body ? JSON.stringify(body) : undefined })
      .then(function (r) {
        return r.json().catch(function () { return { error: "HTTP " + r.status }; }).then(function (data) {
          if (!r.ok) throw new Error(data.error || ("HTTP " + r.status));
          return data;
        });
      })
      .finally(function () { busy(-1); });
  }
  function promptBody(extra) {
    var body = { model: state.model.id, prompt: $("prompt").value };
    for (var k in extra || {}) body[k] = extra[k];
    return body;
  }
  function options(select, n, prefix) {
    clear(select);
    for (var i = 0; i < n; i++) { var o = textEl("option", prefix + i, select); o.value = String(i); }
  }
  function layer() { return parseInt($("layer").value, 10); }
  function head() { return parseInt($("head").value, 10); }

  function drawTokens() {
    var box = clear($("tokens"));
    HMViews.tokens(box, { tokens: state.tokens, pattern: null });
  }
  function drawPattern() {
    if (!state.patterns) return;
    var h = head();
    HMViews.attention(clear($("pattern")), { title: "layer " + layer() + ", head " + h + " (query ↓, key →)", tokens: state.tokens, pattern: state.patterns[h] });
    HMViews.tokens(clear($("hover")), { title: "hover a token to see where it attends", tokens: state.tokens, pattern: state.patterns[h] });
    HMViews.multiples(clear($("multiples")), {
      tokens: state.tokens, patterns: state.patterns, selected: h,
      labels: state.patterns.map(function (_, i) { return "L" + layer() + "H" + i; }),
      onSelect: function (i) { $("head").value = String(i); drawPattern(); }
    });
  }

  function runPattern() {
    return call("POST", "/api/pattern", promptBody({ layer: layer() })).then(function (r) {
      state.tokens = r.tokens; state.tokenIds = r.token_ids; state.patterns = r.patterns;
      drawTokens(); drawPattern();
    });
  }
  function runLens() {
    return call("POST", "/api/logit-lens", promptBody({ top: 5 })).then(function (r) {
      var table = document.createElement("table");
      var hr = document.createElement("tr"); table.appendChild(hr);
      ["residual", "top tokens (probability)"].forEach(function (s) { textEl("th", s, hr); });
      r.layers.forEach(function (l) {
        var tr = document.createElement("tr"); table.appendChild(tr);
        textEl("td", l.label, tr);
        textEl("td", l.top.map(function (t) { return JSON.stringify(t.token) + " " + (100 * t.prob).toFixed(1) + "%"; }).join("   "), tr);
      });
      clear($("lens")).appendChild(table);
    });
  }
  function runDla() {
    return call("POST", "/api/dla", promptBody({})).then(function (r) {
      state.dla = r;
      var box = clear($("dla"));
      HMViews.heatmap(box, {
        title: "each head's direct contribution to the logit of " + JSON.stringify(r.answer.token), values: r.heads,
        rows: r.heads.map(function (_, l) { return "L" + l; }), cols: r.heads[0].map(function (_, h) { return "H" + h; }),
        rowTitle: "layer", colTitle: "head", scale: "diverging"
      });
    });
  }
  function runAll() {
    showError("");
    if (!$("prompt").value.trim()) { showError("type a prompt first"); return Promise.resolve(); }
    state.ranPrompt = $("prompt").value;
    return runPattern().then(function () { return Promise.all([runLens(), runDla(), runFlow()]); })
      .then(function () { if (state.card) drawHeadDetails(); })
      .catch(function (e) { showError(e.message); })
      .then(function () { state.runs += 1; document.body.setAttribute("data-runs", String(state.runs)); });
  }

  /* The information flow of the prompt into its last token (routes at the chosen threshold), drawn by flow.js. */
  function runFlow() {
    var threshold = parseFloat($("flow-threshold").value);
    if (!(threshold >= 0 && threshold <= 1)) threshold = 0.04;
    return call("POST", "/api/flow", promptBody({ threshold: threshold })).then(function (r) {
      HMViews.flow(clear($("flow")), {
        title: r.edges.length + " edges into " + JSON.stringify(r.tokens[r.tokens.length - 1]) + " at threshold " + HMViews.format(r.threshold),
        tokens: r.tokens, layers: r.layers, heads: r.heads, parallel: r.parallel, threshold: r.threshold, edges: r.edges, last: r.last
      });
    });
  }

  /* An atlas computed on demand takes a while: poll its progress (detector i of n, phase) into the status line. */
  function watchAtlas(id) {
    var timer = setInterval(function () {
      fetch("/api/atlas/progress?model=" + encodeURIComponent(id)).then(function (r) { return r.json(); }).then(function (p) {
        if (timer === null) return;
        state.detail = p.state === "running" && p.detector ? "atlas: " + p.detector + " (" + (p.index + 1) + "/" + p.count + ", " + p.phase + ")"
          : p.state === "running" ? "atlas: waiting for a free core" : "";
        var line = $("atlas-progress"); if (line) line.textContent = state.detail;
      }).catch(function () { });
    }, 250);
    return function () { clearInterval(timer); timer = null; state.detail = ""; };
  }
  function loadAtlas() {
    state.atlas = null; state.selected = null;
    clear($("atlas")); clear($("head-details")); clear($("detector"));
    var stop = function () { };
    if (state.model.atlas === "on_demand") {
      var box = $("atlas");
      textEl("p", "computing the atlas for this model (about a second for small models)…", box).className = "hm-note";
      textEl("p", "", box).id = "atlas-progress";
      stop = watchAtlas(state.model.id);
    }
    return call("GET", "/api/atlas?model=" + encodeURIComponent(state.model.id)).finally(function () { stop(); }).then(function (r) {
      state.atlas = r.atlas; state.catalog = r.catalog;
      drawLanding();
      r.atlas.detectors.forEach(function (d, i) {
        var o = textEl("option", d.id + (d.stage ? " (" + d.stage + ")" : "") + (d.status && d.status !== "ran" ? " — " + d.status : ""), $("detector"));
        o.value = String(i);
      });
      drawAtlas();
    }).catch(function (e) {
      textEl("p", e.message, clear($("atlas"))).className = "hm-note atlas-missing";
      textEl("p", e.message, clear($("atlas-grid"))).className = "hm-note atlas-missing";
    });
  }
  /* The landing view: the grid by head type and the card of the first labelled head (the page's layer/head choice is
     left alone until a head is clicked). */
  function drawLanding() {
    var first = (state.atlas.heads || []).filter(function (e) { return e.labels && e.labels.length; })[0];
    state.card = state.selected || (first ? [first.layer, first.head] : [0, 0]);
    HMViews.atlasGrid(clear($("atlas-grid")), {
      atlas: state.atlas, catalog: state.catalog, selected: state.card,
      title: state.model.name + ": " + state.model.layers + " layers × " + state.model.heads + " heads",
      onHead: function (l, h) { selectHead(l, h); }
    });
    drawHeadDetails();
  }
  function drawAtlas() {
    var d = state.atlas.detectors[parseInt($("detector").value, 10) || 0];
    var box = clear($("atlas"));
    if (!d || !d.scores) { textEl("p", "detector " + (d ? d.id : "?") + " has no scores" + (d && d.reason ? ": " + d.reason : ""), box).className = "hm-note"; return; }
    HMViews.heatmap(box, {
      title: d.id + " score per head", values: d.scores, rows: d.scores.map(function (_, l) { return "L" + l; }),
      cols: d.scores[0].map(function (_, h) { return "H" + h; }), rowTitle: "layer", colTitle: "head", scale: "sequential", min: 0,
      selected: state.selected, onCell: function (l, h) { selectHead(l, h); }
    });
  }
  function selectHead(l, h) {
    state.selected = [l, h]; state.card = [l, h];
    $("layer").value = String(l); $("head").value = String(h);
    drawLanding(); drawAtlas();
    if (state.tokens) runPattern().catch(function (e) { showError(e.message); });
  }
  /* The head's card (atlas.js) plus what only the explorer has: its attention on the prompt last run (token view and
     grid) and its direct logit attribution there. */
  function drawHeadDetails() {
    if (!state.atlas || !state.card) return;
    var l = state.card[0], h = state.card[1];
    HMViews.headCard(clear($("head-details")), {
      atlas: state.atlas, catalog: state.catalog, layer: l, head: h,
      onCard: function (slot) {
        textEl("h4", "On the current prompt", slot);
        if (state.dla) textEl("p", "direct logit attribution to " + JSON.stringify(state.dla.answer.token) + ": " + HMViews.format(state.dla.heads[l][h]), slot).className = "head-dla";
        if (!state.ranPrompt) { textEl("p", "run a prompt to see this head's attention on it and its direct logit attribution", slot).className = "hm-note"; return; }
        var prompt = state.ranPrompt, box = textEl("div", "", slot);
        box.className = "card-attention";
        call("POST", "/api/pattern", { model: state.model.id, prompt: prompt, layer: l, head: h }).then(function (r) {
          if (!state.card || state.card[0] !== l || state.card[1] !== h) return;
          HMViews.tokens(clear(box), { title: "L" + l + "H" + h + " on the prompt", tokens: r.tokens, pattern: r.patterns[0] });
          HMViews.attention(box, { title: "query ↓, key →", tokens: r.tokens, pattern: r.patterns[0], cell: Math.max(6, Math.min(18, Math.floor(260 / r.tokens.length))) });
        }).catch(function (e) { textEl("p", e.message, clear(box)).className = "hm-note"; });
      }
    });
  }

  /* Two models' atlases side by side: the current model's grid and the chosen one's, each clickable for its card,
     and per head type which heads carry it in each model. */
  function drawCompare() {
    var other = $("compare-model").value, box = clear($("compare"));
    if (!other || !state.atlas) return Promise.resolve();
    var otherModel = state.models.filter(function (m) { return m.id === other; })[0];
    return call("GET", "/api/atlas?model=" + encodeURIComponent(other)).then(function (r) {
      var row = textEl("div", "", box); row.className = "compare-row";
      var sides = [{ model: state.model, atlas: state.atlas, catalog: state.catalog }, { model: otherModel, atlas: r.atlas, catalog: r.catalog }];
      sides.forEach(function (s, i) {
        var col = textEl("div", "", row); col.className = "compare-side"; col.setAttribute("data-model", s.model.id);
        var cardBox = document.createElement("div");
        HMViews.atlasGrid(col, {
          atlas: s.atlas, catalog: s.catalog, title: (i === 0 ? "this model: " : "compared: ") + s.model.name + " (" + s.model.id + ")",
          onHead: function (l, h) { HMViews.headCard(clear(cardBox), { atlas: s.atlas, catalog: s.catalog, layer: l, head: h }); }
        });
        col.appendChild(cardBox);
      });
      var types = {};
      sides.forEach(function (s, i) {
        (s.atlas.heads || []).forEach(function (e) { e.labels.forEach(function (x) { (types[x.type] = types[x.type] || [[], []])[i].push("L" + e.layer + "H" + e.head); }); });
      });
      HMViews.table(box, {
        title: "heads per type", columns: ["type", state.model.id, other],
        rows: Object.keys(types).sort().map(function (t) { return [t, types[t][0].join(" ") || "—", types[t][1].join(" ") || "—"]; })
      });
    }).catch(function (e) { textEl("p", e.message, box).className = "hm-note"; });
  }

  function intervene(kind) {
    showError("");
    var body = promptBody({ layer: layer(), head: head(), kind: kind, top: 8 });
    if (kind === "patch") body.source_prompt = $("source-prompt").value;
    return call("POST", "/api/intervene", body).then(function (r) {
      var box = clear($("intervention"));
      textEl("p", (kind === "ablate" ? "zero-ablated" : "patched") + " L" + r.layer + "H" + r.head + ": top token " + JSON.stringify(r.top_before.token) + " → " +
        JSON.stringify(r.top_after.token) + ", KL(before ‖ after) = " + HMViews.format(r.kl_before_after), box).className = "intervention-summary";
      HMViews.bars(box, { title: "next-token probability: before (blue) and after (orange)", rows: r.rows.map(function (x) { return { label: JSON.stringify(x.token), value: x.before, after: x.after }; }) });
    }).catch(function (e) { showError(e.message); });
  }

  /* The circuit of a task set ("task") or of the prompt against the source prompt (/api/circuit): the drawing, and a
     table of its heads with their roles from the atlas. */
  function runCircuit(fromPrompt) {
    showError("");
    var box = clear($("circuit"));
    var body = fromPrompt ? promptBody({ source_prompt: $("source-prompt").value }) : { model: state.model.id, task: $("circuit-task").value };
    return call("POST", "/api/circuit", body).then(function (r) {
      box.setAttribute("data-task", r.task || "");
      textEl("p", (r.task ? "task " + r.task : "prompt vs source prompt") + ": " + r.edges_kept + " of " + r.graph_edges + " edges, " +
        r.nodes.length + " nodes; faithfulness " + HMViews.format(r.faithfulness) + (r.reached_target ? "" : " (no budget below the whole graph came within 0.2 of 1)") +
        " (" + r.method + ", " + r.settings.metric + ", " + r.pairs + " pair" + (r.pairs === 1 ? "" : "s") + ")", box).className = "circuit-summary";
      HMViews.render(box, { kind: "svg", title: null, svg: r.svg });
      HMViews.table(box, {
        title: "nodes and their roles (atlas labels)", columns: ["node", "roles"],
        rows: r.nodes.map(function (n) { return [n.head >= 0 ? "L" + n.layer + "H" + n.head : "MLP " + n.layer, n.roles.join(", ") || "—"]; })
      });
      state.circuits = (state.circuits || 0) + 1;
      document.body.setAttribute("data-circuits", String(state.circuits));
    }).catch(function (e) { showError(e.message); });
  }

  function chooseModel() {
    state.model = state.models.filter(function (m) { return m.id === $("model").value; })[0];
    var m = state.model;
    $("model-info").textContent = m.architecture + ", " + m.layers + " layers × " + m.heads + " heads, context " + m.context_length +
      (m.has_tokenizer ? "" : " — no tokenizer: type token ids separated by spaces");
    options($("layer"), m.layers, ""); options($("head"), m.heads, "");
    var examples = $("examples");
    while (examples.options.length > 1) examples.remove(1);
    (m.examples || []).forEach(function (e, i) { textEl("option", e.task + ": " + (e.prompt.length > 80 ? e.prompt.slice(0, 80) + "…" : e.prompt), examples).value = String(i); });
    examples.value = "";
    var tasks = clear($("circuit-task"));
    (m.examples || []).forEach(function (e) { textEl("option", e.task, tasks).value = e.task; });
    $("circuit-run").disabled = tasks.options.length === 0;
    var previous = state.ranPrompt;
    if (!$("prompt").value.trim() || $("prompt").value === previous) $("prompt").value = (m.examples && m.examples[0]) ? m.examples[0].prompt : "";
    state.patterns = null; state.dla = null; state.tokens = null; state.ranPrompt = null; state.selected = null; state.card = null;
    ["tokens", "pattern", "hover", "multiples", "lens", "dla", "intervention", "circuit", "flow", "compare", "atlas-grid", "head-details"].forEach(function (id) { clear($(id)); });
    var compare = $("compare-model");
    while (compare.options.length > 1) compare.remove(1);
    state.models.filter(function (x) { return x.id !== m.id; }).forEach(function (x) { textEl("option", x.name + " (" + x.id + ")", compare).value = x.id; });
    return loadAtlas();
  }

  $("run").addEventListener("click", runAll);
  $("layer").addEventListener("change", function () { if (state.tokens) runPattern().catch(function (e) { showError(e.message); }); });
  $("head").addEventListener("change", drawPattern);
  $("detector").addEventListener("change", drawAtlas);
  $("model").addEventListener("change", chooseModel);
  $("compare-model").addEventListener("change", drawCompare);
  $("flow-threshold").addEventListener("change", function () {
    if (state.ranPrompt === null) return;
    runFlow().catch(function (e) { showError(e.message); }).then(function () { document.body.setAttribute("data-flows", String(++state.flows)); });
  });
  $("examples").addEventListener("change", function () {
    var e = state.model && state.model.examples && state.model.examples[Number($("examples").value)];
    if ($("examples").value !== "" && e) { $("prompt").value = e.prompt; $("circuit-task").value = e.task; }
  });
  $("circuit-run").addEventListener("click", function () { runCircuit(false); });
  $("circuit-prompt").addEventListener("click", function () { runCircuit(true); });
  $("ablate").addEventListener("click", function () { intervene("ablate"); });
  $("patch").addEventListener("click", function () { intervene("patch"); });
  $("prompt").addEventListener("keydown", function (e) { if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) runAll(); });

  call("GET", "/api/models").then(function (r) {
    state.models = r.models;
    r.models.forEach(function (m) { textEl("option", m.name + " (" + m.id + ")", $("model")).value = m.id; });
    return chooseModel();
  }).then(function () {
    // The page opens on something: the model's first example prompt, already run.
    if ($("prompt").value.trim()) return runAll();
  }).then(function () { document.body.setAttribute("data-ready", "true"); })
    .catch(function (e) { showError(e.message); });
})();
