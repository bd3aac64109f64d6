using System.Globalization;
using System.Text.Json.Nodes;
using HeadMiner.Analysis.Atlas;
using HeadMiner.Analysis.Catalog;

namespace HeadMiner.Reports;

/// <summary>
/// atlas.html: the atlas drawn with the shared views — the four-stage map of the model's heads, one layers × heads
/// heatmap per detector that ran, the causal checks, every head's labels with attention examples and the papers
/// behind each label, and the detectors that were skipped with their reasons.
/// </summary>
public static class AtlasHtml
{
    private static readonly string[] Stages = ["KR", "ICI", "LR", "EP"];

    public static HtmlReport Build(AtlasReport atlas, HeadCatalog? catalog = null)
    {
        catalog ??= HeadCatalog.Load();
        var m = atlas.Model;
        var report = new HtmlReport($"Head atlas: {m.Name}");
        report.Text($"{m.Architecture}, {m.Layers} layers × {m.Heads} heads ({m.KvHeads} key/value heads), d_model {m.DModel}, context {m.ContextLength}, "
            + $"vocabulary {m.VocabSize}{(m.WeightsOnly ? ", weights only (partial checkpoint)" : "")}; weight processing: {m.Processing}; seed {atlas.Seed}; "
            + $"created {atlas.CreatedUtc} by HeadMiner {atlas.ToolVersion}. A head gets a type's label when its score passes the detector's threshold; "
            + "the causal column gives the head's own effect on the type's task metric when ablated alone (its percentile among random heads ablated alone) "
            + "and the grade: causally_confirmed or pattern_only (rule under \"Causal evidence per head\")."
            + string.Concat(atlas.Notes.Select(n => " " + n)), "Model");

        // The landing view: the layers × heads grid by head type, and a card per head (atlas.js, shared with the explorer).
        report.View("atlas", "Heads by type: click a head for its card",
            new JsonObject { ["atlas"] = JsonNode.Parse(atlas.ToJson()), ["catalog"] = CatalogFor(atlas, catalog) });

        string[] layerLabels = [.. Enumerable.Range(0, m.Layers).Select(l => $"L{l}")];
        string[] headLabels = [.. Enumerable.Range(0, m.Heads).Select(h => $"H{h}")];

        // The four-stage map: each head's strongest label and its stage, tinted by stage.
        var mapRows = new List<IReadOnlyList<object?>>();
        for (int l = 0; l < m.Layers; l++)
        {
            var row = new List<object?> { $"L{l}" };
            for (int h = 0; h < m.Heads; h++)
            {
                var head = atlas.Heads.FirstOrDefault(x => x.Layer == l && x.Head == h);
                var best = head?.Labels.FirstOrDefault();
                row.Add(best is null ? "—" : new TableShade($"{best.Stage ?? "?"}: {best.Type}" + (head!.Labels.Count > 1 ? $" (+{head.Labels.Count - 1})" : ""),
                    (Array.IndexOf(Stages, best.Stage) + 1) / 4.0));
            }
            mapRows.Add(row);
        }
        report.Table("Four-stage map (KR knowledge recalling · ICI in-context identification · LR latent reasoning · EP expression preparation)",
            ["layer", .. headLabels], mapRows);

        // Summary: one row per labelled head and type.
        var summary = new List<IReadOnlyList<object?>>();
        foreach (var head in atlas.Heads)
        {
            foreach (var label in head.Labels)
            {
                var detector = atlas.Detectors.FirstOrDefault(d => d.HeadType == label.Type || d.Id == label.Type);
                summary.Add([$"L{head.Layer}H{head.Head}", label.Type, label.Stage ?? "", label.Score, CausalText(detector?.Causal, head)]);
            }
        }
        report.Table("Labelled heads", ["head", "type", "stage", "score", "causal: effect alone (percentile, ablation), grade"], summary);

        foreach (var d in atlas.Detectors.Where(d => d.Status == "ran" && d.Scores is not null))
        {
            string title = $"{d.HeadType ?? d.Id} ({d.Stage ?? "no stage"}) — detector {d.Id}, threshold {Format(d.Threshold)}"
                + (d.Baseline is double b ? $", chance {Format(b)}" : "");
            report.Heatmap(title, layerLabels, headLabels, d.Scores!, "layer", "head", diverging: d.Scores!.SelectMany(r => r).Any(v => v < 0));
        }

        var causal = atlas.Detectors.Where(d => d.Causal is not null).Select(d => (IReadOnlyList<object?>)
        [
            d.HeadType ?? d.Id, d.Causal!.Metric, string.Join(" ", d.Causal.Heads.Select(h => $"L{h[0]}H{h[1]}")), d.Causal.Baseline,
            d.Causal.TopHeadsValue, d.Causal.RandomHeadsValue, d.Causal.RandomHeadsMedian, d.Causal.TopEffect, d.Causal.RandomEffect, d.Causal.RandomMedianEffect,
        ]).ToList();
        if (causal.Count > 0)
        {
            report.Table("Causal confirmation (zero ablation of the labelled heads together; effect = how much worse the metric gets)",
                ["type", "metric", "top heads", "clean", "top heads ablated", "random heads ablated (mean)", "(median)", "top effect", "random effect (mean)", "(median)"], causal);
            var perHead = new List<IReadOnlyList<object?>>();
            foreach (var d in atlas.Detectors.Where(d => d.Causal is not null))
            {
                foreach (var h in d.Causal!.PerHead)
                {
                    IReadOnlyList<object?> row = [$"L{h.Layer}H{h.Head}", d.HeadType ?? d.Id, h.Grade ?? "not labelled",
                        // An ungraded best head (nothing labelled) is measured under zero ablation only: "—" for the others.
                        .. CausalConfirmation.Kinds.Select(k => h.Alone.FirstOrDefault(a => a.Ablation == k) is { } a ? $"{Signed(a.Effect)} (p{Format(a.Percentile)})" : "—"),
                        .. CausalConfirmation.Kinds.Select(k => d.Causal.Together.FirstOrDefault(t => t.Ablation == k) is { } t ? $"{Signed(t.Effect)} (p{Format(t.Percentile)})" : "—"),
                        h.GradeReason ?? ""];
                    perHead.Add(row);
                }
            }
            report.Table($"Causal evidence per head (alone: the head ablated by itself, percentile among random single heads; together: the labelled heads of the type, percentile among random sets of as many heads). {CausalConfirmation.GradeRule}",
                ["head", "type", "grade", "zero alone", "mean alone", "resample alone", "zero together", "mean together", "resample together", "why"], perHead);
        }

        if (atlas.Composition is { } composition)
        {
            var pairs = new List<IReadOnlyList<object?>>();
            foreach (var kind in new[] { "k", "q", "v" })
            {
                foreach (var p in composition.TopPairs(kind, m.Heads, 10))
                    pairs.Add([kind.ToUpperInvariant() + "-composition", $"L{p.SenderLayer}H{p.SenderHead}", $"L{p.ReceiverLayer}H{p.ReceiverHead}", p.Score]);
            }
            report.Table($"Strongest composition between heads (weights only; random baseline {Format(composition.Baseline)}): the sender writes what the receiver reads with its keys, queries or values",
                ["kind", "sender", "receiver", "score"], pairs);
        }

        if (atlas.Circuits is { } circuits) Circuits(report, atlas, circuits);

        var details = new List<IReadOnlyList<object?>>();
        foreach (var head in atlas.Heads.Where(x => x.Labels.Count > 0))
        {
            string labels = string.Join("; ", head.Labels.Select(x => $"{x.Type} {x.Score.ToString("0.###", CultureInfo.InvariantCulture)}"));
            string examples = string.Join("; ", head.TopAttended.Select(a => $"{a.Query} ({a.QueryIndex}) → {a.Key} ({a.KeyIndex}) {a.Weight.ToString("0.00", CultureInfo.InvariantCulture)}"));
            details.Add([$"L{head.Layer}H{head.Head}", labels, examples]);
        }
        if (details.Count > 0) report.Table("Heads: labels and strongest attention on example prompts", ["head", "labels", "query → key weight"], details);

        var papers = new List<IReadOnlyList<object?>>();
        foreach (var typeId in atlas.Heads.SelectMany(x => x.Labels).Select(x => x.Type).Distinct())
        {
            var type = catalog.Find(typeId);
            if (type is null) continue;
            if (type.Papers.Count == 0) papers.Add([type.Name, type.Function, "no paper in the survey's list"]);
            foreach (var p in type.Papers) papers.Add([type.Name, type.Function, new TableLink($"{p.Title} ({p.Date})", p.Url)]);
        }
        if (papers.Count > 0) report.Table("The literature behind each label", ["type", "function", "paper"], papers);

        var skipped = atlas.Detectors.Where(d => d.Status != "ran").Select(d => (IReadOnlyList<object?>)[d.Id, d.Status, d.Reason ?? ""]).ToList();
        if (skipped.Count > 0) report.Table("Detectors not run", ["detector", "status", "reason"], skipped);
        return report;
    }

    /// <summary>
    /// The catalog entries an atlas's labels and detectors name, keyed by type id: name, stage, function and papers
    /// (what the head card shows; the explorer sends the same object with /api/atlas).
    /// </summary>
    public static JsonObject CatalogFor(AtlasReport atlas, HeadCatalog? catalog = null) =>
        CatalogFor(atlas.Heads.SelectMany(h => h.Labels).Select(l => l.Type).Concat(atlas.Detectors.Select(d => d.HeadType ?? d.Id)), catalog);

    /// <summary>The catalog entries of the head types <paramref name="typeIds"/> that the catalog knows, keyed by id.</summary>
    public static JsonObject CatalogFor(IEnumerable<string> typeIds, HeadCatalog? catalog = null)
    {
        catalog ??= HeadCatalog.Load();
        var entries = new JsonObject();
        foreach (string id in typeIds.Distinct(StringComparer.Ordinal))
        {
            if (catalog.Find(id) is not { } type || entries.ContainsKey(id)) continue;
            entries[id] = new JsonObject
            {
                ["name"] = type.Name,
                ["index"] = catalog.Types.ToList().IndexOf(type), // the type's colour, the same in every model's atlas
                ["stage"] = type.StageText,
                ["function"] = type.Function,
                ["papers"] = new JsonArray(type.Papers.Select(p => (JsonNode)new JsonObject { ["title"] = p.Title, ["date"] = p.Date, ["url"] = p.Url }).ToArray()),
            };
        }
        return entries;
    }

    /// <summary>The circuits section: how they were found, each task's circuit drawn with its heads' roles, the tasks not run, the labelled heads in no circuit.</summary>
    private static void Circuits(HtmlReport report, AtlasReport atlas, AtlasCircuits circuits)
    {
        var m = atlas.Model;
        if (circuits.Status != "ran")
        {
            report.Text($"Not found: {circuits.Reason}", "Circuits: how heads work together");
            return;
        }
        string settings = string.Join(", ", circuits.Settings.Select(kv => $"{kv.Key} {kv.Value}"));
        report.Text($"Method {circuits.Method} ({settings}). {circuits.How}. Layers are columns, heads are nodes (filled when the circuit uses their output, "
            + "labelled with their first atlas label), MLPs the bottom row; each edge's width is its |score|, blue positive, red negative, q/k/v marking which input of the head it feeds.",
            "Circuits: how heads work together");
        var rows = new List<IReadOnlyList<object?>>();
        foreach (var t in circuits.Tasks)
        {
            if (t.Status != "ran")
            {
                rows.Add([t.Task, t.Status, null, null, null, t.Reason ?? ""]);
                continue;
            }
            rows.Add([t.Task, t.ReachedTarget ? "ran" : "ran (target not reached)", $"{t.EdgesKept} of {t.GraphEdges}", t.Faithfulness, t.Cpr,
                string.Join(", ", t.Nodes.Where(n => n.Head >= 0).Select(n => $"L{n.Layer}H{n.Head}" + (n.Roles.Count > 0 ? $" ({string.Join("/", n.Roles)})" : "")))
                + (t.Nodes.Any(n => n.Head < 0) ? "; " + string.Join(", ", t.Nodes.Where(n => n.Head < 0).Select(n => n.Name)) : "")]);
        }
        report.Table("Circuit per task (faithfulness: the circuit alone, every other edge corrupted; 1 = the full model, 0 = the corrupted run)",
            ["task", "status", "edges", "faithfulness", "CPR", "nodes (roles from the atlas labels) / why not run"], rows);
        foreach (var t in circuits.Tasks.Where(t => t.Status == "ran"))
        {
            var roles = t.Nodes.ToDictionary(n => n.Name, n => n.Roles);
            string title = $"{t.Task}: {t.EdgesKept} edges, faithfulness {Format(t.Faithfulness)}";
            report.View("svg", $"Circuit of {t.Task}", new JsonObject
            {
                ["svg"] = CircuitSvg.Render(m.Layers, m.Heads, m.KvHeads, t.Edges.Select(e => (e.Sender, e.Receiver, e.Score)),
                    t.Nodes.Select(n => n.Name).ToHashSet(StringComparer.Ordinal), title, roles),
            });
        }
        if (circuits.LabelledNotInAnyCircuit.Count > 0)
            report.Table("Labelled heads in no task's circuit (their labels come from attention patterns or weights; no task here needs their output)",
                ["head", "labels"], circuits.LabelledNotInAnyCircuit.Select(h => (IReadOnlyList<object?>)[$"L{h.Layer}H{h.Head}", string.Join(", ", h.Labels)]));
    }

    private static string CausalText(AtlasCausal? causal, AtlasHead head)
    {
        if (causal is null) return "no task metric";
        if (causal.For(head.Layer, head.Head) is not { } e) return $"not ablated (beyond the labelled heads checked) ({causal.Metric})";
        return $"{Signed(e.EffectAlone)} (p{Format(e.PercentileAlone)}, {e.Ablation}) {e.Grade} ({causal.Metric})";
    }

    // Rounded first: a tiny negative value would otherwise print as "-+0.000".
    private static string Signed(double? v) => v is double d
        ? Math.Round(d, 3) is var r && r == 0 ? "0.000" : r.ToString("+0.000;-0.000", CultureInfo.InvariantCulture)
        : "n/a";

    private static string Format(double? v) => v is double d ? d.ToString("0.###", CultureInfo.InvariantCulture) : "n/a";
}
