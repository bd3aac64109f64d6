#!/usr/bin/python3
"""PyTorch side of HeadMiner's GPT-2 training benchmark (`bench ... train`).

Trains a plain-PyTorch float32 GPT-2 (the model code of forward_gpt2.py, with
autograd) from a Hugging Face GPT-2 directory written by the C# side (its
Gpt2TrainingModel's initial weights) on the exact token batches the C# side
trained on, with the same step: zero gradients -> mean next-token
cross-entropy -> backward -> clip_grad_norm_ -> torch.optim.AdamW at the
warm-up + cosine learning rate of HeadMiner's LearningRateSchedule.

    /usr/bin/python3 bench/torch/train_gpt2.py --weights DIR --tokens FILE --batch 16 --length 128 \
        --warmup 3 --steps 5 --repeats 3 --lr 1e-3 --lr-warmup 100 --lr-total 1000

--tokens: raw little-endian int32, (warmup + steps * repeats) batches of
[batch, length + 1] tokens, step after step; a step's inputs are tokens[:, :-1]
and its targets tokens[:, 1:].

stdout: one JSON line
    {"losses": [...first --report-losses step losses...], "last_loss": ..., "all_losses": [...every step's...],
     "parameters": N, "decayed_parameters": N, "tokens_per_s": [one per repeat],
     "median_tokens_per_s": ..., "best_tokens_per_s": ..., "phase_ms": {"forward": ..., "backward": ...,
     "optimizer": ...}, "torch": "1.13.x", "threads": 1, "blas_threads": 2, "foreach": null}
("phase_ms" are medians over the timed steps; "optimizer" is clipping plus the AdamW step.)
Progress and diagnostics go to stderr so stdout stays machine-readable.
"""

import argparse
import json
import math
import os
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from forward_gpt2 import GPT2, openblas  # noqa: E402


class TrainableGPT2(GPT2):
    """forward_gpt2's GPT-2 with its tensors as leaf parameters and a training loss.

    The loss is the forward of GPT2.forward written once more, because a
    training step wants F.embedding (its backward is a dense scatter-add, the
    way a PyTorch training model would do it) and the loss rather than the
    logits; the layer norms, Conv1D products and mask are the parent's."""

    def __init__(self, weights_dir):
        super().__init__(weights_dir)
        for t in self.p.values():
            t.requires_grad_(True)
        # Tied unembedding: lm_head is the very wte tensor (no lm_head.weight in the export).
        assert self.lm_head is self.p["wte.weight"]

    def parameter_groups(self, weight_decay):
        """Decay matrices and embeddings (wte, wpe, every .weight but the norms'); not biases and norm weights,
        which is how Gpt2TrainingModel marks its parameters."""
        decay, no_decay = [], []
        for name, t in sorted(self.p.items()):
            norm = name.startswith("ln_f.") or ".ln_1." in name or ".ln_2." in name
            (decay if name.endswith(".weight") and not norm else no_decay).append(t)
        return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]

    def loss(self, input_ids, targets):
        B, L = input_ids.shape
        positions = torch.arange(L).unsqueeze(0).expand(B, L)
        h = F.embedding(input_ids, self.p["wte.weight"]) + F.embedding(positions, self.p["wpe.weight"])
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
            m = F.gelu(self.conv1d(m, pre + "mlp.c_fc"), approximate="tanh")
            h = h + self.conv1d(m, pre + "mlp.c_proj")
        h = self.ln(h, "ln_f")
        logits = torch.matmul(h.reshape(B * L, self.d), self.lm_head.t())
        return F.cross_entropy(logits, targets.reshape(-1))


