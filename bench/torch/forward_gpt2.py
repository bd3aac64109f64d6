#!/usr/bin/python3
"""PyTorch side of HeadMiner's GPT-2 forward benchmark.

Loads a Hugging Face GPT-2 directory (config.json + model.safetensors) into a
plain-PyTorch float32 GPT-2 (transformers is not installable here) and times a
full forward pass -- logits for every position, as GPT2LMHeadModel returns
them -- on random token ids, for each requested BATCHxSEQ shape.

    /usr/bin/python3 bench/torch/forward_gpt2.py --weights DIR --shapes 1x128,1x512,8x128 --repeats N
    /usr/bin/python3 bench/torch/forward_gpt2.py --make-weights DIR      # random GPT-2-small checkpoint
    /usr/bin/python3 bench/torch/forward_gpt2.py --verify tests/fixtures/parity/gpt2

stdout: one JSON line per shape
    {"shape": "1x128", "best_ms": ..., "median_ms": ..., "torch": "1.13.x", "threads": 1, "blas_threads": 2}
("threads" is torch's intra-op count; "blas_threads" is OpenBLAS's own pool,
which torch.set_num_threads does not control -- see --blas-threads.)
Progress and diagnostics go to stderr so stdout stays machine-readable.

Timing: torch.set_num_threads(1) (intra-op threads; OpenBLAS threading is
left as the environment sets it unless --blas-threads is given), torch.inference_mode(), `--warmup` untimed
forwards, then `--repeats` timed forwards; best and median wall time
(time.perf_counter) are reported.
"""

import argparse
import json
import math
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tools", "fixtures", "parity"))
from hfio import load_safetensors, save_safetensors  # noqa: E402

GPT2_SMALL = {
    "activation_function": "gelu_new",
    "architectures": ["GPT2LMHeadModel"],
    "attn_pdrop": 0.1,
    "bos_token_id": 50256,
    "embd_pdrop": 0.1,
    "eos_token_id": 50256,
    "initializer_range": 0.02,
    "layer_norm_epsilon": 1e-05,
    "model_type": "gpt2",
    "n_ctx": 1024,
    "n_embd": 768,
    "n_head": 12,
    "n_inner": None,
    "n_layer": 12,
    "n_positions": 1024,
    "reorder_and_upcast_attn": False,
    "resid_pdrop": 0.1,
    "scale_attn_by_inverse_layer_idx": False,
    "scale_attn_weights": True,
    "summary_activation": None,
    "summary_first_dropout": 0.1,
    "summary_proj_to_labels": True,
    "summary_type": "cls_index",
    "summary_use_proj": True,
    "tie_word_embeddings": True,
    "torch_dtype": "float32",
    "use_cache": True,
    "vocab_size": 50257,
}


def make_weights(out_dir, seed=0):
    """Random GPT-2-small checkpoint in save_pretrained naming (prefix 'transformer.',
    Conv1D [in, out], tied head omitted).  HF-like init: N(0, 0.02) matrices,
    small random biases, LayerNorm weights near 1 -- values only need to be
    finite and well-scaled for timing."""
    cfg = GPT2_SMALL
    d, v, npos, L = cfg["n_embd"], cfg["vocab_size"], cfg["n_positions"], cfg["n_layer"]
    inner = cfg["n_inner"] or 4 * d
    g = torch.Generator().manual_seed(seed)

    def rn(*shape, std=0.02):
        return torch.randn(*shape, generator=g) * std

    p = {"transformer.wte.weight": rn(v, d), "transformer.wpe.weight": rn(npos, d, std=0.01)}
    for i in range(L):
        pre = f"transformer.h.{i}."
        p[pre + "ln_1.weight"] = 1 + rn(d)
        p[pre + "ln_1.bias"] = rn(d)
        p[pre + "attn.c_attn.weight"] = rn(d, 3 * d)
        p[pre + "attn.c_attn.bias"] = rn(3 * d)
        p[pre + "attn.c_proj.weight"] = rn(d, d)
        p[pre + "attn.c_proj.bias"] = rn(d)
        p[pre + "ln_2.weight"] = 1 + rn(d)
        p[pre + "ln_2.bias"] = rn(d)
        p[pre + "mlp.c_fc.weight"] = rn(d, inner)
        p[pre + "mlp.c_fc.bias"] = rn(inner)
        p[pre + "mlp.c_proj.weight"] = rn(inner, d)
        p[pre + "mlp.c_proj.bias"] = rn(d)
    p["transformer.ln_f.weight"] = 1 + rn(d)
    p["transformer.ln_f.bias"] = rn(d)
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "config.json"), "w", encoding="utf-8") as f:
        f.write(json.dumps(cfg, indent=2, sort_keys=True) + "\n")
    save_safetensors(os.path.join(out_dir, "model.safetensors"), p)


