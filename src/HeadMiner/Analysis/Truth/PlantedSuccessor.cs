using HeadMiner.Models;
using HeadMiner.Tasks.Sets;
using HeadMiner.Tensors;
using HeadMiner.Tensors.Kernels;

namespace HeadMiner.Analysis.Truth;

/// <summary>
/// A successor head (Gould et al. 2023) planted on either skeleton with the word-level tokenizer of
/// <see cref="PlantedVocabulary.Successor"/>, beside a copying and a copy-suppression head, among random distractors.
/// The successor head's OV maps each list item to the next one (the steps are read from the generated successor
/// sets, as the detector reads them: numbers, days and months wrapping, letters); its attention is random (noise).
/// Residual subspaces: token, constant, position (GPT-2), output (read by W_U), junk, balance (GPT-2). Sizes and
/// placement are drawn from the seed.
/// </summary>
public static class PlantedSuccessor
{
    private const float ReferenceWidth = 80f;
    private static readonly Lazy<IReadOnlyList<(int From, int To)>> SuccessorSteps = new(Steps);

    public static PlantedModel Create(PlantedSkeleton skeleton, ulong seed)
    {
        var vocabulary = PlantedVocabulary.Successor;
        var rng = new SeededRandom(seed * 0xA24BAED4963EE407UL + 31UL + (ulong)skeleton);
        bool llama = skeleton == PlantedSkeleton.Llama;
        int V = vocabulary.Size;
        int context = 2 * rng.NextInt(8, 13) + 1;
        int layers = rng.NextInt(2, 4);
        int kvHeads = rng.NextInt(3, 5), group = llama ? 2 : 1, heads = kvHeads * group;
        int dHead = V + rng.NextInt(0, 4) * 2;
        int tok = 0, cnst = V, pos = V + 1, outS = pos + (llama ? 0 : context), junk = outS + V, balance = junk + PlantedLayout.JunkDims;
        int d = balance + (llama ? 0 : 1);
        float f = MathF.Sqrt(ReferenceWidth / d);
        float plantedNoise = 0.01f * f, writeNoise = 0.02f * f;
        // The shared skeleton with a narrower MLP (the successor map is in the OV circuit, not the MLPs).
        var config = PlantedModels.SkeletonConfig(llama, V, d, layers, heads, kvHeads, dHead, context) with { DMlp = 2 * d };

        // Three OV heads in distinct (layer, kv group) slots: successor, copy, copy suppression.
        var slots = new List<(int Layer, int Group)>();
        for (int l = 0; l < layers; l++)
            for (int g = 0; g < kvHeads; g++) slots.Add((l, g));
        var order = Enumerable.Range(0, slots.Count).ToArray();
        rng.Shuffle(order.AsSpan());
        var types = new[] { "successor", PlantedTypes.Copy, PlantedTypes.CopySuppression };
        var truth = types.Select((t, i) => new PlantedHead(slots[order[i]].Layer, slots[order[i]].Group * group + rng.NextInt(group), t)).ToList();

        double nominal = Math.Sqrt(llama ? d / 2.0 : 1 / (3.0 / d - 9.0 / d / d));
        var blocks = new LayerWeights[layers];
        for (int l = 0; l < layers; l++)
        {
            var b = PlantedModels.BlankLayer(config, l, "planted-successor", rng, writeNoise);
            for (int h = 0; h < heads; h++)
            {
                bool planted = truth.Any(t => t.Layer == l && t.Head == h);
                PlantedModels.Fill(rng, b.W_Q, h, (0.02f + 0.08f * (float)rng.NextDouble()) * f);
                PlantedModels.Fill(rng, b.W_O, h, planted ? plantedNoise / (float)nominal : writeNoise);
            }
            for (int g = 0; g < kvHeads; g++)
            {
                bool planted = truth.Any(t => t.Layer == l && t.Head / group == g);
                PlantedModels.Fill(rng, b.W_K, g, (0.02f + 0.08f * (float)rng.NextDouble()) * f);
                PlantedModels.Fill(rng, b.W_V, g, planted ? plantedNoise : writeNoise);
            }
            blocks[l] = b;
        }

        var steps = SuccessorSteps.Value;
        foreach (var head in truth)
        {
            var b = blocks[head.Layer];
            int kv = head.Head / group;
            float w = (float)(1 / nominal);
            for (int t = 0; t < V; t++) b.W_V[kv, tok + t, t] += 1f;
            if (head.Type == "successor")
                foreach (var (from, to) in steps) b.W_O[head.Head, from, outS + to] += w;
            else
                for (int t = 0; t < V; t++) b.W_O[head.Head, t, outS + t] += head.Type == PlantedTypes.Copy ? w : -w;
        }

        var weights = PlantedModels.Weights("planted-successor", blocks, llama, V, d, context, tok, cnst, outS, pos, balance);
        var model = new Transformer(config, weights, $"planted successor {skeleton} seed {seed}");
        return new PlantedModel(model, [.. truth.OrderBy(t => t.Layer).ThenBy(t => t.Head)], skeleton, seed, vocabulary.Tokenizer, "successor");
    }

    /// <summary>Consecutive items of every run (clean and corrupted) and answer of the successor sets the vocabulary was found with.</summary>
    private static IReadOnlyList<(int From, int To)> Steps()
    {
        var tokenizer = PlantedVocabulary.Successor.Tokenizer;
        var steps = new HashSet<(int, int)>();
        for (ulong seed = 0; seed < PlantedVocabulary.DiscoverySeeds; seed++)
        {
            var set = new SuccessorSet().Generate(tokenizer, new TaskSetOptions { Count = 32, Seed = seed });
            foreach (var pair in set.Pairs)
            {
                foreach (var (run, next) in new[] { (pair.Clean, pair.Answer), (pair.Corrupted, pair.Wrong) })
                {
                    var ids = tokenizer.Encode(run + next, false);
                    for (int i = 0; i + 1 < ids.Length; i++) steps.Add((ids[i], ids[i + 1]));
                }
            }
        }
        return [.. steps.Order()];
    }
}
