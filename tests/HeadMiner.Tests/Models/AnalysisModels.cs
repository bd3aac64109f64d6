using HeadMiner.Models;

namespace HeadMiner.Tests.Models;

/// <summary>
/// The configurations the per-analysis tests run over: every <see cref="TinyModels.All"/> entry (so a family added
/// there is covered without touching the tests) plus a pre+post-norm ("sandwich", Gemma 2/3-like) model built here.
/// </summary>
internal static class AnalysisModels
{
    /// <summary>Norms before and after each sublayer (Gemma 2/3's block) on the Llama-like shape: GQA, SwiGLU, rotary, biases.</summary>
    public static ModelConfig Sandwich(int layers = 2) => TinyModels.LlamaLike(layers) with { Architecture = "sandwich", PreNorm = true, PostNorm = true };

    public static ModelConfig[] All => [.. TinyModels.All, Sandwich()];

    /// <summary>Indices into <see cref="All"/> for xUnit theories.</summary>
    public static TheoryData<int> Indices
    {
        get
        {
            var data = new TheoryData<int>();
            for (int i = 0; i < All.Length; i++) data.Add(i);
            return data;
        }
    }

    /// <summary>Indices of the models with post-sublayer norms (OLMo-2-shaped and the sandwich).</summary>
    public static TheoryData<int> PostNormIndices
    {
        get
        {
            var data = new TheoryData<int>();
            for (int i = 0; i < All.Length; i++)
                if (All[i].PostNorm) data.Add(i);
            return data;
        }
    }
}
