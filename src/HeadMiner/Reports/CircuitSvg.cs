using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using HeadMiner.Analysis.Circuits;
using HeadMiner.Tensors;

namespace HeadMiner.Reports;

/// <summary>
/// A circuit drawn as a self-contained SVG: one column per layer (the embedding left, the logits right), a node per
/// head (rows) and per MLP (bottom row); every node the circuit uses is filled, the rest are faint. Each kept edge is
/// a line from its sender to its receiver, its width ∝ |score| (largest = 6 px), blue when its score is positive,
/// red when negative, with q / k / v marked at the receiving end. With roles (a head's atlas labels) a used head
/// shows its first role under it and all of them in its tooltip. The edges are given by the graph's names
/// (docs/CIRCUITS.md), so a circuit read back from circuit.json or atlas.json draws as the one found.
/// </summary>
public static partial class CircuitSvg
{
    private const int Column = 110, Row = 34, Margin = 40, Radius = 11;

    public static string Render(Circuit circuit, string title, IReadOnlyDictionary<string, IReadOnlyList<string>>? roles = null)
    {
        ArgumentNullException.ThrowIfNull(circuit);
        var graph = circuit.Graph;
        var edges = circuit.Edges.Select(e => (graph.Senders[graph.Edges[e].Sender].Name, graph.Receivers[graph.Edges[e].Receiver].Name, circuit.Scores[e]));
        return Render(graph.Config.Layers, graph.Config.Heads, graph.Config.KvHeads, edges, circuit.Nodes, title, roles);
    }

