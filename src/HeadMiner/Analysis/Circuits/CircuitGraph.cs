using HeadMiner.Models;

namespace HeadMiner.Analysis.Circuits;

/// <summary>What writes into the residual stream: the input embedding (token + learned position), a head, an MLP.</summary>
public enum SenderKind
{
    Input,
    Head,
    Mlp,
}

/// <summary>
/// What reads the residual stream: a head's query, key or value input (each its own copy of resid_pre), all three of
/// a head at once (the unsplit graph), an MLP's input, or the logits (the final residual, before the final norm).
/// </summary>
public enum ReceiverKind
{
    Query,
    Key,
    Value,
    HeadInputs,
    Mlp,
    Logits,
}

/// <summary>A node that writes: <paramref name="Layer"/> −1 for the input; <paramref name="Head"/> −1 unless a head.</summary>
public sealed record CircuitSender(int Index, SenderKind Kind, int Layer, int Head, string Name);

/// <summary>
/// A node input that reads: <paramref name="Layer"/> = the model's layer count for the logits. <paramref name="Head"/>
/// is the head whose input it is: the query head for q (and for the unsplit inputs), the k/v head for k and v (under
/// grouped-query attention one k/v head feeds several query heads: <paramref name="FedHeads"/>).
/// </summary>
public sealed record CircuitReceiver(int Index, ReceiverKind Kind, int Layer, int Head, string Name, int[] FedHeads);

/// <summary>One edge: <paramref name="Sender"/>'s output as read by <paramref name="Receiver"/> (indices into the graph's lists).</summary>
public readonly record struct CircuitEdge(int Index, int Sender, int Receiver);

/// <summary>
/// The computational graph of a transformer at edge level, shared by edge patching, ACDC, EAP / EAP-IG and the
/// faithfulness curves. Every receiver's input is the residual stream, i.e. the sum of the outputs of every sender
/// computed before it (plus biases, which are equal in every run), so "the edge s → r" is s's term in r's input.
/// Senders: "embed", "a{l}.h{h}" (z_h · W_O[h]), "mlp{l}". Receivers: "a{l}.h{h}.q", "a{l}.h{g}.k" / ".v"
/// ("a{l}.kv{g}.k" under grouped-query attention), or "a{l}.h{h}" when q/k/v are not split, "mlp{l}", "logits" —
/// the names <see cref="Attribution.EdgeAttributionPatching"/> gives its edges.
/// <para>A sender feeds a receiver when it is computed earlier: the embedding feeds everything; heads and MLPs of
/// layer l feed layers &gt; l and the logits; the heads of layer l also feed MLP l in a sequential block (not in a
/// parallel attention + MLP block, where the MLP reads resid_pre).</para>
/// </summary>
public sealed class CircuitGraph
{
    private readonly Dictionary<(int Sender, int Receiver), int> _edgeIndex = [];
    private readonly Dictionary<string, int> _byName = new(StringComparer.Ordinal);

    private CircuitGraph(ModelConfig config, bool splitQkv, List<CircuitSender> senders, List<CircuitReceiver> receivers)
    {
        Config = config;
        SplitQkv = splitQkv;
        Senders = senders;
        Receivers = receivers;
        var edges = new List<CircuitEdge>();
        var into = new List<int>[receivers.Count];
        var outOf = new List<int>[senders.Count];
        for (int s = 0; s < senders.Count; s++) outOf[s] = [];
        foreach (var r in receivers)
        {
            into[r.Index] = [];
            foreach (var s in senders)
            {
                if (!Feeds(config, s, r)) continue;
                var edge = new CircuitEdge(edges.Count, s.Index, r.Index);
                edges.Add(edge);
                into[r.Index].Add(edge.Index);
                outOf[s.Index].Add(edge.Index);
                _edgeIndex[(s.Index, r.Index)] = edge.Index;
                _byName[$"{s.Name}->{r.Name}"] = edge.Index;
            }
        }
        Edges = edges;
        EdgesInto = into;
        EdgesOutOf = outOf;
    }

    public ModelConfig Config { get; }

    /// <summary>Whether head inputs are split into q, k and v receivers.</summary>
    public bool SplitQkv { get; }

    public IReadOnlyList<CircuitSender> Senders { get; }

    /// <summary>Receivers in topological order: by layer, a layer's head inputs before its MLP, the logits last.</summary>
    public IReadOnlyList<CircuitReceiver> Receivers { get; }

    public IReadOnlyList<CircuitEdge> Edges { get; }

    /// <summary>Indices of the edges into each receiver.</summary>
    public IReadOnlyList<IReadOnlyList<int>> EdgesInto { get; }

    /// <summary>Indices of the edges out of each sender.</summary>
    public IReadOnlyList<IReadOnlyList<int>> EdgesOutOf { get; }

    public int EdgeCount => Edges.Count;

