namespace HeadMiner.Analysis.Truth;

/// <summary>The architecture a planted model is built on; both run through the ordinary <see cref="Models.Transformer"/>.</summary>
public enum PlantedSkeleton
{
    /// <summary>GPT-2: LayerNorm, learned absolute positions, GELU MLP, biases, one k/v head per query head.</summary>
    Gpt2,

    /// <summary>Llama: RMSNorm, rotary positions (rotate-half, θ = 500000 as Llama 3), SwiGLU MLP, no biases, grouped k/v heads.</summary>
    Llama,
}
