using HeadMiner.Models;

namespace HeadMiner.Analysis.Patching;

/// <summary>Which input of an attention head a path ends in.</summary>
public enum HeadInput
{
    Query,
    Key,
    Value,
}

/// <summary>
/// One receiver of a path: the query, key or value input of a head. Key and value inputs belong to k/v heads, so with
/// grouped-query attention "query head h, key input" means k/v head <see cref="ModelConfig.KvHeadOf"/>(h), which
/// also feeds the other query heads of its group (<see cref="FedQueryHeads"/>): patching it changes all of them.
/// </summary>
public sealed record ReceiverInput(int Layer, int Head, HeadInput Input, int SiteHead, int[] FedQueryHeads)
{
    /// <summary>The hook site whose per-head copy of resid_pre this receiver reads.</summary>
    public ActivationSite Site => Input switch
    {
        HeadInput.Query => ActivationSite.QInput,
        HeadInput.Key => ActivationSite.KInput,
        _ => ActivationSite.VInput,
    };

    public string InputName => Input switch
    {
        HeadInput.Query => "q",
        HeadInput.Key => "k",
        _ => "v",
    };

    /// <summary>"L.H:q" as the user wrote it (query-head numbering).</summary>
    public override string ToString() => $"{Layer}.{Head}:{InputName}";

    public static ReceiverInput Create(ModelConfig config, int layer, int head, HeadInput input)
    {
        if ((uint)layer >= (uint)config.Layers)
            throw new HeadMinerException($"receiver {layer}.{head}: the model has {config.Layers} layers (0–{config.Layers - 1})");
        if ((uint)head >= (uint)config.Heads)
            throw new HeadMinerException($"receiver {layer}.{head}: the model has {config.Heads} heads per layer (0–{config.Heads - 1})");
        if (input == HeadInput.Query) return new(layer, head, input, head, [head]);
        int kv = config.KvHeadOf(head);
        var fed = Enumerable.Range(0, config.Heads).Where(h => config.KvHeadOf(h) == kv).ToArray();
        return new(layer, head, input, kv, fed);
    }
}

/// <summary>
/// Where the paths of a path-patching experiment end: the logits (the sender's direct effect), heads' q/k/v inputs,
/// MLPs' inputs (hook_mlp_in), or a set of these. Parsed from a comma-separated list of "logits", "L.H:q" / "L.H:k" /
/// "L.H:v" (several letters allowed: "1.2:qk") and "mlpL" (layer L's MLP), e.g. "logits,mlp5" for the direct path
/// plus the path through the last MLP of a 6-layer model.
/// </summary>
public sealed class PathReceivers
{
    private PathReceivers(IReadOnlyList<ReceiverInput> inputs, IReadOnlyList<int> mlps, bool logits)
    {
        Inputs = inputs;
        Mlps = mlps;
        IncludesLogits = logits;
    }

    public static PathReceivers Logits { get; } = new([], [], true);

    /// <summary>The receiving head inputs (possibly empty).</summary>
    public IReadOnlyList<ReceiverInput> Inputs { get; }

    /// <summary>Layers whose MLP input is a receiver, ascending, each once.</summary>
    public IReadOnlyList<int> Mlps { get; }

    /// <summary>Whether the logits are a receiver (the sender's direct path to the output).</summary>
    public bool IncludesLogits { get; }

    /// <summary>Only the logits: the sender's direct effect (no pass 2).</summary>
    public bool IsLogits => IncludesLogits && Inputs.Count == 0 && Mlps.Count == 0;

    /// <summary>
    /// The earliest layer with a receiver head or MLP (the model's layer count for the logits alone): where pass 2 starts.
    /// </summary>
    public int EarliestLayer(ModelConfig config) =>
        Inputs.Select(r => r.Layer).Concat(Mlps).DefaultIfEmpty(config.Layers).Min();

    /// <summary>
    /// Senders must sit in a layer below this one: below every receiver head, and at or below every receiver MLP in
    /// sequential blocks (attention runs before the MLP), strictly below it in parallel attention+MLP blocks (the MLP
    /// reads resid_pre, which its own layer's heads do not write).
    /// </summary>
    public int SenderLayerLimit(ModelConfig config) =>
        Inputs.Select(r => r.Layer).Concat(Mlps.Select(l => config.ParallelAttnMlp ? l : l + 1)).DefaultIfEmpty(config.Layers).Min();

    /// <summary>The receivers a sender in <paramref name="senderLayer"/> cannot reach, as "L.H:q" / "mlpL".</summary>
    public string[] Unreachable(ModelConfig config, int senderLayer) =>
        Inputs.Where(r => r.Layer <= senderLayer).Select(r => r.ToString())
            .Concat(Mlps.Where(l => config.ParallelAttnMlp ? l <= senderLayer : l < senderLayer).Select(MlpName))
            .ToArray();

