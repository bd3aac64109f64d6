using HeadMiner.Analysis.Truth;
using HeadMiner.Models;
using HeadMiner.Tasks;
using HeadMiner.Tensors;
using HeadMiner.Tensors.Kernels;

namespace HeadMiner.Analysis.Circuits;

/// <summary>
/// Models with whole circuits planted in them (hand-set weights, <see cref="Planter"/> of the trust work) among random
/// distractor heads, with decoys, and the prompt pairs the circuit carries.
/// <para>
/// Induction: a previous-token head P (layer a) writes each token into the next row's "previous token" subspace; an
/// induction head I (layer b &gt; a) matches its query token against that subspace in its keys (K-composition) and
/// copies the attended row's token to the output subspace, the only one W_U reads. Prompts: BOS, a segment of distinct
/// tokens, then the segment's first m tokens again; the answer is the token after the last one's earlier copy. The
/// corrupted prompt replaces the first segment by other tokens (the second half is the same), so what differs is which
/// token sits where in the first half. The clean → corrupted change then flows through exactly four edges:
/// embed → P.v (the tokens P moves), P → I.k (where I looks), embed → I.v (what I copies), I → logits. I's query (the
/// last token) and P's query and key (positions) are equal in both runs, so those edges carry nothing.
/// </para>
/// <para>
/// Decoys: a second previous-token head and a second induction head, planted the same way (same attention), whose
/// outputs go to spare dimensions nothing reads (at a quarter of the size, so the norms they change stay small). A
/// circuit method must leave them out.
/// </para>
/// Sizes, layers, heads and placement are drawn from the seed (GPT-2: 2–4 layers; Llama: 2–4 layers, grouped k/v
/// heads, the previous-token heads in layer 0 as <see cref="PlantedModels"/> requires).
/// </summary>
public static class PlantedCircuits
{
    private const float DecoyScale = 0.25f;
    private const float PlantedNoise = 0.01f, WriteNoise = 0.02f;
    public const int PromptPairs = 6;

    /// <summary>The kinds <see cref="Create"/> builds.</summary>
    public static IReadOnlyList<string> Kinds { get; } = ["induction"];

    public static PlantedCircuit Create(string kind, PlantedSkeleton skeleton, ulong seed) => kind switch
    {
        "induction" => Induction(skeleton, seed),
        _ => throw new HeadMinerException($"planted circuits: unknown kind \"{kind}\" (known: {string.Join(", ", Kinds)})"),
    };

    public static PlantedCircuit Induction(PlantedSkeleton skeleton, ulong seed)
    {
        var rng = new SeededRandom(seed * 0xC2B2AE3D27D4EB4FUL + 977UL + (ulong)skeleton * 131UL);
        bool llama = skeleton == PlantedSkeleton.Llama;
        int vocab = rng.NextInt(17, 24);
        int segment = rng.NextInt(8, 12);
        int context = 2 * segment + 1;
        int layers = rng.NextInt(2, 5);
        int kvHeads = llama ? rng.NextInt(4, 6) : rng.NextInt(4, 8);
        int group = llama ? rng.NextInt(1, 3) : 1;
        int heads = kvHeads * group;
        // Spare dims: two token-sized blocks for the decoys' writes, and a few only noise reaches.
        int spare = 2 * vocab + rng.NextInt(0, 4);
        var L = new PlantedLayout(vocab, llama ? 0 : context, spare, balance: !llama);
        int decoyPrevOut = L.Junk + PlantedLayout.JunkDims, decoyInductionOut = decoyPrevOut + vocab;
        int dHead = llama ? 2 * (PlantedModels.RotaryPairs + vocab) : vocab + context + rng.NextInt(0, 4);
        int d = L.DModel;
        var config = PlantedModels.SkeletonConfig(llama, vocab, d, layers, heads, kvHeads, dHead, context);

        // Placement: each planted or decoy head in a k/v group of its own.
        var free = new List<(int Layer, int Group)>();
        for (int l = 0; l < layers; l++)
            for (int g = 0; g < kvHeads; g++) free.Add((l, g));
        (int Layer, int Head) Take(int minLayer, int maxLayer)
        {
            var options = free.Where(s => s.Layer >= minLayer && s.Layer <= maxLayer).ToList();
            var slot = options[rng.NextInt(options.Count)];
            free.Remove(slot);
            return (slot.Layer, slot.Group * group + rng.NextInt(group));
        }
        int prevMax = llama ? 0 : layers - 2;
        var prev = Take(0, prevMax);
        var induction = Take(prev.Layer + 1, layers - 1);
        var decoyPrev = Take(0, prevMax);
        var decoyInduction = Take(prev.Layer + 1, layers - 1);
        var planted = new[] { prev, induction, decoyPrev, decoyInduction };
        bool IsPlanted(int l, int h) => planted.Contains((l, h));
        bool PlantedGroup(int l, int g) => planted.Any(p => p.Layer == l && p.Head / group == g);

        var blocks = new LayerWeights[layers];
        for (int l = 0; l < layers; l++)
        {
            var b = PlantedModels.BlankLayer(config, l, "planted-circuit", rng, WriteNoise);
            for (int h = 0; h < heads; h++)
            {
                float q = IsPlanted(l, h) ? PlantedNoise : PlantedGroup(l, h / group) ? 0.02f : 0.02f + 0.08f * (float)rng.NextDouble();
                PlantedModels.Fill(rng, b.W_Q, h, q);
                PlantedModels.Fill(rng, b.W_O, h, IsPlanted(l, h) ? PlantedNoise : WriteNoise);
            }
            for (int g = 0; g < kvHeads; g++)
            {
                float k = PlantedGroup(l, g) ? PlantedNoise : 0.02f + 0.08f * (float)rng.NextDouble();
                PlantedModels.Fill(rng, b.W_K, g, k);
                PlantedModels.Fill(rng, b.W_V, g, PlantedGroup(l, g) ? PlantedNoise : WriteNoise);
            }
            blocks[l] = b;
        }
        var planter = new Planter(config, L, llama);
        planter.Plant(blocks[prev.Layer], prev.Layer, prev.Head, prev.Head / group, PlantedTypes.PreviousToken);
        planter.Plant(blocks[induction.Layer], induction.Layer, induction.Head, induction.Head / group, PlantedTypes.Induction);
        PlantDecoy(planter, blocks[decoyPrev.Layer], decoyPrev, group, PlantedTypes.PreviousToken, L.Prev, decoyPrevOut, vocab);
        PlantDecoy(planter, blocks[decoyInduction.Layer], decoyInduction, group, PlantedTypes.Induction, L.Out, decoyInductionOut, vocab);

        var weights = PlantedModels.Weights("planted-circuit", blocks, llama, vocab, d, context, L.Tok, L.Const, L.Out, L.Pos, L.Balance);
        var model = new Transformer(config, weights, $"planted induction circuit {skeleton} seed {seed}");
        var truthHeads = new List<PlantedHead>
        {
            new(prev.Layer, prev.Head, PlantedTypes.PreviousToken),
            new(induction.Layer, induction.Head, PlantedTypes.Induction),
        };
        var plantedModel = new PlantedModel(model, truthHeads, skeleton, seed, Kind: "induction-circuit");

        var pairs = InductionPairs(rng, vocab, segment);
        var graph = CircuitGraph.Create(config);
        string P = $"a{prev.Layer}.h{prev.Head}", I = $"a{induction.Layer}.h{induction.Head}";
        string Input(int layer, int head, ReceiverKind kind) =>
            graph.Receivers.First(r => r.Kind == kind && r.Layer == layer && r.Head == (kind == ReceiverKind.Query ? head : config.KvHeadOf(head))).Name;
        var edges = new HashSet<string>(StringComparer.Ordinal)
        {
            $"embed->{Input(prev.Layer, prev.Head, ReceiverKind.Value)}",
            $"{P}->{Input(induction.Layer, induction.Head, ReceiverKind.Key)}",
            $"embed->{Input(induction.Layer, induction.Head, ReceiverKind.Value)}",
            $"{I}->logits",
        };
        return new PlantedCircuit("induction", plantedModel, pairs, MetricKind.LogitDiff, edges,
            new HashSet<string>([P, I], StringComparer.Ordinal),
            [$"a{decoyPrev.Layer}.h{decoyPrev.Head}", $"a{decoyInduction.Layer}.h{decoyInduction.Head}"]);
    }

