using HeadMiner.Tensors.Kernels;

namespace HeadMiner.Models;

public enum NormKind { LayerNorm, RmsNorm }

public enum MlpActivation
{
    /// <summary>GELU, tanh approximation (GPT-2 "gelu_new", GPT-Neo).</summary>
    GeluTanh,

    /// <summary>GELU with erf (Pythia / GPT-NeoX "gelu").</summary>
    GeluErf,

    /// <summary>Gated SiLU: W_out · (silu(W_gate x) ⊙ W_in x) (Llama, Mistral, Qwen2, Phi-3, llama2.c).</summary>
    SwiGlu,

    /// <summary>Gated GELU, tanh approximation: W_out · (gelu_tanh(W_gate x) ⊙ W_in x) (Gemma 1/2/3, "gelu_pytorch_tanh").</summary>
    GeGluTanh,
}

/// <summary>Where a model normalises its queries and keys after projecting them (and before rotary), if at all.</summary>
public enum QkNormKind
{
    None,

    /// <summary>One RMSNorm of size d_head applied to every head on its own (Qwen3); weight [d_head].</summary>
    PerHead,

    /// <summary>One RMSNorm over the whole projection, all heads together (OLMo-2); weight [heads·d_head], [kv_heads·d_head].</summary>
    Whole,
}

/// <summary>Llama-3 style frequency-dependent rotary scaling (rope_scaling.rope_type = "llama3").</summary>
public sealed record RopeScaling(double Factor, double LowFreqFactor, double HighFreqFactor, int OriginalMaxPositions);

/// <summary>
/// Everything the shared transformer block needs to know about an architecture, in one place and in one vocabulary
/// (TransformerLens's names where it has them). Architecture files translate their config.json into this.
/// </summary>
public sealed record ModelConfig
{
    /// <summary>The architecture's registered name (config.json model_type, or "llama2c").</summary>
    public required string Architecture { get; init; }
    public required int VocabSize { get; init; }
    public required int DModel { get; init; }
    public required int Layers { get; init; }
    public required int Heads { get; init; }

    /// <summary>Key/value heads (grouped-query attention when fewer than <see cref="Heads"/>).</summary>
    public required int KvHeads { get; init; }
    public required int DHead { get; init; }
    public required int DMlp { get; init; }

    /// <summary>Longest context the model supports (n_ctx / max_position_embeddings).</summary>
    public required int ContextLength { get; init; }

    public required NormKind Norm { get; init; }
    public required float NormEps { get; init; }
    public required MlpActivation Activation { get; init; }

    /// <summary>Attention and MLP both read the block input (GPT-NeoX/Pythia, GPT-J) instead of running in sequence.</summary>
    public bool ParallelAttnMlp { get; init; }

    /// <summary>RMSNorm of q and k after the projection, before rotary (Qwen3, OLMo-2); its eps is <see cref="NormEps"/>.</summary>
    public QkNormKind QkNorm { get; init; }

    /// <summary>
    /// Norms before each sublayer (ln1, ln2): every family but OLMo-2, whose attention and MLP read the residual
    /// stream itself. Gemma 2/3 have both these and <see cref="PostNorm"/>.
    /// </summary>
    public bool PreNorm { get; init; } = true;

    /// <summary>
    /// Norms after each sublayer (OLMo-2, Gemma 2/3): each sublayer's output is RMS-normalised (ln1_post, ln2_post)
    /// before it is added: x += ln1_post(attn(ln1(x))), with ln1 the identity when there is no <see cref="PreNorm"/>.
    /// </summary>
    public bool PostNorm { get; init; }

    /// <summary>Learned absolute positions (W_pos) — GPT-2, GPT-Neo.</summary>
    public bool LearnedPositions { get; init; }

    /// <summary>Rotary dimensions per head (0 = no rotary). Less than <see cref="DHead"/> for partial rotary (Pythia).</summary>
    public int RotaryDim { get; init; }
    public RotaryStyle RotaryStyle { get; init; } = RotaryStyle.RotateHalf;
    public double RopeTheta { get; init; } = 10000;
    public RopeScaling? RopeScaling { get; init; }

    /// <summary>
    /// Linear rotary scaling (rope_scaling type "linear"): every inverse frequency divided by this factor, i.e.
    /// positions compressed by it (Gemma 3's global layers). 1 = none.
    /// </summary>
    public double RopeLinearFactor { get; init; } = 1;

    /// <summary>
    /// When set, sliding-window layers (<see cref="AttentionWindow"/> &gt; 0) rotate with this base and no scaling,
    /// while global layers keep <see cref="RopeTheta"/> with its scaling (Gemma 3's rope_local_base_freq). The
    /// forward pass then holds one rotary table per distinct setting and picks it per layer.
    /// </summary>
    public double? LocalRopeTheta { get; init; }

