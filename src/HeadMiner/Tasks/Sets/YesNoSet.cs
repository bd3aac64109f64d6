using HeadMiner.Models.Tokenizers;
using HeadMiner.Tensors;

namespace HeadMiner.Tasks.Sets;

/// <summary>
/// Binary questions for the Negative Attention Score: "Question: Is a lion an animal? Yes or No? Answer:" with
/// " Yes" and " No" in the prompt itself, so a head's attention to each option can be read. Half the pairs are true
/// (answer " Yes"), half false (answer " No"); the corrupted prompt asks about a word that flips the truth, so its
/// right answer is the clean prompt's wrong one. Positions: YES, NO (the option tokens in the prompt), END.
/// </summary>
public sealed class YesNoSet : TaskSetGenerator
{
    private const string Options = " Yes or No?";

    public override string Name => "yes_no";

    public override string Description => "Yes/No questions with \" Yes\" and \" No\" in the prompt (Negative Attention Score); corrupted flips the truth";

    protected override PromptPairSet Build(ITokenizer tokenizer, TaskSetOptions options, SeededRandom random)
    {
        TokenChecks.RequireEnglish(tokenizer, Name);
        TokenChecks.Require(tokenizer, Name, "answer words", ["Yes", "No"], 2);
        var categories = Categories.Usable(tokenizer, Name, 1, 2);
        var collector = new PairCollector(tokenizer, Name, options.Count, options.ContextLength);
        for (int attempt = 0; attempt < options.Count * 20 && !collector.Full; attempt++)
        {
            var two = TokenChecks.Draw(random, categories, 2);
            var asked = two[0];
            string member = asked.Members[random.NextInt(asked.Members.Count)];
            string outsider = two[1].Members[random.NextInt(two[1].Members.Count)];
            bool yes = collector.Count % 2 == 0;
            string clean = Prompt(yes ? member : outsider, asked), corrupted = Prompt(yes ? outsider : member, asked);
            var ids = collector.Encode(clean);
            int optionsAt = clean.IndexOf(Options, StringComparison.Ordinal);
            int? yesPos = TokenChecks.LastTokenOfPrefix(tokenizer, ids, clean, optionsAt + " Yes".Length);
            int? noPos = TokenChecks.LastTokenOfPrefix(tokenizer, ids, clean, optionsAt + " Yes or No".Length);
            if (yesPos is not int y || noPos is not int n)
            {
                collector.Reject("\" Yes\" or \" No\" merges with the text around it");
                continue;
            }
            var positions = new Dictionary<string, int> { ["YES"] = y, ["NO"] = n, ["END"] = ids.Length - 1 };
            collector.TryAdd(new PromptPair(clean, corrupted, yes ? " Yes" : " No", yes ? " No" : " Yes", positions));
        }
        return collector.Finish($"Yes/No questions, {options.Count} pairs (half true), categories {string.Join(", ", categories.Select(c => c.Name))}; corrupted asks about a word that flips the answer");
    }

    private static string Prompt(string word, Categories.Category category) =>
        $"Question: Is {word} a kind of {category.Name}?{Options} Answer:";
}
