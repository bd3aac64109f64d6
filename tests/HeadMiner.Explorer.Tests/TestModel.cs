using HeadMiner.Analysis.Atlas;
using HeadMiner.Models;

namespace HeadMiner.Explorer.Tests;

/// <summary>
/// The model every explorer test serves, chosen in this one place: the embedded model (models/embedded; GPT-2, 4 layers
/// × 4 heads, the 955-word toy English, context 128), and a real atlas for it made by the atlas runner once per test
/// run with the `headminer atlas` defaults, saved beside the test binaries as a file the server reads.
/// </summary>
public static class TestModel
{
    public static string Path => System.IO.Path.Combine(RepoPaths.Root, "models", "embedded");

    /// <summary>The id the server gives the first model served from <see cref="Path"/>.</summary>
    public const string Id = "embedded";

    public const int Layers = 4, Heads = 4, ContextLength = 128;

    private static readonly Lazy<AtlasReport> Computed = new(() =>
    {
        using var loaded = ModelLoader.Load(Path);
        var options = new AtlasOptions().ForModel(loaded);
        var atlas = AtlasRunner.Run(loaded.Model, loaded.Tokenizer, AtlasModel.Of(loaded), options);
        atlas.Write(AtlasFilePath);
        return atlas;
    });

    /// <summary>The atlas the runner made for the model (computed on first use, about a second).</summary>
    public static AtlasReport Atlas => Computed.Value;

    /// <summary>atlas.json of <see cref="Atlas"/>, written on first use.</summary>
    public static string AtlasPath
    {
        get
        {
            _ = Computed.Value;
            return AtlasFilePath;
        }
    }

    private static string AtlasFilePath => System.IO.Path.Combine(AppContext.BaseDirectory, "atlas-embedded.json");

    /// <summary>A toy-language prompt (words separated by spaces) with a repeat, so induction heads have work.</summary>
    public const string Prompt = "w3 w17 w40 w9 w3 w17 w40";

    /// <summary>A prompt with as many tokens as <see cref="Prompt"/>, for patching.</summary>
    public const string SourcePrompt = "w5 w22 w61 w9 w5 w22 w61";

    /// <summary>A prompt of <paramref name="words"/> toy words (plus the BOS the tokenizer adds).</summary>
    public static string Words(int words) => string.Join(" ", Enumerable.Range(0, words).Select(i => $"w{i * 7 % 192}"));
}
