using System.Diagnostics;
using HeadMiner.Hooks;
using HeadMiner.Hooks.Interventions;
using HeadMiner.Models;
using HeadMiner.Tasks;
using HeadMiner.Tensors;

namespace HeadMiner.Analysis.Ablation;

/// <summary>Where resample ablation takes a head's replacement z from.</summary>
public enum ResampleSource
{
    /// <summary>The corrupted prompt of the same pair.</summary>
    Corrupted,

    /// <summary>Another clean prompt: pair b takes pair (b + 1) mod n (a fixed derangement; with one pair, itself).</summary>
    CleanPermutation,
}

/// <summary>What to ablate with, what to measure, and how many heads to ablate per batched forward pass.</summary>
public sealed record AblationStudyOptions
{
    public AblationKind Kind { get; init; } = AblationKind.Zero;
    public MetricKind Metric { get; init; } = MetricKind.LogitDiff;
    public ResampleSource ResampleFrom { get; init; } = ResampleSource.Corrupted;

    /// <summary>Heads of one layer per forward (at most the layer's heads); null picks as many as fit in <see cref="MaxRowsPerForward"/> token rows.</summary>
    public int? HeadsPerForward { get; init; }

    /// <summary>Cap on batch·tokens per forward (every position is unembedded for the loss, so rows × vocab floats are held).</summary>
    public int MaxRowsPerForward { get; init; } = 1024;

    /// <summary>
    /// Start each ablated run at the ablated layer from the clean run's cached resid_pre (the blocks below it are
    /// unaffected), instead of from the embedding.
    /// </summary>
    public bool ResumeFromCleanResidual { get; init; } = true;
}

/// <summary>The effect of ablating one head: the metric and the loss with it ablated, and their change from the unablated run.</summary>
public sealed record HeadAblationEffect(int Layer, int Head, double Metric, double Delta, double Loss, double DeltaLoss);

public sealed record AblationStudyResult
{
    public required AblationKind Kind { get; init; }
    public required string MetricName { get; init; }
    public required WeightProcessing Processing { get; init; }
    public required int Pairs { get; init; }
    public required double BaselineMetric { get; init; }
    public required double BaselineLoss { get; init; }

    /// <summary>Layer-major: (0,0), (0,1), …</summary>
    public required IReadOnlyList<HeadAblationEffect> Effects { get; init; }

    /// <summary>Ablated forward passes run (the baseline and any reference runs not counted).</summary>
    public required int Forwards { get; init; }
    public required int HeadsPerForward { get; init; }
    public required TimeSpan Elapsed { get; init; }
}

