using HeadMiner.Models.Tokenizers;

namespace HeadMiner.Tasks.Sets;

/// <summary>
/// Small word categories for the question sets (MCQA, yes/no): knowledge any language model of English has, with
/// members that belong to one category only. Filtered per tokenizer to single-token members and names.
/// </summary>
internal static class Categories
{
    public sealed record Category(string Name, string Article, IReadOnlyList<string> Members);

    internal static readonly Category[] All =
    [
        new("color", "a", ["red", "blue", "green", "yellow", "black", "white", "brown", "pink", "purple", "grey"]),
        new("animal", "an", ["dog", "cat", "horse", "cow", "bird", "lion", "bear", "sheep", "pig", "tiger", "rabbit", "mouse"]),
        new("fruit", "a", ["apple", "banana", "grape", "lemon", "cherry", "pear", "peach", "mango", "melon", "plum"]),
        new("number", "a", ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"]),
        new("country", "a", ["France", "Germany", "Spain", "Italy", "Japan", "China", "India", "Canada", "Brazil", "Mexico"]),
        new("vehicle", "a", ["car", "bus", "train", "truck", "bike", "boat", "plane", "ship"]),
    ];

    /// <summary>The categories whose name and at least <paramref name="minMembers"/> members are single tokens (members filtered).</summary>
    public static List<Category> Usable(ITokenizer tokenizer, string set, int minMembers, int minCategories)
    {
        var usable = All.Where(c => TokenChecks.IsSingleWord(tokenizer, c.Name))
            .Select(c => c with { Members = TokenChecks.SingleWords(tokenizer, c.Members) })
            .Where(c => c.Members.Count >= minMembers)
            .ToList();
        if (usable.Count < minCategories)
            throw new HeadMinerException(TokenChecks.Missing(set, $"{minCategories} word categories (of {string.Join(", ", All.Select(c => c.Name))}) with a single-token name and {minMembers}+ single-token members", usable.Select(c => c.Name).ToList()));
        return usable;
    }
}
