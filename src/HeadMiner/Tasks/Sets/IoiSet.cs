using HeadMiner.Models.Tokenizers;
using HeadMiner.Tensors;

namespace HeadMiner.Tasks.Sets;

/// <summary>
/// Indirect Object Identification (Wang et al. 2023): "Then, Mary and John went to the store. John gave a drink to"
/// → " Mary". Both name orders (ABBA: the indirect object first; BABA: the subject first); the corrupted prompt puts
/// three other names in the IO, S1 and S2 slots (the "ABC" set), so it carries the sentence but not the names.
/// Names come from <see cref="FirstNames"/> and are kept only if they are one token with a leading space for the
/// tokenizer; three are enough (with fewer than five, the ABC names are drawn so each slot still changes). Places and
/// objects are the single-token ones, or — for a small vocabulary that spells them in pieces — the largest group that
/// shares one token count. Of the templates, those that share the most common token length are used, so every pair
/// has the same length. Positions recorded per pair: IO, S1, S1+1, S2, END.
/// </summary>
public sealed class IoiSet : TaskSetGenerator
{
    private static readonly string[] Places =
    [
        "store", "park", "school", "hospital", "station", "office", "garden", "restaurant", "library", "house",
        "beach", "market", "church", "museum", "hotel", "airport", "bank", "farm", "river", "lake",
        "shop", "zoo", "pond", "forest", "woods", "yard", "room", "kitchen", "playground", "town", "city", "hill",
        "sea", "field", "castle", "tree", "barn", "cafe", "bakery", "class",
    ];

    private static readonly string[] Objects =
    [
        "drink", "book", "ring", "bag", "kiss", "gift", "letter", "flower", "pen", "ball", "key", "cake", "necklace",
        "snack", "basketball", "computer", "bone", "card", "hat", "phone", "toy", "doll", "cookie", "apple",
        "box", "cup", "kite", "car", "dog", "cat", "bird", "fish", "shell", "rock", "stick", "sock", "coat", "bear",
        "candy", "pie", "banana", "note", "map", "picture", "balloon", "bike", "boat", "sword", "hug",
    ];

    /// <summary>The places and objects the set draws from (for vocabularies built to spell it, e.g. planted models).</summary>
    internal static IEnumerable<string> Fillers => Places.Concat(Objects);

    /// <summary>{X} and {Y}: the two names of the first clause; {S}: the repeated subject; {P} place; {O} object.</summary>
    private static readonly string[] Templates =
    [
        "Then, {X} and {Y} went to the {P}. {S} gave a {O} to",
        "Then, {X} and {Y} had a lot of fun at the {P}. {S} gave a {O} to",
        "When {X} and {Y} got a {O} at the {P}, {S} decided to give it to",
        "After {X} and {Y} went to the {P}, {S} gave a {O} to",
        "While {X} and {Y} were working at the {P}, {S} gave a {O} to",
        "Friends {X} and {Y} found a {O} at the {P}. {S} gave it to",
        "The {P} was closed, so {X} and {Y} went home. {S} handed a {O} to",
        "At the {P}, {X} and {Y} were talking. {S} passed a {O} to",
    ];

    public override string Name => "ioi";

    public override string Description => "Indirect Object Identification: ABBA/BABA templates, ABC corrupted, positions IO, S1, S1+1, S2, END";

