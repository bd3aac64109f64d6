using HeadMiner.Models.Tokenizers;
using HeadMiner.Tensors;

namespace HeadMiner.Tasks.Sets;

/// <summary>
/// Three-letter acronyms (the letter-mover task, García-Carrasco et al. 2024, "How does GPT-2 predict acronyms?"):
/// "The Central Processing Unit (CP" → "U". The model must find the word whose initial comes next and copy that
/// initial; the letter mover heads attend from the last letter to that word. The corrupted prompt replaces the third
/// word with one of another initial, so the clean answer becomes wrong (metric: logit[initial of W3] − logit[initial
/// of W3']). The three initials and the corrupted one are all different, so copying a letter already in the acronym
/// never answers.
/// <para>
/// Written as GPT-2 users know it ("(CP") when the tokenizer ends a token at each letter there (GPT-2 spells it
/// " (", "C", "P" or " (C", "P"); else with spaces ("( C P", answer " U"), which a word-level vocabulary needs. A pair
/// counts when each letter ends a token, the answer letter is one token after the prompt and the words are single
/// tokens. Positions: W1, W2, W3 (the words),
/// L1, L2 (the letters written so far), END (= L2).
/// </para>
/// </summary>
public sealed class AcronymSet : TaskSetGenerator
{
    /// <summary>
    /// Capitalised words of the kind acronyms are made of, spread over the alphabet (the letters a vocabulary keeps
    /// whole decide which take part).
    /// </summary>
    internal static readonly string[] Words =
    [
        "Advanced", "Agency", "Annual", "Applied", "Basic", "Board", "Bureau", "Business", "Central", "Common", "Community",
        "Control", "Council", "Data", "Defense", "Department", "Design", "Digital", "Direct", "Early", "Economic",
        "Education", "Energy", "Federal", "Financial", "Foreign", "Free", "General", "Global", "Government", "Green",
        "Health", "High", "Human", "Image", "Industrial", "Information", "Internal", "International", "Joint", "Junior",
        "Justice", "Key", "Knowledge", "Labor", "Learning", "Light", "Local", "Management", "Market", "Medical", "Mobile",
        "National", "Natural", "Network", "New", "Office", "Online", "Open", "Operations", "Physical", "Policy", "Power",
        "Program", "Project", "Public", "Quality", "Quantum", "Real", "Regional", "Research", "Risk", "Safety", "Science",
        "Security", "Service", "Small", "Social", "System", "Technical", "Total", "Training", "Union", "United", "Urban",
        "Value", "Video", "Virtual", "Water", "Western", "World", "Young", "Youth", "Zone",
    ];

    public override string Name => "acronym";

    public override string Description => "Three-letter acronyms (\"The Central Processing Unit (CP\" → \"U\"); corrupted replaces the third word by one of another initial";

    protected override PromptPairSet Build(ITokenizer tokenizer, TaskSetOptions options, SeededRandom random)
    {
        var words = TokenChecks.SingleWords(tokenizer, Words);
        var letters = words.Select(w => w[..1]).Distinct().Where(l => IsLetterToken(tokenizer, l)).ToHashSet();
        var usable = words.Where(w => letters.Contains(w[..1])).ToList();
        var byInitial = usable.GroupBy(w => w[0]).ToDictionary(g => g.Key, g => g.ToList());
        if (byInitial.Count < 4)
            throw new HeadMinerException(TokenChecks.Missing(Name, "single-token capitalised words with at least 4 different initials that are tokens of their own", usable));
        var initials = byInitial.Keys.Order().ToArray();
        var collector = new PairCollector(tokenizer, Name, options.Count, options.ContextLength);
        for (int attempt = 0; attempt < options.Count * 20 && !collector.Full; attempt++)
        {
            var four = TokenChecks.Draw(random, initials, 4);
            string Pick(char initial) => byInitial[initial][random.NextInt(byInitial[initial].Count)];
            string w1 = Pick(four[0]), w2 = Pick(four[1]), w3 = Pick(four[2]), other = Pick(four[3]);
            var pair = TryPair(tokenizer, collector, w1, w2, w3, other, compact: true) ?? TryPair(tokenizer, collector, w1, w2, w3, other, compact: false);
            if (pair is null)
            {
                collector.Reject("the acronym's letters merge with each other or with \"(\"");
                continue;
            }
            collector.TryAdd(pair);
        }
        return collector.Finish($"Three-letter acronyms, {options.Count} pairs over {usable.Count} words with {initials.Length} initials ({string.Concat(initials)}); corrupted replaces the third word");
    }

    /// <summary>The pair in one spelling, with its positions, or null when a letter is not a token of its own there.</summary>
    private static PromptPair? TryPair(ITokenizer tokenizer, PairCollector collector, string w1, string w2, string w3, string other, bool compact)
    {
        string gap = compact ? "" : " ";
        string Prompt(string third) => $"The {w1} {w2} {third} ({gap}{w1[0]}{gap}{w2[0]}";
        string clean = Prompt(w3), corrupted = Prompt(other);
        int[] ids;
        try
        {
            ids = collector.Encode(clean);
        }
        catch (HeadMinerException)
        {
            return null;
        }
        var positions = new Dictionary<string, int>();
        int at = 0;
        foreach (var (name, word) in new[] { ("W1", w1), ("W2", w2), ("W3", w3) })
        {
            at = clean.IndexOf(" " + word, at, StringComparison.Ordinal) + 1 + word.Length;
            if (TokenChecks.LastTokenOfPrefix(tokenizer, ids, clean, at) is not int p) return null;
            positions[name] = p;
        }
        // Each letter must end a token of its own: L2 the last token, L1 the one before it ("(C" counts for L1 where
        // the tokenizer joins the parenthesis to the letter, as GPT-2 does).
        if (TokenChecks.LastTokenOfPrefix(tokenizer, ids, clean, clean.Length - 1 - gap.Length) is not int l1 || ids.Length - 1 != l1 + 1)
            return null;
        // Between W3 and L1 only the parenthesis: its own token, or joined to L1.
        if (l1 - positions["W3"] is not (1 or 2)) return null;
        positions["L1"] = l1;
        positions["L2"] = positions["END"] = ids.Length - 1;
        return new PromptPair(clean, corrupted, gap + w3[0], gap + other[0], positions);
    }

    /// <summary>Whether the capital letter is a token of its own after another letter (as in "(CP" or "( C P").</summary>
    private static bool IsLetterToken(ITokenizer tokenizer, string letter) =>
        TokenChecks.SingleTokenAfter(tokenizer, "The (X", letter) is not null || TokenChecks.SingleTokenAfter(tokenizer, "The ( X", " " + letter) is not null;
}
