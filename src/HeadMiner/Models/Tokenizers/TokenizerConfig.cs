using System.Text.Json;
using HeadMiner.Tensors;

namespace HeadMiner.Models.Tokenizers;

/// <summary>
/// What HeadMiner reads from a model folder's <c>tokenizer_config.json</c> (transformers' own settings, which take
/// precedence over what tokenizer.json or vocab.json imply): the BOS and EOS token names and <c>add_bos_token</c>.
/// </summary>
internal sealed record TokenizerConfig(string? Bos, string? Eos, bool? AddBos)
{
    public const string FileName = "tokenizer_config.json";

    /// <summary>The settings in <paramref name="path"/>, or null when there is no such file (a dangling link is an error).</summary>
    public static TokenizerConfig? Read(string? path)
    {
        if (path is null || !FileLinks.Exists(path)) return null;
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(File.ReadAllBytes(FileLinks.Resolve(path, FileName).FullName));
        }
        catch (Exception e) when (e is JsonException or IOException or UnauthorizedAccessException)
        {
            throw new HeadMinerException($"{path}: cannot read tokenizer_config.json: {e.Message}", e);
        }
        using (doc)
        {
            var root = new JsonAt(doc.RootElement, "", path);
            return new TokenizerConfig(TokenName(root, "bos_token"), TokenName(root, "eos_token"),
                root.Optional("add_bos_token") is { Kind: JsonValueKind.True or JsonValueKind.False } add ? add.Bool(false) : null);
        }
    }

    /// <summary>The reason to state when <see cref="AddBos"/> decided, or null when the file leaves it open.</summary>
    public string? AddBosRule => AddBos is bool add ? $"add_bos_token is {(add ? "true" : "false")} in {FileName}" : null;

    // "bos_token": "<s>" or {"content": "<s>", ...} or null.
    private static string? TokenName(JsonAt root, string name) => root.Optional(name) switch
    {
        { Kind: JsonValueKind.String } value => value.String(),
        { Kind: JsonValueKind.Object } value => value.String("content", null),
        _ => null,
    };
}
