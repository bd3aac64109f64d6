namespace HeadMiner.Analysis.Detectors;

/// <summary>
/// Short English passages written for the project, for detectors that need real words (rare words, subword
/// merging): plain frequent words mixed with uncommon ones ("kittiwake", "quartermaster") that byte-pair vocabularies
/// split into several pieces. Each passage is tokenized on its own, BOS first when the model uses one.
/// </summary>
public static class SampleText
{
    public static readonly IReadOnlyList<string> Passages =
    [
        "The old lighthouse keeper counted the kittiwakes every morning and wrote the numbers in a salt-stained notebook.",
        "After the storm, the quartermaster found a barnacle-covered astrolabe wedged between two planks of the deck.",
        "My grandmother kept her buttons in a biscuit tin, sorted by colour, and the tortoiseshell ones were her favourites.",
        "The committee postponed the vote because the treasurer had misplaced the unreconciled ledgers again.",
        "A small boy asked the librarian whether pterodactyls could swim, and she fetched an encyclopaedia to check.",
        "The village baker rises at four, kneads the sourdough, and sells out of cardamom buns before nine.",
        "When the orchestra tuned up, the bassoonist noticed that someone had replaced his reed with a drinking straw.",
        "They walked along the canal towpath past moored narrowboats until the rain turned into persistent drizzle.",
        "The geologist tapped the outcrop with her hammer and pointed out a seam of glittering chalcopyrite.",
        "Every winter the neighbours hold a chess tournament, and every winter the retired cartographer wins it.",
    ];
}
