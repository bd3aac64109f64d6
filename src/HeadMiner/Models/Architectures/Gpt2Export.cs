using System.Text.Json;
using HeadMiner.Tensors;

namespace HeadMiner.Models.Architectures;

/// <summary>
/// Writes canonical weights back in Hugging Face GPT-2 naming and layout (GPT2LMHeadModel's "transformer." prefix,
/// Conv1D [in, out] matrices, fused c_attn) plus a matching config.json, so that a model we trained or generated
/// loads in Hugging Face and in PyTorch references as is.
/// </summary>
public static class Gpt2Export
{
    public static Dictionary<string, Tensor> Tensors(ModelConfig c, TransformerWeights w)
    {
        if (c.Norm != NormKind.LayerNorm || c.GatedMlp || !c.LearnedPositions || c.RotaryDim > 0 || c.KvHeads != c.Heads || c.ParallelAttnMlp)
            throw new HeadMinerException($"{w.Source}: a {c.Architecture} model cannot be written as GPT-2");
        int d = c.DModel, h = c.Heads, dh = c.DHead;
        const string p = "transformer.";
        var result = new Dictionary<string, Tensor>
        {
            [p + "wte.weight"] = w.W_E.Contiguous(),
            [p + "wpe.weight"] = w.W_pos!.Contiguous(),
            [p + "ln_f.weight"] = w.LnFinalWeight?.Contiguous() ?? Tensor.Full(1f, d),
            [p + "ln_f.bias"] = w.LnFinalBias?.Contiguous() ?? Tensor.Zeros(d),
        };
        for (int l = 0; l < c.Layers; l++)
        {
            var b = w.Blocks[l];
            string q = $"{p}h.{l}.";
            var cAttn = Tensor.Zeros(d, 3 * d);
            var cAttnBias = Tensor.Zeros(3 * d);
            Tensor[] parts = [b.W_Q, b.W_K, b.W_V];
            Tensor?[] biases = [b.b_Q, b.b_K, b.b_V];
            for (int part = 0; part < 3; part++)
            {
                // Column part·d + head·dh + j of c_attn is W[head, :, j].
                parts[part].CopyTo(LayoutViews.HeadsFromInOut(cAttn, part * d, h, dh));
                if (biases[part] is { } bias) bias.CopyTo(LayoutViews.HeadBias(cAttnBias, part * d, h, dh));
            }
            result[q + "ln_1.weight"] = b.Ln1Weight?.Contiguous() ?? Tensor.Full(1f, d);
            result[q + "ln_1.bias"] = b.Ln1Bias?.Contiguous() ?? Tensor.Zeros(d);
            result[q + "ln_2.weight"] = b.Ln2Weight?.Contiguous() ?? Tensor.Full(1f, d);
            result[q + "ln_2.bias"] = b.Ln2Bias?.Contiguous() ?? Tensor.Zeros(d);
            result[q + "attn.c_attn.weight"] = cAttn;
            result[q + "attn.c_attn.bias"] = cAttnBias;
            result[q + "attn.c_proj.weight"] = b.W_O.Contiguous().Reshape(h * dh, d);
            result[q + "attn.c_proj.bias"] = b.b_O?.Contiguous() ?? Tensor.Zeros(d);
            result[q + "mlp.c_fc.weight"] = b.W_in.Contiguous();
            result[q + "mlp.c_fc.bias"] = b.b_in?.Contiguous() ?? Tensor.Zeros(c.DMlp);
            result[q + "mlp.c_proj.weight"] = b.W_out.Contiguous();
            result[q + "mlp.c_proj.bias"] = b.b_out?.Contiguous() ?? Tensor.Zeros(d);
        }
        if (!c.TiedEmbeddings) result["lm_head.weight"] = w.W_U.Transpose(0, 1).Contiguous();
        return result;
    }

    /// <summary>A Hugging Face GPT2Config for <paramref name="c"/>.</summary>
    public static string ConfigJson(ModelConfig c)
    {
        var config = new Dictionary<string, object?>
        {
            ["model_type"] = "gpt2",
            ["architectures"] = new[] { "GPT2LMHeadModel" },
            ["vocab_size"] = c.VocabSize,
            ["n_embd"] = c.DModel,
            ["n_layer"] = c.Layers,
            ["n_head"] = c.Heads,
            ["n_inner"] = c.DMlp,
            ["n_positions"] = c.ContextLength,
            ["n_ctx"] = c.ContextLength,
            ["layer_norm_epsilon"] = c.NormEps,
            ["activation_function"] = c.Activation == MlpActivation.GeluTanh ? "gelu_new" : "gelu",
            ["scale_attn_weights"] = true,
            ["tie_word_embeddings"] = c.TiedEmbeddings,
            ["bos_token_id"] = c.BosTokenId,
            ["eos_token_id"] = c.EosTokenId,
            ["resid_pdrop"] = 0.0,
            ["embd_pdrop"] = 0.0,
            ["attn_pdrop"] = 0.0,
            ["torch_dtype"] = "float32",
        };
        return JsonSerializer.Serialize(config, new JsonSerializerOptions { WriteIndented = true });
    }
}