    /// <summary>Whether layer <paramref name="layer"/> rotates with <see cref="LocalRopeTheta"/> rather than the global setting.</summary>
    public bool UsesLocalRope(int layer) => LocalRopeTheta is not null && AttentionWindow[layer] > 0;

    /// <summary>
    /// Multiplier of the token embedding, applied before hook_embed (Gemma: √d_model, which TransformerLens folds
    /// into its W_E, so hook_embed shows the scaled rows there too). 1 for every other family.
    /// </summary>
    public float EmbeddingMultiplier { get; init; } = 1;

    /// <summary>
    /// Attention-logit soft cap (Gemma 2): scores = cap·tanh(scores/cap) after the scaling and before the mask, so
    /// hook_attn_scores shows capped scores (as TransformerLens's attn_scores_soft_cap). Null = none.
    /// </summary>
    public float? AttentionSoftCap { get; init; }

    /// <summary>
    /// Final-logit soft cap (Gemma 2): logits = cap·tanh(logits/cap) after the unembedding. Not linear, so per-head
    /// direct logit attribution explains the logits before this cap. Null = none.
    /// </summary>
    public float? FinalLogitSoftCap { get; init; }

    /// <summary>Phi-3's LongRoPE per-frequency factors and attention factor (null for every other family).</summary>
    public LongRopeScaling? LongRope { get; init; }

    /// <summary>Multiplier of q·k (1/√d_head almost everywhere; 1 for GPT-Neo).</summary>
    public required float AttentionScale { get; init; }

    /// <summary>Per layer: sliding-window size (0 = global causal). GPT-Neo local layers, Mistral.</summary>
    public required int[] AttentionWindow { get; init; }

    /// <summary>Unembedding shares the token embedding's storage (W_U = W_Eᵀ).</summary>
    public bool TiedEmbeddings { get; init; }

    /// <summary>Token id that begins a sequence, when the model expects one.</summary>
    public int? BosTokenId { get; init; }
    public int? EosTokenId { get; init; }

    /// <summary>A gated MLP (W_gate and W_in, hook_pre_linear): SwiGLU or GeGLU.</summary>
    public bool GatedMlp => Activation is MlpActivation.SwiGlu or MlpActivation.GeGluTanh;

    /// <summary>Query heads that share each k/v head: query head h reads k/v head h / GroupSize.</summary>
    public int GroupSize => Heads / KvHeads;

    /// <summary>The k/v head that query head <paramref name="head"/> reads (grouped-query attention).</summary>
    public int KvHeadOf(int head) => head / GroupSize;

    // Sanity limits on what a config may declare: far above any released model, low enough that a lying config
    // fails here instead of allocating per-layer arrays or overflowing the int-indexed tensors.
    public const int MaxLayers = 4096;
    public const int MaxWidth = 1 << 16;
    public const int MaxHeads = 4096;
    public const int MaxMlp = 1 << 20;
    public const int MaxVocab = 1 << 24;
    public const int MaxContext = 1 << 24;

