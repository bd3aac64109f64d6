using System.Text.Json.Nodes;
using HeadMiner.Models;

namespace HeadMiner.Tests.Models;

/// <summary>
/// Out-of-range and mistyped config.json values end in one error naming the file and the key — not an internal
/// error, not NaN logits with exit 0, not a silently different model. Each case edits one value of a parity
/// fixture's real config (whose checkpoint sits next to it).
/// </summary>
public class ConfigValidationTests
{
    /// <summary>A copy of parity fixture <paramref name="family"/> whose config.json has <paramref name="key"/> set to raw JSON <paramref name="value"/> (a dotted key reaches into an object).</summary>
    internal static TestPaths.TempDirectory WithConfigValue(string family, string key, string value)
    {
        var dir = TestPaths.NewTempDirectory();
        string fixture = TestPaths.Fixture("parity", family);
        File.Copy(Path.Combine(fixture, "model.safetensors"), dir.File("model.safetensors"));
        var root = JsonNode.Parse(File.ReadAllText(Path.Combine(fixture, "config.json")))!.AsObject();
        var (target, name) = key.Split('.') is [var outer, var inner] ? (root[outer]!.AsObject(), inner) : (root, key);
        target[name] = "\u0001";
        File.WriteAllText(dir.File("config.json"), root.ToJsonString().Replace("\"\\u0001\"", value, StringComparison.Ordinal));
        return dir;
    }

