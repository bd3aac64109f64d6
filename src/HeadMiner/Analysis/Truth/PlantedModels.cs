using HeadMiner.Models;
using HeadMiner.Tensors;
using HeadMiner.Tensors.Kernels;

namespace HeadMiner.Analysis.Truth;

/// <summary>
/// Builds models whose head roles are known by construction, among random distractor heads. Everything — sizes,
/// which types are planted, where — is drawn from the seed; equal (skeleton, seed) give equal weights and truth.
/// <para>
/// The residual stream is split into one-hot subspaces (<see cref="PlantedLayout"/>): token identity and a constant 1
/// (both from W_E), position (W_pos, GPT-2 only), "previous token" (written by the previous-token head), "output"
/// (written by the copying heads, the only subspace W_U reads) and junk (the sink head's writes). A planted head's
/// query/key weights read those subspaces with gains chosen so that every target key beats every other key by at
/// least <see cref="TargetGap"/> logits even for the smallest normalised rows a later layer can see (the norms scale
/// all one-hot entries alike), so the planted patterns are practically hard. GPT-2's LayerNorm mean subtraction is
/// cancelled by a "balance" dimension that is always 0 and whose Q/K/V weights make every column sum to zero.
/// </para>
/// <para>
/// Llama has no position subspace: positional heads are planted through the rotary frequencies
/// (<see cref="RotaryKernel"/>: constant query and key in the first <see cref="RotaryPairs"/> pairs; used in layer 0
/// only, where every row has the same norm, because the kernel's wide dynamic range needs exactly equal key norms),
/// and token matching uses the slowest pairs (one token per pair, real part only: the rotation over the whole
/// context keeps cos ≥ 0.98). Grouped k/v heads are shared: a planted head sets its group's W_K/W_V, its group mates
/// are distractors with tiny queries.
/// </para>
/// Distractors: W_Q/W_K ~ N(0, σ²), σ drawn in [0.02, 0.1] per head (random, mostly diffuse attention), W_V/W_O ~
/// N(0, 0.02²); planted heads carry N(0, 0.01²) noise on every weight; MLPs are N(0, 0.02²) noise.
/// </summary>
public static class PlantedModels
{
    /// <summary>Logits by which a planted target key beats every other key.</summary>
    public const float TargetGap = 20f;

    /// <summary>Rotary pairs (fastest first) that carry positional kernels in the Llama skeleton.</summary>
    public const int RotaryPairs = 12;

    public const double RopeTheta = 500000;
    public const int Bos = 0;

    /// <summary>
    /// The configuration every planted model shares: a GPT-2 skeleton (LayerNorm, GELU, learned positions) or a Llama
    /// one (RMSNorm, SwiGLU, rotary over whole heads, grouped k/v heads) of the given sizes.
    /// </summary>
    internal static ModelConfig SkeletonConfig(bool llama, int vocab, int d, int layers, int heads, int kvHeads, int dHead, int context) =>
        new()
        {
            Architecture = llama ? "llama" : "gpt2",
            VocabSize = vocab,
            DModel = d,
            Layers = layers,
            Heads = heads,
            KvHeads = kvHeads,
            DHead = dHead,
            DMlp = llama ? 3 * d : 4 * d,
            ContextLength = context,
            Norm = llama ? NormKind.RmsNorm : NormKind.LayerNorm,
            NormEps = 1e-5f,
            Activation = llama ? MlpActivation.SwiGlu : MlpActivation.GeluTanh,
            LearnedPositions = !llama,
            RotaryDim = llama ? dHead : 0,
            RotaryStyle = RotaryStyle.RotateHalf,
            RopeTheta = RopeTheta,
            AttentionScale = 1f / MathF.Sqrt(dHead),
            AttentionWindow = new int[layers],
            BosTokenId = Bos,
        };

    private const float PlantedNoise = 0.01f, WriteNoise = 0.02f, GroupMateQuery = 0.02f;

