using HeadMiner.Tasks;
using HeadMiner.Tensors;
using HeadMiner.Tensors.Kernels;

namespace HeadMiner.Analysis.Attribution;

/// <summary>
/// A last-position <see cref="Metric"/> and its gradient with respect to the last-position logits [pairs, vocab],
/// the seed of every gradient-based attribution. Same definitions as <see cref="Metric.Compute"/> (means over pairs):
/// logit_diff → ±1/n at answer/wrong; prob_diff → the softmax Jacobian applied to that; KL(clean ‖ run) →
/// (softmax(run) − p_clean)/n. The per-position loss has no single last position and is refused.
/// </summary>
public static class MetricGradient
{
    public static (double Value, Tensor Gradient) Compute(MetricKind kind, TokenizedPairs pairs, Tensor lastLogits, Tensor? cleanLastLogits = null)
    {
        ArgumentNullException.ThrowIfNull(pairs);
        var (sum, gradient) = Accumulate(kind, pairs, lastLogits, cleanLastLogits, pairs.Count);
        return (sum / pairs.Count, gradient);
    }

    /// <summary>
    /// The metric summed over <paramref name="pairs"/> (not yet averaged) and its gradient as a share of a mean over
    /// <paramref name="meanOver"/> pairs: a shard of a larger set (<see cref="AttributionShards"/>) gets exactly the
    /// gradient the whole set's mean gives its rows.
    /// </summary>
    internal static (double Sum, Tensor Gradient) Accumulate(MetricKind kind, TokenizedPairs pairs, Tensor lastLogits, Tensor? cleanLastLogits, int meanOver)
    {
        ArgumentNullException.ThrowIfNull(pairs);
        ArgumentNullException.ThrowIfNull(lastLogits);
        if (kind == MetricKind.Loss) throw new HeadMinerException("attribution needs a last-position metric (logit_diff, prob_diff, kl); the loss reads every position");
        int count = pairs.Count, n = meanOver, v = lastLogits.Dim(-1);
        if (lastLogits.Length != count * v) throw new ArgumentException($"logits {lastLogits.ShapeString} are not [{count}, vocab]", nameof(lastLogits));
        var logits = lastLogits.Contiguous().Span;
        var gradient = Tensor.Zeros(count, v);
        var g = gradient.Span;
        var p = new float[v];
        var clean = kind == MetricKind.KlDivergence
            ? (cleanLastLogits ?? throw new ArgumentException("KL divergence needs the clean run's last-position logits")).Contiguous().ToArray()
            : null;
        if (clean is not null) Softmax.LogRows(clean, count, v);
        double total = 0;
        for (int i = 0; i < count; i++)
        {
            var row = logits.Slice(i * v, v);
            var gi = g.Slice(i * v, v);
            int a = pairs.Answers[i], w = pairs.Wrongs[i];
            switch (kind)
            {
                case MetricKind.LogitDiff:
                    total += row[a] - row[w];
                    gi[a] += 1f / n;
                    gi[w] -= 1f / n;
                    break;
                case MetricKind.ProbDiff:
                    row.CopyTo(p);
                    Softmax.Rows(p, 1, v);
                    double diff = p[a] - p[w];
                    total += diff;
                    // d(p_a − p_w)/d(logit_j) = p_a(δ_aj − p_j) − p_w(δ_wj − p_j) = (δ_aj p_a − δ_wj p_w) − p_j (p_a − p_w)
                    for (int j = 0; j < v; j++) gi[j] = (float)(-p[j] * diff / n);
                    gi[a] += p[a] / n;
                    gi[w] -= p[w] / n;
                    break;
                case MetricKind.KlDivergence:
                    row.CopyTo(p);
                    Softmax.LogRows(p, 1, v);
                    double kl = 0;
                    for (int j = 0; j < v; j++)
                    {
                        double pc = Math.Exp(clean![i * v + j]);
                        if (pc > 0) kl += pc * (clean[i * v + j] - p[j]);
                        gi[j] = (float)((Math.Exp(p[j]) - pc) / n);
                    }
                    total += kl;
                    break;
            }
        }
        return (total, gradient);
    }
}