    [Theory]
    [InlineData("llama", "rms_norm_eps", "-1e-05", "\"rms_norm_eps\" is -1e-05; it must be a positive finite number")]
    [InlineData("mistral", "rms_norm_eps", "0", "\"rms_norm_eps\" is 0; it must be a positive finite number")]
    [InlineData("gpt_neo", "layer_norm_epsilon", "1e-50", "\"layer_norm_epsilon\" is 1e-50; it must be a positive number representable as float32")]
    [InlineData("gpt_neox", "layer_norm_eps", "\"NaN\"", "\"layer_norm_eps\" is \"NaN\"; it must be a positive finite number")]
    [InlineData("llama", "rope_theta", "-10000", "\"rope_theta\" is -10000; it must be a finite number ≥ 1")]
    [InlineData("gpt_neox", "rope_theta", "1e999", "\"rope_theta\" is 1e999; it must be a finite number ≥ 1")]
    [InlineData("llama3", "rope_scaling.factor", "0", "\"rope_scaling.factor\" is 0; it must be a positive finite number")]
    [InlineData("llama3", "rope_scaling.high_freq_factor", "1.0", "\"rope_scaling.high_freq_factor\" 1 must be greater than \"rope_scaling.low_freq_factor\" 1")]
    [InlineData("llama3", "rope_scaling.rope_type", "7", "\"rope_scaling.rope_type\" is 7; it must be a string")]
    [InlineData("llama3", "rope_scaling.original_max_position_embeddings", "-8192", "\"rope_scaling.original_max_position_embeddings\" is -8192; it must be an integer in 1..16777216")]
    [InlineData("llama", "rope_scaling", "\"llama3\"", "\"rope_scaling\" is \"llama3\"; it must be an object or null")]
    [InlineData("gpt_neox", "rotary_pct", "0", "\"rotary_pct\" is 0; it must be a number in (0, 1]")]
    [InlineData("gpt_neox", "rotary_pct", "0.1", "\"rotary_pct\" 0.1 of the head size 16 gives 1 rotary dimensions; it must give a positive even number")]
    [InlineData("gpt2", "n_layer", "-2", "\"n_layer\" is -2; it must be an integer in 1..4096")]
    [InlineData("gpt2", "n_head", "\"4\"", "\"n_head\" is \"4\"; it must be an integer in 1..4096")]
    [InlineData("gpt2", "n_embd", "[32]", "\"n_embd\" is an array; it must be an integer in 1..65536")]
    [InlineData("gpt2", "vocab_size", "2147483648", "\"vocab_size\" is 2147483648; it must be an integer in 1..16777216")]
    [InlineData("gpt2", "n_positions", "99999999999999999999999", "\"n_positions\" is 99999999999999999999999; it must be an integer in 1..16777216")]
    [InlineData("gpt2", "n_inner", "-128", "\"n_inner\" is -128; it must be an integer in 1..1048576")]
    [InlineData("gpt2", "eos_token_id", "101", "\"eos_token_id\" is 101; it must be an integer in 0..100")]
    [InlineData("gpt2", "scale_attn_weights", "\"yes\"", "\"scale_attn_weights\" is \"yes\"; it must be true or false")]
    [InlineData("llama", "num_key_value_heads", "3", "num_attention_heads 4 is not a multiple of num_key_value_heads 3")]
    [InlineData("llama", "num_key_value_heads", "8", "\"num_key_value_heads\" is 8; it must be an integer in 1..4")]
    [InlineData("llama", "head_dim", "7", "the head size 7 (head_dim, or hidden_size / num_attention_heads) must be even for rotary embeddings")]
    [InlineData("llama", "intermediate_size", "0", "\"intermediate_size\" is 0; it must be an integer in 1..1048576")]
    [InlineData("mistral", "sliding_window", "-1", "\"sliding_window\" is -1; it must be an integer in 0..16777216")]
    [InlineData("gpt_neo", "window_size", "0", "\"window_size\" is 0; it must be an integer in 1..16777216")]
    [InlineData("gpt_neo", "attention_types", "[[[\"global\", \"local\"], 1000000000]]", "\"attention_types\" is 1000000000; it must be an integer in 0..4096")]
    [InlineData("gpt_neo", "attention_types", "[[[\"global\", \"sparse\"], 1]]", "\"attention_types\" has attention type \"sparse\"; each must be \"global\" or \"local\"")]
    [InlineData("gpt_neo", "attention_types", "[[\"global\", 2]]", "\"attention_types\" is an array; it must be a list of [[\"global\" or \"local\", …], repeat count] pairs")]
    [InlineData("gpt_neo", "attention_types", "[[[\"global\"], 5]]", "\"attention_types\" lists more than 2 layers but num_layers is 2")]
    [InlineData("phi3", "rope_scaling.short_factor", "[1.5, 1.1, 2.5]", "\"rope_scaling.short_factor\" is an array; it must be a list of 4 numbers (half the 8 rotary dimensions)")]
    [InlineData("phi3", "rope_scaling.long_factor", "[3.0, \"5.5\", 12.0, 40.0]", "\"rope_scaling.long_factor[1]\" is \"5.5\"; it must be a positive finite number")]
    [InlineData("phi3_long", "rope_scaling.long_factor", "[2.0, 3.5, 6.0, 9.0, 15.0, -30.0]", "\"rope_scaling.long_factor[5]\" is -30.0; it must be a positive finite number")]
    [InlineData("phi3_long", "rope_scaling.short_factor", "[1.0, 1.0, 1.0, 1.0, 1.0, 1e999]", "\"rope_scaling.short_factor[5]\" is 1e999; it must be a positive finite number")]
    [InlineData("phi3", "rope_scaling.short_factor", "null", "\"rope_scaling\" of type \"su\" lacks \"short_factor\"")]
    [InlineData("phi3", "rope_scaling.long_factor", "{}", "\"rope_scaling.long_factor\" is an object; it must be a list of 4 numbers (half the 8 rotary dimensions)")]
    [InlineData("phi3", "rope_scaling.type", "\"yarn\"", "rope_scaling type \"yarn\" is not supported for phi3 (default, longrope, su)")]
    [InlineData("phi3", "rope_scaling.attention_factor", "0", "\"rope_scaling.attention_factor\" is 0; it must be a positive finite number")]
    [InlineData("phi3", "rope_scaling.factor", "-2", "\"rope_scaling.factor\" is -2; it must be a positive finite number")]
    [InlineData("phi3", "original_max_position_embeddings", "1", "\"original_max_position_embeddings\" is 1; it must be an integer in 2..16777216")]
    [InlineData("phi3", "rope_scaling.original_max_position_embeddings", "0", "\"rope_scaling.original_max_position_embeddings\" is 0; it must be an integer in 2..16777216")]
    [InlineData("phi3_long", "partial_rotary_factor", "0.1", "\"partial_rotary_factor\" 0.1 of the head size 16 gives 1 rotary dimensions; it must give a positive even number")]
    [InlineData("phi3_long", "partial_rotary_factor", "1.5", "\"partial_rotary_factor\" is 1.5; it must be a number in (0, 1]")]
    // The factor lists must follow the rotary fraction: 0.5 of 16 dims is 8, i.e. 4 factors, not the file's 6.
    [InlineData("phi3_long", "partial_rotary_factor", "0.5", "\"rope_scaling.short_factor\" is an array; it must be a list of 4 numbers (half the 8 rotary dimensions)")]
    [InlineData("phi3", "sliding_window", "-5", "\"sliding_window\" is -5; it must be an integer in 0..16777216")]
    [InlineData("phi3", "hidden_act", "\"gelu\"", "hidden_act \"gelu\" is not supported for phi3 (silu)")]
    public void BadValueIsOneErrorNamingTheFileAndKey(string family, string key, string value, string expected)
    {
        using var dir = WithConfigValue(family, key, value);
        var e = Assert.Throws<HeadMinerException>(() => ModelLoader.Load(dir.Path));
        Assert.Equal($"{dir.File("config.json")}: {expected}", e.Message);
    }