    public static PlantedModel Create(PlantedSkeleton skeleton, ulong seed)
    {
        var rng = new SeededRandom(seed * 0x9E3779B97F4A7C15UL + (ulong)skeleton * 7919UL + 17UL);
        bool llama = skeleton == PlantedSkeleton.Llama;
        int vocab = rng.NextInt(16, 23);
        int segment = rng.NextInt(8, 13);
        int context = 2 * segment + 1;
        int layers = rng.NextInt(2, 5);
        int kvHeads = llama ? rng.NextInt(3, 5) : rng.NextInt(4, 7);
        int group = llama ? rng.NextInt(2, 4) : 1;
        int heads = kvHeads * group;
        var L = new PlantedLayout(vocab, llama ? 0 : context, rng.NextInt(0, 6), balance: !llama);
        int dHead = llama ? 2 * (RotaryPairs + vocab) : vocab + context + rng.NextInt(0, 4);
        int d = L.DModel;

        var config = SkeletonConfig(llama, vocab, d, layers, heads, kvHeads, dHead, context);

        var plan = Plan(rng, llama, layers, kvHeads, group);

        // Per query head / kv head noise level: planted heads (and their kv groups) carry small noise, distractors more.
        var queryNoise = new float[layers, heads];
        var kvNoise = new float[layers, kvHeads];
        for (int l = 0; l < layers; l++)
        {
            for (int g = 0; g < kvHeads; g++)
            {
                bool plantedGroup = plan.Any(p => p.Layer == l && p.Head / group == g);
                kvNoise[l, g] = plantedGroup ? PlantedNoise : 0.02f + 0.08f * (float)rng.NextDouble();
                for (int m = 0; m < group; m++)
                {
                    int h = g * group + m;
                    queryNoise[l, h] = plan.Any(p => p.Layer == l && p.Head == h) ? PlantedNoise
                        : plantedGroup ? GroupMateQuery : 0.02f + 0.08f * (float)rng.NextDouble();
                }
            }
        }

        var blocks = new LayerWeights[layers];
        for (int l = 0; l < layers; l++)
        {
            var b = BlankLayer(config, l, "planted", rng, WriteNoise);
            for (int h = 0; h < heads; h++)
            {
                Fill(rng, b.W_Q, h, queryNoise[l, h]);
                Fill(rng, b.W_O, h, queryNoise[l, h] == PlantedNoise ? PlantedNoise : WriteNoise);
            }
            for (int g = 0; g < kvHeads; g++)
            {
                Fill(rng, b.W_K, g, kvNoise[l, g]);
                Fill(rng, b.W_V, g, kvNoise[l, g] == PlantedNoise ? PlantedNoise : WriteNoise);
            }
            blocks[l] = b;
        }

        var plant = new Planter(config, L, llama);
        var truth = new List<PlantedHead>();
        foreach (var p in plan)
        {
            plant.Plant(blocks[p.Layer], p.Layer, p.Head, p.Head / group, p.Type);
            truth.Add(p);
            if (p.Type == PlantedTypes.Induction) truth.Add(p with { Type = PlantedTypes.Copy });
        }

        var weights = Weights("planted", blocks, llama, vocab, d, context, L.Tok, L.Const, L.Out, L.Pos, L.Balance);
        var model = new Transformer(config, weights, $"planted {skeleton} seed {seed}");
        return new PlantedModel(model, [.. truth.OrderBy(t => t.Layer).ThenBy(t => t.Head).ThenBy(t => t.Type, StringComparer.Ordinal)], skeleton, seed);
    }

    /// <summary>Which types go where: each type with probability 0.85, one planted head per kv group at most.</summary>
    private static List<PlantedHead> Plan(SeededRandom rng, bool llama, int layers, int kvHeads, int group)
    {
        var free = new HashSet<(int Layer, int Group)>();
        for (int l = 0; l < layers; l++)
            for (int g = 0; g < kvHeads; g++) free.Add((l, g));
        var plan = new List<PlantedHead>();
        bool Place(string type, int minLayer, int maxLayer)
        {
            var options = free.Where(s => s.Layer >= minLayer && s.Layer <= maxLayer).OrderBy(s => s).ToList();
            if (options.Count == 0) return false;
            var slot = options[rng.NextInt(options.Count)];
            free.Remove(slot);
            plan.Add(new PlantedHead(slot.Layer, slot.Group * group + rng.NextInt(group), type));
            return true;
        }
        bool Draw() => rng.NextDouble() < 0.85;

        // Rotary positional kernels (Llama) live in layer 0; GPT-2's previous-token head leaves a later layer for induction.
        int prevMax = llama ? 0 : layers - 2;
        if (Draw() && Place(PlantedTypes.PreviousToken, 0, prevMax) && Draw())
        {
            int prevLayer = plan[^1].Layer;
            Place(PlantedTypes.Induction, prevLayer + 1, layers - 1);
        }
        if (Draw()) Place(PlantedTypes.DuplicateToken, 0, llama ? 0 : layers - 1);
        if (!llama && Draw()) Place(PlantedTypes.Positional, 0, layers - 1);
        foreach (var type in new[] { PlantedTypes.AttentionSink, PlantedTypes.Copy, PlantedTypes.CopySuppression })
        {
            if (Draw()) Place(type, 0, layers - 1);
        }
        return plan;
    }

