#!/usr/bin/python3
"""Writes a Llama-3.2-1B-shaped (or Qwen3-1.7B-shaped) checkpoint with seeded random BF16 (or F16) weights, for
memory and speed measurements (docs/PERFORMANCE.md, "16-bit weights"). Never commit its output (2.5 / 3.4 GB).

    /usr/bin/python3 tools/bench/make_random_llama_1b.py /tmp/llama1b-bf16 [--dtype BF16|F16] [--layers N]
        [--shape llama-3.2-1b|qwen3-1.7b]

Shape llama-3.2-1b (the default): hidden 2048, 16 layers, 32 query / 8 key-value heads of 64, MLP 8192, vocabulary
128256, tied embeddings, rope theta 500000 with Llama-3 scaling. Shape qwen3-1.7b (Qwen's config): hidden 2048, 28
layers, 16 query / 8 key-value heads of 128 with a per-head RMSNorm on queries and keys, MLP 6144, vocabulary 151936,
tied embeddings, rope theta 1000000 (3.4 GB in BF16): a second family and size for the same measurements.
Weights are random values of magnitude 0.004-0.03 (a 2^23-value random pool written cyclically); norms are 1. The GPT-2 tokenizer files from
../shared/models/gpt2-small-attention-only are copied in (50257 tokens, inside the vocabulary) so text commands run.
Needs only numpy (/usr/bin/python3 has it); writes from a 32 MB pool of random values.
"""
import argparse, json, os, shutil, struct
import numpy as np

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--dtype", default="BF16", choices=["BF16", "F16"])
    ap.add_argument("--layers", type=int)
    ap.add_argument("--shape", default="llama-3.2-1b", choices=["llama-3.2-1b", "qwen3-1.7b"])
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    qwen = a.shape == "qwen3-1.7b"
    d, f, v, h, kv, hd, L = (2048, 6144, 151936, 16, 8, 128, 28) if qwen else (2048, 8192, 128256, 32, 8, 64, 16)
    L = a.layers or L
    cfg = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": d, "intermediate_size": f,
        "num_hidden_layers": L, "num_attention_heads": h, "num_key_value_heads": kv, "head_dim": hd,
        "vocab_size": v, "max_position_embeddings": 131072, "rms_norm_eps": 1e-5, "rope_theta": 500000.0,
        "rope_scaling": {"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                         "original_max_position_embeddings": 8192, "rope_type": "llama3"},
        "tie_word_embeddings": True, "hidden_act": "silu", "bos_token_id": 50256, "eos_token_id": 50256,
        "torch_dtype": "bfloat16" if a.dtype == "BF16" else "float16",
    }
    if qwen:
        cfg.update({"architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3", "max_position_embeddings": 40960,
                    "rms_norm_eps": 1e-6, "rope_theta": 1000000.0, "rope_scaling": None, "attention_bias": False,
                    "use_sliding_window": False, "sliding_window": None, "max_window_layers": 28})
    shapes = [("model.embed_tokens.weight", (v, d))]
    for l in range(L):
        p = f"model.layers.{l}."
        shapes += [(p + "input_layernorm.weight", (d,)), (p + "post_attention_layernorm.weight", (d,)),
                   (p + "self_attn.q_proj.weight", (h * hd, d)), (p + "self_attn.k_proj.weight", (kv * hd, d)),
                   (p + "self_attn.v_proj.weight", (kv * hd, d)), (p + "self_attn.o_proj.weight", (d, h * hd)),
                   (p + "mlp.gate_proj.weight", (f, d)), (p + "mlp.up_proj.weight", (f, d)),
                   (p + "mlp.down_proj.weight", (d, f))]
        if qwen: shapes += [(p + "self_attn.q_norm.weight", (hd,)), (p + "self_attn.k_norm.weight", (hd,))]
    shapes.append(("model.norm.weight", (d,)))
    header, offset = {}, 0
    for name, shape in shapes:
        n = int(np.prod(shape)) * 2
        header[name] = {"dtype": a.dtype, "shape": list(shape), "data_offsets": [offset, offset + n]}
        offset += n
    blob = json.dumps(header, separators=(",", ":")).encode()
    blob += b" " * (-len(blob) % 8)
    os.makedirs(a.out, exist_ok=True)
    rng = np.random.default_rng(a.seed)
    # A pool of 2^23 random values, written cyclically from a random start per tensor: the file is 2.5 GB of
    # random-looking weights for the price of 16 MB of random numbers (the machine this runs on is often loaded).
    # Each value has a random sign and mantissa and an exponent spread over [2^-8, 2^-5): magnitudes 0.004-0.03.
    r = rng.integers(0, 1 << 16, size=1 << 23, dtype=np.uint16)
    e = ((r >> 7) & 0x3).astype(np.uint16)
    if a.dtype == "BF16":
        pool = (r & 0x8000) | ((119 + e) << 7) | (r & 0x007F)
    else:
        pool = (r & 0x8000) | ((7 + e) << 10) | (r & 0x03FF)
    pool = np.concatenate([pool, pool]).astype(np.uint16)
    one = np.uint16(0x3F80 if a.dtype == "BF16" else 0x3C00)  # 1.0 for the norms
    tmp = os.path.join(a.out, "model.safetensors.tmp")
    with open(tmp, "wb") as out:
        out.write(struct.pack("<Q", len(blob)) + blob)
        for name, shape in shapes:
            n = int(np.prod(shape))
            if len(shape) == 1:
                out.write(np.full(n, one, dtype=np.uint16).tobytes())
                continue
            start = int(rng.integers(0, 1 << 23))
            while n > 0:
                take = min(n, 1 << 23)
                out.write(pool[start:start + take].tobytes())
                n -= take
    os.replace(tmp, os.path.join(a.out, "model.safetensors"))
    with open(os.path.join(a.out, "config.json"), "w") as c:
        json.dump(cfg, c, indent=2)
    tok = os.path.join(os.path.dirname(__file__), "../../../shared/models/gpt2-small-attention-only")
    for name in ("vocab.json", "merges.txt"):
        shutil.copy(os.path.join(tok, name), os.path.join(a.out, name))
    print(f"wrote {a.out}: {offset / 1e9:.2f} GB of {a.dtype} weights, {L} layers")

if __name__ == "__main__":
    main()
