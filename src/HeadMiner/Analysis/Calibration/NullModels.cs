using HeadMiner.Analysis.Detectors;
using HeadMiner.Hooks;
using HeadMiner.Models;
using HeadMiner.Models.Tokenizers;
using HeadMiner.Tensors.Kernels;

namespace HeadMiner.Analysis.Calibration;

/// <summary>
/// One model of the null set: a model where the head functions the detectors look for cannot exist. "untrained":
/// seeded random weights (<see cref="RandomWeights"/>) of a real architecture with a real tokenizer; "shuffled": a
/// trained model whose attention rows are permuted among their valid keys before any pattern detector reads them
/// (<see cref="ShuffledPatterns"/>), so only attention-pattern detectors are run on it.
/// </summary>
public sealed record NullModel
{
    public required string Name { get; init; }

    /// <summary>"untrained" or "shuffled".</summary>
    public required string Kind { get; init; }

    public required string Architecture { get; init; }
    public required string Tokenizer { get; init; }
    public int Layers { get; init; }
    public int Heads { get; init; }
    public int KvHeads { get; init; }
    public int DModel { get; init; }

    /// <summary>Init standard deviation of the untrained model's matrices (null for shuffled real models).</summary>
    public float? Std { get; init; }

    /// <summary>Weight seed (untrained) or permutation seed (shuffled).</summary>
    public ulong Seed { get; init; }

    /// <summary>Builds the context the detectors run on; the returned disposable (a loaded checkpoint) is released after the run.</summary>
    public required Func<DetectorOptions, (DetectorContext Context, IDisposable? Owner)> Build { get; init; }

    /// <summary>Whether <paramref name="detector"/> measures something that is null on this model.</summary>
    public bool Applies(IHeadDetector detector) => Kind == "untrained" || detector.Kind == DetectorKind.AttentionPattern;
}

/// <summary>A tokenizer of the null set and, optionally, the prompt vocabulary its model declares (headminer.json).</summary>
public sealed record NullTokenizer(string Name, ITokenizer Tokenizer, IReadOnlySet<int>? PromptTokens = null);

/// <summary>
/// The null model set: untrained GPT-2-style (LayerNorm, learned positions, tied embeddings), GPT-NeoX-style
/// (parallel attention + MLP, partial rotary, untied) and Llama-style (RMSNorm, RoPE, SwiGLU, grouped-query attention)
/// models of three sizes (d_head 16 and 32), several seeds and init scales, each with every tokenizer given; plus shuffled-pattern copies of
/// the real models given.
/// </summary>
public static class NullModels
{
    /// <summary>Init standard deviations: GPT-2's 0.02 and larger ones that make attention less uniform.</summary>
    public static readonly float[] Stds = [0.02f, 0.05f, 0.1f];

    /// <summary>Sizes (layers, heads, kv heads for the Llama family, d_model); d_head = d_model / heads.</summary>
    public static readonly (int Layers, int Heads, int KvHeads, int DModel)[] Sizes = [(2, 4, 2, 64), (4, 8, 4, 128), (3, 8, 2, 256)];

    public static readonly string[] Families = ["gpt2", "gpt_neox", "llama"];

    /// <summary>Context length of every untrained model (room for the needle task and the sample passages).</summary>
    public const int ContextLength = 256;

    /// <summary>The config of an untrained model of <paramref name="family"/> for a tokenizer's vocabulary.</summary>
    public static ModelConfig Config(string family, (int Layers, int Heads, int KvHeads, int DModel) size, ITokenizer tokenizer) =>
        Config(family, size, tokenizer.VocabSize, tokenizer.BosId, tokenizer.EosId);

    /// <summary>The config of an untrained GPT-2 (LayerNorm, learned positions, tied), GPT-NeoX (parallel, partial rotary) or Llama (RMSNorm, RoPE, SwiGLU, GQA) model.</summary>
    public static ModelConfig Config(string family, (int Layers, int Heads, int KvHeads, int DModel) size, int vocabSize, int? bos, int? eos, int context = ContextLength)
    {
        var (layers, heads, kvHeads, d) = size;
        int dHead = d / heads;
        var baseConfig = new ModelConfig
        {
            Architecture = family,
            VocabSize = vocabSize,
            DModel = d,
            Layers = layers,
            Heads = heads,
            KvHeads = heads,
            DHead = dHead,
            DMlp = 4 * d,
            ContextLength = context,
            Norm = NormKind.LayerNorm,
            NormEps = 1e-5f,
            Activation = MlpActivation.GeluTanh,
            LearnedPositions = true,
            AttentionScale = 1f / MathF.Sqrt(dHead),
            AttentionWindow = new int[layers],
            TiedEmbeddings = true,
            BosTokenId = bos,
            EosTokenId = eos,
        };
        return family switch
        {
            "gpt2" => baseConfig,
            "gpt_neox" => baseConfig with
            {
                Activation = MlpActivation.GeluErf,
                ParallelAttnMlp = true,
                LearnedPositions = false,
                RotaryDim = dHead / 2,
                RotaryStyle = RotaryStyle.RotateHalf,
                TiedEmbeddings = false,
            },
            "llama" => baseConfig with
            {
                KvHeads = kvHeads,
                DMlp = 8 * d / 3,
                Norm = NormKind.RmsNorm,
                Activation = MlpActivation.SwiGlu,
                LearnedPositions = false,
                RotaryDim = dHead,
                RotaryStyle = RotaryStyle.RotateHalf,
                TiedEmbeddings = false,
            },
            _ => throw new HeadMinerException($"null models: unknown family \"{family}\" (known: {string.Join(", ", Families)})"),
        };
    }

