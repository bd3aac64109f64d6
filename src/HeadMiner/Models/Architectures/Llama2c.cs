using HeadMiner.Models.Formats;
using HeadMiner.Tensors.Kernels;
using static HeadMiner.Models.Architectures.LayoutViews;

namespace HeadMiner.Models.Architectures;

/// <summary>
/// llama2.c checkpoints (Karpathy's run.c format): Llama with RMSNorm (eps 1e-5), SwiGLU (w1 = gate, w3 = up,
/// w2 = down), rotary with θ = 10000 on interleaved pairs (2i, 2i+1) — the original Meta layout, not the permuted
/// rotate-half layout of Hugging Face checkpoints — and a classifier tied to the embedding unless stored separately.
/// </summary>
public static class Llama2c
{
    public static Transformer Load(string path)
    {
        var checkpoint = Llama2cCheckpoint.Open(path);
        try
        {
            var h = checkpoint.Config;
            int dh = h.Dim / h.Heads;
            var config = new ModelConfig
            {
                Architecture = "llama2c",
                VocabSize = h.VocabSize,
                DModel = h.Dim,
                Layers = h.Layers,
                Heads = h.Heads,
                KvHeads = h.KvHeads,
                DHead = dh,
                DMlp = h.HiddenDim,
                ContextLength = h.SeqLen,
                Norm = NormKind.RmsNorm,
                NormEps = 1e-5f,
                Activation = MlpActivation.SwiGlu,
                RotaryDim = dh,
                RotaryStyle = RotaryStyle.Interleaved,
                RopeTheta = 10000,
                AttentionScale = 1f / MathF.Sqrt(dh),
                AttentionWindow = new int[h.Layers],
                TiedEmbeddings = h.SharedClassifier,
                BosTokenId = 1,
                EosTokenId = 2,
            };
            var blocks = new LayerWeights[h.Layers];
            for (int l = 0; l < h.Layers; l++)
            {
                blocks[l] = new LayerWeights(l, path)
                {
                    Ln1Weight = checkpoint.RmsAtt(l),
                    Ln2Weight = checkpoint.RmsFfn(l),
                    W_Q = HeadsFromOutIn(checkpoint.Wq(l), 0, h.Heads, dh),
                    W_K = HeadsFromOutIn(checkpoint.Wk(l), 0, h.KvHeads, dh),
                    W_V = HeadsFromOutIn(checkpoint.Wv(l), 0, h.KvHeads, dh),
                    W_O = OutputFromOutIn(checkpoint.Wo(l), h.Heads, dh),
                    W_gate = InOutFromOutIn(checkpoint.W1(l)),
                    W_in = InOutFromOutIn(checkpoint.W3(l)),
                    W_out = InOutFromOutIn(checkpoint.W2(l)),
                };
            }
            var weights = new TransformerWeights(path, blocks)
            {
                W_E = checkpoint.TokenEmbedding,
                W_U = checkpoint.Classifier.Transpose(0, 1),
                LnFinalWeight = checkpoint.RmsFinal,
            };
            return new Transformer(config, weights, path, checkpoint);
        }
        catch
        {
            checkpoint.Dispose();
            throw;
        }
    }
}
