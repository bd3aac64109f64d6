using System.Text;
using System.Text.Json.Nodes;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;

namespace HeadMiner.Tests.Robustness;

/// <summary>
/// Damaged prompt-pair files given to every command that reads one (patch, path-patch, attrib-patch, dla, ablate,
/// probe) with the embedded model: wrong types, empty lists, clean and corrupted of different token lengths, answers
/// that are not one token, prompts longer than the model's context, lone surrogates, control characters, invalid
/// UTF-8, cut-off or random bytes, thousands of pairs. Each run works or fails with one error line naming the file.
/// </summary>
public sealed class PromptPairFileFuzzTests : IDisposable
{
    private static readonly string Model = Path.Combine(TestPaths.RepoRoot, "models", "embedded");

    private static readonly string[][] Commands =
    [
        ["patch", "--target", "attn_out"], ["path-patch", "-r", "logits"], ["attrib-patch"], ["dla"], ["ablate"], ["probe"],
    ];

    /// <summary>Text that is wrong somewhere in a pair: lengths, several tokens, no token, unknown, too long, not text.</summary>
    private static readonly string[] HostileText =
    [
        "w5 w17 w40", " w40 w41", "", "   ", " zzz", " <bos>", string.Join(' ', Enumerable.Repeat("w3", 300)), JsonMutation.LoneSurrogate, JsonMutation.HugeNumber,
        "w3\u0000w17", "\u001b[31mw3", "w3\r\nw17", "\ufeffw3 w17 w40 w9 w3 w17", " w40",
    ];

    private readonly TestPaths.TempDirectory _directory = TestPaths.NewTempDirectory();

    private static JsonObject Pair(string first) => new()
    {
        ["clean"] = $"{first} w17 w40 w9 {first} w17",
        ["corrupted"] = "w5 w17 w40 w9 w5 w17",
        ["answer"] = " w40",
        ["wrong"] = " w41",
    };

    private static JsonObject ValidFile() => new()
    {
        ["version"] = 1,
        ["task"] = "custom",
        ["description"] = "repeated segments",
        // Ten pairs: enough examples for probe's validation split to hold both labels.
        ["pairs"] = new JsonArray([.. new[] { "w3", "w7", "w11", "w13", "w19", "w23", "w29", "w31", "w37", "w43" }.Select(w => (JsonNode)Pair(w))]),
    };

    private static readonly string[] Fields = ["clean", "corrupted", "answer", "wrong"];

    /// <summary>
    /// Content edits: put hostile text in one field of one pair, repeat the pairs thousands of times, or make one
    /// pair's clean and corrupted prompts both longer than the model's context (256).
    /// </summary>
    private static JsonNode WithContent(JsonObject file, IReadOnlyList<(int Pair, int Field, int Text)> edits)
    {
        var pairs = (JsonArray)file["pairs"]!;
        foreach (var (pair, field, text) in edits)
        {
            if (text == HostileText.Length)
            {
                for (int i = 0; i < 3000; i++) pairs.Add(Pair("w3"));
                continue;
            }
            if (text == HostileText.Length + 1)
            {
                var longPair = (JsonObject)pairs[pair % pairs.Count]!;
                string tooLong = string.Join(' ', Enumerable.Repeat("w3", 300));
                longPair["clean"] = tooLong;
                longPair["corrupted"] = tooLong;
                continue;
            }
            ((JsonObject)pairs[pair % pairs.Count]!)[Fields[field % Fields.Length]] = HostileText[text];
        }
        return file;
    }

    /// <summary>The undamaged file runs through every command, so the property's cases start from a working input.</summary>
    [Fact]
    public void The_valid_file_runs_through_every_command()
    {
        for (int i = 0; i < Commands.Length; i++)
        {
            string file = _directory.File("pairs.json");
            File.WriteAllText(file, ValidFile().ToJsonString());
            string[] command = Commands[i];
            var (code, _, err) = CliRunner.Run([command[0], "-m", Model, command[0] == "probe" ? "--set" : "--pairs", file, "-o", _directory.File("out"), .. command[1..]]);
            Assert.True(code == 0, $"{command[0]}: exit {code}: {err}");
        }
    }

    [Property(MaxTest = FuzzSettings.CostlyCases, Replay = FuzzSettings.Seed)]
    public Property A_damaged_prompt_pair_file_runs_or_fails_naming_the_file()
    {
        var contentEdit = from pair in Gen.Choose(0, 9) from field in Gen.Choose(0, 3) from text in Gen.Choose(0, HostileText.Length + 1) select (pair, field, text);
        var cases = from command in Gen.Choose(0, Commands.Length - 1)
                    from content in contentEdit.ListOf().Select(l => l.Take(2).ToArray())
                    from structure in Gen.Frequency((1, Gen.Constant<JsonMutation?>(null)), (2, JsonMutation.Generator.Select(m => (JsonMutation?)m)))
                    select (command, content, structure);
        return Prop.ForAll(cases.ToArbitrary(), c => Run(c.command, c.content, c.structure));
    }

    internal void Run(int commandIndex, (int, int, int)[] content, JsonMutation? structure)
    {
        string file = _directory.File("pairs.json");
        var json = WithContent(ValidFile(), content);
        File.WriteAllBytes(file, structure?.Apply(json) ?? JsonMutation.Serialize(json));
        string[] command = Commands[commandIndex];
        string[] args = [command[0], "-m", Model, command[0] == "probe" ? "--set" : "--pairs", file, "-o", _directory.File("out"), .. command[1..]];
        string input = $"{string.Join(' ', command)}; content edits [{string.Join(", ", content)}]; {structure?.ToString() ?? "structure intact"}";
        CliErrorContract.SucceedsOrFailsClearly(CliErrorContract.Run(args), file, input);
    }

    public void Dispose() => _directory.Dispose();
}
