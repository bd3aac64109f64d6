using HeadMiner.Tensors;

namespace HeadMiner.Models;

/// <summary>
/// Seeded random weights in the canonical layout for any <see cref="ModelConfig"/> (benchmarks, tests, training
/// initialisation). Matrices ~ N(0, std²) with GPT-2's 0.02 by default; norms start at weight 1 / bias 0 unless
/// <c>perturbNorms</c> (tests want non-trivial norms so that folding them is actually exercised).
/// </summary>
public static class RandomWeights
{
    public static TransformerWeights Create(ModelConfig c, ulong seed, float std = 0.02f, bool perturbNorms = false, bool biases = true)
    {
        var rng = new SeededRandom(seed);
        Tensor Normal(params int[] shape)
        {
            var t = Tensor.Zeros(shape);
            rng.FillNormal(t.Span, std);
            return t;
        }
        Tensor NormWeight(int n)
        {
            var t = Tensor.Full(1f, n);
            if (perturbNorms) for (int i = 0; i < n; i++) t.Span[i] += (float)(0.2 * rng.NextNormal());
            return t;
        }
        Tensor? NormBias(int n) => c.Norm == NormKind.RmsNorm ? null : perturbNorms ? Normal(n) : Tensor.Zeros(n);
        Tensor? Bias(params int[] shape) => biases ? Normal(shape) : null;

        int d = c.DModel, h = c.Heads, kv = c.KvHeads, dh = c.DHead, m = c.DMlp;
        var blocks = new LayerWeights[c.Layers];
        for (int l = 0; l < c.Layers; l++)
        {
            blocks[l] = new LayerWeights(l, "random")
            {
                Ln1Weight = c.PreNorm ? NormWeight(d) : null,
                Ln1Bias = c.PreNorm ? NormBias(d) : null,
                Ln2Weight = c.PreNorm ? NormWeight(d) : null,
                Ln2Bias = c.PreNorm ? NormBias(d) : null,
                Ln1PostWeight = c.PostNorm ? NormWeight(d) : null,
                Ln2PostWeight = c.PostNorm ? NormWeight(d) : null,
                W_Q = Normal(h, d, dh),
                W_K = Normal(kv, d, dh),
                W_V = Normal(kv, d, dh),
                W_O = Normal(h, dh, d),
                b_Q = Bias(h, dh),
                b_K = Bias(kv, dh),
                b_V = Bias(kv, dh),
                b_O = Bias(d),
                QNormWeight = c.QkNorm == QkNormKind.None ? null : NormWeight(c.QkNorm == QkNormKind.PerHead ? dh : h * dh),
                KNormWeight = c.QkNorm == QkNormKind.None ? null : NormWeight(c.QkNorm == QkNormKind.PerHead ? dh : kv * dh),
                W_in = Normal(d, m),
                W_gate = c.GatedMlp ? Normal(d, m) : null,
                W_out = Normal(m, d),
                b_in = Bias(m),
                b_out = Bias(d),
            };
        }
        var we = Normal(c.VocabSize, d);
        return new TransformerWeights("random", blocks)
        {
            W_E = we,
            W_pos = c.LearnedPositions ? Normal(c.ContextLength, d) : null,
            LnFinalWeight = NormWeight(d),
            LnFinalBias = NormBias(d),
            W_U = c.TiedEmbeddings ? we.Transpose(0, 1) : Normal(d, c.VocabSize),
        };
    }

    /// <summary>The GPT-2 small shape (124M parameters), for benchmarks.</summary>
    public static ModelConfig Gpt2SmallConfig() => new()
    {
        Architecture = "gpt2",
        VocabSize = 50257,
        DModel = 768,
        Layers = 12,
        Heads = 12,
        KvHeads = 12,
        DHead = 64,
        DMlp = 3072,
        ContextLength = 1024,
        Norm = NormKind.LayerNorm,
        NormEps = 1e-5f,
        Activation = MlpActivation.GeluTanh,
        LearnedPositions = true,
        AttentionScale = 0.125f,
        AttentionWindow = new int[12],
        TiedEmbeddings = true,
        BosTokenId = 50256,
        EosTokenId = 50256,
    };
}