    /// <summary>
    /// Plants <paramref name="type"/> on a decoy head, then moves what its OV writes into the token-sized block at
    /// <paramref name="from"/> to the spare block at <paramref name="to"/>, scaled by <see cref="DecoyScale"/>.
    /// </summary>
    private static void PlantDecoy(Planter planter, LayerWeights b, (int Layer, int Head) at, int group, string type, int from, int to, int vocab)
    {
        var before = b.W_O.Select(0, at.Head).Contiguous().ToArray();
        planter.Plant(b, at.Layer, at.Head, at.Head / group, type);
        int d = b.W_O.Dim(2);
        for (int k = 0; k < b.W_O.Dim(1); k++)
            for (int t = 0; t < vocab; t++)
            {
                float written = b.W_O[at.Head, k, from + t] - before[k * d + from + t];
                if (written == 0) continue;
                b.W_O[at.Head, k, from + t] -= written;
                b.W_O[at.Head, k, to + t] += DecoyScale * written;
            }
    }

    /// <summary>
    /// BOS, a segment of distinct tokens s, then s's first m tokens (m = segment − 2); answer s[m], wrong a token
    /// absent from the clean prompt. Corrupted: the first segment replaced by other distinct tokens (none of them the
    /// last token), so the induction head finds no earlier copy of its query token.
    /// </summary>
    private static TokenizedPairs InductionPairs(SeededRandom rng, int vocab, int segment)
    {
        int m = segment - 2;
        var tokens = Enumerable.Range(1, vocab - 1).ToArray();
        var clean = new int[PromptPairs][];
        var corrupted = new int[PromptPairs][];
        var answers = new int[PromptPairs];
        var wrongs = new int[PromptPairs];
        for (int i = 0; i < PromptPairs; i++)
        {
            rng.Shuffle(tokens.AsSpan());
            var s = tokens[..segment];
            int last = s[m - 1];
            var others = tokens.Where(t => t != last).ToArray();
            rng.Shuffle(others.AsSpan());
            var replacement = others.Where(t => !s.Contains(t)).Concat(others.Where(t => s.Contains(t))).Take(segment).ToArray();
            rng.Shuffle(replacement.AsSpan());
            clean[i] = [PlantedModels.Bos, .. s, .. s[..m]];
            corrupted[i] = [PlantedModels.Bos, .. replacement, .. s[..m]];
            answers[i] = s[m];
            wrongs[i] = tokens.First(t => !s.Contains(t));
        }
        return new TokenizedPairs(clean, corrupted, answers, wrongs);
    }
}
