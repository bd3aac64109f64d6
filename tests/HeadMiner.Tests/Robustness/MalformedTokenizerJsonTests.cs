namespace HeadMiner.Tests.Robustness;

/// <summary>
/// The tokenizer.json defects the robustness suite found, pinned as plain cases: each was an internal error
/// (IndexOutOfRange, NullReference, ArgumentNull, Overflow, or a gigabyte allocation for a huge id) and is now one
/// error line naming the file and the JSON field.
/// </summary>
public sealed class MalformedTokenizerJsonTests : IDisposable
{
    private const string WordLevelPre = "\"pre_tokenizer\":{\"type\":\"WhitespaceSplit\"}";
    private const string ByteLevelPre = "\"pre_tokenizer\":{\"type\":\"ByteLevel\"}";

    private readonly ScratchModel _model = ScratchModel.Embedded();

    [Theory]
    [InlineData("[]", "the top level must be an object, not an array")]
    [InlineData("{}", "model is missing")]
    [InlineData("{\"model\":{\"type\":\"WordLevel\",\"vocab\":{\"a\":-1}}," + WordLevelPre + "}", "token \"a\" has id -1; ids start at 0")]
    [InlineData("{\"model\":{\"type\":\"WordLevel\",\"vocab\":{\"a\":0,\"b\":2147483647}}," + WordLevelPre + "}", "token \"b\" has id 2147483647, but there are only 2 tokens")]
    [InlineData("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":2147483647}}," + ByteLevelPre + "}", "token \"b\" has id 2147483647, but there are only 2 tokens")]
    [InlineData("{\"model\":{\"type\":\"WordLevel\",\"vocab\":{\"a\":\"x\"}}," + WordLevelPre + "}", "model.vocab[\"a\"] must be an integer, not a string")]
    [InlineData("{\"model\":{\"type\":\"WordLevel\",\"vocab\":{\"a\":1e300}}," + WordLevelPre + "}", "model.vocab[\"a\"] is 1e300; expected an integer")]
    [InlineData("{\"model\":{\"type\":\"WordLevel\",\"vocab\":{}}," + WordLevelPre + "}", "the vocabulary is empty")]
    [InlineData("{\"model\":{\"type\":\"WordLevel\",\"vocab\":{\"a\\nb\":0}}," + WordLevelPre + "}", "token 0 \"a\\u000Ab\" is empty or contains whitespace")]
    [InlineData("{\"model\":{\"type\":\"WordLevel\",\"vocab\":{\"\\ud800\":0}}," + WordLevelPre + "}", "model.vocab: the name of member 0 is not valid text")]
    [InlineData("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[[\"a\"]]}," + ByteLevelPre + "}", "model.merges[0] has 1 items; a merge is [left, right]")]
    [InlineData("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[null]}," + ByteLevelPre + "}", "model.merges[0] must be a string, not null")]
    [InlineData("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[\"a q\"]}," + ByteLevelPre + "}", "merge 1 \"a q\" uses a token that is not in the vocabulary")]
    [InlineData("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0}},\"added_tokens\":[{\"id\":1}]," + ByteLevelPre + "}", "added_tokens[0].content is missing")]
    [InlineData("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0}},\"added_tokens\":[{\"id\":-4,\"content\":\"<s>\"}],\"normalizer\":{\"type\":\"Replace\",\"pattern\":{\"String\":\" \"},\"content\":\"▁\"}}", "token \"<s>\" has id -4")]
    [InlineData("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0}},\"normalizer\":{\"type\":\"Sequence\",\"normalizers\":[5]}}", "normalizer.normalizers[0] must be an object, not a number")]
    [InlineData("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0}},\"pre_tokenizer\":{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\",\"pattern\":{}},{\"type\":\"ByteLevel\",\"use_regex\":false}]}}", "pre_tokenizer.pretokenizers[0].pattern.String is missing")]
    public void A_malformed_tokenizer_json_is_one_error_naming_the_file_and_the_field(string json, string expected)
    {
        _model.Write("tokenizer.json", System.Text.Encoding.UTF8.GetBytes(json));
        var result = CliRunner.Run("info", "-m", _model.Folder);
        CliErrorContract.SucceedsOrFailsClearly(result, _model.File("tokenizer.json"), json);
        Assert.Equal(1, result.Code);
        Assert.Contains(expected, result.Err);
    }

    [Fact]
    public void An_unsupported_component_holding_invalid_utf8_is_refused_without_echoing_it()
    {
        byte[] json = [.. "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0}},\"normalizer\":{\"type\":\"Lowercase\",\"x\":\""u8.ToArray(), 0xFF, .. "\"}}"u8.ToArray()];
        _model.Write("tokenizer.json", json);
        var result = CliRunner.Run("info", "-m", _model.Folder);
        CliErrorContract.SucceedsOrFailsClearly(result, _model.File("tokenizer.json"), "normalizer with a 0xFF byte");
        Assert.Contains("normalizer (JSON that is not valid UTF-8) is not supported", result.Err);
    }

    public void Dispose() => _model.Dispose();
}
