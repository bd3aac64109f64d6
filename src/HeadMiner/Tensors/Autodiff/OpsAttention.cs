using HeadMiner.Tensors.Kernels;

namespace HeadMiner.Tensors.Autodiff;

public static partial class Ops
{
    /// <summary>
    /// Causal multi-head attention over <paramref name="sequences"/> equal-length sequences stacked as rows:
    /// q [sequences·tokens, heads·headDim], k and v [sequences·tokens, kvHeads·headDim] (grouped-query when
    /// kvHeads &lt; heads); result z like q. Each sequence is one <see cref="Attention.Forward"/> call that also saves
    /// its pattern (heads·tokens² floats) for <see cref="Attention.Backward"/>. Optional: a sliding window and per-row
    /// key validity (false = padding), an attention-logit soft cap (Gemma 2).
    /// </summary>
    public static Variable CausalAttention(Tape tape, Variable q, Variable k, Variable v, int sequences,
        int heads, int kvHeads, int headDim, float scale, int slidingWindow = 0, bool[]? keyValid = null, float softCap = 0)
    {
        ArgumentNullException.ThrowIfNull(tape);
        int qWidth = heads * headDim, kvWidth = kvHeads * headDim;
        if (Features(q, nameof(q)) != qWidth) throw new ArgumentException($"q has {q.Value.Dim(-1)} features, {heads} heads of {headDim} need {qWidth}", nameof(q));
        if (Features(k, nameof(k)) != kvWidth) throw new ArgumentException($"k has {k.Value.Dim(-1)} features, {kvHeads} heads of {headDim} need {kvWidth}", nameof(k));
        CheckSameShape(k, v, nameof(v));
        int rows = q.Value.Length / qWidth;
        if (sequences <= 0 || rows % sequences != 0) throw new ArgumentException($"{rows} rows do not split into {sequences} sequences", nameof(sequences));
        if (k.Value.Length / kvWidth != rows) throw new ArgumentException($"k has {k.Value.Length / kvWidth} rows, q {rows}", nameof(k));
        if (keyValid is not null && keyValid.Length != rows) throw new ArgumentException($"keyValid has {keyValid.Length} entries for {rows} rows", nameof(keyValid));
        int tokens = rows / sequences, patternLength = heads * tokens * tokens;

        var z = Result(tape, q.Value.Shape.ToArray(), q, k, v);
        // Saved only when a backward pass can come; inference-only calls write no pattern.
        float[]? pattern = z.RequiresGradient ? tape.Rent(sequences * patternLength) : null;
        for (int s = 0; s < sequences; s++)
        {
            Attention.Forward(
                q.Value.Span.Slice(s * tokens * qWidth, tokens * qWidth), qWidth,
                k.Value.Span.Slice(s * tokens * kvWidth, tokens * kvWidth), v.Value.Span.Slice(s * tokens * kvWidth, tokens * kvWidth), kvWidth,
                z.Value.Span.Slice(s * tokens * qWidth, tokens * qWidth), qWidth,
                tokens, tokens, heads, kvHeads, headDim, scale, Mask(keyValid, s, tokens, slidingWindow),
                pattern: pattern is null ? default : pattern.AsSpan(s * patternLength, patternLength), softCap: softCap);
        }
        tape.Record(z, () =>
        {
            var dz = z.Gradient!.Span;
            var dq = q.BeginGradientWrite(out var qScratch);
            var dk = k.BeginGradientWrite(out var kScratch);
            var dv = v.BeginGradientWrite(out var vScratch);
            for (int s = 0; s < sequences; s++)
            {
                int qa = s * tokens * qWidth, kva = s * tokens * kvWidth;
                Attention.Backward(
                    q.Value.Span.Slice(qa, tokens * qWidth), qWidth,
                    k.Value.Span.Slice(kva, tokens * kvWidth), v.Value.Span.Slice(kva, tokens * kvWidth), kvWidth,
                    pattern.AsSpan(s * patternLength, patternLength),
                    dz.Slice(qa, tokens * qWidth), qWidth,
                    dq.Slice(qa, tokens * qWidth), qWidth,
                    dk.Slice(kva, tokens * kvWidth), dv.Slice(kva, tokens * kvWidth), kvWidth,
                    tokens, tokens, heads, kvHeads, headDim, scale, Mask(keyValid, s, tokens, slidingWindow), softCap);
            }
            q.EndGradientWrite(qScratch);
            k.EndGradientWrite(kScratch);
            v.EndGradientWrite(vScratch);
        });
        return z;
    }

    private static AttentionMask Mask(bool[]? keyValid, int sequence, int tokens, int slidingWindow) => new()
    {
        FirstQueryPosition = 0,
        SlidingWindow = slidingWindow,
        KeyValid = keyValid is null ? default : keyValid.AsSpan(sequence * tokens, tokens),
    };
}
