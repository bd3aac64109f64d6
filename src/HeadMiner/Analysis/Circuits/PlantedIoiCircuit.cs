using HeadMiner.Analysis.Truth;
using HeadMiner.Models;
using HeadMiner.Tasks;
using HeadMiner.Tensors;

namespace HeadMiner.Analysis.Circuits;

/// <summary>
/// An IOI-like circuit (Wang et al. 2023) planted by hand: previous-token → duplicate detector → S-inhibition → name
/// mover. Tokens 1…n are names, the rest fillers (W_E sets an "is a name" or an "is not a name" dim for every token).
/// <list type="bullet">
/// <item>previous-token head P (layer a): each token into the next row's "previous token" subspace;</item>
/// <item>duplicate head D (layer b &gt; a): a query name matches the previous-token subspace of the keys (K-composition
/// with P), so on the second occurrence S2 of a name it attends to the row after the first one, S1 (the induction
/// form of duplicate detection, as in IOI's "duplicate/induction ← previous-token" heads); with no match it rests on
/// BOS (a half-gap sink). OV: "not BOS" → a "duplicated" flag dim, BOS → a "rest" dim of its own, so the flag is 1
/// at S2 and 0 elsewhere;</item>
/// <item>S-inhibition head N (layer c &gt; b): the key reads the flag (K-composition with D), so every row from S2 on
/// attends to S2 (else BOS); OV: the attended token → the "inhibited name" subspace (BOS, when it rests, to that
/// subspace's BOS dim, which nothing reads);</item>
/// <item>name mover M (layer e &gt; c): the query scores +1 (target gap) on name keys and −2 on keys whose token is the
/// inhibited name (Q-composition with N); OV copies the attended name into the output subspace, the only one W_U
/// reads. At the end it attends to IO alone.</item>
/// </list>
/// Prompts: BOS, a segment of distinct tokens holding IO and S1 (S1 not last), S2 = S, an end filler; the metric is
/// logit(IO) − logit(S). Corrupted: S1 replaced by a third name C, so no name is duplicated, N rests on BOS and M
/// spreads over IO, C and S (logit difference near 0: the three name keys score alike only up to noise). What differs is the token at S1's position, and the change flows
/// through exactly six edges: embed → P.v (P moves S / C into the row after S1), P → D.k (D finds S2's match there),
/// D → N.k (the flag at S2), N → M.q (S inhibited at the end), embed → M.k (the key at S1's position: S is inhibited, C
/// would not be), M → logits. The other inputs read what both prompts share: P's and D's queries (positions; the
/// tokens at S2 and the end), D's and N's values (a token that is not BOS; S2's token), N's and M's constant
/// queries, and M's value (M never attends S1's position in the clean run). D and N write a rest dim when they rest
/// on BOS, so each writes one unit entry in every row of both runs: the change moves no norm (without the rest dims,
/// N's write alone moved the metric through the final norm by 0.05–0.15 of the span).
/// <para>
/// Decoys: a second head of each role with the same attention (each reads the real circuit's subspaces) writing, at a
/// quarter size, into spare dims nothing reads.
/// </para>
/// </summary>
internal static class PlantedIoiCircuit
{
    private const int Bos = PlantedModels.Bos;

