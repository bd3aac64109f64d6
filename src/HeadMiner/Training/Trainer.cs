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
/// any step. Each step: zero gradients → loss and backward on the tape → global-norm clipping → AdamW at the
/// warm-up + cosine learning rate. Evaluation runs the inference model (no tape) on
/// a fixed held-out set and reports the loss overall and per prediction kind ("all", "induction", …), which is
/// how the induction phase change shows: the loss on repeated tokens falls while the rest does not.
/// <para>
/// Everything a run's future depends on is the model's weights, the optimizer's moments and step count, and
/// <see cref="NextStep"/> (data and learning rate are functions of the step), so <see cref="TrainingCheckpoint"/>
/// saving those and <see cref="Resume"/> loading them continue a run bit for bit.
/// </para>
/// <para>
/// <b>Non-finite values stop the run at once.</b> If a step's loss or gradient norm is NaN/±∞, or its update leaves
/// a weight or moment non-finite, or the held-out loss after it is, the step is undone (<see cref="LastFiniteState"/>),
/// the checkpoint callback gets the state before it and <see cref="TrainingDivergedException"/> is thrown. Why not
/// skip the step and go on, as fp16 loss scaling does: in float32 on this deterministic synthetic data nothing
/// overflows by chance — the token ids cannot be NaN, so a non-finite loss means the weights have diverged (a
/// learning rate far too large) — and a skipped step leaves the weights as they were, so the next steps diverge
/// too. Skipping is how a run once trained 1,422 steps of NaN loss and then saved NaN weights.
/// </para>
/// </summary>
public sealed class Trainer
{
    private const ulong EvalSeedMix = 0x5EEDE7A1UL;
    private readonly Gpt2TrainingModel _model;
    private readonly SequenceGenerator _data;

    // One step's activations and gradients, recycled from step to step (reset at the start of each step, after the
    // last step's loss has been recorded).
    private readonly TensorArena _arena = new();

    public Trainer(Gpt2TrainingModel model, SequenceGenerator data, TrainingOptions options)
    {
        options.Validate();
        if (options.SequenceLength > model.Config.ContextLength)
            throw new HeadMinerException($"sequence length {options.SequenceLength} exceeds the model's context length {model.Config.ContextLength}");
        _model = model;
        _data = data;
        Options = options;
        Optimizer = new AdamW(model.TrainableParameters(), weightDecay: options.WeightDecay);
    }

    public TrainingOptions Options { get; }
    public Gpt2TrainingModel Model => _model;
    public AdamW Optimizer { get; }

    /// <summary>The curve so far (continued after <see cref="Resume"/>).</summary>
    public TrainingCurve Curve { get; private set; } = new();

    /// <summary>The next step to train (0 for a new run).</summary>
    public int NextStep { get; private set; }

    /// <summary>Loads a checkpoint written by <see cref="TrainingCheckpoint.Save"/> for this model shape and options.</summary>
    public void Resume(string directory)
    {
        var state = TrainingCheckpoint.Load(directory, _model, Optimizer, Options);
        Curve = state.Curve;
        NextStep = state.NextStep;
    }

