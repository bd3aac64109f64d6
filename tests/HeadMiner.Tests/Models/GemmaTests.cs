using System.Text.Json.Nodes;
using HeadMiner.Hooks;
using HeadMiner.Models;
using HeadMiner.Tensors;

namespace HeadMiner.Tests.Models;

/// <summary>
/// The Gemma features beyond logits parity (ArchitectureParityTests): what the new hook points hold, the soft caps
/// and per-layer rotary in isolation, config spellings that must mean the same model (layer_types, transformers v5's
/// rope_parameters) and the errors for bad values.
/// </summary>
public class GemmaTests
{
    /// <summary>A copy of parity fixture <paramref name="family"/> with its config.json edited by <paramref name="edit"/>.</summary>
    private static TestPaths.TempDirectory WithConfig(string family, Action<JsonObject> edit)
    {
        var dir = TestPaths.NewTempDirectory();
        string fixture = TestPaths.Fixture("parity", family);
        File.Copy(Path.Combine(fixture, "model.safetensors"), dir.File("model.safetensors"));
        var root = JsonNode.Parse(File.ReadAllText(Path.Combine(fixture, "config.json")))!.AsObject();
        edit(root);
        File.WriteAllText(dir.File("config.json"), root.ToJsonString());
        return dir;
    }

    private static readonly int[] Prompt = [5, 17, 3, 99, 42, 8, 61, 23, 77, 14, 30];

    private static float[] Logits(string path)
    {
        using var loaded = ModelLoader.Load(path);
        return loaded.Model.Forward(Prompt).ToArray();
    }

    private static void AssertSameLogits(float[] expected, float[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++) Assert.Equal(expected[i], actual[i], 1e-5f);
    }

    [Fact]
    public void ExplicitLayerTypesMeanTheSameModelAsTheDefaultRules()
    {
        // gemma2: even layers slide; gemma3: sliding_window_pattern 3 over 3 layers → sliding, sliding, full.
        var gemma2 = Logits(TestPaths.Fixture("parity", "gemma2"));
        using (var dir = WithConfig("gemma2", c => c["layer_types"] = new JsonArray("sliding_attention", "full_attention", "sliding_attention")))
            AssertSameLogits(gemma2, Logits(dir.Path));
        var gemma3 = Logits(TestPaths.Fixture("parity", "gemma3"));
        using (var dir = WithConfig("gemma3", c =>
        {
            c.Remove("sliding_window_pattern");
            c["layer_types"] = new JsonArray("sliding_attention", "sliding_attention", "full_attention");
        }))
            AssertSameLogits(gemma3, Logits(dir.Path));
        // And the layer types are read: a different pattern is a different model.
        using (var dir = WithConfig("gemma3", c => c["sliding_window_pattern"] = 2))
            Assert.True(gemma3.Zip(Logits(dir.Path)).Max(p => Math.Abs(p.First - p.Second)) > 1e-2f);
    }

    [Fact]
    public void RopeParametersOfTransformersV5MeanTheSameModel()
    {
        // Gemma 3: one dict per layer type instead of rope_theta + rope_scaling + rope_local_base_freq.
        var gemma3 = Logits(TestPaths.Fixture("parity", "gemma3"));
        using (var dir = WithConfig("gemma3", c =>
        {
            c.Remove("rope_theta");
            c.Remove("rope_scaling");
            c.Remove("rope_local_base_freq");
            c["rope_parameters"] = JsonNode.Parse("""
                {"full_attention": {"rope_type": "linear", "factor": 8.0, "rope_theta": 1000000.0},
                 "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0}}
                """);
        }))
            AssertSameLogits(gemma3, Logits(dir.Path));
        // Llama 3 and Qwen3: one flat dict.
        var llama3 = Logits(TestPaths.Fixture("parity", "llama3"));
        using (var dir = WithConfig("llama3", c =>
        {
            var scaling = c["rope_scaling"]!.AsObject().DeepClone().AsObject();
            scaling["rope_theta"] = c["rope_theta"]!.DeepClone();
            c.Remove("rope_theta");
            c.Remove("rope_scaling");
            c["rope_parameters"] = scaling;
        }))
            AssertSameLogits(llama3, Logits(dir.Path));
        var qwen3 = Logits(TestPaths.Fixture("parity", "qwen3"));
        using (var dir = WithConfig("qwen3", c =>
        {
            c.Remove("rope_theta");
            c.Remove("rope_scaling");
            c["rope_parameters"] = JsonNode.Parse("""{"rope_type": "default", "rope_theta": 1000000.0}""");
        }))
            AssertSameLogits(qwen3, Logits(dir.Path));
    }

