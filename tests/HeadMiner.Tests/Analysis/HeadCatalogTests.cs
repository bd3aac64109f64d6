using System.Text;
using HeadMiner.Analysis.Catalog;

namespace HeadMiner.Tests.Analysis;

/// <summary>The shipped catalog against the survey's paper list in ../shared (read, never copied).</summary>
public class HeadCatalogTests
{
    private sealed record CsvPaper(string Date, string Title, string[] Tags, string Url);

    private static readonly Lazy<List<CsvPaper>> Papers = new(() =>
    {
        var rows = ReadCsv(File.ReadAllText(TestPaths.SharedFile("docs/head-papers.csv")));
        var header = rows[0];
        int date = Array.IndexOf(header, "date"), title = Array.IndexOf(header, "title"), tags = Array.IndexOf(header, "head_types"), url = Array.IndexOf(header, "paper_url");
        Assert.True(date >= 0 && title >= 0 && tags >= 0 && url >= 0, "head-papers.csv lacks an expected column");
        return rows.Skip(1).Where(r => r.Length > 1)
            .Select(r => new CsvPaper(r[date], r[title], r[tags].Split(';', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries), r[url]))
            .ToList();
    });

    [Fact]
    public void ThePaperListIsTheOneDescribed() => Assert.Equal(86, Papers.Value.Count);

    [Fact]
    public void EveryTagOfThePaperListMapsToACatalogEntry()
    {
        var catalog = HeadCatalog.Load();
        var missing = Papers.Value.SelectMany(p => p.Tags).Distinct().Where(tag => catalog.Find(tag) is null).ToList();
        Assert.True(missing.Count == 0, "tags without a catalog entry: " + string.Join(", ", missing));
    }

    [Fact]
    public void EveryPaperIsAttachedToEachTypeItIsTaggedWith()
    {
        var catalog = HeadCatalog.Load();
        foreach (var paper in Papers.Value)
            foreach (var tag in paper.Tags)
            {
                var type = catalog.Get(tag);
                Assert.True(type.Papers.Any(p => p.Title == paper.Title && p.Date == paper.Date && p.Url == paper.Url),
                    $"\"{paper.Title}\" is tagged {tag} but is not among the papers of {type.Id}");
            }
    }

    [Fact]
    public void NoTypeCarriesAPaperThatIsNotTaggedWithIt()
    {
        var catalog = HeadCatalog.Load();
        foreach (var type in catalog.Types)
            foreach (var attached in type.Papers)
            {
                var paper = Papers.Value.SingleOrDefault(p => p.Title == attached.Title && p.Date == attached.Date);
                Assert.True(paper is not null, $"{type.Id} lists \"{attached.Title}\", which is not in the paper list");
                Assert.Contains(paper!.Tags, tag => catalog.Find(tag) == type);
            }
    }

    [Fact]
    public void IdsAreUniqueSnakeCaseAndStagesAndDetectorsAreFromTheirLists()
    {
        var types = HeadCatalog.Load().Types;
        Assert.Equal(types.Count, types.Select(t => t.Id).Distinct().Count());
        foreach (var t in types)
        {
            Assert.Matches("^[a-z][a-z0-9]*(_[a-z0-9]+)*$", t.Id);
            Assert.Contains(t.StageText, new[] { "KR", "ICI", "LR", "EP" });
            if (t.Detector is not null) Assert.Contains(t.Detector, HeadCatalog.DetectorIds);
            Assert.All(t.RelatedDetectors, d => Assert.Contains(d, HeadCatalog.DetectorIds));
            Assert.False(string.IsNullOrWhiteSpace(t.Function), $"{t.Id} has no function");
            Assert.False(string.IsNullOrWhiteSpace(t.Name), $"{t.Id} has no name");
        }
    }

