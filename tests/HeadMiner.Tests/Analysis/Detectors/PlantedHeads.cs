using HeadMiner.Models;
using HeadMiner.Tensors;

namespace HeadMiner.Tests.Analysis.Detectors;

/// <summary>
/// A two-layer attention model whose weights are set by hand so that each head has one known job. The residual
/// stream is split into one-hot subspaces: token identity (dims 0..V−1), absolute position (V..V+P−1), "previous
/// token" (written by the previous-token head), and a few junk dims the sink head writes into. RMSNorm (weight 1)
/// scales every row alike (every row of a layer has the same norm), and query/key entries of 1 give score gaps of ~25–35, so the planted patterns are
/// practically hard. MLPs are zero.
/// Layer 0: H0 duplicate token, H1 previous token (writes the token into the previous-token subspace), H2 BOS sink.
/// Layer 1: H0 local window over offsets 0..2 (positional), H1 induction (keys read the previous-token subspace,
/// K-composing with L0H1; OV copies the token), H2 uniform attention with a negative-copying OV (−identity).
/// </summary>
internal static class PlantedHeads
{
    public const int Vocab = 19, Context = 29, Junk = 6;
    public const int Tok = 0, Pos = Vocab, Prev = Vocab + Context, JunkStart = Prev + Vocab, DModel = JunkStart + Junk;
    public const int DHead = Vocab + Context;
    public const int Bos = 0;

    public static readonly (int Layer, int Head) Duplicate = (0, 0), Previous = (0, 1), Sink = (0, 2);
    public static readonly (int Layer, int Head) Positional = (1, 0), Induction = (1, 1), NegativeCopier = (1, 2);

    public static ModelConfig Config => new()
    {
        Architecture = "planted",
        VocabSize = Vocab,
        DModel = DModel,
        Layers = 2,
        Heads = 3,
        KvHeads = 3,
        DHead = DHead,
        DMlp = 5,
        ContextLength = Context,
        Norm = NormKind.RmsNorm,
        NormEps = 1e-6f,
        Activation = MlpActivation.GeluTanh,
        LearnedPositions = true,
        AttentionScale = 1f,
        AttentionWindow = new int[2],
        BosTokenId = Bos,
    };

    public static Transformer Create()
    {
        var c = Config;
        // Layer-0 rows hold two unit one-hots, so RMSNorm multiplies by 1/rms0; writes are scaled back to unit size.
        float rms0 = MathF.Sqrt(2f / DModel);
        var blocks = new LayerWeights[2];
        for (int l = 0; l < 2; l++)
            blocks[l] = new LayerWeights(l, "planted")
            {
                Ln1Weight = Tensor.Full(1f, DModel),
                Ln2Weight = Tensor.Full(1f, DModel),
                W_Q = Tensor.Zeros(3, DModel, DHead),
                W_K = Tensor.Zeros(3, DModel, DHead),
                W_V = Tensor.Zeros(3, DModel, DHead),
                W_O = Tensor.Zeros(3, DHead, DModel),
                W_in = Tensor.Zeros(DModel, c.DMlp),
                W_out = Tensor.Zeros(c.DMlp, DModel),
            };
        var b0 = blocks[0];
        var b1 = blocks[1];

        // L0H0 duplicate token: q = [tok_i ; −2·pos_i], k = [tok_j ; pos_j]: +1 on an equal token, −1 on itself.
        for (int t = 0; t < Vocab; t++) (b0.W_Q[0, Tok + t, t], b0.W_K[0, Tok + t, t]) = (1f, 1f);
        for (int p = 0; p < Context; p++) (b0.W_Q[0, Pos + p, Vocab + p], b0.W_K[0, Pos + p, Vocab + p]) = (-2f, 1f);
        // Its OV stays zero: a write that depends on whether a duplicate exists would change layer-1 row norms.

        // L0H1 previous token: q = pos_i, k = pos_(j+1): matches j = i − 1. OV: token → previous-token subspace.
        for (int p = 0; p < Context; p++) b0.W_Q[1, Pos + p, p] = 1f;
        for (int p = 0; p + 1 < Context; p++) b0.W_K[1, Pos + p, p + 1] = 1f;
        WriteTokenTo(b0, 1, t => Prev + t, rms0);

        // L0H2 BOS sink: every query has the same direction, only position 0's key matches it.
        for (int p = 0; p < Context; p++) b0.W_Q[2, Pos + p, 0] = 1f;
        b0.W_K[2, Pos + 0, 0] = 1f;
        WriteTokenTo(b0, 2, t => JunkStart + (t + 3) % Junk, 0.3f * rms0);

        // L1H0 local window: score 1 for keys at offsets 0, 1, 2 (q = pos_i, k column a = [0 ≤ a − j ≤ 2]); OV zero.
        for (int p = 0; p < Context; p++)
        {
            b1.W_Q[0, Pos + p, p] = 1f;
            for (int a = p; a < Math.Min(Context, p + 3); a++) b1.W_K[0, Pos + p, a] = 1f;
        }

        // L1H1 induction: q = tok_i, k = previous-token subspace at j (tok_(j−1)); OV copies the token.
        for (int t = 0; t < Vocab; t++) (b1.W_Q[1, Tok + t, t], b1.W_K[1, Prev + t, t]) = (1f, 1f);
        WriteTokenTo(b1, 1, t => Tok + t, 1f);

        // L1H2: no query/key weights (uniform attention); OV writes minus the token.
        WriteTokenTo(b1, 2, t => Tok + t, -1f);

        var we = Tensor.Zeros(Vocab, DModel);
        var wu = Tensor.Zeros(DModel, Vocab);
        var wpos = Tensor.Zeros(Context, DModel);
        for (int t = 0; t < Vocab; t++) (we[t, Tok + t], wu[Tok + t, t]) = (1f, 1f);
        for (int p = 0; p < Context; p++) wpos[p, Pos + p] = 1f;
        var weights = new TransformerWeights("planted", blocks)
        {
            W_E = we,
            W_U = wu,
            W_pos = wpos,
            LnFinalWeight = Tensor.Full(1f, DModel),
        };
        return new Transformer(c, weights, "planted");
    }

    /// <summary>OV of one head: value dim t holds the token, W_O sends it to <paramref name="target"/>(t) times <paramref name="scale"/>.</summary>
    private static void WriteTokenTo(LayerWeights b, int head, Func<int, int> target, float scale)
    {
        for (int t = 0; t < Vocab; t++)
        {
            b.W_V[head, Tok + t, t] = 1f;
            b.W_O[head, t, target(t)] = scale;
        }
    }
}