    /// <summary>
    /// The last line of defence after an architecture has parsed its config (which names config keys in its own
    /// errors): everything the shared forward pass relies on, so that no config reaches it that would index out of
    /// range or make NaN logits.
    /// </summary>
    public void Validate(string source)
    {
        void Check(bool ok, string what)
        {
            if (!ok) throw new HeadMinerException($"{source}: invalid {Architecture} config: {what}");
        }
        Check(VocabSize is > 0 and <= MaxVocab, $"vocab_size {VocabSize} must be in 1..{MaxVocab}");
        Check(DModel is > 0 and <= MaxWidth, $"hidden size {DModel} must be in 1..{MaxWidth}");
        Check(Layers is > 0 and <= MaxLayers, $"layer count {Layers} must be in 1..{MaxLayers}");
        Check(Heads is > 0 and <= MaxHeads && KvHeads is > 0 and <= MaxHeads, $"head counts {Heads}/{KvHeads} must be in 1..{MaxHeads}");
        Check(Heads % KvHeads == 0, $"{Heads} attention heads are not a multiple of {KvHeads} key/value heads");
        Check(DHead is > 0 and <= MaxWidth, $"head size {DHead} must be in 1..{MaxWidth}");
        Check(DMlp is > 0 and <= MaxMlp, $"MLP size {DMlp} must be in 1..{MaxMlp}");
        Check(ContextLength is > 0 and <= MaxContext, $"context length {ContextLength} must be in 1..{MaxContext}");
        Check(RotaryDim >= 0 && RotaryDim % 2 == 0 && RotaryDim <= DHead, $"rotary dimension {RotaryDim} must be even and ≤ head size {DHead}");
        Check(LearnedPositions || RotaryDim > 0, "model has neither learned nor rotary positions");
        Check(float.IsFinite(NormEps) && NormEps > 0, $"norm epsilon {NormEps} must be a positive finite number");
        Check(float.IsFinite(AttentionScale) && AttentionScale > 0, $"attention scale {AttentionScale} must be a positive finite number");
        Check(RotaryDim == 0 || (double.IsFinite(RopeTheta) && RopeTheta >= 1), $"rope theta {RopeTheta} must be a finite number ≥ 1");
        if (RopeScaling is { } s)
        {
            Check(double.IsFinite(s.Factor) && s.Factor > 0, $"rope scaling factor {s.Factor} must be a positive finite number");
            Check(double.IsFinite(s.LowFreqFactor) && s.LowFreqFactor > 0 && double.IsFinite(s.HighFreqFactor) && s.HighFreqFactor > s.LowFreqFactor,
                $"rope scaling low/high frequency factors {s.LowFreqFactor}/{s.HighFreqFactor} must be positive with high > low");
            Check(s.OriginalMaxPositions > 0, $"rope scaling original_max_position_embeddings {s.OriginalMaxPositions} must be positive");
        }
        if (LongRope is { } lr)
        {
            Check(RopeScaling is null, "Llama-3 rope scaling and LongRoPE cannot both apply");
            Check(lr.ShortFactors.Length == RotaryDim / 2 && lr.LongFactors.Length == RotaryDim / 2,
                $"LongRoPE needs {RotaryDim / 2} short and long factors (half the rotary dimensions), not {lr.ShortFactors.Length} and {lr.LongFactors.Length}");
            Check(lr.ShortFactors.Concat(lr.LongFactors).All(f => double.IsFinite(f) && f > 0), "LongRoPE factors must be positive finite numbers");
            Check(lr.OriginalMaxPositions > 0, $"LongRoPE original_max_position_embeddings {lr.OriginalMaxPositions} must be positive");
            Check(double.IsFinite(lr.AttentionFactor) && lr.AttentionFactor > 0, $"LongRoPE attention factor {lr.AttentionFactor} must be a positive finite number");
        }
        Check(!(PostNorm && ParallelAttnMlp), "post-sublayer norms with parallel attention and MLP are not supported");
        Check(double.IsFinite(RopeLinearFactor) && RopeLinearFactor > 0, $"linear rope scaling factor {RopeLinearFactor} must be a positive finite number");
        Check(LocalRopeTheta is null || (double.IsFinite(LocalRopeTheta.Value) && LocalRopeTheta >= 1), $"local rope theta {LocalRopeTheta} must be a finite number ≥ 1");
        Check(float.IsFinite(EmbeddingMultiplier) && EmbeddingMultiplier > 0, $"embedding multiplier {EmbeddingMultiplier} must be a positive finite number");
        Check(AttentionSoftCap is null || (float.IsFinite(AttentionSoftCap.Value) && AttentionSoftCap > 0), $"attention soft cap {AttentionSoftCap} must be a positive finite number");
        Check(FinalLogitSoftCap is null || (float.IsFinite(FinalLogitSoftCap.Value) && FinalLogitSoftCap > 0), $"final logit soft cap {FinalLogitSoftCap} must be a positive finite number");
        Check(AttentionWindow.Length == Layers, $"{AttentionWindow.Length} attention windows for {Layers} layers");
        Check(AttentionWindow.All(w => w >= 0), "attention windows must not be negative");
        Check(BosTokenId is null || (uint)BosTokenId < (uint)VocabSize, $"BOS token id {BosTokenId} is outside the vocabulary of {VocabSize}");
        Check(EosTokenId is null || (uint)EosTokenId < (uint)VocabSize, $"EOS token id {EosTokenId} is outside the vocabulary of {VocabSize}");
        // Sizes that would overflow our int-indexed tensors are rejected up front rather than failing mid-load.
        Check((long)VocabSize * DModel < int.MaxValue, $"embedding {VocabSize}×{DModel} exceeds 2^31 elements");
        Check((long)DModel * DMlp < int.MaxValue, $"MLP matrix {DModel}×{DMlp} exceeds 2^31 elements");
        Check((long)(Heads + 2 * KvHeads) * DHead * DModel < int.MaxValue, $"attention matrices of {Heads}+2×{KvHeads} heads × {DHead} × {DModel} exceed 2^31 elements");
        Check(!LearnedPositions || (long)ContextLength * DModel < int.MaxValue, $"position embedding {ContextLength}×{DModel} exceeds 2^31 elements");
    }
}
