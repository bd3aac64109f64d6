using System.Text.RegularExpressions;
using HeadMiner.Models;
using HeadMiner.Models.Generation;

namespace HeadMiner.Tests.Models;

/// <summary>
/// The real stories260K model must reproduce llama2.c's published greedy output byte for byte
/// (`./run stories260K.bin -z tok512.bin -t 0.0 -n 200`, quoted in ../shared/models/stories260K/SOURCE.md).
/// </summary>
public class Llama2cParityTests
{
    private static string ModelDir => TestPaths.SharedModel("stories260K");

    private static string ExpectedText()
    {
        string source = File.ReadAllText(Path.Combine(ModelDir, "SOURCE.md"));
        var match = Regex.Match(source, "```\\n(Once upon a time.*?)\\n```", RegexOptions.Singleline);
        Assert.True(match.Success, "SOURCE.md no longer holds the reference text block");
        return match.Groups[1].Value;
    }

    [Fact]
    public void GreedyDecodingFromBosReproducesRunCOutput()
    {
        using var loaded = ModelLoader.Load(Path.Combine(ModelDir, "stories260K.bin"));
        var tokenizer = loaded.RequireTokenizer();
        Assert.Equal("llama2c", loaded.Model.Config.Architecture);
        Assert.Equal((5, 8, 4, 64), (loaded.Model.Config.Layers, loaded.Model.Config.Heads, loaded.Model.Config.KvHeads, loaded.Model.Config.DModel));
        // run.c: 200 steps from BOS, each step prints the next token; it stops early only on BOS (id 1).
        var generated = Generator.Generate(loaded.Model, [1], 200, new Sampler(0f), stopTokens: [1]);
        string text = tokenizer.Decode([1, .. generated]);
        Assert.Equal(ExpectedText(), text.TrimEnd('\n'));
    }

    [Fact]
    public void FullForwardAndCachedDecodingAgreeOnTheRealModel()
    {
        using var loaded = ModelLoader.Load(Path.Combine(ModelDir, "stories260K.bin"));
        var tokens = loaded.RequireTokenizer().Encode("Once upon a time, there was a little girl named Lily.");
        var full = loaded.Model.Forward(tokens).ToArray();
        var cache = new KvCache(loaded.Model.Config, tokens.Length);
        int v = loaded.Model.Config.VocabSize;
        for (int t = 0; t < tokens.Length; t++)
        {
            var step = loaded.Model.ForwardIncremental(tokens.AsSpan(t, 1), cache).ToArray();
            for (int j = 0; j < v; j++) Assert.Equal(full[t * v + j], step[j], 1e-4f);
        }
    }
}
