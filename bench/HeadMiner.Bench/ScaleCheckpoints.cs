using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using HeadMiner.Models;
using HeadMiner.Models.Architectures;
using HeadMiner.Models.Formats;
using HeadMiner.Tensors;

namespace HeadMiner.Bench;

/// <summary>
/// The checkpoints the scale benchmarks run on, written once to the temp directory with seeded random weights and
/// stored in BF16 as released models of this size are: a GPT-2-small shape (124M parameters) and a Llama-3.2-1B shape
/// (1.24B parameters, 2.5 GB). Both get the real GPT-2 tokenizer from ../shared, so every command that takes text
/// runs; for the 1B shape its vocabulary is padded to the model's 128,256 ids (text never encodes to the extra ones).
/// The 1B checkpoint is generated and written tensor by tensor in chunks: it never exists in memory as float32.
/// </summary>
public static class ScaleCheckpoints
{
    public const string Gpt2Small = "gpt2-small";
    public const string Llama1B = "llama-3.2-1b";

    /// <summary>Llama-3.2-1B's published shape (config.json of meta-llama/Llama-3.2-1B), tied embeddings, llama3 rotary scaling.</summary>
    public static string Llama1BConfigJson() => JsonSerializer.Serialize(new Dictionary<string, object?>
    {
        ["model_type"] = "llama",
        ["architectures"] = new[] { "LlamaForCausalLM" },
        ["vocab_size"] = 128256,
        ["hidden_size"] = 2048,
        ["intermediate_size"] = 8192,
        ["num_hidden_layers"] = 16,
        ["num_attention_heads"] = 32,
        ["num_key_value_heads"] = 8,
        ["head_dim"] = 64,
        ["max_position_embeddings"] = 131072,
        ["rms_norm_eps"] = 1e-5,
        ["rope_theta"] = 500000.0,
        ["rope_scaling"] = new Dictionary<string, object> { ["factor"] = 32.0, ["low_freq_factor"] = 1.0, ["high_freq_factor"] = 4.0, ["original_max_position_embeddings"] = 8192, ["rope_type"] = "llama3" },
        ["tie_word_embeddings"] = true,
        ["hidden_act"] = "silu",
        ["attention_bias"] = false,
        ["mlp_bias"] = false,
        ["bos_token_id"] = 50256,
        ["eos_token_id"] = 50256,
        ["torch_dtype"] = "bfloat16",
    }, new JsonSerializerOptions { WriteIndented = true });

    /// <summary>The directory of <paramref name="shape"/> (<see cref="Gpt2Small"/> or <see cref="Llama1B"/>), written on first use.</summary>
    public static string Directory(string shape)
    {
        string dir = Path.Combine(Path.GetTempPath(), $"headminer-bench-scale-{shape}-bf16");
        string marker = Path.Combine(dir, "seed-1.done");
        System.IO.Directory.CreateDirectory(dir);
        WriteTokenizer(dir, shape == Llama1B ? 128256 : 50257);
        if (File.Exists(marker)) return dir;
        switch (shape)
        {
            case Gpt2Small: WriteGpt2Small(dir); break;
            case Llama1B: WriteLlama1B(dir); break;
            default: throw new ArgumentException($"unknown shape '{shape}' (known: {Gpt2Small}, {Llama1B})", nameof(shape));
        }
        File.WriteAllText(marker, "");
        return dir;
    }

    /// <summary>Bytes of the checkpoint's weights file.</summary>
    public static long CheckpointBytes(string dir) => new FileInfo(Path.Combine(dir, "model.safetensors")).Length;

    /// <summary>
    /// GPT-2's merges.txt and its vocab.json padded with "&lt;|extra_N|&gt;" pieces up to <paramref name="vocabSize"/>:
    /// text never encodes to them, but a random model samples any id and `generate` must be able to print it.
    /// </summary>
    private static void WriteTokenizer(string dir, int vocabSize)
    {
        string marker = Path.Combine(dir, $"tokenizer-{vocabSize}.done");
        if (File.Exists(marker)) return;
        string shared = Path.GetFullPath(Path.Combine(BenchModel.RepoRoot(), "..", "shared", "models", "gpt2-small-attention-only"));
        string vocabPath = Path.Combine(shared, "vocab.json"), mergesPath = Path.Combine(shared, "merges.txt");
        foreach (var source in new[] { vocabPath, mergesPath })
            if (!File.Exists(source)) throw new FileNotFoundException($"{source} is missing: the scale checkpoints use the GPT-2 tokenizer from ../shared", source);
        var vocab = JsonSerializer.Deserialize<Dictionary<string, int>>(File.ReadAllText(vocabPath))!;
        for (int id = vocab.Count; id < vocabSize; id++) vocab[$"<|extra_{id}|>"] = id;
        AtomicFile.WriteAllText(Path.Combine(dir, "vocab.json"), JsonSerializer.Serialize(vocab));
        AtomicFile.WriteAllText(Path.Combine(dir, "merges.txt"), File.ReadAllText(mergesPath));
        File.WriteAllText(marker, "");
    }