    public static PlantedCircuit Create(PlantedSkeleton skeleton, ulong seed)
    {
        var rng = new SeededRandom(seed * 0x9FB21C651E98DF25UL + 4099UL + (ulong)skeleton * 257UL);
        bool llama = skeleton == PlantedSkeleton.Llama;
        int vocab = rng.NextInt(13, 17);
        int names = rng.NextInt(5, 7);
        int fillers = vocab - 1 - names;
        int segment = rng.NextInt(6, fillers + 2); // IO, S1 and segment − 2 fillers, plus one end filler
        int context = segment + 3;
        int layers = rng.NextInt(4, 6);
        int kvHeads = llama ? rng.NextInt(4, 6) : rng.NextInt(4, 7);
        int group = llama ? rng.NextInt(1, 3) : 1;
        int heads = kvHeads * group;
        // Spare dims: "is a name" and "is not a name" (every token has one, so layer-0 rows keep equal norms, which the
        // rotary previous-token kernel needs), the duplicated flag and D's "rest" dim, the inhibited name [vocab; its
        // BOS entry is N's rest dim] — D and N write their rest dim when they rest on BOS, so their writes have the same
        // size in every row and both runs and change no norm — then the decoys' blocks, which nothing reads: the
        // previous-token and mover decoys' [vocab], the duplicate decoy's flag and rest, the S-inhibition decoy's [vocab];
        // and a few dims only noise reaches.
        int spare = 6 + 3 * vocab + rng.NextInt(0, 4);
        var L = new PlantedLayout(vocab, llama ? 0 : context, spare, balance: !llama);
        int isName = L.Junk + PlantedLayout.JunkDims, notName = isName + 1, flag = notName + 1, restD = flag + 1, inhibited = restD + 1;
        int decoyTokens = inhibited + vocab, decoyFlag = decoyTokens + vocab, decoyInhibited = decoyFlag + 2;
        // Attention slots: token matching 0…vocab − 1, then one for a sink (Llama: slow rotary pairs).
        int dHead = llama ? 2 * (PlantedModels.RotaryPairs + vocab + 1) : vocab + context + 1 + rng.NextInt(0, 4);
        // The shared skeleton with a narrower MLP (the circuit is in the heads; MLPs are noise) and noise scaled to the width.
        var config = PlantedModels.SkeletonConfig(llama, vocab, L.DModel, layers, heads, kvHeads, dHead, context) with { DMlp = 2 * L.DModel };
        var build = new PlantedCircuitBuilder(rng, config, L, llama, noise: MathF.Min(1f, MathF.Sqrt(80f / L.DModel)), relativeWrites: true);
        int prevMax = llama ? 0 : layers - 4;
        var P = build.Take(0, prevMax);
        var D = build.Take(P.Layer + 1, layers - 3);
        var N = build.Take(D.Layer + 1, layers - 2);
        var M = build.Take(N.Layer + 1, layers - 1);
        var decoyP = build.Take(0, prevMax);
        var decoyD = build.Take(P.Layer + 1, layers - 3);
        var decoyN = build.Take(D.Layer + 1, layers - 2);
        var decoyM = build.Take(N.Layer + 1, layers - 1);
        build.AddNoise();

        build.Plant(P, PlantedTypes.PreviousToken);
        build.PlantDecoy(decoyP, PlantedTypes.PreviousToken, L.Prev, decoyTokens);
        foreach (var (at, target, resting, scale) in new[] { (D, flag, restD, 1f), (decoyD, decoyFlag, decoyFlag + 1, PlantedCircuitBuilder.DecoyScale) })
        {
            for (int t = 1; t <= names; t++) build.Score(at, L.Tok + t, L.Prev + t, t, 1);
            build.Score(at, L.Const, L.Tok + Bos, vocab, 0.5);
            for (int t = 0; t < vocab; t++) build.Read(at, L.Tok + t, t == Bos ? 1 : 0);
            build.Write(at, 0, target, scale);
            build.Write(at, 1, resting, scale);
        }
        foreach (var (at, target, scale) in new[] { (N, inhibited, 1f), (decoyN, decoyInhibited, PlantedCircuitBuilder.DecoyScale) })
        {
            build.Score(at, L.Const, flag, 0, 1);
            build.Score(at, L.Const, L.Tok + Bos, 1, 0.5);
            build.Move(at, L.Tok + Bos, Bos, target + Bos, scale);
            for (int t = 1; t <= names; t++) build.Move(at, L.Tok + t, t, target + t, scale);
        }
        foreach (var (at, target, scale) in new[] { (M, L.Out, 1f), (decoyM, decoyTokens, PlantedCircuitBuilder.DecoyScale) })
        {
            build.Score(at, L.Const, isName, 0, 1);
            for (int t = 1; t <= names; t++)
            {
                build.Score(at, inhibited + t, L.Tok + t, 1 + t, -2);
                build.Move(at, L.Tok + t, t, target + t, scale);
            }
        }

        var weights = build.Weights("planted-ioi-circuit");
        for (int t = 0; t < vocab; t++) weights.W_E![t, t >= 1 && t <= names ? isName : notName] = 1f;
        var model = new Transformer(config, weights, $"planted ioi circuit {skeleton} seed {seed}");
        var truthHeads = new List<PlantedHead>
        {
            new(P.Layer, P.Head, PlantedTypes.PreviousToken),
            new(D.Layer, D.Head, PlantedTypes.DuplicateToken),
            new(N.Layer, N.Head, PlantedTypes.SInhibition),
            new(M.Layer, M.Head, PlantedTypes.NameMover),
        };
        var plantedModel = new PlantedModel(model, truthHeads, skeleton, seed, Kind: "ioi-circuit");

        var pairs = Pairs(rng, vocab, names, segment);
        string Node((int, int) at) => PlantedCircuitBuilder.Node(at);
        var edges = new HashSet<string>(StringComparer.Ordinal)
        {
            $"embed->{build.Input(P, ReceiverKind.Value)}",
            $"{Node(P)}->{build.Input(D, ReceiverKind.Key)}",
            $"{Node(D)}->{build.Input(N, ReceiverKind.Key)}",
            $"{Node(N)}->{build.Input(M, ReceiverKind.Query)}",
            $"embed->{build.Input(M, ReceiverKind.Key)}",
            $"{Node(M)}->logits",
        };
        return new PlantedCircuit("ioi", plantedModel, pairs, MetricKind.LogitDiff, edges,
            new HashSet<string>([Node(P), Node(D), Node(N), Node(M)], StringComparer.Ordinal),
            [Node(decoyP), Node(decoyD), Node(decoyN), Node(decoyM)]);
    }

