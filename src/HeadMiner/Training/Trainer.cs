using System.Diagnostics;
using HeadMiner.Models;
using HeadMiner.Tasks.Synthetic;
using HeadMiner.Tensors.Autodiff;
using HeadMiner.Tensors.Kernels;

namespace HeadMiner.Training;

/// <summary>One step's or evaluation's report, for progress display.</summary>
public sealed record TrainingProgress(long Step, long Steps, double Loss, double TokensPerSecond, IReadOnlyDictionary<string, double>? Eval);

/// <summary>
/// Trains a <see cref="Gpt2TrainingModel"/> on a synthetic generator. Step s trains on
/// <c>data.Generate(batch, length + 1, seed(s))</c>, so the data order is fixed by the seed and a run can resume at
/// any step. Each step: zero gradients → loss and backward on the tape → global-norm clipping (a non-finite norm
/// skips the update) → AdamW at the warm-up + cosine learning rate. Evaluation runs the inference model (no tape) on
/// a fixed held-out set and reports the loss overall and per prediction kind ("all", "induction", …), which is
/// how the induction phase change shows: the loss on repeated tokens falls while the rest does not.
/// </summary>
public sealed class Trainer(Gpt2TrainingModel model, SequenceGenerator data, TrainingOptions options)
{
    private const ulong EvalSeedMix = 0x5EEDE7A1UL;

    public TrainingCurve Run(IProgress<TrainingProgress>? progress = null, CancellationToken cancel = default)
    {
        options.Validate();
        if (options.SequenceLength > model.Config.ContextLength)
            throw new HeadMinerException($"sequence length {options.SequenceLength} exceeds the model's context length {model.Config.ContextLength}");
        var optimizer = new AdamW(model.TrainableParameters(), weightDecay: options.WeightDecay);
        var schedule = new LearningRateSchedule(options.PeakLearningRate, options.WarmupSteps, options.Steps, options.MinLearningRateRatio);
        var evalSet = data.Generate(options.EvalSequences, options.SequenceLength + 1, options.Seed ^ EvalSeedMix);
        var curve = new TrainingCurve();
        int b = options.BatchSequences, t = options.SequenceLength;
        long tokens = 0;
        for (int step = 0; step < options.Steps; step++)
        {
            cancel.ThrowIfCancellationRequested();
            var sw = Stopwatch.StartNew();
            var batch = data.Generate(b, t + 1, StepSeed(step));
            var (ids, targets) = InputsAndTargets(batch.Tokens, t);
            model.ZeroGradients();
            var tape = new Tape();
            var loss = model.Loss(tape, ids, b, t, targets);
            tape.Backward(loss);
            double norm = GradientClipping.ClipGlobalNorm(optimizer.Parameters, options.ClipNorm);
            double lr = schedule.At(step);
            if (double.IsFinite(norm)) optimizer.Step(lr);
            tokens += ids.Length;
            double tokensPerSecond = ids.Length / Math.Max(sw.Elapsed.TotalSeconds, 1e-9);
            bool evaluate = step == options.Steps - 1 || (options.EvalEvery > 0 && step % options.EvalEvery == 0);
            var eval = evaluate ? Evaluate(evalSet) : null;
            curve.Record(new TrainingCurvePoint(step, tokens, loss.Value.Span[0], eval, lr, norm, tokensPerSecond));
            progress?.Report(new TrainingProgress(step + 1, options.Steps, loss.Value.Span[0], tokensPerSecond, eval));
        }
        return curve;
    }

    /// <summary>Held-out loss overall ("all") and per prediction kind ("induction", "random", …).</summary>
    public IReadOnlyDictionary<string, double> Evaluate(SyntheticSequences set)
    {
        int n = set.Count, t = set.Tokens[0].Length - 1, v = model.Config.VocabSize;
        var (ids, targets) = InputsAndTargets(set.Tokens, t);
        using var inference = model.ToTransformer();
        var logits = inference.Forward(new TokenBatch(ids, n, t)).ToArray();
        var losses = new float[ids.Length];
        CrossEntropy.RowLosses(logits, ids.Length, v, targets, losses);
        var result = new Dictionary<string, double> { ["all"] = losses.Average() };
        foreach (var (kind, value) in set.MeanLossByKind(losses))
            result[kind.ToString().ToLowerInvariant()] = value;
        return result;
    }

    private ulong StepSeed(int step) => options.Seed * 0x9E3779B97F4A7C15UL + (ulong)step;

    /// <summary>Inputs tokens[0..t) and targets tokens[1..t] of each sequence, flattened.</summary>
    private static (int[] Ids, int[] Targets) InputsAndTargets(int[][] sequences, int t)
    {
        var ids = new int[sequences.Length * t];
        var targets = new int[ids.Length];
        for (int s = 0; s < sequences.Length; s++)
        {
            sequences[s].AsSpan(0, t).CopyTo(ids.AsSpan(s * t, t));
            sequences[s].AsSpan(1, t).CopyTo(targets.AsSpan(s * t, t));
        }
        return (ids, targets);
    }
}
