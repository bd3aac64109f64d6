using HeadMiner.Models;
using HeadMiner.Tensors.Kernels;

namespace HeadMiner.Tests.Models;

/// <summary>Small configurations covering each code path of the shared forward (odd sizes on purpose).</summary>
internal static class TinyModels
{
    public static ModelConfig Gpt2Like(int layers = 2) => new()
    {
        Architecture = "gpt2",
        VocabSize = 67,
        DModel = 24,
        Layers = layers,
        Heads = 3,
        KvHeads = 3,
        DHead = 8,
        DMlp = 40,
        ContextLength = 32,
        Norm = NormKind.LayerNorm,
        NormEps = 1e-5f,
        Activation = MlpActivation.GeluTanh,
        LearnedPositions = true,
        AttentionScale = 1f / MathF.Sqrt(8),
        AttentionWindow = new int[layers],
        TiedEmbeddings = true,
    };

    public static ModelConfig NeoXLike(int layers = 2) => Gpt2Like(layers) with
    {
        Architecture = "gpt_neox",
        Activation = MlpActivation.GeluErf,
        ParallelAttnMlp = true,
        LearnedPositions = false,
        RotaryDim = 4,
        RotaryStyle = RotaryStyle.RotateHalf,
        TiedEmbeddings = false,
    };

    public static ModelConfig LlamaLike(int layers = 2) => new()
    {
        Architecture = "llama",
        VocabSize = 61,
        DModel = 32,
        Layers = layers,
        Heads = 4,
        KvHeads = 2,
        DHead = 8,
        DMlp = 44,
        ContextLength = 40,
        Norm = NormKind.RmsNorm,
        NormEps = 1e-5f,
        Activation = MlpActivation.SwiGlu,
        RotaryDim = 8,
        RotaryStyle = RotaryStyle.RotateHalf,
        RopeTheta = 10000,
        AttentionScale = 1f / MathF.Sqrt(8),
        AttentionWindow = new int[layers],
        TiedEmbeddings = false,
    };

    /// <summary>Qwen3's shape: per-head QK-norm, and a head size (12) that is not d_model / heads (8).</summary>
    public static ModelConfig Qwen3Like(int layers = 2) => LlamaLike(layers) with
    {
        Architecture = "qwen3",
        DHead = 12,
        RotaryDim = 12,
        AttentionScale = 1f / MathF.Sqrt(12),
        QkNorm = QkNormKind.PerHead,
        TiedEmbeddings = true,
    };

    /// <summary>OLMo-2's shape: norms after each sublayer (none before) and QK-norm over the whole projection.</summary>
    public static ModelConfig Olmo2Like(int layers = 2) => LlamaLike(layers) with
    {
        Architecture = "olmo2",
        QkNorm = QkNormKind.Whole,
        PreNorm = false,
        PostNorm = true,
    };

    /// <summary>
    /// Index 4 is Qwen3, 5 OLMo-2, 6 Phi-3, 7 Gemma 2, 8 Gemma 3. The per-analysis tests run over every entry
    /// (AnalysisModels adds a pre+post-norm model): post-norm models decompose through FrozenPostNorm instead of being
    /// refused.
    /// </summary>
    public static ModelConfig[] All => [Gpt2Like(), NeoXLike(), LlamaLike(), LlamaLike() with { RotaryStyle = RotaryStyle.Interleaved, AttentionWindow = [0, 3] }, Qwen3Like(), Olmo2Like(), Phi3Like(), Gemma2Like(), Gemma3Like()];

    /// <summary>
    /// Gemma 2's shape: GeGLU, pre- and post-norms, √d_model embedding multiplier, a sliding first layer (window 3,
    /// shorter than the tests' sequences) and a global second, attention scale 1/√10 with head size 12 (≠ 32 / 4), and
    /// soft caps small enough to bite on these random weights (attention 1.5, logits 3).
    /// </summary>
    public static ModelConfig Gemma2Like(int layers = 2) => LlamaLike(layers) with
    {
        Architecture = "gemma2",
        DHead = 12,
        RotaryDim = 12,
        Activation = MlpActivation.GeGluTanh,
        PostNorm = true,
        AttentionScale = 1f / MathF.Sqrt(10),
        AttentionWindow = [.. Enumerable.Range(0, layers).Select(l => l % 2 == 0 ? 3 : 0)],
        AttentionSoftCap = 1.5f,
        FinalLogitSoftCap = 3f,
        EmbeddingMultiplier = MathF.Sqrt(32),
        TiedEmbeddings = true,
    };

    /// <summary>
    /// Gemma 3's shape: Gemma 2 without soft caps, with per-head QK-norm and rotary per layer type: the sliding first
    /// layer rotates with base 10000, the global second with base 10⁶ and linear scaling by 8.
    /// </summary>
    public static ModelConfig Gemma3Like(int layers = 2) => Gemma2Like(layers) with
    {
        Architecture = "gemma3_text",
        QkNorm = QkNormKind.PerHead,
        AttentionScale = 1f / MathF.Sqrt(14),
        AttentionSoftCap = null,
        FinalLogitSoftCap = null,
        RopeTheta = 1e6,
        RopeLinearFactor = 8,
        LocalRopeTheta = 10000,
    };

    /// <summary>
    /// Phi-3 shaped: partial rotary (6 of 8 dims) with LongRoPE whose original length 4 is below the tests' sequences
    /// (5 tokens and more), so the long factors and the attention factor are in play. Every pass stays on the long
    /// side: a batch with passes on both sides of the original length differs from its parts run alone by design
    /// (Hugging Face picks the factors per pass; LongRopeTests checks that switch).
    /// </summary>
    public static ModelConfig Phi3Like(int layers = 2) => LlamaLike(layers) with
    {
        Architecture = "phi3",
        RotaryDim = 6,
        LongRope = new LongRopeScaling([1.1, 1.4, 2.0], [2.5, 6.0, 17.0], 4, 1.2),
    };

    public static Transformer Create(ModelConfig config, ulong seed = 7, float std = 0.3f) =>
        new(config, RandomWeights.Create(config, seed, std, perturbNorms: true), $"tiny-{config.Architecture}");

    public static int[] Tokens(ModelConfig config, int count, ulong seed)
    {
        var rng = new HeadMiner.Tensors.SeededRandom(seed);
        return Enumerable.Range(0, count).Select(_ => rng.NextInt(config.VocabSize)).ToArray();
    }
}
