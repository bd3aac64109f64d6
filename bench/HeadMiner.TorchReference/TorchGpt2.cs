using System.Text.Json;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace HeadMiner.TorchReference;

/// <summary>How the LibTorch reference computes attention.</summary>
public enum TorchAttention
{
    /// <summary>As Hugging Face's "eager": scores, additive causal mask, softmax, weighted sum.</summary>
    Eager,

    /// <summary>torch.nn.functional.scaled_dot_product_attention with is_causal (Hugging Face's default "sdpa").</summary>
    Sdpa,
}

/// <summary>
/// GPT-2 in LibTorch, the same arithmetic as Hugging Face's GPT2LMHeadModel (Conv1D products as addmm, LayerNorm,
/// gelu_new, tied unembedding), on a Hugging Face GPT-2 directory. Besides the plain forward: a forward that replaces
/// one head's z at one position (the patching loop) and a training loss with the tensors as leaf parameters.
/// </summary>
public sealed class TorchGpt2 : IDisposable
{
    public Dictionary<string, Tensor> P { get; }
    public int Layers { get; }
    public int Heads { get; }
    public int DModel { get; }
    public int DHead => DModel / Heads;
    public int Vocab { get; }
    private readonly double _eps;
    private readonly Tensor _causal;

    public TorchGpt2(string dir, bool trainable = false)
    {
        using (var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "config.json"))))
        {
            var c = config.RootElement;
            Layers = c.GetProperty("n_layer").GetInt32();
            Heads = c.GetProperty("n_head").GetInt32();
            DModel = c.GetProperty("n_embd").GetInt32();
            Vocab = c.GetProperty("vocab_size").GetInt32();
            _eps = c.GetProperty("layer_norm_epsilon").GetDouble();
            int positions = c.GetProperty("n_positions").GetInt32();
            _causal = torch.full(positions, positions, float.NegativeInfinity).triu(1);
        }
        P = [];
        foreach (var (name, t) in TorchWeights.Load(Path.Combine(dir, "model.safetensors"), ScalarType.Float32))
            P[name.StartsWith("transformer.", StringComparison.Ordinal) ? name["transformer.".Length..] : name] = trainable ? new TorchSharp.Modules.Parameter(t) : t;
    }

    /// <summary>Parameters and whether AdamW decays them (matrices and embeddings yes; biases and norm weights no), in name order.</summary>
    public IEnumerable<(string Name, Tensor Tensor, bool Decay)> Parameters() =>
        P.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv =>
        {
            bool norm = kv.Key.StartsWith("ln_f.", StringComparison.Ordinal) || kv.Key.Contains(".ln_1.") || kv.Key.Contains(".ln_2.");
            return (kv.Key, kv.Value, kv.Key.EndsWith(".weight", StringComparison.Ordinal) && !norm);
        });

    private Tensor Conv1d(Tensor x, string name)
    {
        var w = P[name + ".weight"];
        long[] shape = [.. x.shape[..^1], w.shape[1]];
        return P[name + ".bias"].addmm(x.reshape(-1, x.shape[^1]), w).view(shape);
    }

    private Tensor Ln(Tensor x, string name) => F.layer_norm(x, [DModel], P[name + ".weight"], P[name + ".bias"], _eps);

    /// <summary>Logits for every position, [batch, length, vocab].</summary>
    public Tensor Forward(Tensor ids, TorchAttention attention) => Run(ids, attention, null, null, lastOnly: false);

    /// <summary>
    /// Eager forward of <paramref name="ids"/> whose layer <paramref name="patch"/>.Layer has head z at the position
    /// replaced by <paramref name="donor"/>'s; returns the last position's logits [batch, vocab]. With
    /// <paramref name="record"/>, appends every layer's z [batch, heads, length, d_head] to it instead.
    /// </summary>
    public Tensor ForwardPatched(Tensor ids, (int Layer, int Head, int Position)? patch, List<Tensor>? donor, List<Tensor>? record) =>
        Run(ids, TorchAttention.Eager, patch is null ? null : (patch.Value, donor!), record, lastOnly: true);

    private Tensor Run(Tensor ids, TorchAttention attention, ((int Layer, int Head, int Position) Cell, List<Tensor> Donor)? patch, List<Tensor>? record, bool lastOnly)
    {
        long b = ids.shape[0], l = ids.shape[1];
        var positions = torch.arange(l).unsqueeze(0).expand(b, l);
        var h = P["wte.weight"].index_select(0, ids.flatten()).view(b, l, DModel) + P["wpe.weight"].index_select(0, positions.flatten()).view(b, l, DModel);
        var mask = _causal[..(int)l, ..(int)l];
        double scale = 1.0 / Math.Sqrt(DHead);
        for (int i = 0; i < Layers; i++)
        {
            string pre = $"h.{i}.";
            var qkv = Conv1d(Ln(h, pre + "ln_1"), pre + "attn.c_attn").split(DModel, -1);
            var q = qkv[0].view(b, l, Heads, DHead).transpose(1, 2);
            var k = qkv[1].view(b, l, Heads, DHead).transpose(1, 2);
            var v = qkv[2].view(b, l, Heads, DHead).transpose(1, 2);
            Tensor z;
            if (attention == TorchAttention.Sdpa) z = F.scaled_dot_product_attention(q, k, v, is_casual: true /* TorchSharp spells is_causal so */);
            else z = torch.matmul(torch.softmax(torch.matmul(q, k.transpose(-1, -2)) * scale + mask, -1), v);
            record?.Add(z.clone());
            if (patch is { } p && p.Cell.Layer == i)
                z[TensorIndex.Colon, p.Cell.Head, p.Cell.Position].copy_(p.Donor[i][TensorIndex.Colon, p.Cell.Head, p.Cell.Position]);
            var o = z.transpose(1, 2).reshape(b, l, DModel);
            h = h + Conv1d(o, pre + "attn.c_proj");
            var m = Conv1d(Ln(h, pre + "ln_2"), pre + "mlp.c_fc").gelu(TorchSharp.Modules.GELU.Approximate.tanh);
            h = h + Conv1d(m, pre + "mlp.c_proj");
        }
        if (lastOnly) return torch.matmul(Ln(h[TensorIndex.Colon, -1], "ln_f"), P["wte.weight"].t());
        return torch.matmul(Ln(h, "ln_f"), P["wte.weight"].t());
    }

    /// <summary>Mean next-token cross-entropy of <paramref name="ids"/> → <paramref name="targets"/> ([batch, length] each), on the autograd tape.</summary>
    public Tensor Loss(Tensor ids, Tensor targets)
    {
        var logits = Run(ids, TorchAttention.Eager, null, null, lastOnly: false);
        return F.cross_entropy(logits.view(-1, Vocab), targets.flatten());
    }

    public void Dispose()
    {
        foreach (var t in P.Values) t.Dispose();
        _causal.Dispose();
    }
}
