using HeadMiner.Models.Tokenizers;
using HeadMiner.Tensors;

namespace HeadMiner.Tasks.Sets;

/// <summary>
/// Multiple-choice questions in letter format (the MCQA heads: constant, single-letter, correct-letter):
/// "Question: Which of these is a fruit?\nA. dog\nB. apple\nC. red\nD. car\nAnswer:" → " B". The correct letter is
/// spread evenly over A–D. The corrupted prompt swaps the right option with another, so the right letter moves and
/// the clean letter becomes wrong. Positions: A, B, C, D (each option letter), CORRECT (the right option's letter),
/// END.
/// </summary>
public sealed class McqaSet : TaskSetGenerator
{
    private static readonly string[] Letters = ["A", "B", "C", "D"];

    public override string Name => "mcqa";

    public override string Description => "Multiple-choice questions in A–D letter format; correct letter varied; corrupted = the right option moved to another letter";

    protected override PromptPairSet Build(ITokenizer tokenizer, TaskSetOptions options, SeededRandom random)
    {
        TokenChecks.RequireEnglish(tokenizer, Name);
        TokenChecks.Require(tokenizer, Name, "answer letters", Letters, 4);
        var categories = Categories.Usable(tokenizer, Name, 1, 4);
        var collector = new PairCollector(tokenizer, Name, options.Count, options.ContextLength);
        for (int attempt = 0; attempt < options.Count * 20 && !collector.Full; attempt++)
        {
            var four = TokenChecks.Draw(random, categories, 4);
            var options4 = four.Select(c => c.Members[random.NextInt(c.Members.Count)]).ToArray();
            int right = collector.Count % 4;
            int moved = (right + 1 + random.NextInt(3)) % 4;
            // four[0] is the asked category: put its member in slot `right`.
            var clean = Arrange(options4, right);
            var corrupted = (string[])clean.Clone();
            (corrupted[right], corrupted[moved]) = (corrupted[moved], corrupted[right]);
            string question = $"Question: Which of these is {four[0].Article} {four[0].Name}?";
            string cleanText = Prompt(question, clean), corruptedText = Prompt(question, corrupted);
            var ids = collector.Encode(cleanText);
            var positions = new Dictionary<string, int>();
            for (int i = 0; i < 4; i++)
            {
                int at = cleanText.IndexOf("\n" + Letters[i] + ". ", StringComparison.Ordinal) + 2;
                if (TokenChecks.LastTokenOfPrefix(tokenizer, ids, cleanText, at) is int p) positions[Letters[i]] = p;
            }
            if (positions.Count < 4)
            {
                collector.Reject("an option letter merges with the text around it");
                continue;
            }
            positions["CORRECT"] = positions[Letters[right]];
            positions["END"] = ids.Length - 1;
            collector.TryAdd(new PromptPair(cleanText, corruptedText, " " + Letters[right], " " + Letters[moved], positions));
        }
        return collector.Finish($"MCQA letter format, {options.Count} pairs over categories {string.Join(", ", categories.Select(c => c.Name))}; correct letter cycles A–D; corrupted moves the right option to another letter");
    }

    private static string[] Arrange(string[] options, int right)
    {
        var result = new string[4];
        result[right] = options[0];
        for (int i = 0, k = 1; i < 4; i++)
            if (i != right) result[i] = options[k++];
        return result;
    }

    private static string Prompt(string question, string[] options) =>
        question + string.Concat(options.Select((o, i) => $"\n{Letters[i]}. {o}")) + "\nAnswer:";
}
