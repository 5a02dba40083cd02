#!/usr/bin/env python3
"""Convergence-rate parity: symbreak and PyTorch train the same recipe on the same seeds, and the rule
in experiments/parity/rate-plan.json (written before the runs) decides whether symbreak's convergence
rate is lower.

Each side trains the plan's config for its full number of steps, from its own initialisation and its own
data stream (seed s on both sides; the two share the recipe, not the random numbers), and evaluates
test exact match (all 4 answer digits, greedy decoding) every eval_every steps. The PyTorch side is
experiments/bench/time_to_99.py's recipe run to the end. A run is converged if its exact match at the
last step is at least the plan's threshold.

Every finished run is written atomically to experiments/results/parity/rate/<side>-s<seed>.json, so the
benchmark resumes where it stopped; `--table` only reads those files and writes rate.md.

    nice /usr/bin/python3 experiments/parity/rate.py [--build build] [--plan experiments/parity/rate-plan.json]
    /usr/bin/python3 experiments/parity/rate.py --table
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

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "experiments", "bench"))
PLAN_KEYS = {"config", "seeds", "threshold", "threads", "min_seeds_per_side", "rule", "written"}


def fail_input(message):
    print(f"rate.py: {message}", file=sys.stderr)
    sys.exit(2)


def load_plan(path):
    try:
        plan = json.load(open(path))
    except (OSError, ValueError) as e:
        fail_input(f"{path}: {e}")
    unknown, missing = set(plan) - PLAN_KEYS, PLAN_KEYS - set(plan)
    if unknown or missing:
        fail_input(f"{path}: unknown keys {sorted(unknown)}, missing keys {sorted(missing)}")
    if not (isinstance(plan["seeds"], list) and plan["seeds"] and all(isinstance(s, int) and s > 0 for s in plan["seeds"])):
        fail_input(f"{path}: \"seeds\" must be a non-empty list of positive integers")
    if not (isinstance(plan["threshold"], (int, float)) and 0 < plan["threshold"] <= 1):
        fail_input(f"{path}: \"threshold\" must be in (0, 1]")
    if plan["rule"] != "difference-interval-includes-zero":
        fail_input(f"{path}: \"rule\" {plan['rule']!r} is not known (difference-interval-includes-zero)")
    return plan


def wilson(k, n, z=1.959963984540054):
    if n == 0:
        return (0.0, 1.0)
    p = k / n
    centre, half = (p + z * z / (2 * n)) / (1 + z * z / n), z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def newcombe(k1, n1, k2, n2):
    """Newcombe's hybrid score interval (method 10) for p1 − p2, independent samples, 95 %."""
    p1, p2 = k1 / n1, k2 / n2
    l1, u1 = wilson(k1, n1)
    l2, u2 = wilson(k2, n2)
    d = p1 - p2
    return (d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2), d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2))