    private static void WriteGpt2Small(string dir)
    {
        var config = RandomWeights.Gpt2SmallConfig();
        var writer = new SafetensorsWriter();
        foreach (var (name, tensor) in Gpt2Export.Tensors(config, RandomWeights.Create(config, seed: 1)))
            writer.Add(name, tensor, SafetensorsDType.BF16);
        writer.Save(Path.Combine(dir, "model.safetensors"));
        AtomicFile.WriteAllText(Path.Combine(dir, "config.json"), Gpt2Export.ConfigJson(config).Replace("\"float32\"", "\"bfloat16\"", StringComparison.Ordinal));
    }

    /// <summary>Hugging Face LlamaForCausalLM names and [out, in] layout; matrices N(0, 0.02²), norms 1.</summary>
    private static void WriteLlama1B(string dir)
    {
        const int d = 2048, layers = 16, heads = 32, kvHeads = 8, dh = 64, mlp = 8192, vocab = 128256;
        var tensors = new List<(string Name, int[] Shape, bool Norm)> { ("model.embed_tokens.weight", [vocab, d], false) };
        for (int l = 0; l < layers; l++)
        {
            string p = $"model.layers.{l}.";
            tensors.Add((p + "input_layernorm.weight", [d], true));
            tensors.Add((p + "self_attn.q_proj.weight", [heads * dh, d], false));
            tensors.Add((p + "self_attn.k_proj.weight", [kvHeads * dh, d], false));
            tensors.Add((p + "self_attn.v_proj.weight", [kvHeads * dh, d], false));
            tensors.Add((p + "self_attn.o_proj.weight", [d, heads * dh], false));
            tensors.Add((p + "post_attention_layernorm.weight", [d], true));
            tensors.Add((p + "mlp.gate_proj.weight", [mlp, d], false));
            tensors.Add((p + "mlp.up_proj.weight", [mlp, d], false));
            tensors.Add((p + "mlp.down_proj.weight", [d, mlp], false));
        }
        tensors.Add(("model.norm.weight", [d], true));
        WriteStreamingBf16(Path.Combine(dir, "model.safetensors"), tensors, seed: 1);
        AtomicFile.WriteAllText(Path.Combine(dir, "config.json"), Llama1BConfigJson());
    }

    /// <summary>
    /// A BF16 safetensors file whose tensors are drawn chunk by chunk while it is written (memory: one chunk), with the
    /// canonical layout: u64 header length, JSON header padded with spaces to 8 bytes, data back to back.
    /// </summary>
    private static void WriteStreamingBf16(string path, List<(string Name, int[] Shape, bool Norm)> tensors, ulong seed)
    {
        var header = new StringBuilder("{\"__metadata__\":{\"format\":\"pt\"}");
        long offset = 0;
        foreach (var (name, shape, _) in tensors)
        {
            long bytes = shape.Aggregate(2L, (a, n) => a * n);
            header.Append($",\"{name}\":{{\"dtype\":\"BF16\",\"shape\":[{string.Join(",", shape)}],\"data_offsets\":[{offset},{offset + bytes}]}}");
            offset += bytes;
        }
        header.Append('}');
        while ((header.Length + 8) % 8 != 0) header.Append(' ');
        byte[] headerBytes = Encoding.UTF8.GetBytes(header.ToString());
        var rng = new SeededRandom(seed);
        const int chunk = 1 << 20;
        var values = new float[chunk];
        var bits = new ushort[chunk];
        AtomicFile.Write(path, stream =>
        {
            Span<byte> length = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)headerBytes.Length);
            stream.Write(length);
            stream.Write(headerBytes);
            foreach (var (_, shape, norm) in tensors)
            {
                long remaining = shape.Aggregate(1L, (a, n) => a * n);
                while (remaining > 0)
                {
                    int n = (int)Math.Min(chunk, remaining);
                    var v = values.AsSpan(0, n);
                    if (norm) v.Fill(1f);
                    else rng.FillNormal(v, 0.02f);
                    HalfPrecision.FloatToBf16(v, bits.AsSpan(0, n));
                    stream.Write(MemoryMarshal.AsBytes(bits.AsSpan(0, n)));
                    remaining -= n;
                }
            }
        });
    }
}
