using HeadMiner.Tensors;

namespace HeadMiner.Models.Generation;

/// <summary>Autoregressive decoding of one sequence with a KV cache: the prompt in one pass, then a token per step.</summary>
public static class Generator
{
    /// <summary>
    /// Generates up to <paramref name="maxNewTokens"/> tokens after <paramref name="prompt"/>; stops early after a
    /// token in <paramref name="stopTokens"/> (which is not returned) or at the context length. <paramref name="onToken"/>
    /// sees each token as it is chosen (for streaming). <paramref name="checkLogits"/>, when given, sees the sequence so
    /// far and its next-token logits before each choice (e.g. to stop on non-finite values: a sampler cannot choose
    /// from NaN).
    /// </summary>
    public static List<int> Generate(Transformer model, IReadOnlyList<int> prompt, int maxNewTokens, Sampler sampler,
        IReadOnlyCollection<int>? stopTokens = null, Action<int>? onToken = null, CancellationToken cancel = default,
        Action<IReadOnlyList<int>, Tensor>? checkLogits = null)
    {
        if (prompt.Count == 0) throw new HeadMinerException("the prompt is empty: give at least one token (e.g. BOS)");
        if (maxNewTokens < 0) throw new HeadMinerException($"max tokens {maxNewTokens} must be ≥ 0");
        model.CheckLength(prompt.Count);
        int capacity = Math.Min(model.Config.ContextLength, prompt.Count + maxNewTokens);
        var cache = new KvCache(model.Config, Math.Max(capacity, 1));
        var output = new List<int>();
        var logits = model.ForwardIncremental(prompt.ToArray(), cache);
        while (output.Count < maxNewTokens)
        {
            cancel.ThrowIfCancellationRequested();
            checkLogits?.Invoke([.. prompt, .. output], logits);
            int next = sampler.Next(logits.Span);
            if (stopTokens is not null && stopTokens.Contains(next)) break;
            output.Add(next);
            onToken?.Invoke(next);
            if (output.Count == maxNewTokens || cache.Length >= cache.Capacity) break;
            logits = model.ForwardIncremental([next], cache);
        }
        return output;
    }
}