def write_atomically(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def run_symbreak(build, config, seed, threads):
    exe = os.path.join(build, "cli", "symbreak")
    with tempfile.TemporaryDirectory() as out:
        subprocess.run([exe, "train", "--config", config, "--seed", str(seed), "--threads", str(threads), "--out", out + "/run"],
                       check=True, capture_output=True, text=True)
        with open(out + "/run/metrics.csv") as f:
            curve = [(int(r["step"]), float(r["test_exact_match"])) for r in csv.DictReader(f)]
        final = json.load(open(out + "/run/final.json"))
    return {"curve": curve, "wall_seconds": final["wall_seconds"]}


def run_torch(config, seed, threads):
    """experiments/bench/time_to_99.py's PyTorch recipe, to the last step, in a fresh interpreter."""
    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE", OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads))
    out = subprocess.run([sys.executable, os.path.join(ROOT, "experiments", "bench", "time_to_99.py"), "--worker", config,
                          str(seed), "2", "--curve"], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def summarise(runs, threshold):
    finals = [r["curve"][-1][1] for r in runs]
    reached = [next((s for s, e in r["curve"] if e >= threshold), None) for r in runs]
    converged = sum(1 for f in finals if f >= threshold)
    return {"n": len(runs), "converged": converged, "wilson": wilson(converged, len(runs)),
            "median_steps": statistics.median([s for s in reached if s is not None]) if any(s is not None for s in reached) else None,
            "never": sum(1 for s in reached if s is None), "finals": finals,
            "median_final": statistics.median(finals) if finals else None}


def table(plan, results_dir):
    runs = {side: [] for side in ("symbreak", "pytorch")}
    for side in runs:
        for seed in plan["seeds"]:
            path = os.path.join(results_dir, f"{side}-s{seed}.json")
            if os.path.exists(path):
                runs[side].append(json.load(open(path)))
    s, t = summarise(runs["symbreak"], plan["threshold"]), summarise(runs["pytorch"], plan["threshold"])
    lines = [f"# Convergence-rate parity: symbreak against PyTorch",
             "",
             f"Generated by `experiments/parity/rate.py --table` from the committed runs in this folder; the plan "
             f"(`experiments/parity/rate-plan.json`, written {plan['written']}) fixes the config "
             f"(`{plan['config']}`), the seeds ({plan['seeds'][0]}–{plan['seeds'][-1]}), the threshold ({plan['threshold']}) and the rule.",
             "",
             "| side | runs | converged (final exact ≥ threshold) | rate, 95 % Wilson | median steps to threshold | never reached | median final exact |",
             "|---|---|---|---|---|---|---|"]
    for name, x in (("symbreak", s), ("PyTorch", t)):
        if x["n"] == 0:
            lines.append(f"| {name} | 0 | - | - | - | - | - |")
            continue
        lo, hi = x["wilson"]
        lines.append(f"| {name} | {x['n']} | {x['converged']} | {x['converged'] / x['n']:.2f} [{lo:.2f}, {hi:.2f}] | " + (
                     f"{x['median_steps']:g} | " if x['median_steps'] is not None else "- | ") + f"{x['never']} | {x['median_final']:.4f} |")
    lines.append("")
    lines.append("Final exact match per seed:")
    lines.append("")
    lines.append("| seed | " + " | ".join(str(r["seed"]) for r in runs["symbreak"]) + " |")
    lines.append("|---|" + "---|" * len(runs["symbreak"]))
    lines.append("| symbreak | " + " | ".join(f"{r['curve'][-1][1]:.3f}" for r in runs["symbreak"]) + " |")
    if runs["pytorch"]:
        lines.append("")
        lines.append("| seed | " + " | ".join(str(r["seed"]) for r in runs["pytorch"]) + " |")
        lines.append("|---|" + "---|" * len(runs["pytorch"]))
        lines.append("| PyTorch | " + " | ".join(f"{r['curve'][-1][1]:.3f}" for r in runs["pytorch"]) + " |")
    lines.append("")
    need = plan["min_seeds_per_side"]
    if s["n"] < need or t["n"] < need:
        verdict = f"**inconclusive: too few seeds** ({s['n']} symbreak and {t['n']} PyTorch runs finished; the plan needs {need} per side)"
    else:
        lo, hi = newcombe(s["converged"], s["n"], t["converged"], t["n"])
        d = s["converged"] / s["n"] - t["converged"] / t["n"]
        if lo <= 0 <= hi or lo > 0:
            verdict = (f"**symbreak's rate is not lower**: difference symbreak − PyTorch {d:+.2f}, 95 % Newcombe interval "
                       f"[{lo:+.2f}, {hi:+.2f}] " + ("includes 0" if lo <= 0 <= hi else "lies above 0"))
        else:
            verdict = (f"**symbreak's rate is lower**: difference symbreak − PyTorch {d:+.2f}, 95 % Newcombe interval "
                       f"[{lo:+.2f}, {hi:+.2f}] lies below 0")
    lines.append("Rule (plan): symbreak's rate is not lower than PyTorch's if the 95 % interval of the difference of the "
                 "two rates (Newcombe's hybrid score interval, independent samples) includes 0 (or lies above it).")
    lines.append("")
    lines.append("Verdict: " + verdict)
    write_atomically(os.path.join(results_dir, "rate.md"), "\n".join(lines) + "\n")
    print("\n".join(lines))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", default="build")
    parser.add_argument("--plan", default=os.path.join(HERE, "rate-plan.json"))
    parser.add_argument("--out", default=os.path.join(ROOT, "experiments", "results", "parity", "rate"))
    parser.add_argument("--table", action="store_true", help="only write the table from the finished runs")
    parser.add_argument("--side", choices=("symbreak", "pytorch", "both"), default="both")
    a = parser.parse_args()
    plan = load_plan(a.plan)
    os.makedirs(a.out, exist_ok=True)
    if not a.table:
        config = os.path.join(ROOT, plan["config"])
        sides = ("symbreak", "pytorch") if a.side == "both" else (a.side,)
        for seed in plan["seeds"]:
            for side in sides:
                path = os.path.join(a.out, f"{side}-s{seed}.json")
                if os.path.exists(path):
                    continue
                r = run_symbreak(a.build, config, seed, plan["threads"]) if side == "symbreak" else run_torch(config, seed, plan["threads"])
                r.update({"side": side, "seed": seed, "config": plan["config"]})
                write_atomically(path, json.dumps(r, indent=1) + "\n")
                print(f"{side} seed {seed}: final exact {r['curve'][-1][1]:.4f}", flush=True)
    table(plan, a.out)


if __name__ == "__main__":
    main()
