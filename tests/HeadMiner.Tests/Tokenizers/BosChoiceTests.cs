using System.Text.Json.Nodes;
using HeadMiner.Models.Tokenizers;
using static HeadMiner.Tests.CliRunner;

namespace HeadMiner.Tests.Tokenizers;

/// <summary>
/// Whether prompts start with BOS: tokenizer_config.json's add_bos_token (and bos_token) decide when present, else the
/// post-processor template; and the choice with its reason is what every command prints.
/// </summary>
public class BosChoiceTests
{
    // Word-level: <s> 0, </s> 1, <start> 2, hello 3, world 4, <unk> 5.
    private static JsonObject TokenizerJson(bool template)
    {
        JsonNode Added(int id, string content) => new JsonObject { ["id"] = id, ["content"] = content, ["special"] = true };
        return new JsonObject
        {
            ["added_tokens"] = new JsonArray(Added(0, "<s>"), Added(1, "</s>"), Added(2, "<start>")),
            ["pre_tokenizer"] = new JsonObject { ["type"] = "WhitespaceSplit" },
            ["post_processor"] = template
                ? new JsonObject
                {
                    ["type"] = "TemplateProcessing",
                    ["single"] = new JsonArray(
                        new JsonObject { ["SpecialToken"] = new JsonObject { ["id"] = "<s>", ["type_id"] = 0 } },
                        new JsonObject { ["Sequence"] = new JsonObject { ["id"] = "A", ["type_id"] = 0 } }),
                }
                : null,
            ["model"] = new JsonObject
            {
                ["type"] = "WordLevel",
                ["unk_token"] = "<unk>",
                ["vocab"] = new JsonObject { ["<s>"] = 0, ["</s>"] = 1, ["<start>"] = 2, ["hello"] = 3, ["world"] = 4, ["<unk>"] = 5 },
            },
        };
    }

    private static ITokenizer Load(TestPaths.TempDirectory dir, bool template, string? config)
    {
        File.WriteAllText(dir.File("tokenizer.json"), TokenizerJson(template).ToJsonString());
        if (config is not null) File.WriteAllText(dir.File("tokenizer_config.json"), config);
        return TokenizerLoader.Load(dir.Path);
    }

    [Fact]
    public void AddBosTokenTrueInTheConfigPrependsBosWhereTheTokenizerJsonWouldNot()
    {
        using var dir = TestPaths.NewTempDirectory();
        var tok = Load(dir, template: false, """{"add_bos_token": true, "bos_token": "<s>"}""");
        Assert.Equal([0, 3, 4], tok.Encode("hello world"));
        Assert.Equal("prompts start with BOS <s> (id 0): add_bos_token is true in tokenizer_config.json", BosChoice.Describe(tok));
    }

    [Fact]
    public void AddBosTokenFalseInTheConfigOverridesTheTemplate()
    {
        using var dir = TestPaths.NewTempDirectory();
        var tok = Load(dir, template: true, """{"add_bos_token": false}""");
        Assert.Equal([3, 4], tok.Encode("hello world"));
        Assert.Equal([0, 3, 4], tok.Encode("hello world", addBos: true)); // asked for, still there
        Assert.Equal("prompts get no BOS (its token would be <s> (id 0)): add_bos_token is false in tokenizer_config.json", BosChoice.Describe(tok));
    }

    [Fact]
    public void WithoutAConfigTheTemplateDecides()
    {
        using var with = TestPaths.NewTempDirectory();
        var templated = Load(with, template: true, config: null);
        Assert.Equal([0, 3], templated.Encode("hello"));
        Assert.Equal("prompts start with BOS <s> (id 0): tokenizer.json's post-processor template starts with it", BosChoice.Describe(templated));

        using var without = TestPaths.NewTempDirectory();
        var plain = Load(without, template: false, config: null);
        Assert.Equal([3], plain.Encode("hello"));
        Assert.StartsWith("prompts get no BOS (its token would be <s> (id 0)): no add_bos_token", BosChoice.Describe(plain));
    }

    [Fact]
    public void TheConfigsBosTokenNamesWhichTokenIsPrepended()
    {
        using var dir = TestPaths.NewTempDirectory();
        var tok = Load(dir, template: false, """{"add_bos_token": true, "bos_token": {"content": "<start>"}}""");
        Assert.Equal(2, tok.BosId);
        Assert.Equal([2, 3], tok.Encode("hello"));
    }

    [Fact]
    public void EveryModelLoadingCommandStatesTheBosChoice()
    {
        using var dir = TestPaths.NewTempDirectory();
        foreach (string file in Directory.GetFiles(TestPaths.Fixture("parity", "llama"))) File.Copy(file, dir.File(Path.GetFileName(file)));
        Load(dir, template: true, """{"add_bos_token": false}""");
        const string Note = "note: prompts get no BOS (its token would be <s> (id 0)): add_bos_token is false in tokenizer_config.json";

        var info = Run("info", "-m", dir.Path);
        Assert.True(info.Code == 0, info.Err);
        Assert.Contains(Note, info.Err.Split('\n').Select(l => l.TrimEnd('\r')));
        Assert.Matches(@"(?m)^bos\s+prompts get no BOS .*add_bos_token is false", info.Out);

        var logits = Run("logits", "-m", dir.Path, "-p", "hello world", "--json");
        Assert.True(logits.Code == 0, logits.Err);
        Assert.Contains(Note, logits.Err.Split('\n').Select(l => l.TrimEnd('\r')));
        using var doc = System.Text.Json.JsonDocument.Parse(logits.Out);
        Assert.Equal([3, 4], doc.RootElement.GetProperty("tokens").EnumerateArray().Select(t => t.GetInt32()));
    }

    [Fact]
    public void Gpt2VocabAndMergesFollowTheConfigToo()
    {
        using var dir = TestPaths.NewTempDirectory();
        File.WriteAllText(dir.File("vocab.json"), """{"h": 0, "i": 1, "<|endoftext|>": 2, "<s>": 3}""");
        File.WriteAllText(dir.File("merges.txt"), "#version: 0.2\n");
        var plain = TokenizerLoader.Load(dir.Path);
        Assert.Equal([0, 1], plain.Encode("hi"));
        Assert.Equal("prompts get no BOS (its token would be <|endoftext|> (id 2)): GPT-2 vocab.json + merges.txt: Hugging Face's GPT-2 tokenizer adds none", BosChoice.Describe(plain));

        File.WriteAllText(dir.File("tokenizer_config.json"), """{"add_bos_token": true, "bos_token": "<s>"}""");
        var configured = TokenizerLoader.Load(dir.Path);
        Assert.Equal([3, 0, 1], configured.Encode("hi"));
        Assert.Equal(2, configured.EosId);
        Assert.Equal("prompts start with BOS <s> (id 3): add_bos_token is true in tokenizer_config.json", BosChoice.Describe(configured));
    }

    [Fact]
    public void ADanglingTokenizerConfigLinkIsAnErrorNamingIt()
    {
        using var dir = TestPaths.NewTempDirectory();
        File.WriteAllText(dir.File("tokenizer.json"), TokenizerJson(template: true).ToJsonString());
        File.CreateSymbolicLink(dir.File("tokenizer_config.json"), "../../blobs/missing");
        var e = Assert.Throws<HeadMinerException>(() => TokenizerLoader.Load(dir.Path));
        Assert.Contains(dir.File("tokenizer_config.json"), e.Message);
        Assert.Contains("dangling", e.Message);
    }
}