    [Theory]
    [InlineData("gemma2", "attn_logit_softcapping", "0", "\"attn_logit_softcapping\" is 0; it must be a positive finite number")]
    [InlineData("gemma2", "final_logit_softcapping", "-30.0", "\"final_logit_softcapping\" is -30.0; it must be a positive finite number")]
    [InlineData("gemma2", "final_logit_softcapping", "1e-50", "\"final_logit_softcapping\" is 1e-50; it must be a positive number representable as float32")]
    [InlineData("gemma2", "query_pre_attn_scalar", "0", "\"query_pre_attn_scalar\" is 0; it must be a positive finite number")]
    [InlineData("gemma2", "sliding_window", "0", "\"sliding_window\" is 0; it must be an integer in 1..16777216")]
    [InlineData("gemma2", "layer_types", "[\"sliding_attention\"]", "\"layer_types\" is an array; it must be a list of 3 layer types (one per num_hidden_layers)")]
    [InlineData("gemma2", "layer_types", "[\"sliding_attention\", \"chunked_attention\", \"full_attention\"]", "\"layer_types[1]\" is \"chunked_attention\"; it must be \"sliding_attention\" or \"full_attention\"")]
    [InlineData("gemma2", "hidden_activation", "\"gelu\"", "hidden_activation \"gelu\" is not supported for gemma2 (gelu_pytorch_tanh)")]
    [InlineData("gemma", "hidden_act", "\"silu\"", "hidden_act \"silu\" is not supported for gemma (gelu_pytorch_tanh)")]
    [InlineData("gemma", "head_dim", "11", "head_dim 11 must be even for rotary embeddings")]
    [InlineData("gemma3", "sliding_window_pattern", "0", "\"sliding_window_pattern\" is 0; it must be an integer in 1..4096")]
    [InlineData("gemma3", "rope_local_base_freq", "0.5", "\"rope_local_base_freq\" is 0.5; it must be a finite number ≥ 1")]
    [InlineData("gemma3", "rope_scaling.factor", "0", "\"rope_scaling.factor\" is 0; it must be a positive finite number")]
    [InlineData("gemma3", "rope_scaling.factor", "null", "\"rope_scaling\" of type \"linear\" lacks \"factor\"")]
    [InlineData("gemma3", "rope_scaling.rope_type", "\"yarn\"", "rope_scaling type \"yarn\" is not supported (default, linear, llama3)")]
    [InlineData("gemma3", "rope_parameters", "[1]", "\"rope_parameters\" is an array; it must be an object or null")]
    public void BadValueIsOneErrorNamingTheFileAndKey(string family, string key, string value, string expected)
    {
        using var dir = ConfigValidationTests.WithConfigValue(family, key, value);
        var e = Assert.Throws<HeadMinerException>(() => ModelLoader.Load(dir.Path));
        Assert.Equal($"{dir.File("config.json")}: {expected}", e.Message);
    }

    [Fact]
    public void TheMultimodalGemma3WrapperIsRefusedWithWhatToLoadInstead()
    {
        using var dir = ConfigValidationTests.WithConfigValue("gemma3", "model_type", "\"gemma3\"");
        var e = Assert.Throws<HeadMinerException>(() => ModelLoader.Load(dir.Path));
        Assert.StartsWith($"{dir.File("config.json")}: model_type \"gemma3\" is the multimodal Gemma 3 wrapper", e.Message);
        Assert.Contains("gemma3_text", e.Message);
    }

    [Fact]
    public void NormWeightsAreStoredAsOffsetsAndLoadedAsOnePlusW()
    {
        string dir = TestPaths.Fixture("parity", "gemma3");
        using var loaded = ModelLoader.Load(dir);
        using var file = HeadMiner.Models.Formats.SafetensorsFile.Open(Path.Combine(dir, "model.safetensors"));
        var b = loaded.Model.Weights.Blocks[1];
        void Check(string name, Tensor? loadedWeight)
        {
            var stored = file.GetFloat32(name).ToArray();
            var w = loadedWeight!.ToArray();
            for (int i = 0; i < stored.Length; i++) Assert.Equal(1f + stored[i], w[i]);
        }
        Check("model.layers.1.input_layernorm.weight", b.Ln1Weight);
        Check("model.layers.1.post_attention_layernorm.weight", b.Ln1PostWeight);
        Check("model.layers.1.pre_feedforward_layernorm.weight", b.Ln2Weight);
        Check("model.layers.1.post_feedforward_layernorm.weight", b.Ln2PostWeight);
        Check("model.layers.1.self_attn.q_norm.weight", b.QNormWeight);
        Check("model.layers.1.self_attn.k_norm.weight", b.KNormWeight);
        Check("model.norm.weight", loaded.Model.Weights.LnFinalWeight);
    }

