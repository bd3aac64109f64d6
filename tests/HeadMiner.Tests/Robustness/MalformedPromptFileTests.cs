using System.Text;

namespace HeadMiner.Tests.Robustness;

/// <summary>
/// The prompt-file defects the robustness suite found, pinned as plain cases: each is one error line (exit 1) that
/// names the file and says what is wrong, where before some were an internal error or named no file.
/// </summary>
public sealed class MalformedPromptFileTests : IDisposable
{
    private static readonly string Model = Path.Combine(TestPaths.RepoRoot, "models", "embedded");
    private readonly TestPaths.TempDirectory _directory = TestPaths.NewTempDirectory();

    private const string Pair = "{\"clean\":\"w3 w17 w40 w9\",\"corrupted\":\"w5 w17 w40 w9\",\"answer\":\" w40\",\"wrong\":\" w41\"}";

    [Theory]
    [InlineData("ablate", "{\"version\":1,\"pairs\":null}", "\"pairs\" is missing, null or empty")]
    [InlineData("patch", "{\"version\":1,\"pairs\":[]}", "has no pairs")]
    [InlineData("probe", "{\"version\":1,\"examples\":null}", "has no \"examples\"")]
    [InlineData("dla", "{\"version\":1,\"pairs\":[{\"clean\":\"w3 zzz\",\"corrupted\":\"w3 w5\",\"answer\":\" w4\",\"wrong\":\" w5\"}]}", "pair 0, \"clean\": \"zzz\" at character 3 is not a word")]
    [InlineData("ablate", "{\"version\":1,\"pairs\":[" + Pair + ",{\"clean\":\"w3 w4 w5 w6\",\"corrupted\":\"w3 w4 w5 w6\",\"answer\":\" w4\",\"wrong\":\" w5\\u0000\"}]}", "pair 1, \"wrong\": \"w5\\x00\" at character 12")]
    [InlineData("probe", "{\"version\":1,\"examples\":[{\"prompt\":\"w3 w4\",\"label\":1},{\"prompt\":\"w3 qq\",\"label\":0}]}", "example 1: \"qq\" at character 3")]
    [InlineData("patch", "{\"version\":1,\"pairs\":[{\"clean\":\"w3 \\ud800\",\"corrupted\":\"w3 w4\",\"answer\":\" w4\",\"wrong\":\" w5\"}]}", "could not be converted to HeadMiner.Tasks.PromptPair. Path: $.pairs[0].clean")]
    [InlineData("probe", "{\"version\":1,\"examples\":[{\"prompt\":\"\\udfff\",\"label\":1}]}", "Path: $.examples[0].prompt")]
    public void A_bad_prompt_file_is_one_error_naming_the_file_and_the_place(string command, string json, string expected)
    {
        string file = _directory.File("pairs.json");
        File.WriteAllText(file, json);
        var result = CliRunner.Run(command, "-m", Model, command == "probe" ? "--set" : "--pairs", file, "-o", _directory.File("out"));
        Assert.Equal(1, result.Code);
        CliErrorContract.SucceedsOrFailsClearly(result, file, json);
        Assert.Contains(expected, result.Err);
    }

    [Theory]
    [InlineData("patch")]
    [InlineData("probe")]
    public void Prompts_longer_than_the_context_are_refused_naming_the_file_and_the_pair(string command)
    {
        string words = string.Join(' ', Enumerable.Repeat("w3", 300));
        string file = _directory.File("pairs.json");
        File.WriteAllText(file, $"{{\"version\":1,\"pairs\":[{{\"clean\":\"{words}\",\"corrupted\":\"{words}\",\"answer\":\" w4\",\"wrong\":\" w5\"}}]}}");
        var result = CliRunner.Run(command, "-m", Model, command == "probe" ? "--set" : "--pairs", file, "-o", _directory.File("out"));
        CliErrorContract.SucceedsOrFailsClearly(result, file, command);
        Assert.Equal(1, result.Code);
        Assert.Contains("301 tokens but the model's context length is 128", result.Err);
        Assert.Contains(command == "probe" ? "example 0" : "pair 0", result.Err);
    }

    [Fact]
    public void Invalid_utf8_is_refused_with_its_offset_instead_of_read_as_replacement_characters()
    {
        string file = _directory.File("pairs.json");
        byte[] bytes = [.. Encoding.UTF8.GetBytes("{\"version\":1,\"pairs\":[{\"clean\":\"w3 "), 0xC3, 0x28, .. Encoding.UTF8.GetBytes("\"}]}")];
        File.WriteAllBytes(file, bytes);
        var result = CliRunner.Run("patch", "-m", Model, "--pairs", file, "-o", _directory.File("out"));
        CliErrorContract.SucceedsOrFailsClearly(result, file, "invalid UTF-8");
        Assert.Contains("is not UTF-8 text (invalid byte at offset 35)", result.Err);
    }

    [Fact]
    public void A_file_over_the_size_limit_is_refused_before_it_is_read()
    {
        string file = _directory.File("pairs.json");
        using (var stream = File.Create(file)) stream.SetLength(300L << 20); // sparse: no 300 MB written
        foreach (string command in new[] { "patch", "probe" })
        {
            var result = CliRunner.Run(command, "-m", Model, command == "probe" ? "--set" : "--pairs", file, "-o", _directory.File("out"));
            CliErrorContract.SucceedsOrFailsClearly(result, file, command);
            Assert.Contains("is 300 MB; the limit is 256 MB", result.Err);
        }
    }

    public void Dispose() => _directory.Dispose();
}