/// <summary>
/// Zero / mean / resample ablation of every attention head (layers × heads), measured by a <see cref="Metric"/> and
/// the loss. Ablation rewrites the head's slice of hook_z (what it sends through W_O). Mean = the head's mean z over
/// the clean prompts, per position; resample = its z on another prompt (<see cref="ResampleSource"/>).
/// Several heads of a layer share one forward: the clean batch is repeated k times and copy j ablates head j, so k
/// heads cost one batched pass instead of k small ones; and that pass starts at the ablated layer from the clean
/// run's cached resid_pre, since nothing below the layer changes.
/// </summary>
public static class AblationStudy
{
    /// <summary>The batched study; <paramref name="progress"/> hears the fraction of heads done after each forward.</summary>
    public static AblationStudyResult Run(Transformer model, TokenizedPairs pairs, AblationStudyOptions? options = null, CancellationToken cancel = default,
        IProgress<double>? progress = null)
    {
        options ??= new AblationStudyOptions();
        var clock = Stopwatch.StartNew();
        var setup = Setup.Create(model, pairs, options);
        var c = model.Config;
        int n = pairs.Count, T = pairs.Length;
        int perForward = options.HeadsPerForward ?? Math.Max(1, options.MaxRowsPerForward / (n * T));
        perForward = Math.Clamp(perForward, 1, c.Heads);
        var cleanIds = pairs.CleanBatch().Ids;
        var effects = new List<HeadAblationEffect>();
        int forwards = 0;
        for (int layer = 0; layer < c.Layers; layer++)
        {
            // Blocks below the ablated layer compute exactly the clean run: resume from its cached resid_pre.
            var resume = options.ResumeFromCleanResidual ? setup.CleanResidPre![layer] : null;
            for (int first = 0; first < c.Heads; first += perForward)
            {
                cancel.ThrowIfCancellationRequested();
                int k = Math.Min(perForward, c.Heads - first), l = layer;
                var ids = new int[k * cleanIds.Length];
                for (int j = 0; j < k; j++) cleanIds.CopyTo(ids, j * cleanIds.Length);
                float[]? start = null;
                if (resume is not null)
                {
                    start = new float[k * resume.Length];
                    for (int j = 0; j < k; j++) resume.CopyTo(start, j * resume.Length);
                }
                var hooks = new HookSet(c);
                hooks.Add(HookName.Of(ActivationSite.Z, l), (z, _) =>
                {
                    for (int j = 0; j < k; j++)
                        for (int b = 0; b < n; b++) setup.Ablate(z, j * n + b, b, l, first + j);
                });
                var logits = model.Run(new TokenBatch(ids, k * n, T), new ForwardOptions
                {
                    Hooks = hooks,
                    StartLayer = start is null ? 0 : l,
                    StartResidual = start,
                }).Logits!;
                forwards++;
                var metric = setup.Metric.ComputeMany(logits);
                var loss = setup.Loss.ComputeMany(logits);
                for (int j = 0; j < k; j++)
                    effects.Add(new HeadAblationEffect(l, first + j, metric[j], metric[j] - setup.BaselineMetric, loss[j], loss[j] - setup.BaselineLoss));
                progress?.Report((double)effects.Count / (c.Layers * c.Heads));
            }
        }
        return setup.Result(effects, forwards, perForward, clock.Elapsed);
    }

    /// <summary>
    /// The same study with one forward pass per head through <see cref="HeadAblation"/>: the reference the batched
    /// study is tested against, and the baseline its speed is measured against.
    /// </summary>
    public static AblationStudyResult RunOneForwardPerHead(Transformer model, TokenizedPairs pairs, AblationStudyOptions? options = null, CancellationToken cancel = default)
    {
        options ??= new AblationStudyOptions();
        var clock = Stopwatch.StartNew();
        var setup = Setup.Create(model, pairs, options);
        var batch = pairs.CleanBatch();
        var effects = new List<HeadAblationEffect>();
        foreach (var (layer, head) in AllHeads(model.Config))
        {
            cancel.ThrowIfCancellationRequested();
            var hooks = new HookSet(model.Config);
            switch (options.Kind)
            {
                case AblationKind.Zero:
                    HeadAblation.Zero(hooks, layer, head);
                    break;
                case AblationKind.Mean:
                    HeadAblation.Replace(hooks, layer, head, HeadAblation.MeanOf(setup.Source!, layer, head));
                    break;
                default:
                    HeadAblation.Resample(hooks, layer, head, setup.Source!, setup.SourceRows);
                    break;
            }
            var logits = model.RunWithHooks(batch, hooks);
            double metric = setup.Metric.Compute(logits), loss = setup.Loss.Compute(logits);
            effects.Add(new HeadAblationEffect(layer, head, metric, metric - setup.BaselineMetric, loss, loss - setup.BaselineLoss));
        }
        return setup.Result(effects, effects.Count, 1, clock.Elapsed);
    }

    private static (int Layer, int Head)[] AllHeads(ModelConfig c) =>
        [.. Enumerable.Range(0, c.Layers).SelectMany(l => Enumerable.Range(0, c.Heads).Select(h => (l, h)))];

    /// <summary>What both variants share: the baseline run, the metric objects and the replacement values.</summary>
    private sealed class Setup
    {
        public required Transformer Model { get; init; }
        public required AblationStudyOptions Options { get; init; }
        public required TokenizedPairs Pairs { get; init; }
        public required Metric Metric { get; init; }
        public required Metric Loss { get; init; }
        public required double BaselineMetric { get; init; }
        public required double BaselineLoss { get; init; }

        /// <summary>The run replacements come from: clean (mean, clean permutation) or corrupted (resample); null for zero.</summary>
        public ActivationCache? Source { get; init; }

