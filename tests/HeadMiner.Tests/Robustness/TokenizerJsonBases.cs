using System.Text.Json.Nodes;
using HeadMiner.Models.Tokenizers;

namespace HeadMiner.Tests.Robustness;

/// <summary>
/// Valid tokenizer.json files of the three kinds the loader reads, small enough for the embedded model's 955-token
/// vocabulary, each with a prompt it encodes: the embedded model's own WordLevel file, a byte-level BPE (GPT-2 style)
/// and a SentencePiece-style BPE with byte fallback (Llama 2 style). The robustness suite damages copies of them.
/// </summary>
internal static class TokenizerJsonBases
{
    public static IReadOnlyList<(string Kind, JsonNode Json, string Prompt)> All { get; } =
    [
        ("WordLevel", JsonNode.Parse(File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "models", "embedded", "tokenizer.json")))!, "w3 w17 w40 w9"),
        ("byte-level BPE", ByteLevel(), "the cat sat 🐱"),
        ("SentencePiece BPE", SentencePiece(), "the cat é"),
    ];

    private static JsonNode ByteLevel()
    {
        var vocab = new JsonObject();
        for (int b = 0; b < 256; b++) vocab[GptByteAlphabet.ToChar((byte)b).ToString()] = b;
        string[][] merges = [["t", "h"], ["th", "e"], ["Ġ", "c"], ["Ġc", "a"], ["Ġca", "t"], ["Ġ", "s"], ["Ġs", "a"], ["Ġsa", "t"]];
        foreach (var m in merges) vocab[m[0] + m[1]] = vocab.Count;
        int eot = vocab.Count;
        return new JsonObject
        {
            ["version"] = "1.0",
            ["added_tokens"] = new JsonArray(new JsonObject { ["id"] = eot, ["content"] = "<|endoftext|>", ["special"] = true }),
            ["normalizer"] = null,
            ["pre_tokenizer"] = new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["trim_offsets"] = true, ["use_regex"] = true },
            ["post_processor"] = new JsonObject { ["type"] = "ByteLevel", ["trim_offsets"] = false },
            ["decoder"] = new JsonObject { ["type"] = "ByteLevel" },
            ["model"] = new JsonObject
            {
                ["type"] = "BPE",
                ["dropout"] = null,
                ["unk_token"] = null,
                ["vocab"] = vocab,
                ["merges"] = new JsonArray([.. merges.Select(m => (JsonNode?)JsonValue.Create(m[0] + " " + m[1]))]),
            },
        };
    }

    private static JsonNode SentencePiece()
    {
        var vocab = new JsonObject { ["<unk>"] = 0, ["<s>"] = 1, ["</s>"] = 2 };
        for (int b = 0; b < 256; b++) vocab[$"<0x{b:X2}>"] = vocab.Count;
        foreach (string piece in new[] { "▁", "t", "h", "e", "c", "a", "▁t", "he", "▁the", "▁c", "▁ca", "at", "▁cat" }) vocab[piece] = vocab.Count;
        JsonNode Special(int id, string content) => new JsonObject { ["id"] = id, ["content"] = content, ["special"] = true };
        JsonNode Token(string kind, string id) => new JsonObject { [kind] = new JsonObject { ["id"] = id, ["type_id"] = 0 } };
        return new JsonObject
        {
            ["version"] = "1.0",
            ["added_tokens"] = new JsonArray(Special(0, "<unk>"), Special(1, "<s>"), Special(2, "</s>")),
            ["normalizer"] = new JsonObject
            {
                ["type"] = "Sequence",
                ["normalizers"] = new JsonArray(
                    new JsonObject { ["type"] = "Prepend", ["prepend"] = "▁" },
                    new JsonObject { ["type"] = "Replace", ["pattern"] = new JsonObject { ["String"] = " " }, ["content"] = "▁" }),
            },
            ["pre_tokenizer"] = null,
            ["post_processor"] = new JsonObject
            {
                ["type"] = "TemplateProcessing",
                ["single"] = new JsonArray(Token("SpecialToken", "<s>"), Token("Sequence", "A")),
            },
            ["model"] = new JsonObject
            {
                ["type"] = "BPE",
                ["unk_token"] = "<unk>",
                ["fuse_unk"] = true,
                ["byte_fallback"] = true,
                ["vocab"] = vocab,
                ["merges"] = new JsonArray("▁ t", "h e", "▁t he", "▁ c", "▁c a", "a t", "▁ca t"),
            },
        };
    }
}
