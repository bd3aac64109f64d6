#!/usr/bin/python3
"""PyTorch side of HeadMiner's patching benchmark: the naive activation-patching loop.

TransformerLens-style: for each patch (layer, head, position) one full forward over all prompt pairs of the
corrupted input, with that head's z at that position replaced by its value from the clean run, measuring the logit
difference at the last position. Every patch costs the same, so the script times a sample of patches and prints the
mean per-patch time; the caller multiplies by the number of cells and says so.

    /usr/bin/python3 bench/torch/patching_gpt2.py --weights DIR --pairs 8 --length 16 --sample 48

stdout: one JSON line {"per_patch_ms": ..., "patches_timed": ..., "torch": ..., "threads": 1, "blas_threads": ...}
"""

import argparse
import json
import math
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from forward_gpt2 import GPT2, openblas  # noqa: E402


class PatchableGPT2(GPT2):
    """GPT2 whose forward can replace one head's z at one position and can return the last position's logits only."""

    def forward_patched(self, input_ids, patch=None, record=None):
        B, L = input_ids.shape
        pos = torch.arange(L).unsqueeze(0).expand(B, L)
        h = self.p["wte.weight"][input_ids] + self.p["wpe.weight"][pos]
        mask = self.causal[:L, :L]
        scale = 1.0 / math.sqrt(self.hd)
        for i in range(self.n_layer):
            pre = f"h.{i}."
            a = self.ln(h, pre + "ln_1")
            qkv = self.conv1d(a, pre + "attn.c_attn")
            q, k, v = (t.view(B, L, self.n_head, self.hd).transpose(1, 2) for t in qkv.split(self.d, dim=-1))
            s = torch.matmul(q, k.transpose(-1, -2)) * scale + mask
            z = torch.matmul(torch.softmax(s, dim=-1), v)  # [B, H, L, hd]
            if record is not None:
                record.append(z.clone())
            if patch is not None and patch[0] == i:
                _, head, position, donor = patch
                z[:, head, position] = donor[i][:, head, position]
            o = z.transpose(1, 2).reshape(B, L, self.d)
            h = h + self.conv1d(o, pre + "attn.c_proj")
            m = self.ln(h, pre + "ln_2")
            m = F.gelu(self.conv1d(m, pre + "mlp.c_fc"), approximate="tanh")
            h = h + self.conv1d(m, pre + "mlp.c_proj")
        last = self.ln(h[:, -1], "ln_f")
        return torch.matmul(last, self.lm_head.t())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", required=True)
    ap.add_argument("--pairs", type=int, default=8)
    ap.add_argument("--length", type=int, default=16)
    ap.add_argument("--sample", type=int, default=48, help="patches to time")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    torch.set_num_threads(1)
    blas, _ = openblas()
    model = PatchableGPT2(args.weights)
    g = torch.Generator().manual_seed(args.seed)
    vocab = model.cfg["vocab_size"]
    clean = torch.randint(0, vocab, (args.pairs, args.length), generator=g)
    corrupted = clean.clone()
    corrupted[:, 1] = torch.randint(0, vocab, (args.pairs,), generator=g)
    answer = torch.randint(0, vocab, (args.pairs,), generator=g)
    wrong = torch.randint(0, vocab, (args.pairs,), generator=g)
    with torch.inference_mode():
        donor = []
        model.forward_patched(clean, record=donor)
        cells = [(l, h, p) for l in range(model.n_layer) for h in range(model.n_head) for p in range(args.length)]
        step = max(1, len(cells) // args.sample)
        sample = cells[::step][: args.sample]
        model.forward_patched(corrupted, patch=(sample[0][0], sample[0][1], sample[0][2], donor))  # warm-up
        t0 = time.perf_counter()
        for (l, h, p) in sample:
            logits = model.forward_patched(corrupted, patch=(l, h, p, donor))
            (logits.gather(1, answer[:, None]) - logits.gather(1, wrong[:, None])).mean().item()
        elapsed = (time.perf_counter() - t0) * 1000.0
    print(json.dumps({"per_patch_ms": round(elapsed / len(sample), 3), "patches_timed": len(sample),
                      "torch": torch.__version__, "threads": torch.get_num_threads(),
                      "blas_threads": blas.openblas_get_num_threads() if blas is not None else None}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
