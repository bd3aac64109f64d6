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
    public const int PromptPairs = 6;

    /// <summary>The kinds <see cref="Create"/> builds.</summary>
    public static IReadOnlyList<string> Kinds { get; } = ["induction", "ioi", "successor"];

    public static PlantedCircuit Create(string kind, PlantedSkeleton skeleton, ulong seed) => kind switch
    {
        "induction" => Induction(skeleton, seed),
        "ioi" => Ioi(skeleton, seed),
        "successor" => Successor(skeleton, seed),
        _ => throw new HeadMinerException($"planted circuits: unknown kind \"{kind}\" (known: {string.Join(", ", Kinds)})"),
    };

    /// <summary>The duplicate → S-inhibition → name mover chain (<see cref="PlantedIoiCircuit"/>).</summary>
    public static PlantedCircuit Ioi(PlantedSkeleton skeleton, ulong seed) => PlantedIoiCircuit.Create(skeleton, seed);

    /// <summary>The previous-token → successor chain (<see cref="PlantedSuccessorCircuit"/>).</summary>
    public static PlantedCircuit Successor(PlantedSkeleton skeleton, ulong seed) => PlantedSuccessorCircuit.Create(skeleton, seed);

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
        var build = new PlantedCircuitBuilder(rng, config, L, llama);
        int prevMax = llama ? 0 : layers - 2;
        var prev = build.Take(0, prevMax);
        var induction = build.Take(prev.Layer + 1, layers - 1);
        var decoyPrev = build.Take(0, prevMax);
        var decoyInduction = build.Take(prev.Layer + 1, layers - 1);
        build.AddNoise();
        build.Plant(prev, PlantedTypes.PreviousToken);
        build.Plant(induction, PlantedTypes.Induction);
        build.PlantDecoy(decoyPrev, PlantedTypes.PreviousToken, L.Prev, decoyPrevOut);
        build.PlantDecoy(decoyInduction, PlantedTypes.Induction, L.Out, decoyInductionOut);

        var model = new Transformer(config, build.Weights("planted-circuit"), $"planted induction circuit {skeleton} seed {seed}");
        var truthHeads = new List<PlantedHead>
        {
            new(prev.Layer, prev.Head, PlantedTypes.PreviousToken),
            new(induction.Layer, induction.Head, PlantedTypes.Induction),
        };
        var plantedModel = new PlantedModel(model, truthHeads, skeleton, seed, Kind: "induction-circuit");

        var pairs = InductionPairs(rng, vocab, segment);
        string P = PlantedCircuitBuilder.Node(prev), I = PlantedCircuitBuilder.Node(induction);
        var edges = new HashSet<string>(StringComparer.Ordinal)
        {
            $"embed->{build.Input(prev, ReceiverKind.Value)}",
            $"{P}->{build.Input(induction, ReceiverKind.Key)}",
            $"embed->{build.Input(induction, ReceiverKind.Value)}",
            $"{I}->logits",
        };
        return new PlantedCircuit("induction", plantedModel, pairs, MetricKind.LogitDiff, edges,
            new HashSet<string>([P, I], StringComparer.Ordinal),
            [PlantedCircuitBuilder.Node(decoyPrev), PlantedCircuitBuilder.Node(decoyInduction)]);
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
