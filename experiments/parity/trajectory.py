#!/usr/bin/env python3
"""Training-trajectory parity: symbreak's training step against PyTorch's, from the same weights on the
same batches.

symbreak trains with --trace (experiments/src/trainer.cpp), keeping its initial weights, every step's
tokens, targets, learning rate and loss, and, after each checked step, its weights, optimizer state,
the step's gradient before clipping, and the same model definition's loss and gradient of that step in
double. Then, for each checked step k + 1, PyTorch starts from symbreak's own state after k steps
(weights, and AdamW moments or SGD momentum, loaded into the nanoGPT-style model of experiments/bench:
learned PE, causal, pre-LN, erf-GELU MLP, no biases in the linear layers, separate unembedding) and
takes step k + 1 on the same batch: torch.optim.AdamW (weight decay on matrices only, as nanoGPT) or
torch.optim.SGD, clip_grad_norm_ before the step, the learning rate from this file's own copy of the
schedule. Three comparisons per step:

  1. the training engine's float32 loss against PyTorch's float64 loss;
  2. symbreak's model in double against PyTorch in double: the loss and every gradient tensor must
     agree better than float32 rounding of that step could explain (their own float64 rounding is
     about 2^29 times smaller, a semantic difference is thousands of times larger);
  3. the update: symbreak's weights and optimizer state after the step against PyTorch's optimizer
     applied to symbreak's state and symbreak's own float32 gradient (clipping included), in float64.

Step by step, from symbreak's own state, because training is chaotic: on tiny-learned-causal with AdamW,
PyTorch's float32 run from weights perturbed by an ulp leaves its unperturbed run by 10x more than
float32 rounding from about step 70 on (experiments/parity/README.md), so the free-running trajectories
of two correct float32 implementations cannot be held to a rounding bound for 200 steps; each step can.
And the gradient is compared in double because symbreak's float32 gradients (Eigen's packet exp and
erf, a few ulps, and its own reduction orders) round up to several times more than PyTorch's at some
steps: a float32 bound on them would have to be chosen, not measured.

The bounds are measured. Each quantity X must satisfy |X_symbreak − X_64| ≤ 2 · E_X + 4 · u · |X_64|:
  - E_X is the largest |X_32 − X_64| of PyTorch's own float32 replays of the step (ORDERS: the batch in
    its order, shuffled, and cut into slices whose gradients add up: the same sums rounded in other
    orders), in comparisons 1 and 2; in comparison 3 it is the same update computed in float32;
  - 2 allows for two rounding streams of that size (symbreak's and PyTorch's) instead of one;
  - 4 · u32 · |X_64| (u32 = 2^-24) is a stored float32 value's own rounding, where E_X is 0.
A tensor is compared in the RMS norm (elementwise, one stream's envelope is too noisy an estimate of
another's). A semantic difference (another Adam ε, weight decay on LayerNorm gains, the tanh GELU,
clipping after the step) moves X by orders of magnitude more: --plant puts one on the PyTorch side, and
--expect-fail then exits 0 only if the comparison fails (experiments/parity/README.md).

    /usr/bin/python3 experiments/parity/trajectory.py --build build --config experiments/configs/tiny-learned-causal.json
        [--optimizer adamw|sgd] [--steps 200] [--check all|K,K,...] [--seed 1]
        [--plant adam-eps|wd-layernorm|gelu-tanh|clip-after] [--expect-fail]

Exit codes: 0 parity holds (or, with --expect-fail, it fails as it must), 1 it does not, 2 bad input.
"""
import argparse
import json
import math
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench"))
from compare_pytorch import nanogpt  # noqa: E402  (the one PyTorch reference model of experiments/bench)