    /// <summary>"sender->receiver".</summary>
    public string EdgeName(int edge) => $"{Senders[Edges[edge].Sender].Name}->{Receivers[Edges[edge].Receiver].Name}";

    /// <summary>The edge named "sender->receiver", or null.</summary>
    public int? FindEdge(string name) => _byName.TryGetValue(name, out int e) ? e : null;

    public int? FindEdge(int sender, int receiver) => _edgeIndex.TryGetValue((sender, receiver), out int e) ? e : null;

    /// <summary>The sender named <paramref name="name"/> ("embed", "a1.h2", "mlp0"), or null.</summary>
    public CircuitSender? FindSender(string name) => Senders.FirstOrDefault(s => s.Name == name);

    public CircuitReceiver? FindReceiver(string name) => Receivers.FirstOrDefault(r => r.Name == name);

    /// <summary>The sender index of head (layer, head).</summary>
    public int HeadSender(int layer, int head) => 1 + layer * (Config.Heads + 1) + head;

    public int MlpSender(int layer) => 1 + layer * (Config.Heads + 1) + Config.Heads;

    /// <summary>
    /// The graph of a model. <paramref name="splitQkv"/> = false makes one receiver per head (its q, k and v inputs
    /// together), which needs one k/v head per query head.
    /// </summary>
    public static CircuitGraph Create(ModelConfig config, bool splitQkv = true)
    {
        ArgumentNullException.ThrowIfNull(config);
        if (config.PostNorm)
            throw new HeadMinerException($"circuits: {config.Architecture} normalises each sublayer's output (post-sublayer norms), so a head's write into the residual stream is not its own term of a sum; the edge graph needs pre-norm blocks");
        if (!splitQkv && config.KvHeads != config.Heads)
            throw new HeadMinerException($"circuits: an unsplit head receiver needs one k/v head per query head; this model has {config.Heads} query heads over {config.KvHeads} k/v heads (use the q/k/v split)");
        int L = config.Layers, H = config.Heads, G = config.KvHeads;
        var senders = new List<CircuitSender> { new(0, SenderKind.Input, -1, -1, "embed") };
        for (int l = 0; l < L; l++)
        {
            for (int h = 0; h < H; h++) senders.Add(new(senders.Count, SenderKind.Head, l, h, $"a{l}.h{h}"));
            senders.Add(new(senders.Count, SenderKind.Mlp, l, -1, $"mlp{l}"));
        }
        var receivers = new List<CircuitReceiver>();
        string kvPrefix = G == H ? "h" : "kv";
        for (int l = 0; l < L; l++)
        {
            if (splitQkv)
            {
                for (int h = 0; h < H; h++) receivers.Add(new(receivers.Count, ReceiverKind.Query, l, h, $"a{l}.h{h}.q", [h]));
                for (int g = 0; g < G; g++)
                {
                    var fed = Enumerable.Range(0, H).Where(h => config.KvHeadOf(h) == g).ToArray();
                    receivers.Add(new(receivers.Count, ReceiverKind.Key, l, g, $"a{l}.{kvPrefix}{g}.k", fed));
                }
                for (int g = 0; g < G; g++)
                {
                    var fed = Enumerable.Range(0, H).Where(h => config.KvHeadOf(h) == g).ToArray();
                    receivers.Add(new(receivers.Count, ReceiverKind.Value, l, g, $"a{l}.{kvPrefix}{g}.v", fed));
                }
            }
            else
            {
                for (int h = 0; h < H; h++) receivers.Add(new(receivers.Count, ReceiverKind.HeadInputs, l, h, $"a{l}.h{h}", [h]));
            }
            receivers.Add(new(receivers.Count, ReceiverKind.Mlp, l, -1, $"mlp{l}", []));
        }
        receivers.Add(new(receivers.Count, ReceiverKind.Logits, L, -1, "logits", []));
        return new CircuitGraph(config, splitQkv, senders, receivers);
    }

    /// <summary>Whether <paramref name="s"/> is computed before <paramref name="r"/> reads the residual stream.</summary>
    public static bool Feeds(ModelConfig config, CircuitSender s, CircuitReceiver r) =>
        s.Layer < r.Layer || (s.Layer == r.Layer && s.Kind == SenderKind.Head && r.Kind == ReceiverKind.Mlp && !config.ParallelAttnMlp);

    /// <summary>
    /// The head and MLP nodes of a set of edges: the senders other than the embedding. A node counts when its output
    /// reaches something through the set; a head that only reads (its inputs kept, its output nowhere) does nothing
    /// for the metric, and under grouped-query attention a k/v input does not say which query head it serves.
    /// </summary>
    public IReadOnlySet<string> Nodes(IEnumerable<int> edges)
    {
        var nodes = new HashSet<string>(StringComparer.Ordinal);
        foreach (int e in edges)
        {
            var s = Senders[Edges[e].Sender];
            if (s.Kind != SenderKind.Input) nodes.Add(s.Name);
        }
        return nodes;
    }
}
