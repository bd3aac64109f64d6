using HeadMiner.Analysis.Truth;
using HeadMiner.Models;
using HeadMiner.Tasks;
using HeadMiner.Tensors;

namespace HeadMiner.Analysis.Circuits;

/// <summary>
/// A successor circuit (Gould et al. 2023) planted by hand: previous-token → successor head. Token 1 is a list-end
/// marker, tokens 2…n+1 an ordered list of items (item i's successor is item i + 1), the rest fillers.
/// <list type="bullet">
/// <item>previous-token head P (layer a): each token into the next row's "previous token" subspace, so the marker's
/// row holds the last list item;</item>
/// <item>successor head X (layer b &gt; a): a constant query scores +1 (target gap) on the marker's key, so the end
/// attends to the marker; its value reads the previous-token subspace (V-composition with P) and its OV maps item i
/// to item i + 1 in the output subspace, the only one W_U reads.</item>
/// </list>
/// Prompts: BOS, fillers, a run of consecutive items, the marker, an end filler; the metric is logit(successor of the
/// last item) − logit(successor of the corrupted last item). Corrupted: the last item replaced by another item. What
/// differs is that one token, and the change flows through exactly three edges: embed → P.v (what P moves into the
/// marker's row), P → X.v (what X maps), X → logits. P's query and key read positions, X's query a constant and X's
/// key the marker, equal in both prompts.
/// <para>
/// Decoys: a second previous-token head and a second successor head with the same attention (the second reads the
/// real P's subspace), writing at a quarter size into spare dims nothing reads.
/// </para>
/// </summary>
internal static class PlantedSuccessorCircuit
{
    private const int Bos = PlantedModels.Bos, Marker = 1, FirstItem = 2;

    public static PlantedCircuit Create(PlantedSkeleton skeleton, ulong seed)
    {
        var rng = new SeededRandom(seed * 0xBF58476D1CE4E5B9UL + 7919UL + (ulong)skeleton * 521UL);
        bool llama = skeleton == PlantedSkeleton.Llama;
        int vocab = rng.NextInt(17, 24);
        int items = rng.NextInt(8, 12);
        int body = rng.NextInt(6, 11); // fillers and list items
        int context = body + 3;
        int layers = rng.NextInt(2, 5);
        int kvHeads = llama ? rng.NextInt(4, 6) : rng.NextInt(4, 7);
        int group = llama ? rng.NextInt(1, 3) : 1;
        int heads = kvHeads * group;
        // Spare dims: one token-sized block both decoys write into (nothing reads it), and a few only noise reaches.
        int spare = vocab + rng.NextInt(0, 4);
        var L = new PlantedLayout(vocab, llama ? 0 : context, spare, balance: !llama);
        int decoys = L.Junk + PlantedLayout.JunkDims;
        int dHead = llama ? 2 * (PlantedModels.RotaryPairs + vocab) : vocab + context + rng.NextInt(0, 4);
        // The shared skeleton with a narrower MLP (the circuit is in the heads; MLPs are noise) and noise scaled to the width.
        var config = PlantedModels.SkeletonConfig(llama, vocab, L.DModel, layers, heads, kvHeads, dHead, context) with { DMlp = 2 * L.DModel };
        var build = new PlantedCircuitBuilder(rng, config, L, llama, noise: MathF.Min(1f, MathF.Sqrt(80f / L.DModel)), relativeWrites: true);
        int prevMax = llama ? 0 : layers - 2;
        var P = build.Take(0, prevMax);
        var X = build.Take(P.Layer + 1, layers - 1);
        var decoyP = build.Take(0, prevMax);
        var decoyX = build.Take(P.Layer + 1, layers - 1);
        build.AddNoise();

        build.Plant(P, PlantedTypes.PreviousToken);
        build.PlantDecoy(decoyP, PlantedTypes.PreviousToken, L.Prev, decoys);
        foreach (var (at, target, scale) in new[] { (X, L.Out, 1f), (decoyX, decoys, PlantedCircuitBuilder.DecoyScale) })
        {
            build.Score(at, L.Const, L.Tok + Marker, 0, 1);
            for (int i = 0; i + 1 < items; i++) build.Move(at, L.Prev + FirstItem + i, FirstItem + i, target + FirstItem + i + 1, scale);
        }

        var model = new Transformer(config, build.Weights("planted-successor-circuit"), $"planted successor circuit {skeleton} seed {seed}");
        var truthHeads = new List<PlantedHead>
        {
            new(P.Layer, P.Head, PlantedTypes.PreviousToken),
            new(X.Layer, X.Head, "successor"),
        };
        var plantedModel = new PlantedModel(model, truthHeads, skeleton, seed, Kind: "successor-circuit");

        var pairs = Pairs(rng, vocab, items, body);
        string Node((int, int) at) => PlantedCircuitBuilder.Node(at);
        var edges = new HashSet<string>(StringComparer.Ordinal)
        {
            $"embed->{build.Input(P, ReceiverKind.Value)}",
            $"{Node(P)}->{build.Input(X, ReceiverKind.Value)}",
            $"{Node(X)}->logits",
        };
        return new PlantedCircuit("successor", plantedModel, pairs, MetricKind.LogitDiff, edges,
            new HashSet<string>([Node(P), Node(X)], StringComparer.Ordinal),
            [Node(decoyP), Node(decoyX)]);
    }

    /// <summary>
    /// BOS, fillers (drawn with repeats), a run of 2–5 consecutive items, the marker, an end filler; answer the item
    /// after the run, wrong the successor of the corrupted last item (another item, not the last of the list).
    /// </summary>
    private static TokenizedPairs Pairs(SeededRandom rng, int vocab, int items, int body)
    {
        int firstFiller = FirstItem + items;
        var clean = new int[PlantedCircuits.PromptPairs][];
        var corrupted = new int[PlantedCircuits.PromptPairs][];
        var answers = new int[PlantedCircuits.PromptPairs];
        var wrongs = new int[PlantedCircuits.PromptPairs];
        for (int i = 0; i < clean.Length; i++)
        {
            int run = rng.NextInt(2, 6);
            int start = rng.NextInt(0, items - run); // the item after the run exists
            var prompt = new List<int> { Bos };
            for (int f = 0; f < body - run; f++) prompt.Add(rng.NextInt(firstFiller, vocab));
            for (int k = 0; k < run; k++) prompt.Add(FirstItem + start + k);
            prompt.Add(Marker);
            prompt.Add(rng.NextInt(firstFiller, vocab));
            int last = start + run - 1, other = rng.NextInt(0, items - 2);
            if (other >= last) other++;
            clean[i] = [.. prompt];
            prompt[body] = FirstItem + other;
            corrupted[i] = [.. prompt];
            answers[i] = FirstItem + last + 1;
            wrongs[i] = FirstItem + other + 1;
        }
        return new TokenizedPairs(clean, corrupted, answers, wrongs);
    }
}