    /// <summary>
    /// A planted model's layer before its heads are set: unit norms, zero attention weights (each builder fills or
    /// plants every head), zero biases on a GPT-2 skeleton (none on Llama), and an MLP of small noise. The noise is
    /// drawn in one fixed order (W_in, W_gate, W_out), so a seed gives the same model whichever builder calls this.
    /// </summary>
    internal static LayerWeights BlankLayer(ModelConfig config, int layer, string source, SeededRandom rng, float mlpNoise)
    {
        bool llama = config.Norm == NormKind.RmsNorm;
        int d = config.DModel, heads = config.Heads, kvHeads = config.KvHeads, dHead = config.DHead, mlp = config.DMlp;
        return new LayerWeights(layer, source)
        {
            Ln1Weight = Tensor.Full(1f, d),
            Ln1Bias = llama ? null : Tensor.Zeros(d),
            Ln2Weight = Tensor.Full(1f, d),
            Ln2Bias = llama ? null : Tensor.Zeros(d),
            W_Q = Tensor.Zeros(heads, d, dHead),
            W_K = Tensor.Zeros(kvHeads, d, dHead),
            W_V = Tensor.Zeros(kvHeads, d, dHead),
            W_O = Tensor.Zeros(heads, dHead, d),
            b_Q = llama ? null : Tensor.Zeros(heads, dHead),
            b_K = llama ? null : Tensor.Zeros(kvHeads, dHead),
            b_V = llama ? null : Tensor.Zeros(kvHeads, dHead),
            b_O = llama ? null : Tensor.Zeros(d),
            W_in = Noise(rng, mlpNoise, d, mlp),
            W_gate = llama ? Noise(rng, mlpNoise, d, mlp) : null,
            W_out = Noise(rng, mlpNoise, mlp, d),
            b_in = llama ? null : Tensor.Zeros(mlp),
            b_out = llama ? null : Tensor.Zeros(d),
        };
    }

    internal static Tensor Noise(SeededRandom rng, float std, params int[] shape)
    {
        var t = Tensor.Zeros(shape);
        rng.FillNormal(t.Span, std);
        return t;
    }

    internal static void Fill(SeededRandom rng, Tensor t, int head, float std)
    {
        int n = t.Dim(1) * t.Dim(2);
        rng.FillNormal(t.Span.Slice(head * n, n), std);
    }

    /// <summary>
    /// The weights every planted model shares around its blocks: one-hot token embeddings (its own dimension plus the
    /// constant one), an unembedding that reads the output block, one-hot positions and balanced blocks for GPT-2
    /// skeletons (<see cref="Balance"/>), and a final norm of ones.
    /// </summary>
    internal static TransformerWeights Weights(string source, LayerWeights[] blocks, bool llama, int vocab, int d, int context,
        int token, int constant, int output, int position, int balance)
    {
        var we = Tensor.Zeros(vocab, d);
        var wu = Tensor.Zeros(d, vocab);
        for (int t = 0; t < vocab; t++)
        {
            we[t, token + t] = 1f;
            we[t, constant] = 1f;
            wu[output + t, t] = 1f;
        }
        Tensor? wpos = null;
        if (!llama)
        {
            wpos = Tensor.Zeros(context, d);
            for (int p = 0; p < context; p++) wpos[p, position + p] = 1f;
            foreach (var b in blocks) Balance(b, balance);
        }
        return new TransformerWeights(source, blocks)
        {
            W_E = we,
            W_U = wu,
            W_pos = wpos,
            LnFinalWeight = Tensor.Full(1f, d),
            LnFinalBias = llama ? null : Tensor.Zeros(d),
        };
    }

    /// <summary>GPT-2: every Q/K/V column sums to zero (the balance row takes the rest) and nothing writes the balance dim.</summary>
    internal static void Balance(LayerWeights b, int balance)
    {
        foreach (var w in new[] { b.W_Q, b.W_K, b.W_V })
        {
            int heads = w.Dim(0), d = w.Dim(1), dh = w.Dim(2);
            var s = w.Span;
            for (int h = 0; h < heads; h++)
            {
                for (int c = 0; c < dh; c++)
                {
                    double sum = 0;
                    for (int r = 0; r < d; r++) if (r != balance) sum += s[(h * d + r) * dh + c];
                    s[(h * d + balance) * dh + c] = (float)-sum;
                }
            }
        }
        var o = b.W_O;
        for (int h = 0; h < o.Dim(0); h++)
            for (int c = 0; c < o.Dim(1); c++) o[h, c, balance] = 0f;
        for (int r = 0; r < b.W_out.Dim(0); r++) b.W_out[r, balance] = 0f;
    }
}
