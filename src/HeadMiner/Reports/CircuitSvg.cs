using System.Globalization;
using System.Text;
using HeadMiner.Analysis.Circuits;
using HeadMiner.Tensors;

namespace HeadMiner.Reports;

/// <summary>
/// A circuit drawn as a self-contained SVG: one column per layer (the embedding left, the logits right), a node per
/// head (rows) and per MLP (bottom row); every node the circuit uses is filled, the rest are faint. Each kept edge is
/// a line from its sender to its receiver, its width ∝ |score| (largest = 6 px), blue when its score is positive,
/// red when negative, with q / k / v marked at the receiving end.
/// </summary>
public static class CircuitSvg
{
    private const int Column = 110, Row = 34, Margin = 40, Radius = 11;

    public static string Render(Circuit circuit, string title)
    {
        ArgumentNullException.ThrowIfNull(circuit);
        var graph = circuit.Graph;
        var c = graph.Config;
        int width = Margin * 2 + Column * (c.Layers + 1), height = Margin * 2 + Row * (c.Heads + 1) + 20;
        var used = circuit.Nodes;
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"10\">\n");
        sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{Margin}\" y=\"16\" font-size=\"12\">{Escape(title)}</text>\n");
        (double X, double Y) SenderAt(CircuitSender s) => s.Kind switch
        {
            SenderKind.Input => (Margin, Margin + Row * (c.Heads + 1) / 2.0),
            SenderKind.Mlp => (Margin + Column * (s.Layer + 0.5), Margin + Row * c.Heads + 10),
            _ => (Margin + Column * (s.Layer + 0.5) - 20, Margin + Row * s.Head + 10),
        };
        (double X, double Y) ReceiverAt(CircuitReceiver r) => r.Kind switch
        {
            ReceiverKind.Logits => (Margin + Column * (c.Layers + 0.6), Margin + Row * (c.Heads + 1) / 2.0),
            ReceiverKind.Mlp => (Margin + Column * (r.Layer + 0.5), Margin + Row * c.Heads + 10),
            ReceiverKind.Key or ReceiverKind.Value => (Margin + Column * (r.Layer + 0.5) - 20, Margin + Row * r.FedHeads[0] + 10),
            _ => (Margin + Column * (r.Layer + 0.5) - 20, Margin + Row * r.Head + 10),
        };
        var edges = circuit.Edges;
        double max = edges.Select(e => Math.Abs(circuit.Scores[e])).Where(double.IsFinite).DefaultIfEmpty(0).Max();
        foreach (int e in edges)
        {
            var edge = graph.Edges[e];
            var (x1, y1) = SenderAt(graph.Senders[edge.Sender]);
            var (x2, y2) = ReceiverAt(graph.Receivers[edge.Receiver]);
            double score = circuit.Scores[e];
            double w = max > 0 && double.IsFinite(score) ? 0.8 + 5.2 * Math.Abs(score) / max : 1.5;
            string color = !double.IsFinite(score) ? "#888" : score >= 0 ? "#2166ac" : "#b2182b";
            sb.Append(CultureInfo.InvariantCulture, $"<line x1=\"{x1 + Radius:0.#}\" y1=\"{y1:0.#}\" x2=\"{x2 - Radius:0.#}\" y2=\"{y2:0.#}\" stroke=\"{color}\" stroke-width=\"{w:0.##}\" stroke-opacity=\"0.75\"><title>{Escape(graph.EdgeName(e))}: {score.ToString("G4", CultureInfo.InvariantCulture)}</title></line>\n");
            var r = graph.Receivers[edge.Receiver];
            if (r.Kind is ReceiverKind.Query or ReceiverKind.Key or ReceiverKind.Value)
                sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{x2 - Radius - 9:0.#}\" y=\"{y2 - 3:0.#}\" fill=\"{color}\">{r.Kind.ToString()[0].ToString().ToLowerInvariant()}</text>\n");
        }
        void Node(double x, double y, string label, bool on) =>
            sb.Append(CultureInfo.InvariantCulture, $"<circle cx=\"{x:0.#}\" cy=\"{y:0.#}\" r=\"{Radius}\" fill=\"{(on ? "#fdb863" : "#f4f4f4")}\" stroke=\"{(on ? "#333" : "#ccc")}\"/><text x=\"{x:0.#}\" y=\"{y + 3:0.#}\" text-anchor=\"middle\" fill=\"{(on ? "#000" : "#aaa")}\">{Escape(label)}</text>\n");
        for (int l = 0; l < c.Layers; l++)
        {
            sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{Margin + Column * (l + 0.5) - 20:0.#}\" y=\"{Margin - 12}\" text-anchor=\"middle\">layer {l}</text>\n");
            for (int h = 0; h < c.Heads; h++) Node(Margin + Column * (l + 0.5) - 20, Margin + Row * h + 10, $"{l}.{h}", used.Contains($"a{l}.h{h}"));
            Node(Margin + Column * (l + 0.5), Margin + Row * c.Heads + 10, $"m{l}", used.Contains($"mlp{l}"));
        }
        Node(Margin, Margin + Row * (c.Heads + 1) / 2.0, "in", true);
        Node(Margin + Column * (c.Layers + 0.6), Margin + Row * (c.Heads + 1) / 2.0, "out", true);
        sb.Append("</svg>\n");
        return sb.ToString();
    }

    public static void Save(string path, Circuit circuit, string title) => AtomicFile.WriteAllText(path, Render(circuit, title));

    private static string Escape(string text) => System.Security.SecurityElement.Escape(text) ?? "";
}
