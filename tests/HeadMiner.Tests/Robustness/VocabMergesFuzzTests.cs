using System.Text.Json.Nodes;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using HeadMiner.Models.Tokenizers;

namespace HeadMiner.Tests.Robustness;

/// <summary>
/// Damaged GPT-2 tokenizer files (vocab.json + merges.txt) in a model folder: wrong JSON types, huge or negative
/// ids, merges of unknown tokens, bad lines, invalid UTF-8, cut-off or random bytes. Loading either works or fails
/// with one error line naming the folder's files; if it loads, encoding a prompt works or fails with one clear line.
/// </summary>
public sealed class VocabMergesFuzzTests : IDisposable
{
    private const string Prompt = "the cat sat 🐱";
    private static readonly string[][] Merges = [["t", "h"], ["th", "e"], ["Ġ", "c"], ["Ġc", "a"], ["Ġca", "t"], ["Ġ", "s"], ["Ġs", "a"], ["Ġsa", "t"]];

    private readonly ScratchModel _model = ScratchModel.Embedded();

    private static JsonNode Vocab()
    {
        var vocab = new JsonObject();
        for (int b = 0; b < 256; b++) vocab[GptByteAlphabet.ToChar((byte)b).ToString()] = b;
        foreach (var m in Merges) vocab[m[0] + m[1]] = vocab.Count;
        vocab["<|endoftext|>"] = vocab.Count;
        return vocab;
    }

    private static readonly string[] MergeLines = ["#version: 0.2", .. Merges.Select(m => m[0] + " " + m[1])];

    /// <summary>The undamaged files load and encode the prompt, so the property's cases start from a working tokenizer.</summary>
    [Fact]
    public void The_undamaged_files_load_and_encode()
    {
        _model.Write("vocab.json", System.Text.Encoding.UTF8.GetBytes(Vocab().ToJsonString()));
        _model.Write("merges.txt", System.Text.Encoding.UTF8.GetBytes(string.Join('\n', MergeLines)));
        var (code, _, err) = CliRunner.Run("logits", "-m", _model.Folder, "-p", Prompt, "-k", "3");
        Assert.True(code == 0, $"exit {code}: {err}");
        Assert.Contains("ByteLevelBpeTokenizer", CliRunner.Run("info", "-m", _model.Folder).Out);
    }

    [Property(MaxTest = FuzzSettings.Cases, Replay = FuzzSettings.Seed)]
    public Property Damaged_vocab_json_and_merges_txt_load_or_fail_naming_the_files()
    {
        var valid = Vocab();
        var cases = from vocab in Gen.Frequency((1, Gen.Constant<JsonMutation?>(null)), (2, JsonMutation.Generator.Select(m => (JsonMutation?)m)))
                    from merges in Gen.Frequency((1, Gen.Constant<LineMutation?>(null)), (2, LineMutation.Generator.Select(m => (LineMutation?)m)))
                    select (vocab, merges);
        return Prop.ForAll(cases.ToArbitrary(), c =>
        {
            _model.Write("vocab.json", c.vocab?.Apply(valid) ?? System.Text.Encoding.UTF8.GetBytes(valid.ToJsonString()));
            _model.Write("merges.txt", c.merges?.Apply(MergeLines) ?? System.Text.Encoding.UTF8.GetBytes(string.Join('\n', MergeLines)));
            string input = $"vocab.json {c.vocab?.ToString() ?? "valid"}; merges.txt {c.merges?.ToString() ?? "valid"}";
            var load = CliErrorContract.Run("info", "-m", _model.Folder);
            CliErrorContract.SucceedsOrFailsClearly(load, _model.Folder, input);
            if (load.Code != 0) return;
            CliErrorContract.SucceedsOrFailsClearly(CliErrorContract.Run("logits", "-m", _model.Folder, "-p", Prompt, "-k", "3"), null, input);
        });
    }

    public void Dispose() => _model.Dispose();
}