    [Fact]
    public void NegativeEpsilonExitsOneWithOneErrorLineInsteadOfNaNLogits()
    {
        using var dir = WithConfigValue("llama", "rms_norm_eps", "-1e-05");
        var (code, stdout, stderr) = CliRunner.Run("info", "-m", dir.Path);
        Assert.Equal(1, code);
        Assert.Equal("", stdout);
        Assert.Equal($"error: {dir.File("config.json")}: \"rms_norm_eps\" is -1e-05; it must be a positive finite number", stderr.TrimEnd());
    }

    [Theory]
    [InlineData("gpt2", "n_embd", "32.0")]
    [InlineData("gpt2", "n_inner", "null")]
    [InlineData("llama", "eos_token_id", "[2, 1]")]
    [InlineData("mistral", "sliding_window", "null")]
    [InlineData("llama3", "rope_scaling", "{\"rope_type\": \"default\"}")]
    [InlineData("phi3", "rope_scaling", "null")]
    [InlineData("phi3", "sliding_window", "null")]
    [InlineData("phi3_long", "rope_scaling.type", "\"su\"")]
    public void HarmlessSpellingsStillLoad(string family, string key, string value)
    {
        using var dir = WithConfigValue(family, key, value);
        using var loaded = ModelLoader.Load(dir.Path);
        Assert.True(loaded.Model.Forward([1, 2, 3]).ToArray().All(float.IsFinite));
    }

    [Fact]
    public void OddLlama2cHeadSizeIsAHeaderError()
    {
        // dim 6 over 2 heads: head size 3 cannot be rotated in pairs. Header and size are otherwise consistent.
        using var dir = TestPaths.NewTempDirectory();
        int dim = 6, hidden = 4, layers = 1, heads = 2, kv = 2, vocab = 5, seq = 4, head = dim / heads;
        long floats = vocab * dim + layers * (2 * dim + 2 * dim * dim + 2 * kv * head * dim + 3 * hidden * dim) + dim + seq * (head / 2) * 2;
        var bytes = new byte[28 + 4 * floats];
        int[] header = [dim, hidden, layers, heads, kv, vocab, seq];
        for (int i = 0; i < 7; i++) BitConverter.TryWriteBytes(bytes.AsSpan(4 * i), header[i]);
        File.WriteAllBytes(dir.File("odd.bin"), bytes);
        var e = Assert.Throws<HeadMinerException>(() => ModelLoader.Load(dir.File("odd.bin")));
        Assert.StartsWith($"{dir.File("odd.bin")}: invalid llama2.c header (dim=6, hidden_dim=4, n_layers=1, n_heads=2, n_kv_heads=2, vocab_size=5, seq_len=4): the head size", e.Message);
    }
}