U32 = 2.0 ** -24
STREAMS = 2  # two rounding streams of the measured size (the bound above)
# The PyTorch float32 replays of each step whose spread is the rounding envelope: the batch in its own
# order, then shuffled, whole or cut into 2, 4 or 16 slices whose gradients are added one after another
# (the number of slices each), from PyTorch's blocked reductions towards a sequential sum over the batch.
ORDERS = (1, 1, 1, 2, 4, 16)
PLANTS = ("adam-eps", "wd-layernorm", "gelu-tanh", "clip-after")
# The optimizers the parity runs use. AdamW gets weight decay 0.1 so that which tensors decay is
# tested (the shipped configs use 0); SGD is the shipped SGD recipe's.
OPTIMIZERS = {
    "adamw": {"name": "adamw", "lr": 0.001, "betas": [0.9, 0.98], "eps": 1e-8, "weight_decay": 0.1},
    "sgd": {"name": "sgd", "lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.0001},
}


def fail_input(message):
    print(f"trajectory.py: {message}", file=sys.stderr)
    sys.exit(2)


def learning_rate(cfg, step):
    """The schedule, written from experiments/configs' documented semantics (not read from the trace)."""
    base, sched = cfg["optimizer"]["lr"], cfg["schedule"]
    warm, steps, name = sched.get("warmup_steps", 0), cfg["train"]["steps"], sched["name"]
    if step < warm:
        return base * (step + 1) / warm
    if name == "constant":
        return base
    if name != "cosine":
        fail_input(f"schedule {name!r} is not implemented on the PyTorch side")
    lo = sched.get("min_lr_ratio", 0.0)
    progress = (step - warm) / (steps - warm) if steps > warm else 1.0
    return base * (lo + (1 - lo) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def load_npy(path):
    import numpy as np
    return np.load(path)


def build_model(cfg, init_dir, dtype, gelu_approximate):
    """The PyTorch model with symbreak's initial weights (matrices transposed: symbreak computes x·W)."""
    import numpy as np
    import torch

    m = cfg["model"]
    d, heads, layers, d_ff = m["d_model"], m["heads"], m["layers"], m.get("d_ff", 4 * m["d_model"])
    wte = load_npy(os.path.join(init_dir, "token_embedding.npy"))
    wpe = load_npy(os.path.join(init_dir, "position_embedding.npy"))
    vocab, context = wte.shape[0], wpe.shape[0]

    model = nanogpt(d, heads, layers, d_ff, context, vocab, layernorm_eps=m.get("layernorm_eps", 1e-5),
                    gelu_approximate=gelu_approximate)
    # symbreak's name -> (PyTorch parameter, transposed?)
    names = {"token_embedding": (model.wte.weight, False), "position_embedding": (model.wpe.weight, False),
             "lnf_gain": (model.lnf.weight, False), "lnf_bias": (model.lnf.bias, False),
             "unembedding": (model.head.weight, True)}
    for i, blk in enumerate(model.blocks):
        for ours, (theirs, t) in {"ln1_gain": (blk.ln1.weight, False), "ln1_bias": (blk.ln1.bias, False),
                                  "w_qkv": (blk.attn.weight, True), "w_o": (blk.proj.weight, True),
                                  "ln2_gain": (blk.ln2.weight, False), "ln2_bias": (blk.ln2.bias, False),
                                  "w_fc": (blk.fc.weight, True), "w_proj": (blk.fc_proj.weight, True)}.items():
            names[f"layers.{i}.{ours}"] = (theirs, t)
    states = (".exp_avg", ".exp_avg_sq", ".momentum_buffer", ".grad", ".grad64")
    stored = {f[:-4] for f in os.listdir(init_dir) if f.endswith(".npy") and not f[:-4].endswith(states)}
    if stored != set(names):
        fail_input(f"the trace's tensors {sorted(stored ^ set(names))} do not match the PyTorch model (unsupported architecture)")
    with torch.no_grad():
        for name, (p, t) in names.items():
            w = load_npy(os.path.join(init_dir, name + ".npy"))
            w = w.T if t else w.reshape(p.shape)
            if tuple(w.shape) != tuple(p.shape):
                fail_input(f"{name}: shape {w.shape} where PyTorch has {tuple(p.shape)}")
            p.copy_(torch.from_numpy(np.ascontiguousarray(w)))
    return model.to(dtype), names


def rms(x):
    import numpy as np
    x = np.asarray(x, dtype=np.float64)
    return float(np.sqrt(np.mean(x * x))) if x.ndim else abs(float(x))


def to_ours(t, transposed, shape):
    x = t.detach().double().numpy().copy()  # a copy: numpy() of a float64 tensor is a view, and clipping scales grads in place
    return (x.T if transposed else x).reshape(shape)


def make_optimizer(cfg, names, plant):
    import torch
    oc = cfg["optimizer"]
    params = [p for p, _ in names.values()]
    if oc["name"] == "adamw":
        decay = [p for p, _ in names.values() if p.dim() == 2]
        rest = [p for p, _ in names.values() if p.dim() != 2]
        groups = [{"params": params, "weight_decay": oc["weight_decay"]}] if plant == "wd-layernorm" else \
                 [{"params": decay, "weight_decay": oc["weight_decay"]}, {"params": rest, "weight_decay": 0.0}]
        eps = 1e-7 if plant == "adam-eps" else oc.get("eps", 1e-8)  # 1e-7: Keras's default, where PyTorch's is 1e-8
        return torch.optim.AdamW(groups, lr=oc["lr"], betas=tuple(oc["betas"]), eps=eps), ("exp_avg", "exp_avg_sq")
    if oc["name"] == "sgd":
        return torch.optim.SGD(params, lr=oc["lr"], momentum=oc.get("momentum", 0.9), nesterov=oc.get("nesterov", False),
                               weight_decay=oc.get("weight_decay", 0.0)), ("momentum_buffer",)
    fail_input(f"optimizer {oc['name']!r} has no PyTorch counterpart here")


def restore(cfg, trace, k, dtype, plant):
    """The PyTorch model and optimizer in symbreak's state after k steps (its weights, and from k = 1
    on its optimizer state), read from the trace."""
    import numpy as np
    import torch

    torch.set_num_threads(1)
    state_dir = os.path.join(trace, f"step_{k}")
    model, names = build_model(cfg, state_dir, dtype, "tanh" if plant == "gelu-tanh" else "none")
    opt, state_names = make_optimizer(cfg, names, plant)
    if k > 0:
        for name, (p, t) in names.items():
            st = {s: torch.from_numpy(np.ascontiguousarray(theirs(load_npy(os.path.join(state_dir, f"{name}.{s}.npy")), p, t))).to(dtype)
                  for s in state_names}
            if cfg["optimizer"]["name"] == "adamw":
                st["step"] = torch.tensor(float(k))
            opt.state[p] = st
    for g in opt.param_groups:
        g["lr"] = learning_rate(cfg, k)
    return model, names, opt, state_names


def clip_and_step(cfg, names, opt, plant):
    """clip_grad_norm_ before the step, as nanoGPT and symbreak (the plant: after it, too late)."""
    import torch
    params, clip = [p for p, _ in names.values()], cfg["train"].get("grad_clip", 1.0)
    if clip > 0 and plant != "clip-after":
        torch.nn.utils.clip_grad_norm_(params, clip)
    opt.step()
    if clip > 0 and plant == "clip-after":
        torch.nn.utils.clip_grad_norm_(params, clip)


def state_after(names, opt, state_names):
    """{symbreak name: array} of the weights and optimizer state, in symbreak's layout."""
    after = {}
    for name, (p, t) in names.items():
        shape = ours_shape(p, t)
        after[name] = to_ours(p, t, shape)
        for s in state_names:
            after[f"{name}.{s}"] = to_ours(opt.state[p][s], t, shape)
    return after


def one_step(cfg, trace, k, dtype, plant, order=None, parts=1):
    """Step k + 1 in PyTorch at `dtype`, from symbreak's state after k steps, on the trace's batch k + 1
    with this file's learning rate. Returns the loss, the gradient norm before clipping, the learning
    rate, the weights and optimizer state after the step, and the gradient before clipping."""
    import torch
    import torch.nn.functional as F

    model, names, opt, state_names = restore(cfg, trace, k, dtype, plant)
    tokens = torch.from_numpy(load_npy(os.path.join(trace, "tokens.npy"))[k].astype("int64"))
    targets = torch.from_numpy(load_npy(os.path.join(trace, "targets.npy"))[k].astype("int64"))
    if order is not None:  # the same batch in another order: the same step, rounded in other orders
        tokens, targets = tokens[order], targets[order]
    # The mean cross-entropy over the positions with a target; with parts > 1, the batch in that many
    # slices whose gradients add up (as symbreak's threads split it), another order of the same sums.
    opt.zero_grad(set_to_none=True)
    count = int((targets >= 0).sum())
    loss = 0.0
    for t, y in zip(tokens.chunk(parts), targets.chunk(parts)):
        logits = model(t)
        part = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), ignore_index=-1, reduction="sum") / count
        part.backward()
        loss = loss + part.detach()
    loss = torch.as_tensor(loss)
    params = [p for p, _ in names.values()]
    norm = torch.sqrt(sum((p.grad.double() ** 2).sum() for p in params)).item()
    grads = {name: to_ours(p.grad, t, ours_shape(p, t)) for name, (p, t) in names.items()}
    clip_and_step(cfg, names, opt, plant)
    return loss.item(), norm, learning_rate(cfg, k), state_after(names, opt, state_names), grads