        /// <summary>[layer] → the clean run's resid_pre [n·T·d], where ablated runs of that layer start.</summary>
        public float[][]? CleanResidPre { get; init; }

        /// <summary>Resample: the source row for each pair.</summary>
        public int[]? SourceRows { get; init; }

        /// <summary>Mean: [layer][head] → [T, d_head].</summary>
        public Tensor[][]? Means { get; init; }

        public static Setup Create(Transformer model, TokenizedPairs pairs, AblationStudyOptions options)
        {
            var c = model.Config;
            var zAll = CacheFilter.Where(h => h.Site == ActivationSite.Z);
            bool cleanSource = options.Kind == AblationKind.Mean || (options.Kind == AblationKind.Resample && options.ResampleFrom == ResampleSource.CleanPermutation);
            var (clean, cleanCache) = model.RunWithCache(pairs.CleanBatch(), CacheFilter.Where(h =>
                (cleanSource && h.Site == ActivationSite.Z) || (options.ResumeFromCleanResidual && h.Site == ActivationSite.ResidPre)));
            var logits = clean.Logits!;
            var metric = new Metric(options.Metric, pairs, options.Metric == MetricKind.KlDivergence ? logits : null);
            var loss = new Metric(MetricKind.Loss, pairs);
            ActivationCache? source = options.Kind switch
            {
                AblationKind.Zero => null,
                AblationKind.Resample when options.ResampleFrom == ResampleSource.Corrupted => model.RunWithCache(pairs.CorruptedBatch(), zAll).Cache,
                _ => cleanCache,
            };
            int n = pairs.Count;
            return new Setup
            {
                Model = model,
                Options = options,
                Pairs = pairs,
                Metric = metric,
                Loss = loss,
                BaselineMetric = metric.Compute(logits),
                BaselineLoss = loss.Compute(logits),
                Source = source,
                CleanResidPre = options.ResumeFromCleanResidual
                    ? Enumerable.Range(0, c.Layers).Select(l => cleanCache.Get(HookName.Of(ActivationSite.ResidPre, l)).ToArray()).ToArray()
                    : null,
                SourceRows = options.Kind == AblationKind.Resample
                    ? Enumerable.Range(0, n).Select(b => options.ResampleFrom == ResampleSource.Corrupted ? b : (b + 1) % n).ToArray()
                    : null,
                Means = options.Kind == AblationKind.Mean
                    ? Enumerable.Range(0, c.Layers).Select(l => Enumerable.Range(0, c.Heads).Select(h => HeadAblation.MeanOf(source!, l, h)).ToArray()).ToArray()
                    : null,
            };
        }

        /// <summary>Ablates (layer, head) in batch row <paramref name="row"/> of z [B, T, H, dh], which holds pair <paramref name="pair"/>.</summary>
        public void Ablate(Tensor z, int row, int pair, int layer, int head)
        {
            var rowZ = z.Select(0, row);
            Tensor? sourceRow = Options.Kind == AblationKind.Resample ? Source!.Get(HookName.Of(ActivationSite.Z, layer)).Select(0, SourceRows![pair]) : null;
            for (int t = 0; t < rowZ.Dim(0); t++)
            {
                var slice = rowZ.Select(0, t).Select(0, head);
                switch (Options.Kind)
                {
                    case AblationKind.Zero:
                        slice.Span.Clear();
                        break;
                    case AblationKind.Mean:
                        Means![layer][head].Select(0, t).CopyTo(slice);
                        break;
                    default:
                        sourceRow!.Select(0, t).Select(0, head).CopyTo(slice);
                        break;
                }
            }
        }

        public AblationStudyResult Result(List<HeadAblationEffect> effects, int forwards, int perForward, TimeSpan elapsed) => new()
        {
            Kind = Options.Kind,
            MetricName = Metric.Name,
            Processing = Model.Processing,
            Pairs = Pairs.Count,
            BaselineMetric = BaselineMetric,
            BaselineLoss = BaselineLoss,
            Effects = effects,
            Forwards = forwards,
            HeadsPerForward = perForward,
            Elapsed = elapsed,
        };
    }
}
