using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;

namespace HeadMiner.Tests.Robustness;

/// <summary>
/// Damaged tokenizer.json files (keys missing, wrong types, merges of unknown tokens, duplicate and huge ids, cut-off
/// JSON, invalid UTF-8, random bytes) in a model folder: loading the model either works or fails with one error line
/// naming the folder's file; if it loads, encoding a prompt works or fails with one clear error line.
/// </summary>
public sealed class TokenizerJsonFuzzTests : IDisposable
{
    private readonly ScratchModel _model = ScratchModel.Embedded();

    /// <summary>Each undamaged file loads and encodes its prompt, so the property's cases start from a working tokenizer.</summary>
    [Fact]
    public void Each_undamaged_tokenizer_json_loads_and_encodes()
    {
        foreach (var (kind, json, prompt) in TokenizerJsonBases.All)
        {
            _model.Write("tokenizer.json", System.Text.Encoding.UTF8.GetBytes(json.ToJsonString()));
            var (code, output, err) = CliRunner.Run("logits", "-m", _model.Folder, "-p", prompt, "-k", "3");
            Assert.True(code == 0, $"{kind}: exit {code}: {err}");
            Assert.Contains("Tokenizer", CliRunner.Run("info", "-m", _model.Folder).Out);
            Assert.NotEmpty(output);
        }
    }

    [Property(MaxTest = FuzzSettings.Cases, Replay = FuzzSettings.Seed)]
    public Property A_damaged_tokenizer_json_loads_or_fails_naming_the_file()
    {
        var cases = from kind in Gen.Choose(0, TokenizerJsonBases.All.Count - 1)
                    from mutation in JsonMutation.Generator
                    select (kind, mutation);
        return Prop.ForAll(cases.ToArbitrary(), c =>
        {
            var (kind, json, prompt) = TokenizerJsonBases.All[c.kind];
            _model.Write("tokenizer.json", c.mutation.Apply(json));
            string input = $"{kind} tokenizer.json, {c.mutation}";
            var load = CliErrorContract.Run("info", "-m", _model.Folder);
            CliErrorContract.SucceedsOrFailsClearly(load, _model.Folder, input);
            if (load.Code != 0) return;
            CliErrorContract.SucceedsOrFailsClearly(CliErrorContract.Run("logits", "-m", _model.Folder, "-p", prompt, "-k", "3"), null, input + ", prompt " + prompt);
        });
    }

    public void Dispose() => _model.Dispose();
}
