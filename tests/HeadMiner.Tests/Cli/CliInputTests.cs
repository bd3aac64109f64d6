using HeadMiner.Cli;
using static HeadMiner.Tests.CliRunner;

namespace HeadMiner.Tests.Cli;

/// <summary>Issue 12's smaller CLI items: --target, --top, generate's stop, control characters on the terminal.</summary>
public sealed class CliInputTests
{
    private const string Pairs = """
        {"version": 1, "task": "toy", "pairs": [
         {"clean": "w3 w17 w40 w9 w3 w17", "corrupted": "w5 w22 w61 w9 w5 w22", "answer": " w40", "wrong": " w61"}]}
        """;

    [Theory]
    [InlineData("z:foo")]
    [InlineData("z:pos:x")]
    [InlineData("z:")]
    public void AMalformedTargetIsAUsageErrorNamingTheValueAndWhatIsAccepted(string target)
    {
        using var dir = TestPaths.NewTempDirectory();
        File.WriteAllText(dir.File("pairs.json"), Pairs);
        var (code, _, err) = Run("patch", "--pairs", dir.File("pairs.json"), "--target", target, "-o", dir.Path);
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains($"patch target \"{target}\": after \"z\" only \":pos\" may follow (e.g. z for layer × head, z:pos for layer × head × position)", err);
        Assert.False(File.Exists(dir.File("patching.json")));
    }

    public static TheoryData<string, string> TopCommands => new()
    {
        { "logits", "0" }, { "logit-lens", "0" }, { "detect", "0" }, { "path-patch", "0" }, { "attrib-patch", "0" },
        { "logits", "-3" }, { "path-patch", "-1" },
    };

    [Theory]
    [MemberData(nameof(TopCommands))]
    public void TopBelowOneIsTheSameUsageErrorInEveryCommand(string command, string top)
    {
        using var dir = TestPaths.NewTempDirectory();
        File.WriteAllText(dir.File("pairs.json"), Pairs);
        string[] args = command switch
        {
            "logits" or "logit-lens" => [command, "-p", "w3", "--top", top],
            "detect" => [command, "--top", top],
            "path-patch" => [command, "--pairs", dir.File("pairs.json"), "-r", "logits", "-o", dir.Path, "--top", top],
            _ => [command, "--pairs", dir.File("pairs.json"), "-o", dir.Path, "--top", top],
        };
        var (code, _, err) = Run(args);
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains($"error: --top {top} must be at least 1 (how many rows to show)", err);
        Assert.DoesNotContain(Directory.EnumerateFiles(dir.Path), f => !f.EndsWith("pairs.json", StringComparison.Ordinal));
    }

    [Fact]
    public void TopOfOneIsAccepted()
    {
        var (code, output, err) = Run("logits", "-p", "w3 w17", "--top", "1");
        Assert.True(code == 0, err);
        Assert.Contains("   1  ", output);
        Assert.DoesNotContain("   2  ", output);
    }

    [Fact]
    public void GenerateSaysWhenTheContextLengthStopsIt()
    {
        // stories260K: context 512, and its greedy continuation of this prompt runs to the end without an EOS.
        var (code, output, err) = Run("generate", "-m", TestPaths.SharedModel("stories260K"), "-p", "Once upon", "-n", "1000");
        Assert.True(code == 0, err);
        Assert.StartsWith("Once upon", output);
        Assert.Contains("generated 509 of 1000 tokens: stopped at the model's context length (512 tokens, of which the prompt is 3)", err);
    }

    [Fact]
    public void GenerateSaysNothingWhenItGeneratesWhatWasAsked()
    {
        var (code, _, err) = Run("generate", "-m", TestPaths.SharedModel("stories260K"), "-p", "Once upon", "-n", "5");
        Assert.True(code == 0, err);
        Assert.DoesNotContain("generated", err);
    }

    [Fact]
    public void ControlCharactersAreEscapedOnTheTerminal()
    {
        Assert.Equal("a\\x1b[31m\\nb\\tc\\x9b\\x00", TerminalText.Escape("a\u001b[31m\nb\tc\u009b\0"));
        Assert.Equal("a\\x1b[31m\nb\tc\\r", TerminalText.EscapeKeepingLines("a\u001b[31m\nb\tc\r"));
        Assert.Same("plain text", TerminalText.Escape("plain text"));

        // A prompt with an escape sequence and a line feed: the token list shows them escaped, never raw.
        var (code, output, err) = Run("logits", "-m", TestPaths.SharedModel("stories260K"), "-p", "Once\u001b[31m upon\nx", "--top", "2");
        Assert.True(code == 0, err);
        Assert.DoesNotContain('\u001b', output);
        Assert.Contains(" | \\x1b | ", output);
        Assert.Contains(" | \\n | ", output);

        // An error message that quotes user input stays one line without raw control characters.
        var (usage, _, message) = Run("patch", "--pairs", "x.json", "--target", "z\u001b[2J");
        Assert.Equal(ExitCodes.Usage, usage);
        Assert.Contains("\"z\\x1b[2J\"", message);
        Assert.DoesNotContain('\u001b', message);
    }
}