    [Fact]
    public void HookEmbedShowsTheEmbeddingTimesSqrtDModel()
    {
        // As TransformerLens, which folds √d_model into W_E: hook_embed is what the first block reads.
        using var loaded = ModelLoader.Load(TestPaths.Fixture("parity", "gemma"));
        var model = loaded.Model;
        int d = model.Config.DModel;
        var (_, cache) = model.RunWithCache(Prompt, CacheFilter.Names(model.Config, "hook_embed", "blocks.0.hook_resid_pre"));
        var embed = cache["hook_embed"];
        var residPre = cache["blocks.0.hook_resid_pre"];
        var we = model.Weights.W_E;
        for (int t = 0; t < Prompt.Length; t++)
            for (int i = 0; i < d; i++)
            {
                Assert.Equal(we[Prompt[t], i] * MathF.Sqrt(d), embed[0, t, i], 1e-6f);
                Assert.Equal(embed[0, t, i], residPre[0, t, i]);
            }
    }

    [Fact]
    public void Gemma1DirectLogitAttributionSumsToTheLogitDifference()
    {
        // Gemma 1 has pre-norms only, so head terms add up; the scaled embedding is the embed component.
        using var loaded = ModelLoader.Load(TestPaths.Fixture("parity", "gemma"), new LoadOptions { Processing = WeightProcessing.TransformerLensDefault });
        var batch = new TokenBatch([.. Prompt, .. Prompt.Reverse()], 2, Prompt.Length);
        var result = HeadMiner.Analysis.Attribution.DirectLogitAttribution.Compute(loaded.Model, batch, [7, 40], [90, 3]);
        foreach (var p in result.Prompts)
        {
            Assert.True(Math.Abs(p.LogitDiff) > 1e-2, "a zero logit difference would make the sum check vacuous");
            Assert.Equal(p.LogitDiff, p.ComponentSum, 1e-4);
        }
    }

    [Fact]
    public void AttnScoresAreSoftCappedBeforeTheMask()
    {
        var c = TinyModels.Gemma2Like();
        using var model = TinyModels.Create(c);
        var tokens = TinyModels.Tokens(c, 9, 3);
        var (_, cache) = model.RunWithCache(tokens, CacheFilter.Names(c, "blocks.0.attn.hook_rot_q", "blocks.0.attn.hook_rot_k", "blocks.0.attn.hook_attn_scores"));
        var q = cache["blocks.0.attn.hook_rot_q"];
        var k = cache["blocks.0.attn.hook_rot_k"];
        var scores = cache["blocks.0.attn.hook_attn_scores"];
        float cap = c.AttentionSoftCap!.Value;
        int window = c.AttentionWindow[0], bent = 0;
        for (int h = 0; h < c.Heads; h++)
            for (int i = 0; i < 9; i++)
                for (int j = 0; j < 9; j++)
                {
                    if (j > i || j <= i - window)
                    {
                        Assert.Equal(float.NegativeInfinity, scores[0, h, i, j]);
                        continue;
                    }
                    double dot = 0;
                    for (int e = 0; e < c.DHead; e++) dot += q[0, i, h, e] * k[0, j, c.KvHeadOf(h), e];
                    double raw = c.AttentionScale * dot;
                    if (Math.Abs(raw) > cap) bent++;
                    Assert.Equal(cap * Math.Tanh(raw / cap), scores[0, h, i, j], 1e-5);
                }
        Assert.True(bent > 0, "no score exceeded the cap: the test shows nothing");
    }

    [Fact]
    public void FinalLogitsAreTheUncappedLogitsSoftCapped()
    {
        var c = TinyModels.Gemma2Like();
        using var capped = TinyModels.Create(c);
        using var uncapped = TinyModels.Create(c with { FinalLogitSoftCap = null });
        var tokens = TinyModels.Tokens(c, 8, 4);
        var a = capped.Forward(tokens).ToArray();
        var b = uncapped.Forward(tokens).ToArray();
        float cap = c.FinalLogitSoftCap!.Value;
        Assert.Contains(b, x => Math.Abs(x) > cap);
        for (int i = 0; i < a.Length; i++) Assert.Equal((float)(cap * Math.Tanh(b[i] / cap)), a[i], 1e-5f);
    }

    [Fact]
    public void SlidingAndGlobalLayersRotateWithTheirOwnTables()
    {
        var c = TinyModels.Gemma3Like();
        using var model = TinyModels.Create(c);
        var local = model.RotaryFor(0)!.Frequencies.ToArray();
        var global = model.RotaryFor(1)!.Frequencies.ToArray();
        Assert.Same(model.Rotary, model.RotaryFor(1));
        for (int i = 0; i < c.RotaryDim / 2; i++)
        {
            Assert.Equal(Math.Pow(10000, -2.0 * i / c.RotaryDim), local[i], 1e-12);
            Assert.Equal(Math.Pow(1e6, -2.0 * i / c.RotaryDim) / 8, global[i], 1e-12);
        }
    }
}