    protected override PromptPairSet Build(ITokenizer tokenizer, TaskSetOptions options, SeededRandom random)
    {
        TokenChecks.RequireEnglish(tokenizer, Name);
        var names = TokenChecks.Require(tokenizer, Name, "names", FirstNames.All, MinNames);
        var places = TokenChecks.SameLengthWords(tokenizer, "Then, they went to the", Places);
        var objects = TokenChecks.SameLengthWords(tokenizer, "She gave a", Objects);
        if (places.Count == 0 || objects.Count == 0) throw new HeadMinerException($"{Name}: no place or object word can be encoded by this tokenizer");

        // Token length of each template with single-token fillers; keep the largest group of equal lengths.
        var lengths = Templates.Select(t => tokenizer.Encode(Fill(t, names[0], names[1], names[1], places[0], objects[0])).Length).ToArray();
        int length = lengths.GroupBy(l => l).OrderByDescending(g => g.Count()).ThenBy(g => g.Key).First().Key;
        var templates = Templates.Where((_, i) => lengths[i] == length).ToArray();

        var collector = new PairCollector(tokenizer, Name, options.Count, options.ContextLength);
        for (int attempt = 0; attempt < options.Count * 20 && !collector.Full; attempt++)
        {
            string template = templates[random.NextInt(templates.Length)];
            bool abba = collector.Count % 2 == 0; // alternate so both orders are equally represented
            var two = TokenChecks.Draw(random, names, 2);
            string io = two[0], s = two[1];
            var abc = Abc(random, names, io, s);
            string place = places[random.NextInt(places.Count)], obj = objects[random.NextInt(objects.Count)];
            string clean = abba ? Fill(template, io, s, s, place, obj) : Fill(template, s, io, s, place, obj);
            // ABC: three distinct names take the IO, S1 and S2 slots, each differing from the clean name there.
            string corrupted = abba ? Fill(template, abc[0], abc[1], abc[2], place, obj) : Fill(template, abc[1], abc[0], abc[2], place, obj);
            var positions = Positions(tokenizer, clean, template, abba, io, s, place, obj);
            if (positions is null)
            {
                collector.Reject("a name's position could not be located in the tokens");
                continue;
            }
            collector.TryAdd(new PromptPair(clean, corrupted, " " + io, " " + s, positions));
        }
        return collector.Finish($"IOI, {options.Count} pairs (ABBA and BABA alternating) over {names.Count} single-token names, corrupted = three {(names.Count >= 5 ? "other" : "permuted")} names (ABC); {templates.Length} of {Templates.Length} templates share the length of {length} tokens for this tokenizer; positions index the clean prompt's tokens");
    }

    /// <summary>Three names the clean prompt's IOI names need at the least: IO and S, and a third for the ABC corruption.</summary>
    public const int MinNames = 3;

    /// <summary>
    /// The ABC names for the IO, S1 and S2 slots: three distinct names, none equal to the clean name in its slot. With
    /// five or more names they are three names not in the clean prompt (the paper's set); with three or four, names
    /// of the clean prompt move to other slots (IO's name to S1 or S2, S's to IO), which still hides who is who.
    /// </summary>
    private static string[] Abc(SeededRandom random, IReadOnlyList<string> names, string io, string s)
    {
        var others = names.Where(n => n != io && n != s).ToList();
        if (others.Count >= 3) return [.. TokenChecks.Draw(random, others, 3)];
        while (true)
        {
            var three = TokenChecks.Draw(random, names, 3);
            if (three[0] != io && three[1] != s && three[2] != s) return [.. three];
        }
    }

    private static string Fill(string template, string x, string y, string s, string place, string obj) =>
        template.Replace("{X}", x).Replace("{Y}", y).Replace("{S}", s).Replace("{P}", place).Replace("{O}", obj);

    /// <summary>Token positions of IO, S1, S1+1, S2 and END, each checked to be the named token; null if a cut splits a merge.</summary>
    private static Dictionary<string, int>? Positions(ITokenizer tokenizer, string clean, string template, bool abba, string io, string s, string place, string obj)
    {
        var ids = tokenizer.Encode(clean);
        // Character offsets of the slots: fill the template up to each placeholder.
        int x = Fill(template[..template.IndexOf("{X}", StringComparison.Ordinal)], "", "", "", place, obj).Length;
        string firstTwo = abba ? io + " and " + s : s + " and " + io;
        int ioEnd = abba ? x + io.Length : x + firstTwo.Length;
        int s1End = abba ? x + firstTwo.Length : x + s.Length;
        string beforeS2 = Fill(template[..template.IndexOf("{S}", StringComparison.Ordinal)], abba ? io : s, abba ? s : io, s, place, obj);
        int s2End = beforeS2.Length + s.Length;
        int? ioPos = TokenChecks.LastTokenOfPrefix(tokenizer, ids, clean, ioEnd);
        int? s1Pos = TokenChecks.LastTokenOfPrefix(tokenizer, ids, clean, s1End);
        int? s2Pos = TokenChecks.LastTokenOfPrefix(tokenizer, ids, clean, s2End);
        if (ioPos is not int i || s1Pos is not int s1 || s2Pos is not int s2) return null;
        int? ioId = TokenChecks.SingleTokenAfter(tokenizer, clean[..(ioEnd - io.Length - 1)], " " + io);
        int? sId = TokenChecks.SingleTokenAfter(tokenizer, clean[..(s2End - s.Length - 1)], " " + s);
        if (ids[i] != ioId || ids[s1] != sId || ids[s2] != sId) return null;
        return new Dictionary<string, int> { ["IO"] = i, ["S1"] = s1, ["S1+1"] = s1 + 1, ["S2"] = s2, ["END"] = ids.Length - 1 };
    }
}
