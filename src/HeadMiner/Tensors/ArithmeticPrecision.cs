namespace HeadMiner.Tensors;

/// <summary>
/// The arithmetic a model's weight products (Q/K/V/O projections, MLP, unembedding) run in. Everything else (norms,
/// attention scores and softmax, residual adds, activations) is float32 in both.
/// </summary>
public enum ArithmeticPrecision
{
    /// <summary>Float32 products (16-bit weights widened exactly): the default, and the reference.</summary>
    Fp32,

    /// <summary>
    /// BF16 products: activations and weights rounded to bfloat16 (weights stored in BF16 are used as they are),
    /// products exact, sums in float32 (VDPBF16PS where the CPU has AVX512_BF16, else the same rounding emulated).
    /// </summary>
    Bf16,
}
