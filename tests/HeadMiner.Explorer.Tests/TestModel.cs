namespace HeadMiner.Explorer.Tests;

/// <summary>
/// The model every explorer test serves: the one place to switch to the embedded model (models/embedded) once it is
/// in the repository. Until then: stories260K from ../shared (a real Llama-architecture model with a tokenizer), and a
/// hand-written atlas.json for it that follows docs/ATLAS.md (its scores are made up; the tests only check that the
/// page shows what the file says).
/// </summary>
public static class TestModel
{
    public static string Path => RepoPaths.Shared("models", "stories260K");

    public static string AtlasPath => System.IO.Path.Combine(AppContext.BaseDirectory, "Fixtures", "atlas-stories260K.json");

    /// <summary>A prompt of a few tokens the tests type.</summary>
    public const string Prompt = "Once upon a time there was a little cat";

    /// <summary>A prompt with as many tokens as <see cref="Prompt"/>, for patching.</summary>
    public const string SourcePrompt = "Once upon a time there was a big dog";
}
