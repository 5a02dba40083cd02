#!/usr/bin/env python3
"""Wall time to 99 % test exact match, symbreak against a PyTorch reference recipe, in one run.

Both sides train the same model with the same recipe from a shipped config (default
experiments/configs/small-learned-causal.json: 6 layers, 4 heads, d_model 128, learned PE, causal,
pre-LN, GELU, no biases in the linear layers, nanoGPT's init, AdamW with warmup and cosine decay,
clipping 1, batch 64) on 3-digit addition (answer reversed), with fresh training pairs every step,
and evaluate greedy decoding of the 4 answer digits on a fixed test set of the config's size at the
config's eval_every. The clock runs from the start of training to the first evaluation at or above
0.99, evaluations included on both sides. Both sides use 2 threads and run one after the other on
the same seeds; PyTorch is Debian's 1.13 (/usr/bin/python3) with OMP_WAIT_POLICY=PASSIVE. The two
sides draw different (equally distributed) training and test pairs: they share the recipe, not the
random stream.

    /usr/bin/python3 experiments/bench/time_to_99.py [--build build] [--config FILE] [--seeds 1,2,3]
"""
import argparse
import csv
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare_pytorch import nanogpt  # noqa: E402  (the same PyTorch model as the speed comparison)

PLUS, EQUALS, BOS, VOCAB = 10, 11, 12, 14


