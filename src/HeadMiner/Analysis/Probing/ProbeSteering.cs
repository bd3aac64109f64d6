using HeadMiner.Hooks;
using HeadMiner.Hooks.Interventions;
using HeadMiner.Models;
using HeadMiner.Tasks;
using HeadMiner.Tensors;

namespace HeadMiner.Analysis.Probing;

/// <summary>A metric on the clean and the corrupted prompts, before and after steering.</summary>
public sealed record SteeringEffect(string Metric, int Layer, int Head, double Alpha, double Std,
    double CleanBefore, double CleanAfter, double CorruptedBefore, double CorruptedAfter);

/// <summary>
/// Inference-time intervention with a probe direction: at every position, head (l, h)'s hook_z gains
/// α · σ · u, where u is the head's unit mass-mean direction and σ the standard deviation of activations along it
/// (<see cref="HeadProbeResult"/>), so α counts standard deviations. Uses <see cref="Steering.AddToHead"/>.
/// </summary>
public static class ProbeSteering
{
    public static SteeringEffect Measure(Transformer model, TokenizedPairs pairs, MetricKind metricKind, HeadProbeResult probes, int layer, int head, double alpha)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(probes);
        var c = model.Config;
        if ((uint)layer >= (uint)c.Layers || (uint)head >= (uint)c.Heads)
            throw new HeadMinerException($"head {layer}.{head} does not exist (the model has {c.Layers} layers × {c.Heads} heads)");
        double std = probes.DirectionStd[layer, head];
        var direction = probes.Directions.Select(0, layer).Select(0, head).Contiguous();
        bool last = metricKind != MetricKind.Loss;
        var cleanBatch = pairs.CleanBatch();
        var corruptedBatch = pairs.CorruptedBatch();
        var cleanBefore = model.Forward(cleanBatch, last);
        var metric = new Metric(metricKind, pairs, metricKind == MetricKind.KlDivergence ? cleanBefore : null);
        var corruptedBefore = model.Forward(corruptedBatch, last);
        var hooks = new HookSet(c);
        Steering.AddToHead(hooks, layer, head, direction, (float)(alpha * std));
        var cleanAfter = model.RunWithHooks(cleanBatch, hooks, last);
        var corruptedAfter = model.RunWithHooks(corruptedBatch, hooks, last);
        return new SteeringEffect(metric.Name, layer, head, alpha, std,
            metric.Compute(cleanBefore, pairs.Clean), metric.Compute(cleanAfter, pairs.Clean),
            metric.Compute(corruptedBefore, pairs.Corrupted), metric.Compute(corruptedAfter, pairs.Corrupted));
    }
}