def update_only(cfg, trace, k, dtype, plant):
    """PyTorch's optimizer step k + 1 at `dtype` applied to symbreak's state after k steps and to
    symbreak's own gradient of step k + 1 (before clipping): the update alone, with no gradient of
    PyTorch's in it. Returns {symbreak name: array} of the weights and optimizer state after it."""
    import numpy as np
    import torch

    _, names, opt, state_names = restore(cfg, trace, k, dtype, plant)
    for name, (p, t) in names.items():
        g = load_npy(os.path.join(trace, f"step_{k + 1}", name + ".grad.npy"))
        p.grad = torch.from_numpy(np.ascontiguousarray(theirs(g, p, t))).to(dtype)
    clip_and_step(cfg, names, opt, plant)
    return state_after(names, opt, state_names)


def ours_shape(p, transposed):
    """The shape symbreak stores parameter p in: matrices transposed, vectors as one row."""
    return tuple(reversed(p.shape)) if transposed else (1, p.shape[0]) if p.dim() == 1 else tuple(p.shape)


def theirs(x, p, transposed):
    """A symbreak array in PyTorch's layout for parameter p (matrices transposed: symbreak computes x·W)."""
    return x.T if transposed else x.reshape(tuple(p.shape))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", default="build")
    parser.add_argument("--config", required=True)
    parser.add_argument("--optimizer", choices=sorted(OPTIMIZERS), default="adamw")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--check", default="all",
                        help="the steps checked one by one: all, or a list of k (step k+1 from symbreak's state after k)")
    parser.add_argument("--plant", choices=PLANTS)
    parser.add_argument("--expect-fail", action="store_true")
    parser.add_argument("--keep", help="keep the trace in this directory")
    a = parser.parse_args()
    if a.steps < 1:
        fail_input(f"--steps {a.steps}: must be at least 1")
    try:
        cfg = json.load(open(a.config))
    except (OSError, ValueError) as e:
        fail_input(f"--config {a.config}: {e}")
    cfg["optimizer"] = dict(OPTIMIZERS[a.optimizer])
    try:
        checked = list(range(a.steps)) if a.check == "all" else sorted({int(x) for x in a.check.split(",")})
    except ValueError:
        fail_input(f"--check {a.check!r}: all, or whole numbers separated by commas")
    if any(k < 0 or k >= a.steps for k in checked):
        fail_input(f"--check {a.check}: every k must be in 0..{a.steps - 1}")
    snapshots = sorted({k for k in checked if k > 0} | {k + 1 for k in checked})
    exe = os.path.join(a.build, "cli", "symbreak")
    if not os.access(exe, os.X_OK):
        fail_input(f"--build {a.build}: no {exe}")
    work = a.keep or tempfile.mkdtemp(prefix="symbreak-parity-")
    os.makedirs(work, exist_ok=True)
    config_path, trace = os.path.join(work, "config.json"), os.path.join(work, "trace")
    with open(config_path, "w") as f:
        json.dump(cfg, f, indent=2)
    cmd = [exe, "train", "--config", config_path, "--seed", str(a.seed), "--steps", str(a.steps), "--threads", "1",
           "--out", os.path.join(work, "run"), "--trace", trace, "--trace-steps", ",".join(map(str, snapshots))]
    run = subprocess.run(cmd, capture_output=True, text=True)
    if run.returncode != 0:
        print(run.stdout + run.stderr, file=sys.stderr)
        fail_input("symbreak train --trace failed: " + " ".join(cmd))
    if not os.path.exists(os.path.join(trace, "step_0")):
        os.symlink("init", os.path.join(trace, "step_0"))

    import numpy as np
    import torch
    sb_loss, sb_norm, sb_lr = (load_npy(os.path.join(trace, f + ".npy")) for f in ("loss", "grad_norm", "lr"))
    failures = []
    worst = {}  # category -> (ratio, |diff|, what)

    def check(category, what, ours, exact, envelope, streams, unit):
        """|ours − exact| ≤ streams·envelope + 4·unit·|exact|, for a scalar, or for a tensor in the root-mean-
        square norm (elementwise, or in the max norm, one rounding stream's envelope is too noisy an
        estimate of another's: the largest of thousands of rounding errors is an extreme value, their
        RMS is not)."""
        ours, exact = np.asarray(ours, dtype=np.float64), np.asarray(exact, dtype=np.float64)
        diff, size = rms(ours - exact), rms(exact)
        bound = streams * envelope + 4 * unit * size
        ratio = diff / max(bound, np.finfo(float).tiny)
        if category not in worst or ratio > worst[category][0]:
            worst[category] = (ratio, diff, what)
        if not diff <= bound:
            failures.append((what + " (RMS over the tensor)" if ours.ndim else what, diff + size if ours.ndim else float(ours),
                             size if ours.ndim else float(exact), diff, bound))

    clipped = 0
    for k in checked:
        l64, n64, lr, a64, g64 = one_step(cfg, trace, k, torch.float64, a.plant)
        # PyTorch's float32 step, in the batch's own order and in shuffled and sliced orders (ORDERS):
        # the envelope is the largest distance of any of them to float64.
        batch = cfg["train"]["batch"]
        rng = np.random.default_rng(k)
        env_loss, env_grad = 0.0, {}
        for r, parts in enumerate(ORDERS):
            l32, _, _, _, g32 = one_step(cfg, trace, k, torch.float32, a.plant, None if r == 0 else rng.permutation(batch), parts)
            env_loss = max(env_loss, abs(l32 - l64))
            for key in g64:
                env_grad[key] = max(env_grad.get(key, 0.0), rms(g32[key] - g64[key]))
        clipped += n64 > cfg["train"].get("grad_clip", 1.0) > 0
        step_dir = os.path.join(trace, f"step_{k + 1}")
        if abs(sb_lr[k] - lr) > 4 * np.spacing(lr):  # the schedule: this file's own copy, to a few float64 ulps
            failures.append((f"lr of step {k + 1}", float(sb_lr[k]), lr, abs(sb_lr[k] - lr), 4 * np.spacing(lr)))
        # 1. The training engine's float32 loss.
        check("loss (float32)", f"loss of step {k + 1}", sb_loss[k], l64, env_loss, STREAMS, U32)
        # 2. The same model definition in double against PyTorch in double: loss and every gradient.
        double = json.load(open(os.path.join(step_dir, "double.json")))
        check("loss (float64)", f"float64 loss of step {k + 1}", double["loss"], l64, env_loss, STREAMS, U32)
        for key in g64:
            check("gradient (float64)", f"float64 gradient of {key} in step {k + 1}", load_npy(os.path.join(step_dir, key + ".grad64.npy")),
                  g64[key], env_grad[key], STREAMS, U32)
        # 3. The update: symbreak's state after the step against PyTorch's optimizer applied to
        #    symbreak's state and symbreak's own float32 gradient, in float64; the envelope is the same
        #    update in float32.
        u64, u32 = update_only(cfg, trace, k, torch.float64, a.plant), update_only(cfg, trace, k, torch.float32, a.plant)
        for key, exact in u64.items():
            path = os.path.join(step_dir, key + ".npy")
            category = "optimizer state" if key.count(".") > (2 if key.startswith("layers.") else 0) else "weights"
            if not os.path.exists(path):
                failures.append((f"{key} after step {k + 1}: missing from the trace", "", "", 0, 0))
                continue
            check(category, f"{key} after step {k + 1}", load_npy(path), exact, rms(u32[key] - exact), STREAMS, U32)

    print(f"parity: {a.config}, {a.optimizer} {json.dumps(cfg['optimizer'])}, seed {a.seed}, {a.steps} steps"
          + (f"; PyTorch side planted: {a.plant}" if a.plant else ""))
    print(f"  {len(checked)} steps checked one by one (step k+1 from symbreak's state after k; clipping active on {clipped});"
          f" bounds: {STREAMS} x the spread of PyTorch's float32 steps (or updates) + 4 u32 |x|")
    for category in ("loss (float32)", "loss (float64)", "gradient (float64)", "weights", "optimizer state"):
        if category in worst:
            r, d, what = worst[category]
            print(f"  {category:16s} worst {what}: |symbreak - float64| {d:.3e} = {r:.3g} of its bound")
    if failures:
        print(f"  PARITY FAILS on {len(failures)} quantities; first:")
        for what, ours, exact, diff, bound in failures[:5]:
            print(f"    {what}: |symbreak - PyTorch float64| {diff:.3e} > bound {bound:.3e}")
    else:
        print("  parity holds")
    if not a.keep:
        import shutil
        shutil.rmtree(work, ignore_errors=True)
    if a.expect_fail:
        print("  expected to fail (planted difference): " + ("it fails" if failures else "IT PASSES: the comparison has no teeth here"))
        sys.exit(0 if failures else 1)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