class GPT2:
    """Eager float32 GPT-2 forward with the same math as HF GPT2LMHeadModel (eager attention)."""

    def __init__(self, weights_dir):
        with open(os.path.join(weights_dir, "config.json"), encoding="utf-8") as f:
            self.cfg = json.load(f)
        raw = load_safetensors(os.path.join(weights_dir, "model.safetensors"))
        # save_pretrained writes "transformer."-prefixed names; the original hub
        # gpt2 file has none.  Accept both.
        self.p = {}
        for k, t in raw.items():
            k = k[len("transformer."):] if k.startswith("transformer.") else k
            self.p[k] = t.float().contiguous()
        self.lm_head = self.p.get("lm_head.weight", self.p["wte.weight"])
        c = self.cfg
        self.n_head, self.n_layer, self.eps = c["n_head"], c["n_layer"], c["layer_norm_epsilon"]
        self.d = c["n_embd"]
        self.hd = self.d // self.n_head
        npos = c["n_positions"]
        # Additive causal mask, built once (HF eager uses finfo.min; -inf is equivalent with no padding).
        self.causal = torch.full((npos, npos), float("-inf")).triu(1)

    def conv1d(self, x, name):
        # Conv1D: y = b + x @ W, W [in, out]; addmm on 2-D views as HF's Conv1D does.
        w, b = self.p[name + ".weight"], self.p[name + ".bias"]
        return torch.addmm(b, x.reshape(-1, x.shape[-1]), w).view(*x.shape[:-1], w.shape[1])

    def ln(self, x, name):
        return F.layer_norm(x, (self.d,), self.p[name + ".weight"], self.p[name + ".bias"], self.eps)

    def forward(self, input_ids, position_ids=None):
        B, L = input_ids.shape
        if position_ids is None:
            position_ids = torch.arange(L).unsqueeze(0).expand(B, L)
        h = self.p["wte.weight"][input_ids] + self.p["wpe.weight"][position_ids]
        mask = self.causal[:L, :L]
        scale = 1.0 / math.sqrt(self.hd)
        for i in range(self.n_layer):
            pre = f"h.{i}."
            a = self.ln(h, pre + "ln_1")
            qkv = self.conv1d(a, pre + "attn.c_attn")
            q, k, v = (t.view(B, L, self.n_head, self.hd).transpose(1, 2) for t in qkv.split(self.d, dim=-1))
            s = torch.matmul(q, k.transpose(-1, -2)) * scale + mask
            o = torch.matmul(torch.softmax(s, dim=-1), v)
            o = o.transpose(1, 2).reshape(B, L, self.d)
            h = h + self.conv1d(o, pre + "attn.c_proj")
            m = self.ln(h, pre + "ln_2")
            m = F.gelu(self.conv1d(m, pre + "mlp.c_fc"), approximate="tanh")  # gelu_new
            h = h + self.conv1d(m, pre + "mlp.c_proj")
        h = self.ln(h, "ln_f")
        return torch.matmul(h, self.lm_head.t())  # logits for every position


def verify(fixture_dir):
    """Check the benchmark model against a parity fixture (float64 reference logits)."""
    model = GPT2(fixture_dir)
    with open(os.path.join(fixture_dir, "expected.json"), encoding="utf-8") as f:
        exp = json.load(f)
    ids = torch.tensor(exp["input_ids"])
    mask = torch.tensor(exp["attention_mask"]).bool()
    # Only the unpadded row can go through this mask-free model; also run the
    # padded row's valid suffix on its own (padding invariance).
    want = torch.tensor(exp["logits"])
    with torch.inference_mode():
        got0 = model.forward(ids[:1])[0]
        n_pad = int((~mask[1]).sum())
        got1 = model.forward(ids[1:, n_pad:])[0]
    err = max((got0 - want[0]).abs().max().item(), (got1 - want[1, n_pad:]).abs().max().item())
    print(json.dumps({"verify": fixture_dir, "max_abs_err": err}), file=sys.stderr)
    return err