    /// <summary>One untrained model (GPT-2 init: N(0, std²) matrices, unit norms; Llama without biases).</summary>
    public static NullModel Untrained(string family, (int Layers, int Heads, int KvHeads, int DModel) size, NullTokenizer tokenizer, float std, ulong seed)
    {
        var config = Config(family, size, tokenizer.Tokenizer);
        string name = $"{family}-{size.Layers}x{size.Heads}-d{size.DModel}-{tokenizer.Name}-std{std:0.00}-seed{seed}";
        return new NullModel
        {
            Name = name,
            Kind = "untrained",
            Architecture = family,
            Tokenizer = tokenizer.Name,
            Layers = config.Layers,
            Heads = config.Heads,
            KvHeads = config.KvHeads,
            DModel = config.DModel,
            Std = std,
            Seed = seed,
            Build = options =>
            {
                var weights = RandomWeights.Create(config, seed, std, biases: family != "llama");
                var model = new Transformer(config, weights, name);
                return (new DetectorContext(model, tokenizer.Tokenizer, Fit(options, config, tokenizer.PromptTokens)), null);
            },
        };
    }

    /// <summary>A real model whose attention rows are shuffled among their valid keys (pattern detectors only).</summary>
    public static NullModel Shuffled(string name, string path, ulong seed)
    {
        return new NullModel
        {
            Name = $"{name}-shuffled-seed{seed}",
            Kind = "shuffled",
            Architecture = "",
            Tokenizer = name,
            Seed = seed,
            Build = options =>
            {
                var loaded = ModelLoader.Load(path);
                var hints = AnalysisHints.Load(loaded.Path, loaded.Model.Config.VocabSize);
                var prompts = hints is { PromptTokenRanges.Count: > 0 } ? hints.PromptTokens() : null;
                var context = new DetectorContext(loaded.Model, loaded.Tokenizer, Fit(options, loaded.Model.Config, prompts))
                {
                    PatternHooks = ShuffledPatterns.Hooks(loaded.Model.Config, seed),
                };
                return (context, loaded);
            },
        };
    }

    /// <summary>
    /// The default set: every family × size × init std × seed with every tokenizer, and shuffled copies of the real
    /// models (name, path). Task detectors can only run with tokenizers that spell their task sets (GPT-2's).
    /// </summary>
    public static IReadOnlyList<NullModel> Default(IReadOnlyList<NullTokenizer> tokenizers, IReadOnlyList<(string Name, string Path)> realModels,
        int seeds = 3, ulong firstSeed = 1)
    {
        var list = new List<NullModel>();
        foreach (var tokenizer in tokenizers)
            foreach (var family in Families)
                foreach (var size in Sizes)
                    foreach (var std in Stds)
                        for (int s = 0; s < seeds; s++) list.Add(Untrained(family, size, tokenizer, std, firstSeed + (ulong)s));
        foreach (var (name, path) in realModels)
            for (int s = 0; s < seeds; s++) list.Add(Shuffled(name, path, firstSeed + (ulong)s));
        return list;
    }

    /// <summary>The options as the atlas would use them on this model: segment fitted to the context, the declared prompt vocabulary.</summary>
    private static DetectorOptions Fit(DetectorOptions options, ModelConfig config, IReadOnlySet<int>? promptTokens)
    {
        int segment = Math.Min(options.SegmentLength, (config.ContextLength - 1) / 2);
        return options with { SegmentLength = segment, PromptTokens = promptTokens ?? options.PromptTokens };
    }
}

/// <summary>
/// The shuffled-pattern null: a hook on every layer's hook_pattern that permutes each attention row among its valid
/// (causal) keys with a seeded permutation, in place, before the cache or any later layer reads it. Row sums and the
/// distribution of weights within a row are kept; which key gets which weight is random.
/// </summary>
public static class ShuffledPatterns
{
    public static HookSet Hooks(ModelConfig config, ulong seed)
    {
        var rng = new Tensors.SeededRandom(seed);
        var hooks = new HookSet(config);
        hooks.Add(h => h.Site == ActivationSite.Pattern, (activation, _) =>
        {
            // [B, H, T, K]; with no prefix K = T and row i has keys 0..i.
            if (!activation.IsContiguous) throw new InvalidOperationException("hook_pattern is expected contiguous");
            int B = activation.Dim(0), H = activation.Dim(1), T = activation.Dim(2), K = activation.Dim(3);
            var a = activation.Span;
            var keys = new float[K];
            lock (rng)
            {
                for (int b = 0; b < B; b++)
                    for (int h = 0; h < H; h++)
                        for (int i = 0; i < T; i++)
                        {
                            int valid = K - T + i + 1, row = ((b * H + h) * T + i) * K;
                            var span = a.Slice(row, valid);
                            span.CopyTo(keys);
                            rng.Shuffle(keys.AsSpan(0, valid));
                            keys.AsSpan(0, valid).CopyTo(span);
                        }
            }
        });
        return hooks;
    }
}