    /// <summary>
    /// The drawing from names: edges (sender, receiver, score) of a model with <paramref name="layers"/> layers of
    /// <paramref name="heads"/> query heads over <paramref name="kvHeads"/> k/v heads; <paramref name="used"/> are the
    /// nodes drawn filled ("a{l}.h{h}", "mlp{l}").
    /// </summary>
    public static string Render(int layers, int heads, int kvHeads, IEnumerable<(string Sender, string Receiver, double Score)> edges, IReadOnlySet<string> used,
        string title, IReadOnlyDictionary<string, IReadOnlyList<string>>? roles = null)
    {
        ArgumentNullException.ThrowIfNull(edges);
        ArgumentNullException.ThrowIfNull(used);
        int groupSize = Math.Max(1, heads / Math.Max(1, kvHeads));
        int width = Margin * 2 + Column * (layers + 1), height = Margin * 2 + Row * (heads + 1) + 20;
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"10\">\n");
        sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{Margin}\" y=\"16\" font-size=\"12\">{Escape(title)}</text>\n");
        double HeadX(int layer) => Margin + Column * (layer + 0.5) - 20;
        double HeadY(int head) => Margin + Row * head + 10;
        (double X, double Y) input = (Margin, Margin + Row * (heads + 1) / 2.0), output = (Margin + Column * (layers + 0.6), Margin + Row * (heads + 1) / 2.0);
        (double X, double Y) Mlp(int layer) => (Margin + Column * (layer + 0.5), Margin + Row * heads + 10);
        (double X, double Y) SenderAt(string name)
        {
            if (name == "embed") return input;
            var m = NodeName().Match(name);
            if (!m.Success) throw new ArgumentException($"\"{name}\" is not a sender of the circuit graph", nameof(edges));
            int layer = Int(m.Groups["layer"].Value);
            return m.Groups["mlp"].Success ? Mlp(layer) : (HeadX(layer), HeadY(Int(m.Groups["head"].Value)));
        }
        (double X, double Y, char? Input) ReceiverAt(string name)
        {
            if (name == "logits") return (output.X, output.Y, null);
            var m = NodeName().Match(name);
            if (!m.Success) throw new ArgumentException($"\"{name}\" is not a receiver of the circuit graph", nameof(edges));
            int layer = Int(m.Groups["layer"].Value);
            if (m.Groups["mlp"].Success) return (Mlp(layer).X, Mlp(layer).Y, null);
            char? input = m.Groups["input"].Success ? m.Groups["input"].Value[0] : null;
            // A k/v head's input is drawn at the first query head it feeds.
            int row = m.Groups["kv"].Success ? Int(m.Groups["head"].Value) * groupSize : Int(m.Groups["head"].Value);
            return (HeadX(layer), HeadY(row), input);
        }
        var list = edges.ToList();
        double max = list.Select(e => Math.Abs(e.Score)).Where(double.IsFinite).DefaultIfEmpty(0).Max();
        foreach (var (sender, receiver, score) in list)
        {
            var (x1, y1) = SenderAt(sender);
            var (x2, y2, mark) = ReceiverAt(receiver);
            double w = max > 0 && double.IsFinite(score) ? 0.8 + 5.2 * Math.Abs(score) / max : 1.5;
            string color = !double.IsFinite(score) ? "#888" : score >= 0 ? "#2166ac" : "#b2182b";
            sb.Append(CultureInfo.InvariantCulture, $"<line x1=\"{x1 + Radius:0.#}\" y1=\"{y1:0.#}\" x2=\"{x2 - Radius:0.#}\" y2=\"{y2:0.#}\" stroke=\"{color}\" stroke-width=\"{w:0.##}\" stroke-opacity=\"0.75\"><title>{Escape($"{sender}->{receiver}")}: {score.ToString("G4", CultureInfo.InvariantCulture)}</title></line>\n");
            if (mark is char c)
                sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{x2 - Radius - 9:0.#}\" y=\"{y2 - 3:0.#}\" fill=\"{color}\">{c}</text>\n");
        }
        void Node(double x, double y, string name, string label, bool on)
        {
            var nodeRoles = on && roles is not null && roles.TryGetValue(name, out var r) ? r : [];
            string tip = nodeRoles.Count > 0 ? $"{name}: {string.Join(", ", nodeRoles)}" : name;
            sb.Append(CultureInfo.InvariantCulture, $"<g class=\"hm-circuit-node\" data-node=\"{Escape(name)}\"><title>{Escape(tip)}</title><circle cx=\"{x:0.#}\" cy=\"{y:0.#}\" r=\"{Radius}\" fill=\"{(on ? "#fdb863" : "#f4f4f4")}\" stroke=\"{(on ? "#333" : "#ccc")}\"/><text x=\"{x:0.#}\" y=\"{y + 3:0.#}\" text-anchor=\"middle\" fill=\"{(on ? "#000" : "#aaa")}\">{Escape(label)}</text>");
            if (nodeRoles.Count > 0)
            {
                string role = nodeRoles[0].Length > 16 ? nodeRoles[0][..15] + "…" : nodeRoles[0];
                sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{x:0.#}\" y=\"{y + Radius + 8:0.#}\" text-anchor=\"middle\" font-size=\"8\" fill=\"#7a4b00\">{Escape(role + (nodeRoles.Count > 1 ? $" +{nodeRoles.Count - 1}" : ""))}</text>");
            }
            sb.Append("</g>\n");
        }
        for (int l = 0; l < layers; l++)
        {
            sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{HeadX(l):0.#}\" y=\"{Margin - 12}\" text-anchor=\"middle\">layer {l}</text>\n");
            for (int h = 0; h < heads; h++) Node(HeadX(l), HeadY(h), $"a{l}.h{h}", $"{l}.{h}", used.Contains($"a{l}.h{h}"));
            Node(Mlp(l).X, Mlp(l).Y, $"mlp{l}", $"m{l}", used.Contains($"mlp{l}"));
        }
        Node(input.X, input.Y, "embed", "in", true);
        Node(output.X, output.Y, "logits", "out", true);
        sb.Append("</svg>\n");
        return sb.ToString();
    }

    public static void Save(string path, Circuit circuit, string title) => AtomicFile.WriteAllText(path, Render(circuit, title));

    private static int Int(string s) => int.Parse(s, NumberStyles.None, CultureInfo.InvariantCulture);

    private static string Escape(string text) => System.Security.SecurityElement.Escape(text) ?? "";

    // "a3.h1", "a3.h1.q", "a3.kv0.k", "mlp2".
    [GeneratedRegex(@"^(?:a(?<layer>\d+)\.(?:h|(?<kv>kv))(?<head>\d+)(?:\.(?<input>[qkv]))?|(?<mlp>mlp)(?<layer>\d+))$")]
    private static partial Regex NodeName();
}
