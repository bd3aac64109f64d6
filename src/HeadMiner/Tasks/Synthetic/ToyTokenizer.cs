using System.Text.Json;
using System.Text.Json.Nodes;
using HeadMiner.Models.Tokenizers;

namespace HeadMiner.Tasks.Synthetic;

/// <summary>
/// The toy language's tokenizer: one token per word ("w17", "m3", "n5", "Mon", "Jan", "A", "&lt;sep&gt;"), written as a
/// Hugging Face tokenizer.json (WordLevel model, WhitespaceSplit pre-tokenizer, the four specials as added tokens,
/// a template that puts &lt;bos&gt; first), so the trained model directory is complete for our loader and for
/// Hugging Face's <c>tokenizers</c>.
/// </summary>
public static class ToyTokenizer
{
    public static string Json(ToyVocabulary vocabulary) =>
        Json([.. Enumerable.Range(0, vocabulary.Size).Select(vocabulary.TokenToString)]);

    /// <summary>The same file for any token list whose first four are the toy specials (the toy English's).</summary>
    public static string Json(IReadOnlyList<string> tokens)
    {
        var vocab = new JsonObject();
        var added = new JsonArray();
        for (int id = 0; id < tokens.Count; id++)
        {
            string text = tokens[id];
            vocab[text] = id;
            if (id <= ToyVocabulary.Pad)
            {
                added.Add(new JsonObject
                {
                    ["id"] = id,
                    ["content"] = text,
                    ["single_word"] = false,
                    ["lstrip"] = false,
                    ["rstrip"] = false,
                    ["normalized"] = false,
                    ["special"] = true,
                });
            }
        }
        string bos = tokens[ToyVocabulary.Bos];
        var root = new JsonObject
        {
            ["version"] = "1.0",
            ["truncation"] = null,
            ["padding"] = null,
            ["added_tokens"] = added,
            ["normalizer"] = null,
            ["pre_tokenizer"] = new JsonObject { ["type"] = "WhitespaceSplit" },
            ["post_processor"] = new JsonObject
            {
                ["type"] = "TemplateProcessing",
                ["single"] = new JsonArray(
                    new JsonObject { ["SpecialToken"] = new JsonObject { ["id"] = bos, ["type_id"] = 0 } },
                    new JsonObject { ["Sequence"] = new JsonObject { ["id"] = "A", ["type_id"] = 0 } }),
                ["pair"] = new JsonArray(
                    new JsonObject { ["SpecialToken"] = new JsonObject { ["id"] = bos, ["type_id"] = 0 } },
                    new JsonObject { ["Sequence"] = new JsonObject { ["id"] = "A", ["type_id"] = 0 } },
                    new JsonObject { ["Sequence"] = new JsonObject { ["id"] = "B", ["type_id"] = 1 } }),
                ["special_tokens"] = new JsonObject
                {
                    [bos] = new JsonObject { ["id"] = bos, ["ids"] = new JsonArray(ToyVocabulary.Bos), ["tokens"] = new JsonArray(bos) },
                },
            },
            ["decoder"] = null,
            ["model"] = new JsonObject { ["type"] = "WordLevel", ["vocab"] = vocab, ["unk_token"] = "<unk>" },
        };
        return root.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }

    /// <summary>The same tokenizer in memory (what loading <see cref="Json(ToyVocabulary)"/> gives).</summary>
    public static ITokenizer Create(ToyVocabulary vocabulary)
    {
        var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
        var specials = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int id = 0; id < vocabulary.Size; id++)
        {
            vocab[vocabulary.TokenToString(id)] = id;
            if (id <= ToyVocabulary.Pad) specials[vocabulary.TokenToString(id)] = id;
        }
        return new WordLevelTokenizer(vocab, specials, ToyVocabulary.Bos, ToyVocabulary.Eos, addsBosByDefault: true, source: "toy vocabulary");
    }
}