    [Fact]
    public void TheSurveyTablesTypesSitInTheirStages()
    {
        var catalog = HeadCatalog.Load();
        (string Name, HeadStage Stage)[] table =
        [
            ("memory", HeadStage.KR), ("constant", HeadStage.KR), ("single_letter", HeadStage.KR), ("negative", HeadStage.KR),
            ("previous_token", HeadStage.ICI), ("duplicate_token", HeadStage.ICI), ("retrieval", HeadStage.ICI), ("name_mover", HeadStage.ICI),
            ("negative_name_mover", HeadStage.ICI), ("global_retrieval", HeadStage.ICI), ("semantic_induction", HeadStage.ICI),
            ("induction", HeadStage.LR), ("successor", HeadStage.LR), ("s_inhibition", HeadStage.LR), ("correct_letter", HeadStage.LR),
            ("summary_reader", HeadStage.LR), ("amplification", HeadStage.EP), ("correct", HeadStage.EP), ("faithfulness", HeadStage.EP),
        ];
        foreach (var (name, stage) in table) Assert.Equal(stage, catalog.Get(name).Stage);
    }

    [Fact]
    public void EveryDetectorButKCompositionIsThePrimaryMeasureOfSomeType()
    {
        var catalog = HeadCatalog.Load();
        var unused = HeadCatalog.DetectorIds.Where(d => !catalog.MeasuredBy(d).Any()).ToList();
        Assert.Equal(["k_composition"], unused);
        Assert.Contains("k_composition", catalog.Get("induction").RelatedDetectors);
    }

    [Fact]
    public void LookupsWorkByIdAndAliasAndStage()
    {
        var catalog = HeadCatalog.Load();
        Assert.Same(catalog.Get("s_inhibition"), catalog.Get("S Inhibition Head"));
        Assert.Same(catalog.Get("subword_merge"), catalog.Get("bpe-merging head"));
        Assert.Null(catalog.Find("no_such_head"));
        Assert.Contains("no_such_head", Assert.Throws<HeadMinerException>(() => catalog.Get("no_such_head")).Message);
        Assert.All(catalog.InStage(HeadStage.EP), t => Assert.Equal(HeadStage.EP, t.Stage));
        Assert.Equal(catalog.Types.Count, HeadStages.All.Sum(s => catalog.InStage(s).Count()));
    }

    [Theory]
    [InlineData("""{"version": 1, "types": [{"id": "a", "name": "A", "stage": "XY", "function": "f"}]}""", "stage \"XY\"")]
    [InlineData("""{"version": 1, "types": [{"id": "a", "name": "A", "stage": "KR", "function": "f", "detector": "nope"}]}""", "unknown detector \"nope\"")]
    [InlineData("""{"version": 1, "types": [{"id": "a", "name": "A", "stage": "KR", "function": "f"}, {"id": "b", "name": "B", "stage": "KR", "function": "f", "aliases": ["a"]}]}""", "names both a and b")]
    [InlineData("""{"version": 2, "types": []}""", "version 2")]
    [InlineData("""{"version": 1, "types": [""", "not a valid head catalog")]
    public void ABrokenCatalogIsRejectedWithTheReason(string json, string expected)
    {
        var e = Assert.Throws<HeadMinerException>(() => HeadCatalog.Parse(json, "test.json"));
        Assert.Contains(expected, e.Message);
        Assert.StartsWith("test.json", e.Message);
    }

    /// <summary>RFC 4180 CSV: quoted fields may hold commas, doubled quotes and newlines.</summary>
    private static List<string[]> ReadCsv(string text)
    {
        var rows = new List<string[]>();
        var row = new List<string>();
        var cell = new StringBuilder();
        bool quoted = false;
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            if (quoted)
            {
                if (c == '"' && i + 1 < text.Length && text[i + 1] == '"') { cell.Append('"'); i++; }
                else if (c == '"') quoted = false;
                else cell.Append(c);
            }
            else if (c == '"') quoted = true;
            else if (c == ',') { row.Add(cell.ToString()); cell.Clear(); }
            else if (c == '\n')
            {
                row.Add(cell.ToString().TrimEnd('\r'));
                cell.Clear();
                rows.Add([.. row]);
                row.Clear();
            }
            else cell.Append(c);
        }
        if (cell.Length > 0 || row.Count > 0) { row.Add(cell.ToString()); rows.Add([.. row]); }
        return rows;
    }
}
