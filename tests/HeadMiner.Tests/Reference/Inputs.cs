using HeadMiner.Tensors;

namespace HeadMiner.Tests.Reference;

/// <summary>Seeded test inputs: the same seed gives the same data on every machine.</summary>
public static class Inputs
{
    /// <summary>The awkward lengths kernels are tested at: 1, vector-width ±1, cache-ish sizes, GPT-2 widths and vocabulary.</summary>
    public static readonly int[] Sizes = [1, 7, 63, 65, 127, 768, 3072, 50257];

    public static float[] Normal(ulong seed, int count, float std = 1f) => Tensor.RandomNormal(seed, std, count).ToArray();

    public static float[] Uniform(ulong seed, int count, float low, float high) => Tensor.RandomUniform(seed, low, high, count).ToArray();

    /// <summary>count evenly spaced floats from low to high inclusive.</summary>
    public static float[] Sweep(float low, float high, int count)
    {
        var x = new float[count];
        for (int i = 0; i < count; i++) x[i] = (float)(low + (high - low) * i / (count - 1.0));
        return x;
    }
}
