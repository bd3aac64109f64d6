using HeadMiner.Models;

namespace HeadMiner.Hooks.Interventions;

/// <summary>
/// Attention knock-out: a query position of a head stops attending to a span of keys (its scores there become −∞
/// before the softmax, so the rest of the row renormalises). Hooking the scores makes the run take the unfused
/// attention path for that layer only.
/// </summary>
public static class AttentionKnockout
{
    /// <summary>Query <paramref name="query"/> of (layer, head) ignores keys [<paramref name="keyStart"/>, keyEnd). Head null = all heads.</summary>
    public static IDisposable Add(HookSet hooks, int layer, int? head, int query, int keyStart, int keyEnd) =>
        hooks.Add(HookName.Of(ActivationSite.AttnScores, layer), (scores, _) =>
        {
            int heads = scores.Dim(1), t = scores.Dim(2), keys = scores.Dim(3);
            if ((uint)query >= (uint)t) throw new HeadMinerException($"knock-out query {query} is outside the {t} tokens");
            if (keyStart < 0 || keyEnd > keys || keyStart > keyEnd) throw new HeadMinerException($"knock-out key span [{keyStart}, {keyEnd}) is outside [0, {keys})");
            for (int b = 0; b < scores.Dim(0); b++)
                for (int h = head ?? 0; h < (head is null ? heads : head.Value + 1); h++)
                    scores.Select(0, b).Select(0, h).Select(0, query).Slice(0, keyStart, keyEnd - keyStart).Contiguous().Span.Fill(float.NegativeInfinity);
        });
}