def openblas():
    """(handle, config string) of the OpenBLAS that torch loaded, or (None, None).

    Debian's torch calls BLAS through libblas.so.3, which is OpenBLAS (pthread
    build) here.  torch.set_num_threads does NOT reach OpenBLAS's own thread pool,
    so report (and optionally set) it, for a fair comparison with HeadMiner."""
    import ctypes
    torch.ones(2, 2) @ torch.ones(2, 2)  # make sure the BLAS library is mapped
    with open("/proc/self/maps", encoding="utf-8") as f:
        paths = sorted({ln.split()[-1] for ln in f if "openblas" in ln.lower() and ln.split()[-1].startswith("/")})
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
            lib.openblas_get_config.restype = ctypes.c_char_p
            lib.openblas_get_corename.restype = ctypes.c_char_p
            cfg = lib.openblas_get_config().decode() + " core=" + lib.openblas_get_corename().decode()
            return lib, cfg
        except (OSError, AttributeError):
            continue
    return None, None


def parse_shapes(s):
    out = []
    for part in s.split(","):
        b, l = part.lower().split("x")
        out.append((int(b), int(l)))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", help="HF GPT-2 directory (config.json + model.safetensors)")
    ap.add_argument("--shapes", default="1x128,1x512,8x128", help="comma-separated BATCHxSEQ list")
    ap.add_argument("--repeats", type=int, default=5, help="timed forwards per shape")
    ap.add_argument("--warmup", type=int, default=1, help="untimed forwards per shape first")
    ap.add_argument("--seed", type=int, default=1234, help="seed for the random token ids")
    ap.add_argument("--blas-threads", type=int, default=None,
                    help="call openblas_set_num_threads(N); default: leave OpenBLAS as the environment sets it")
    ap.add_argument("--make-weights", metavar="DIR", help="write a random GPT-2-small checkpoint to DIR and exit")
    ap.add_argument("--verify", metavar="FIXTURE_DIR", help="compare against a parity fixture and exit")
    args = ap.parse_args()

    torch.set_num_threads(1)
    if args.make_weights:
        make_weights(args.make_weights)
        print(f"wrote random GPT-2-small checkpoint to {args.make_weights}", file=sys.stderr)
        return 0
    if args.verify:
        return 0 if verify(args.verify) < 1e-4 else 1
    if not args.weights:
        ap.error("--weights DIR is required (or --make-weights / --verify)")

    blas, blas_cfg = openblas()
    if blas is not None and args.blas_threads is not None:
        blas.openblas_set_num_threads(args.blas_threads)
    blas_threads = blas.openblas_get_num_threads() if blas is not None else None
    print(f"torch {torch.__version__}, intra-op threads {torch.get_num_threads()}, "
          f"BLAS: {blas_cfg or 'not OpenBLAS'}, BLAS threads {blas_threads}", file=sys.stderr)

    model = GPT2(args.weights)
    vocab, npos = model.cfg["vocab_size"], model.cfg["n_positions"]
    g = torch.Generator().manual_seed(args.seed)
    for b, l in parse_shapes(args.shapes):
        if l > npos:
            raise SystemExit(f"sequence {l} exceeds n_positions {npos}")
        ids = torch.randint(0, vocab, (b, l), generator=g)
        times = []
        with torch.inference_mode():
            for _ in range(args.warmup):
                model.forward(ids)
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                logits = model.forward(ids)
                times.append((time.perf_counter() - t0) * 1000.0)
        assert torch.isfinite(logits).all()
        print(json.dumps({"shape": f"{b}x{l}", "best_ms": round(min(times), 3),
                          "median_ms": round(statistics.median(times), 3),
                          "torch": torch.__version__, "threads": torch.get_num_threads(),
                          "blas_threads": blas_threads}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
