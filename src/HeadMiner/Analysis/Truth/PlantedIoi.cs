using HeadMiner.Models;
using HeadMiner.Tensors;

namespace HeadMiner.Analysis.Truth;

/// <summary>
/// A planted IOI circuit (Wang et al. 2023) on the GPT-2 skeleton, with the word-level tokenizer of
/// <see cref="PlantedVocabulary.Ioi"/> so the ioi task set builds, among random distractor heads (noise as in
/// <see cref="PlantedModels"/>). Residual subspaces: token, constant, position (one-hot), "is a name" (from W_E),
/// duplicated-name flag, duplicated token, inhibited name, output (read by W_U), balance (LayerNorm, as in <see cref="PlantedModels"/>).
/// <list type="bullet">
/// <item>layer 0, duplicate-token head: attends to an earlier copy of its own token (not itself) and writes that
/// token into the duplicated-token subspace (at S2: the subject) and whether it is a name into a flag dim;</item>
/// <item>a middle layer, S-inhibition head: every query attends to the row whose duplicated token is a name (S2) and
/// moves it into the inhibited-name subspace;</item>
/// <item>last layer, three name movers: queries score +1 on name keys and −2 on the inhibited name, so END attends to
/// the indirect object, and OV copies the token (0.3, 0.24, 0.18 of a unit write); one negative name mover with the
/// same attention and OV −0.15 × identity. The clean IO − S logit difference is about 3–6 (GPT-2 small: 3.5).</item>
/// </list>
/// Sizes (layers 3–4, heads 5–6, context, d_head) and placement (heads, the S-inhibition layer) are drawn from the seed.
/// </summary>
public static class PlantedIoi
{
    /// <summary>Noise levels of <see cref="PlantedModels"/> are for d_model ≈ 80; this wider model scales them by √(80/d).</summary>
    private const float ReferenceWidth = 80f;
    // Output sizes of the three name movers and the negative one: the clean IO − S logit difference comes out at
    // about 3–6, as GPT-2 small's on IOI (3.5), so the detectors' absolute thresholds (0.1 logit) mean what they mean there.
    private static readonly float[] MoverScales = [0.3f, 0.24f, 0.18f];
    private const float NegativeScale = -0.15f;