def learning_rate(step, peak, warmup, total, min_ratio):
    """HeadMiner's LearningRateSchedule.At: linear warm-up from peak/warmup, then half-cosine to peak*min_ratio."""
    floor = peak * min_ratio
    if step < warmup:
        return peak * (step + 1) / warmup
    if step >= total:
        return floor
    progress = (step - warmup) / (total - warmup)
    return floor + (peak - floor) * 0.5 * (1 + math.cos(math.pi * progress))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", required=True, help="HF GPT-2 directory (config.json + model.safetensors)")
    ap.add_argument("--tokens", required=True, help="int32 token batches, see above")
    ap.add_argument("--batch", type=int, required=True)
    ap.add_argument("--length", type=int, required=True, help="input tokens per sequence")
    ap.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    ap.add_argument("--steps", type=int, default=10, help="timed steps per repeat")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--report-losses", type=int, default=3, help="how many first-step losses to print")
    ap.add_argument("--lr", type=float, default=1e-3, help="peak learning rate")
    ap.add_argument("--lr-warmup", type=int, default=100, help="learning-rate warm-up steps")
    ap.add_argument("--lr-total", type=int, default=1000, help="steps of the schedule (cosine end)")
    ap.add_argument("--min-lr-ratio", type=float, default=0.1)
    ap.add_argument("--weight-decay", type=float, default=0.01)
    ap.add_argument("--clip", type=float, default=1.0)
    ap.add_argument("--beta1", type=float, default=0.9)
    ap.add_argument("--beta2", type=float, default=0.999)
    ap.add_argument("--eps", type=float, default=1e-8)
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    ap.add_argument("--blas-threads", type=int, default=None,
                    help="call openblas_set_num_threads(N); default: leave OpenBLAS as the environment sets it")
    ap.add_argument("--foreach", choices=["default", "on", "off"], default="default",
                    help="AdamW's multi-tensor implementation (default: torch's own choice)")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    blas, blas_cfg = openblas()
    if blas is not None and args.blas_threads is not None:
        blas.openblas_set_num_threads(args.blas_threads)
    blas_threads = blas.openblas_get_num_threads() if blas is not None else None
    print(f"torch {torch.__version__}, intra-op threads {torch.get_num_threads()}, "
          f"BLAS: {blas_cfg or 'not OpenBLAS'}, BLAS threads {blas_threads}", file=sys.stderr)

    model = TrainableGPT2(args.weights)
    b, t = args.batch, args.length
    total_steps = args.warmup + args.steps * args.repeats
    data = np.fromfile(args.tokens, dtype="<i4")
    if data.size != total_steps * b * (t + 1):
        raise SystemExit(f"{args.tokens}: {data.size} tokens, expected {total_steps} steps x {b} x {t + 1}")
    if data.min() < 0 or data.max() >= model.cfg["vocab_size"]:
        raise SystemExit(f"{args.tokens}: token ids outside [0, {model.cfg['vocab_size']})")
    batches = torch.from_numpy(data.astype(np.int64)).view(total_steps, b, t + 1)

    foreach = {"default": None, "on": True, "off": False}[args.foreach]
    groups = model.parameter_groups(args.weight_decay)
    params = [p for g in groups for p in g["params"]]
    decayed = sum(p.numel() for p in groups[0]["params"])
    opt = torch.optim.AdamW(groups, lr=args.lr, betas=(args.beta1, args.beta2),
                            eps=args.eps, foreach=foreach)

    losses, times, phases = [], [], {"forward": [], "backward": [], "optimizer": []}
    for step in range(total_steps):
        ids, targets = batches[step, :, :-1], batches[step, :, 1:]
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = model.loss(ids, targets)
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
        norm = torch.nn.utils.clip_grad_norm_(params, args.clip)
        lr = learning_rate(step, args.lr, args.lr_warmup, args.lr_total, args.min_lr_ratio)
        for g in opt.param_groups:
            g["lr"] = lr
        if math.isfinite(norm.item()):  # HeadMiner's Trainer skips the update on a non-finite norm
            opt.step()
        t3 = time.perf_counter()
        losses.append(loss.item())
        if step >= args.warmup:
            times.append(t3 - t0)
            phases["forward"].append(t1 - t0)
            phases["backward"].append(t2 - t1)
            phases["optimizer"].append(t3 - t2)

    tokens = b * t
    per_repeat = [tokens * args.steps / sum(times[r * args.steps:(r + 1) * args.steps]) for r in range(args.repeats)]
    print(json.dumps({
        "losses": losses[:args.report_losses], "last_loss": losses[-1], "all_losses": losses,
        "parameters": sum(p.numel() for p in params), "decayed_parameters": decayed,
        "tokens_per_s": [round(x, 1) for x in per_repeat],
        "median_tokens_per_s": round(statistics.median(per_repeat), 1), "best_tokens_per_s": round(max(per_repeat), 1),
        "phase_ms": {k: round(statistics.median(v) * 1000, 3) for k, v in phases.items()},
        "torch": torch.__version__, "threads": torch.get_num_threads(), "blas_threads": blas_threads,
        "foreach": foreach}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
