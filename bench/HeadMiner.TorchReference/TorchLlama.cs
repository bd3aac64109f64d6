using System.Text.Json;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace HeadMiner.TorchReference;

/// <summary>
/// Llama (Llama-3 rotary scaling, grouped-query attention, SwiGLU, RMSNorm, tied or separate unembedding) in
/// LibTorch, as Hugging Face's LlamaForCausalLM computes it in <paramref name="dtype"/>: weights and activations in
/// that dtype, RMSNorm's statistics in float32, rotary tables made in float32 and cast. A checkpoint with
/// self_attn.q_norm / k_norm weights gets Qwen3's per-head RMSNorm on queries and keys before rotary
/// (Qwen3ForCausalLM); nothing else differs between the two families.
/// </summary>
public sealed class TorchLlama : IDisposable
{
    private readonly Dictionary<string, Tensor> _p;
    private readonly int _layers, _heads, _kvHeads, _dHead, _dModel;
    private readonly double _eps;
    private readonly double[] _invFreq;
    private readonly ScalarType _dtype;

    public TorchLlama(string dir, ScalarType dtype)
    {
        _dtype = dtype;
        using (var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "config.json"))))
        {
            var c = config.RootElement;
            _layers = c.GetProperty("num_hidden_layers").GetInt32();
            _heads = c.GetProperty("num_attention_heads").GetInt32();
            _kvHeads = c.GetProperty("num_key_value_heads").GetInt32();
            _dModel = c.GetProperty("hidden_size").GetInt32();
            _dHead = c.TryGetProperty("head_dim", out var hd) ? hd.GetInt32() : _dModel / _heads;
            _eps = c.GetProperty("rms_norm_eps").GetDouble();
            _invFreq = InverseFrequencies(c, _dHead);
        }
        _p = TorchWeights.Load(Path.Combine(dir, "model.safetensors"), dtype);
        if (!_p.ContainsKey("lm_head.weight")) _p["lm_head.weight"] = _p["model.embed_tokens.weight"];
    }

    /// <summary>Rotary inverse frequencies with rope_scaling "llama3" applied when present (transformers' _compute_llama3_parameters).</summary>
    private static double[] InverseFrequencies(JsonElement c, int dHead)
    {
        double theta = c.TryGetProperty("rope_theta", out var t) ? t.GetDouble() : 10000;
        var inv = Enumerable.Range(0, dHead / 2).Select(i => 1.0 / Math.Pow(theta, 2.0 * i / dHead)).ToArray();
        if (!c.TryGetProperty("rope_scaling", out var s) || s.ValueKind != JsonValueKind.Object) return inv;
        double factor = s.GetProperty("factor").GetDouble(), low = s.GetProperty("low_freq_factor").GetDouble(), high = s.GetProperty("high_freq_factor").GetDouble();
        double old = s.GetProperty("original_max_position_embeddings").GetDouble();
        double lowWavelen = old / low, highWavelen = old / high;
        return [.. inv.Select(f =>
        {
            // transformers computes these in float32; the differences are far below what the comparison resolves.
            double wavelen = 2 * Math.PI / f;
            if (wavelen < highWavelen) return f;
            if (wavelen > lowWavelen) return f / factor;
            double smooth = (old / wavelen - low) / (high - low);
            return (1 - smooth) * f / factor + smooth * f;
        })];
    }

    private Tensor RmsNorm(Tensor x, Tensor weight)
    {
        var x32 = x.to(ScalarType.Float32);
        var normed = x32 * torch.rsqrt(x32.pow(2).mean([-1L], keepdim: true) + _eps);
        return weight * normed.to(_dtype);
    }

    private static Tensor RotateHalf(Tensor x)
    {
        long half = x.shape[^1] / 2;
        return torch.cat([-x[TensorIndex.Ellipsis, TensorIndex.Slice(half)], x[TensorIndex.Ellipsis, TensorIndex.Slice(0, half)]], -1);
    }

    /// <summary>Logits for every position, [batch, length, vocab], in the model's dtype.</summary>
    public Tensor Forward(Tensor ids, TorchAttention attention)
    {
        long b = ids.shape[0], l = ids.shape[1];
        var freqs = torch.outer(torch.arange(l, dtype: ScalarType.Float32), torch.tensor(_invFreq.Select(f => (float)f).ToArray()));
        var emb = torch.cat([freqs, freqs], -1);
        var cos = emb.cos().to(_dtype);
        var sin = emb.sin().to(_dtype);
        var h = _p["model.embed_tokens.weight"].index_select(0, ids.flatten()).view(b, l, _dModel);
        using var causal = torch.full(l, l, float.NegativeInfinity, dtype: _dtype).triu(1);
        double scale = 1.0 / Math.Sqrt(_dHead);
        int group = _heads / _kvHeads;
        for (int i = 0; i < _layers; i++)
        {
            string pre = $"model.layers.{i}.";
            var x = RmsNorm(h, _p[pre + "input_layernorm.weight"]);
            var q = F.linear(x, _p[pre + "self_attn.q_proj.weight"]).view(b, l, _heads, _dHead).transpose(1, 2);
            var k = F.linear(x, _p[pre + "self_attn.k_proj.weight"]).view(b, l, _kvHeads, _dHead).transpose(1, 2);
            var v = F.linear(x, _p[pre + "self_attn.v_proj.weight"]).view(b, l, _kvHeads, _dHead).transpose(1, 2);
            if (_p.TryGetValue(pre + "self_attn.q_norm.weight", out var qNorm)) q = RmsNorm(q, qNorm);
            if (_p.TryGetValue(pre + "self_attn.k_norm.weight", out var kNorm)) k = RmsNorm(k, kNorm);
            q = q * cos + RotateHalf(q) * sin;
            k = k * cos + RotateHalf(k) * sin;
            k = k.repeat_interleave(group, 1);
            v = v.repeat_interleave(group, 1);
            Tensor z = attention == TorchAttention.Sdpa
                ? F.scaled_dot_product_attention(q, k, v, is_casual: true /* TorchSharp spells is_causal so */)
                : torch.matmul(torch.softmax(torch.matmul(q, k.transpose(-1, -2)) * scale + causal, -1, dtype: ScalarType.Float32).to(_dtype), v);
            h = h + F.linear(z.transpose(1, 2).reshape(b, l, _heads * _dHead), _p[pre + "self_attn.o_proj.weight"]);
            x = RmsNorm(h, _p[pre + "post_attention_layernorm.weight"]);
            var mlp = F.silu(F.linear(x, _p[pre + "mlp.gate_proj.weight"])) * F.linear(x, _p[pre + "mlp.up_proj.weight"]);
            h = h + F.linear(mlp, _p[pre + "mlp.down_proj.weight"]);
        }
        return F.linear(RmsNorm(h, _p["model.norm.weight"]), _p["lm_head.weight"]);
    }

    public void Dispose()
    {
        foreach (var t in _p.Values.Distinct<Tensor>(ReferenceEqualityComparer.Instance)) t.Dispose(); // tied: lm_head is embed_tokens
    }
}