    public static PlantedModel Create(ulong seed)
    {
        var vocabulary = PlantedVocabulary.Ioi;
        var rng = new SeededRandom(seed * 0xD1B54A32D192ED03UL + 101UL);
        int V = vocabulary.Size;
        int segment = rng.NextInt(12, 17), context = 2 * segment + 1;
        int layers = rng.NextInt(3, 5), heads = rng.NextInt(5, 7);
        int dHead = V + context + rng.NextInt(0, 4);
        int tok = 0, cnst = V, pos = V + 1, isName = pos + context, dupFlag = isName + 1, dup = dupFlag + 1, inhib = dup + V, outS = inhib + V, balance = outS + V;
        int d = balance + 1;
        float f = MathF.Sqrt(ReferenceWidth / d);
        float PlantedNoise = 0.01f * f, WriteNoise = 0.02f * f;
        var config = new ModelConfig
        {
            Architecture = "gpt2",
            VocabSize = V,
            DModel = d,
            Layers = layers,
            Heads = heads,
            KvHeads = heads,
            DHead = dHead,
            DMlp = 2 * d,
            ContextLength = context,
            Norm = NormKind.LayerNorm,
            NormEps = 1e-5f,
            Activation = MlpActivation.GeluTanh,
            LearnedPositions = true,
            AttentionScale = 1f / MathF.Sqrt(dHead),
            AttentionWindow = new int[layers],
            BosTokenId = 0,
        };

        // Placement.
        int dupHead = rng.NextInt(heads);
        int inhibLayer = rng.NextInt(1, layers - 1), inhibHead = rng.NextInt(heads);
        var last = TakeDistinct(rng, heads, 4);
        var truth = new List<PlantedHead>
        {
            new(0, dupHead, PlantedTypes.DuplicateToken),
            new(inhibLayer, inhibHead, PlantedTypes.SInhibition),
            new(layers - 1, last[3], PlantedTypes.NegativeNameMover),
            new(layers - 1, last[3], PlantedTypes.CopySuppression),
        };
        for (int i = 0; i < 3; i++)
        {
            truth.Add(new PlantedHead(layers - 1, last[i], PlantedTypes.NameMover));
            truth.Add(new PlantedHead(layers - 1, last[i], PlantedTypes.Copy));
        }
        bool IsPlanted(int l, int h) => truth.Any(t => t.Layer == l && t.Head == h);

        // Norms: at most 3 + 1 unit entries in layer 0 (token, constant, position, name), 3 more later (duplicated,
        // inhibited, output); gains use the fullest row, writes the typical one.
        double NormSquared(int k) => 1 / (k / (double)d - (k / (double)d) * (k / (double)d));
        float gain = (float)(PlantedModels.TargetGap / (config.AttentionScale * NormSquared(7)));
        float Nominal(int layer) => (float)Math.Sqrt(NormSquared(layer == 0 ? 3 : 5));

        var blocks = new LayerWeights[layers];
        for (int l = 0; l < layers; l++)
        {
            var b = PlantedModels.BlankLayer(config, l, "planted-ioi", rng, WriteNoise);
            for (int h = 0; h < heads; h++)
            {
                bool planted = IsPlanted(l, h);
                float qk = planted ? PlantedNoise : (0.02f + 0.08f * (float)rng.NextDouble()) * f;
                PlantedModels.Fill(rng, b.W_Q, h, qk);
                PlantedModels.Fill(rng, b.W_K, h, qk);
                PlantedModels.Fill(rng, b.W_V, h, planted ? PlantedNoise : WriteNoise);
                // A planted OV writes entries of 1/n (unit after the norm): its noise is relative to that.
                PlantedModels.Fill(rng, b.W_O, h, planted ? PlantedNoise / Nominal(l) : WriteNoise);
            }
            blocks[l] = b;
        }

        var names = vocabulary.Answers;
        // Duplicate-token head: +1 on an equal token, −2 on itself; OV: token → duplicated-token subspace, and "is a
        // name" → the duplicated-name flag (1 at S2; at most ~0.5 on rows without a duplicate, which spread evenly).
        {
            var b = blocks[0];
            b.W_V[dupHead, isName, V] += 1f;
            b.W_O[dupHead, V, dupFlag] += 1f / Nominal(0);
            for (int t = 0; t < V; t++)
            {
                b.W_Q[dupHead, tok + t, t] += gain;
                b.W_K[dupHead, tok + t, t] += 1f;
                b.W_V[dupHead, tok + t, t] += 1f;
                b.W_O[dupHead, t, dup + t] += 1f / Nominal(0);
            }
            for (int p = 0; p < context; p++)
            {
                b.W_Q[dupHead, pos + p, V + p] += -2f * gain;
                b.W_K[dupHead, pos + p, V + p] += 1f;
            }
        }
        // S-inhibition head: attends to the row whose duplicated token is a name (the flag: 1 at S2, ≤ ~0.5 elsewhere, so
        // the gain puts the target gap on a 0.4 difference); moves the duplicated name to the inhibited-name subspace.
        {
            var b = blocks[inhibLayer];
            b.W_Q[inhibHead, cnst, 0] += gain / 0.4f;
            b.W_K[inhibHead, dupFlag, 0] += 1f;
            foreach (int t in names)
            {
                b.W_V[inhibHead, dup + t, t] += 1f;
                b.W_O[inhibHead, t, inhib + t] += 1f / Nominal(inhibLayer);
            }
        }
        // Movers: +1 on names, −2 on the inhibited name; OV ± copy.
        var moverBlock = blocks[layers - 1];
        for (int i = 0; i < 4; i++)
        {
            int h = last[i];
            float scale = (i < 3 ? MoverScales[i] : NegativeScale) / Nominal(layers - 1);
            moverBlock.W_Q[h, cnst, 0] += gain;
            moverBlock.W_K[h, isName, 0] += 1f;
            for (int t = 0; t < V; t++)
            {
                moverBlock.W_Q[h, inhib + t, 1 + t] += -2f * gain;
                moverBlock.W_K[h, tok + t, 1 + t] += 1f;
                moverBlock.W_V[h, tok + t, t] += 1f;
                moverBlock.W_O[h, t, outS + t] += scale;
            }
        }

        var we = Tensor.Zeros(V, d);
        var wu = Tensor.Zeros(d, V);
        var wpos = Tensor.Zeros(context, d);
        for (int t = 0; t < V; t++)
        {
            we[t, tok + t] = 1f;
            we[t, cnst] = 1f;
            if (names.Contains(t)) we[t, isName] = 1f;
            wu[outS + t, t] = 1f;
        }
        for (int p = 0; p < context; p++) wpos[p, pos + p] = 1f;
        foreach (var b in blocks) PlantedModels.Balance(b, balance);
        var weights = new TransformerWeights("planted-ioi", blocks)
        {
            W_E = we,
            W_U = wu,
            W_pos = wpos,
            LnFinalWeight = Tensor.Full(1f, d),
            LnFinalBias = Tensor.Zeros(d),
        };
        var model = new Transformer(config, weights, $"planted ioi seed {seed}");
        return new PlantedModel(model, [.. truth.OrderBy(t => t.Layer).ThenBy(t => t.Head).ThenBy(t => t.Type, StringComparer.Ordinal)],
            PlantedSkeleton.Gpt2, seed, vocabulary.Tokenizer, "ioi");
    }

    private static int[] TakeDistinct(SeededRandom rng, int n, int count)
    {
        var all = Enumerable.Range(0, n).ToArray();
        rng.Shuffle(all.AsSpan());
        return all[..count];
    }
}
