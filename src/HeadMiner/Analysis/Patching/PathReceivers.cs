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
/// Where the paths of a path-patching experiment end: the logits (the sender's direct effect) or a set of heads'
/// q/k/v inputs. Parsed from "logits" or "L.H:q,L.H:k,L.H:v" (several letters allowed: "1.2:qk").
/// </summary>
public sealed class PathReceivers
{
    private PathReceivers(IReadOnlyList<ReceiverInput> inputs) => Inputs = inputs;

    public static PathReceivers Logits { get; } = new([]);

    /// <summary>The receiving head inputs; empty when the receiver is the logits.</summary>
    public IReadOnlyList<ReceiverInput> Inputs { get; }

    public bool IsLogits => Inputs.Count == 0;

    /// <summary>The earliest receiver layer (the model's layer count for the logits): senders must sit below it.</summary>
    public int EarliestLayer(ModelConfig config) => IsLogits ? config.Layers : Inputs.Min(r => r.Layer);

    /// <summary>
    /// Head inputs as receivers. Two query heads' key (or value) inputs that share one k/v head are one receiver
    /// site; duplicates are kept in the list (they name what the user asked for) and patched once.
    /// </summary>
    public static PathReceivers Of(IEnumerable<ReceiverInput> inputs)
    {
        var list = inputs.ToList();
        if (list.Count == 0) throw new HeadMinerException("no receivers given (use \"logits\" or L.H:q/k/v)");
        return new(list);
    }

    public static PathReceivers Parse(string text, ModelConfig config)
    {
        text = text.Trim();
        if (text.Equals("logits", StringComparison.OrdinalIgnoreCase)) return Logits;
        var inputs = new List<ReceiverInput>();
        foreach (var raw in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            int colon = raw.IndexOf(':');
            if (colon < 0) throw Bad(raw, "expected L.H:q, L.H:k or L.H:v (or \"logits\")");
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
        if (inputs.Count == 0) throw new HeadMinerException("no receivers given (use \"logits\" or L.H:q/k/v)");
        return new(inputs);
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

    public override string ToString() => IsLogits ? "logits" : string.Join(",", Inputs);

    private static HeadMinerException Bad(string raw, string why) => Bad("receiver", raw, why);

    private static HeadMinerException Bad(string what, string raw, string why) => new($"bad {what} \"{raw}\": {why}");
}
