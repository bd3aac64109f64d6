using System.Globalization;
using HeadMiner.Models.Tokenizers;
using HeadMiner.Tensors;

namespace HeadMiner.Tasks.Sets;

/// <summary>
/// Greater-Than (Hanna et al. 2023): "The war lasted from the year 1732 to the year 17" — a model that compares
/// years puts its probability on 33…99. The corrupted prompt starts in YY = 01, which leaves nothing to exclude.
/// Usable only when the century " XX" is one token and XXYY splits into " XX" + "YY" for the years used.
/// Each pair carries the answer sets the metric needs: <c>answer_set</c> = the two-digit years after YY,
/// <c>wrong_set</c> = YY and the years before it (metric: probability on answer_set minus on wrong_set);
/// the set entries are the two-digit strings as the model continues after " XX" (each one token on its own);
/// <c>answer</c>/<c>wrong</c> are YY+1 and YY for a plain logit difference. Positions: YY (the start year's
/// second token) and END.
/// </summary>
public sealed class GreaterThanSet : TaskSetGenerator
{
    internal static readonly string[] Nouns =
    [
        "war", "conflict", "expedition", "reign", "drought", "project", "strike", "siege", "dynasty", "occupation",
        "campaign", "journey", "festival", "trial", "crisis", "revolution", "rebellion", "voyage", "empire", "plague",
    ];

    public override string Name => "greater_than";

    public override string Description => "Greater-Than: \"The {noun} lasted from the year XXYY to the year XX\", corrupted YY = 01, answer sets for the probability-mass metric";

    protected override PromptPairSet Build(ITokenizer tokenizer, TaskSetOptions options, SeededRandom random)
    {
        TokenChecks.RequireEnglish(tokenizer, Name);
        var nouns = TokenChecks.SameLengthWords(tokenizer, "The", Nouns);
        if (nouns.Count == 0) throw new HeadMinerException($"{Name}: no event noun can be encoded by this tokenizer");
        // Centuries whose " XX" is one token; per century the YY (02–98) for which " XXYY" is " XX" + "YY" inside the
        // prompt (GPT-2 has whole tokens such as " 1700", so some years cannot start a range).
        var all = Enumerable.Range(0, 100).Select(y => y.ToString("00", CultureInfo.InvariantCulture)).ToArray();
        var vocabulary = TokenChecks.VocabularyWords(tokenizer);
        var pieces = all.Where(vocabulary.Contains).ToList();
        if (pieces.Count < all.Length || all.Any(yy => tokenizer.Encode(yy, addBos: false).Length != 1))
            throw new HeadMinerException(TokenChecks.Missing(Name, "the 100 two-digit years 00–99 as single tokens (the answer sets)", pieces));
        var centuries = new List<(string Xx, int[] Starts)>();
        for (int c = 11; c <= 19; c++)
        {
            string xx = c.ToString(CultureInfo.InvariantCulture);
            if (TokenChecks.SingleTokenAfter(tokenizer, "the year", " " + xx) is null) continue;
            if (TokenChecks.SingleTokenAfter(tokenizer, "the year " + xx, "01") is null) continue;
            var starts = Enumerable.Range(2, 97).Where(y => TokenChecks.SingleTokenAfter(tokenizer, "the year " + xx, all[y]) is not null).ToArray();
            if (starts.Length >= 10) centuries.Add((xx, starts));
        }
        if (centuries.Count == 0)
        {
            var single = Enumerable.Range(11, 9).Select(c => c.ToString(CultureInfo.InvariantCulture)).Where(xx => TokenChecks.SingleTokenAfter(tokenizer, "the year", " " + xx) is not null).ToList();
            throw new HeadMinerException(TokenChecks.Missing(Name, "a century \" XX\" (11–19) that is one token and whose years XX01 and 10+ of XX02–XX98 split into \" XX\" + \"YY\"", single.Select(xx => $"\" {xx}\" (whose years do not split)").ToList()));
        }

        var collector = new PairCollector(tokenizer, Name, options.Count, options.ContextLength);
        for (int attempt = 0; attempt < options.Count * 20 && !collector.Full; attempt++)
        {
            var (xx, starts) = centuries[random.NextInt(centuries.Count)];
            string noun = nouns[random.NextInt(nouns.Count)];
            int y = starts[random.NextInt(starts.Length)];
            string yy = all[y];
            string stem = $"The {noun} lasted from the year {xx}";
            string tail = $" to the year {xx}";
            string clean = stem + yy + tail;
            string corrupted = stem + "01" + tail;
            var ids = collector.Encode(clean);
            int? yyPos = TokenChecks.LastTokenOfPrefix(tokenizer, ids, clean, stem.Length + 2);
            if (yyPos is not int p)
            {
                collector.Reject($"\"{xx}{yy}\" did not split into \"{xx}\" + \"{yy}\" inside the prompt");
                continue;
            }
            var positions = new Dictionary<string, int> { ["YY"] = p, ["END"] = ids.Length - 1 };
            collector.TryAdd(new PromptPair(clean, corrupted, all[y + 1], yy, positions, all[(y + 1)..], all[..(y + 1)]));
        }
        return collector.Finish($"Greater-Than, {options.Count} pairs over centuries {string.Join(", ", centuries.Select(c => c.Xx))}; corrupted start year XX01; metric = p(answer_set) − p(wrong_set) at END");
    }
}