    /// <param name="checkpoint">Called with the number of steps done after every <see cref="TrainingOptions.CheckpointEvery"/> steps, after the last step, when cancelled, and when a step is not finite (with the state before that step, then <see cref="TrainingDivergedException"/> is thrown).</param>
    public TrainingCurve Run(IProgress<TrainingProgress>? progress = null, CancellationToken cancel = default, Action<int>? checkpoint = null)
    {
        var options = Options;
        var schedule = new LearningRateSchedule(options.PeakLearningRate, options.WarmupSteps, options.Steps, options.MinLearningRateRatio);
        var evalSet = _data.Generate(options.EvalSequences, options.SequenceLength + 1, options.Seed ^ EvalSeedMix);
        int b = options.BatchSequences, t = options.SequenceLength;
        long tokens = Curve.Points.Count > 0 ? Curve.Points[^1].Tokens : 0;
        var lastFinite = new LastFiniteState(Optimizer);
        for (int step = NextStep; step < options.Steps; step++)
        {
            if (cancel.IsCancellationRequested)
            {
                checkpoint?.Invoke(step);
                cancel.ThrowIfCancellationRequested();
            }
            var sw = Stopwatch.StartNew();
            var batch = _data.Generate(b, t + 1, StepSeed(step));
            var (ids, targets) = InputsAndTargets(batch.Tokens, t);
            _model.ZeroGradients();
            _arena.Reset();
            var tape = new Tape(_arena);
            var loss = _model.Loss(tape, ids, b, t, targets);
            tape.Backward(loss);
            double lossValue = loss.Value.Span[0];
            double norm = GradientClipping.ClipGlobalNorm(Optimizer.Parameters, options.ClipNorm);
            double lr = schedule.At(step);
            if (!double.IsFinite(lossValue) || !double.IsFinite(norm))
                Diverge(step, lossValue, norm, lr, double.IsFinite(lossValue) ? "the gradient norm is not finite" : "the loss is not finite", checkpoint);
            lastFinite.Capture();
            Optimizer.Step(lr);
            if (LastFiniteState.FirstNonFinite(Optimizer) is string bad)
            {
                lastFinite.Restore();
                Diverge(step, lossValue, norm, lr, $"after the update, {bad}", checkpoint);
            }
            tokens += ids.Length;
            double tokensPerSecond = ids.Length / Math.Max(sw.Elapsed.TotalSeconds, 1e-9);
            bool evaluate = step == options.Steps - 1 || (options.EvalEvery > 0 && step % options.EvalEvery == 0);
            var eval = evaluate ? Evaluate(evalSet) : null;
            if (eval?.FirstOrDefault(kv => !double.IsFinite(kv.Value)) is { Key: not null } badEval)
            {
                lastFinite.Restore();
                Diverge(step, lossValue, norm, lr, $"after the update, the held-out loss \"{badEval.Key}\" is {NonFiniteValues.Text(badEval.Value)}", checkpoint);
            }
            Curve.Record(new TrainingCurvePoint(step, tokens, lossValue, eval, lr, norm, tokensPerSecond));
            NextStep = step + 1;
            progress?.Report(new TrainingProgress(step + 1, options.Steps, lossValue, tokensPerSecond, eval));
            if (checkpoint is not null && (NextStep == options.Steps || (options.CheckpointEvery > 0 && NextStep % options.CheckpointEvery == 0)))
                checkpoint(NextStep);
        }
        return Curve;
    }

    /// <summary>
    /// Stops the run at <paramref name="step"/>, whose state has been rolled back to the one before it: that state is
    /// checkpointed (<see cref="NextStep"/> is still <paramref name="step"/>, and the curve ends before it).
    /// </summary>
    private static void Diverge(int step, double loss, double norm, double lr, string reason, Action<int>? checkpoint)
    {
        checkpoint?.Invoke(step);
        throw new TrainingDivergedException(step, loss, norm, lr, reason);
    }

    /// <summary>Held-out loss overall ("all") and per prediction kind ("induction", "random", …).</summary>
    public IReadOnlyDictionary<string, double> Evaluate(SyntheticSequences set)
    {
        int n = set.Count, t = set.Tokens[0].Length - 1, v = _model.Config.VocabSize;
        var (ids, targets) = InputsAndTargets(set.Tokens, t);
        using var inference = _model.ToTransformer();
        var logits = inference.Forward(new TokenBatch(ids, n, t)).ToArray();
        var losses = new float[ids.Length];
        CrossEntropy.RowLosses(logits, ids.Length, v, targets, losses);
        var result = new Dictionary<string, double> { ["all"] = losses.Average() };
        foreach (var (kind, value) in set.MeanLossByKind(losses))
            result[kind.ToString().ToLowerInvariant()] = value;
        foreach (var (name, value) in _data.HeldOutMetrics(inference) ?? new Dictionary<string, double>())
            result[name] = value;
        return result;
    }

    private ulong StepSeed(int step) => Options.Seed * 0x9E3779B97F4A7C15UL + (ulong)step;

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