    /// <summary>Why a sender in <paramref name="senderLayer"/> cannot reach these receivers, or null when it reaches all.</summary>
    public string? ReachError(ModelConfig config, int senderLayer, string sender)
    {
        var blocked = Unreachable(config, senderLayer);
        if (blocked.Length == 0) return null;
        string rule = Mlps.Count == 0
            ? $"a receiver must be in a later layer than the sender (layer > {senderLayer})"
            : config.ParallelAttnMlp
                ? $"a receiver must be in a later layer than the sender (layer > {senderLayer}); in this model's parallel attention+MLP blocks an MLP reads resid_pre, which its own layer's heads do not write"
                : $"a receiver head must be in a later layer than the sender (layer > {senderLayer}), a receiver MLP in the sender's layer or later";
        return $"sender {sender} cannot reach receiver{(blocked.Length > 1 ? "s" : "")} {string.Join(", ", blocked)}: {rule}";
    }

    public static string MlpName(int layer) => $"mlp{layer}";

    /// <summary>
    /// Head inputs as receivers. Two query heads' key (or value) inputs that share one k/v head are one receiver
    /// site; duplicates are kept in the list (they name what the user asked for) and patched once.
    /// </summary>
    public static PathReceivers Of(IEnumerable<ReceiverInput> inputs)
    {
        var list = inputs.ToList();
        if (list.Count == 0) throw new HeadMinerException("no receivers given (use \"logits\", L.H:q/k/v or mlpL)");
        return new(list, [], false);
    }

    /// <summary>Any combination of head inputs, MLP inputs (by layer) and the logits.</summary>
    public static PathReceivers Create(ModelConfig config, IEnumerable<ReceiverInput> inputs, IEnumerable<int> mlpLayers, bool logits)
    {
        var list = inputs.ToList();
        var mlps = mlpLayers.Distinct().Order().ToArray();
        foreach (int l in mlps)
            if ((uint)l >= (uint)config.Layers)
                throw new HeadMinerException($"receiver {MlpName(l)}: the model has {config.Layers} layers (0–{config.Layers - 1})");
        if (list.Count == 0 && mlps.Length == 0 && !logits) throw new HeadMinerException("no receivers given (use \"logits\", L.H:q/k/v or mlpL)");
        return list.Count == 0 && mlps.Length == 0 ? Logits : new(list, mlps, logits);
    }

    public static PathReceivers Parse(string text, ModelConfig config)
    {
        text = text.Trim();
        var inputs = new List<ReceiverInput>();
        var mlps = new List<int>();
        bool logits = false;
        foreach (var raw in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (raw.Equals("logits", StringComparison.OrdinalIgnoreCase))
            {
                logits = true;
                continue;
            }
            if (raw.StartsWith("mlp", StringComparison.OrdinalIgnoreCase))
            {
                if (!int.TryParse(raw.AsSpan(3), System.Globalization.NumberStyles.None, null, out int layer))
                    throw Bad(raw, "an MLP receiver is mlpLAYER, e.g. mlp3");
                if (layer >= config.Layers) throw Bad(raw, $"the model has {config.Layers} layers (0–{config.Layers - 1})");
                mlps.Add(layer);
                continue;
            }
            int colon = raw.IndexOf(':');
            if (colon < 0) throw Bad(raw, "expected L.H:q, L.H:k, L.H:v, mlpL or \"logits\"");
            var head = ParseHead(raw[..colon], config, "receiver", raw);
            string letters = raw[(colon + 1)..].ToLowerInvariant();
            if (letters.Length == 0) throw Bad(raw, "no input after ':' (q, k or v)");
            foreach (char letter in letters)
            {
                var input = letter switch
                {
                    'q' => HeadInput.Query,
                    'k' => HeadInput.Key,
                    'v' => HeadInput.Value,
                    _ => throw Bad(raw, $"'{letter}' is not an input (q, k or v)"),
                };
                inputs.Add(ReceiverInput.Create(config, head.Layer, head.Head, input));
            }
        }
        if (inputs.Count == 0 && mlps.Count == 0 && !logits) throw new HeadMinerException("no receivers given (use \"logits\", L.H:q/k/v or mlpL)");
        return Create(config, inputs, mlps, logits);
    }

    /// <summary>"L.H" of a head in <paramref name="config"/>; the error says what was parsed (<paramref name="what"/>) and the model's ranges.</summary>
    public static (int Layer, int Head) ParseHead(string text, ModelConfig config, string what = "head", string? context = null)
    {
        context ??= text;
        var parts = text.Trim().Split('.');
        if (parts.Length != 2
            || !int.TryParse(parts[0], System.Globalization.NumberStyles.None, null, out int layer)
            || !int.TryParse(parts[1], System.Globalization.NumberStyles.None, null, out int head))
            throw Bad(what, context, "a head is LAYER.HEAD, e.g. 1.3");
        if (layer >= config.Layers) throw Bad(what, context, $"the model has {config.Layers} layers (0–{config.Layers - 1})");
        if (head >= config.Heads) throw Bad(what, context, $"the model has {config.Heads} heads per layer (0–{config.Heads - 1})");
        return (layer, head);
    }

    public override string ToString() =>
        string.Join(",", (IncludesLogits ? new[] { "logits" } : []).Concat(Inputs.Select(r => r.ToString())).Concat(Mlps.Select(MlpName)));

    private static HeadMinerException Bad(string raw, string why) => Bad("receiver", raw, why);

    private static HeadMinerException Bad(string what, string raw, string why) => new($"bad {what} \"{raw}\": {why}");
}