def learning_rate(cfg, step):
    """symbreak's schedule (experiments/src/train_config.cpp: learning_rate)."""
    base, warm = cfg["optimizer"]["lr"], cfg["schedule"].get("warmup_steps", 0)
    steps, name = cfg["train"]["steps"], cfg["schedule"]["name"]
    if step < warm:
        return base * (step + 1) / warm
    if name == "constant":
        return base
    if name != "cosine":
        raise SystemExit(f"time_to_99.py: schedule {name!r} is not implemented on the PyTorch side")
    lo = cfg["schedule"].get("min_lr_ratio", 0.0)
    progress = (step - warm) / (steps - warm) if steps > warm else 1.0
    return base * (lo + (1 - lo) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def torch_worker(config_path, seed, threshold, curve=False):
    """In a fresh interpreter: trains the PyTorch model; prints the seconds to the first eval >= threshold
    (with curve: trains to the last step and prints every evaluation, for experiments/parity/rate.py)."""
    import torch
    import torch.nn.functional as F

    cfg = json.load(open(config_path))
    m, t = cfg["model"], cfg["train"]
    if m.get("positional_encoding") != "learned" or m.get("mask") != "causal" or cfg["task"].get("bos") or cfg["task"].get("delimiter"):
        raise SystemExit("time_to_99.py: the PyTorch side implements learned PE, a causal mask, no BOS and no delimiter")
    d, heads, layers, d_ff = m["d_model"], m["heads"], m["layers"], m.get("d_ff", 4 * m["d_model"])
    seq = 8 + 4 - 1  # the causal model is fed the prompt and the first 3 answer digits
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)

    model = nanogpt(d, heads, layers, d_ff, seq, VOCAB, gpt2_init=m.get("init") == "gpt2")

    def encode(a, b):
        digits = lambda x: torch.stack([x // 100, x // 10 % 10, x % 10], dim=1)
        s = a + b
        answer = torch.stack([s % 10, s // 10 % 10, s // 100 % 10, s // 1000 % 10], dim=1)
        n = a.shape[0]
        prompt = torch.cat([digits(a), torch.full((n, 1), PLUS), digits(b), torch.full((n, 1), EQUALS)], dim=1)
        return prompt, answer

    opt = torch.optim.AdamW(model.parameters(), lr=cfg["optimizer"]["lr"], betas=tuple(cfg["optimizer"].get("betas", (0.9, 0.999))),
                            weight_decay=cfg["optimizer"].get("weight_decay", 0.0))
    test_a = torch.randint(0, 1000, (cfg["task"]["test_size"],), generator=gen)
    test_b = torch.randint(0, 1000, (cfg["task"]["test_size"],), generator=gen)
    test_prompt, test_answer = encode(test_a, test_b)

    @torch.no_grad()
    def exact_match():
        x = test_prompt
        for _ in range(4):
            nxt = model(x)[:, -1, :].argmax(dim=-1, keepdim=True)
            x = torch.cat([x, nxt], dim=1)
        return (x[:, 8:] == test_answer).all(dim=1).float().mean().item()

    start = time.perf_counter()
    evaluations = []
    for step in range(t["steps"]):
        for g in opt.param_groups:
            g["lr"] = learning_rate(cfg, step)
        a = torch.randint(0, 1000, (t["batch"],), generator=gen)
        b = torch.randint(0, 1000, (t["batch"],), generator=gen)
        prompt, answer = encode(a, b)
        seq_in = torch.cat([prompt, answer[:, :3]], dim=1)
        logits = model(seq_in)[:, 7:, :]  # the positions that predict the 4 answer digits
        loss = F.cross_entropy(logits.reshape(-1, VOCAB), answer.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), t.get("grad_clip", 1.0))
        opt.step()
        if curve and ((step + 1) % t["eval_every"] == 0 or step + 1 == t["steps"]):
            evaluations.append((step + 1, exact_match()))
        elif (step + 1) % t["eval_every"] == 0:
            em = exact_match()
            if em >= threshold:
                print(json.dumps({"seconds": time.perf_counter() - start, "step": step + 1, "exact": em}))
                return
    if curve:
        print(json.dumps({"curve": evaluations, "wall_seconds": time.perf_counter() - start}))
        return
    print(json.dumps({"seconds": None, "step": None, "exact": exact_match()}))


def run_torch(config, seed, threshold, threads):
    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE", OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads))
    out = subprocess.run([sys.executable, __file__, "--worker", config, str(seed), str(threshold)], env=env,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_symbreak(build, config, seed, threshold, threads):
    exe = os.path.join(build, "cli", "symbreak")
    with tempfile.TemporaryDirectory() as out:
        subprocess.run([exe, "train", "--config", config, "--seed", str(seed), "--threads", str(threads), "--out", out + "/run"],
                       check=True, capture_output=True, text=True)
        with open(out + "/run/metrics.csv") as f:
            for row in csv.DictReader(f):
                if float(row["test_exact_match"]) >= threshold:
                    return {"seconds": float(row["wall_s"]), "step": int(row["step"]), "exact": float(row["test_exact_match"])}
    return {"seconds": None, "step": None, "exact": None}


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        torch_worker(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), curve="--curve" in sys.argv[5:])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", default="build")
    parser.add_argument("--config", default="experiments/configs/small-learned-causal.json")
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--threshold", type=float, default=0.99)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    print(f"time to {args.threshold:.2f} test exact match: {args.config}, {args.threads} threads per side\n")
    print(f"{'seed':>4}  {'symbreak s':>10} {'(step)':>7}   {'PyTorch s':>10} {'(step)':>7}   {'ratio':>6}")
    ours, theirs = [], []
    for seed in (int(s) for s in args.seeds.split(",")):
        a = run_symbreak(args.build, args.config, seed, args.threshold, args.threads)
        b = run_torch(args.config, seed, args.threshold, args.threads)
        fmt = lambda r: (f"{r['seconds']:10.1f} {r['step']:>7}" if r["seconds"] is not None else f"{'never':>10} {'':>7}")
        ratio = f"{b['seconds'] / a['seconds']:5.2f}x" if a["seconds"] and b["seconds"] else "    -"
        print(f"{seed:>4}  {fmt(a)}   {fmt(b)}   {ratio}", flush=True)
        ours.append(a["seconds"])
        theirs.append(b["seconds"])
    if all(x is not None for x in ours + theirs):
        mo, mt = statistics.median(ours), statistics.median(theirs)
        print(f"\nmedian: symbreak {mo:.1f} s, PyTorch {mt:.1f} s: PyTorch takes {mt / mo:.2f}x symbreak's wall time")


if __name__ == "__main__":
    main()