    /// <summary>
    /// BOS, a segment of distinct tokens (IO and S at random places, S not last, fillers), S again, an end filler;
    /// answer IO, wrong S. Corrupted: S's first occurrence replaced by a name absent from the clean prompt.
    /// </summary>
    private static TokenizedPairs Pairs(SeededRandom rng, int vocab, int names, int segment)
    {
        var nameTokens = Enumerable.Range(1, names).ToArray();
        var fillerTokens = Enumerable.Range(names + 1, vocab - 1 - names).ToArray();
        var clean = new int[PlantedCircuits.PromptPairs][];
        var corrupted = new int[PlantedCircuits.PromptPairs][];
        var answers = new int[PlantedCircuits.PromptPairs];
        var wrongs = new int[PlantedCircuits.PromptPairs];
        for (int i = 0; i < clean.Length; i++)
        {
            rng.Shuffle(nameTokens.AsSpan());
            rng.Shuffle(fillerTokens.AsSpan());
            int io = nameTokens[0], s = nameTokens[1], c = nameTokens[2];
            int sAt = rng.NextInt(segment - 1), ioAt = rng.NextInt(segment - 1); // S1 never last; IO anywhere else
            if (ioAt >= sAt) ioAt++;
            var body = new int[segment];
            int f = 0;
            for (int p = 0; p < segment; p++) body[p] = p == sAt ? s : p == ioAt ? io : fillerTokens[f++];
            int end = fillerTokens[f];
            clean[i] = [Bos, .. body, s, end];
            body[sAt] = c;
            corrupted[i] = [Bos, .. body, s, end];
            answers[i] = io;
            wrongs[i] = s;
        }
        return new TokenizedPairs(clean, corrupted, answers, wrongs);
    }
}
