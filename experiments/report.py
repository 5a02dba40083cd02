#!/usr/bin/env python3
"""Summarises training runs as Markdown: one row per run, then each run's curve.

    python3 experiments/report.py experiments/results/*/            # the table, then every curve
    python3 experiments/report.py --table RUN_DIR...                  # the table only (README blocks)

Reads each run's config.json (or final.json's copy), metrics.csv and final.json (absent while a run is
still going or after it was stopped: the row then says how far the curve got). Standard library only.
"""
import csv
import json
import os
import re
import sys


def load(run):
    with open(os.path.join(run, "metrics.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    final = None
    path = os.path.join(run, "final.json")
    if os.path.exists(path):
        with open(path) as f:
            final = json.load(f)
    config = final["config"] if final else None
    # The run's own config.json; for pilots that kept only metrics.csv, the config beside the run
    # directories: NAME.json for run NAME-sN (experiments/results/pilots/width-search), else config.json.
    parent, name = os.path.split(run)
    for path in (os.path.join(run, "config.json"), os.path.join(parent, re.sub(r"-s\d+$", "", name) + ".json"),
                 os.path.join(parent, "config.json")):
        if config is None and os.path.exists(path):
            with open(path) as f:
                config = json.load(f)
    return rows, final, config


def recipe(config):
    if config is None:
        return "?"
    m, t, o, s, tr = config["model"], config["task"], config["optimizer"], config["schedule"], config["train"]
    fmt = "+".join(k for k in ("bos", "delimiter") if t.get(k)) or "plain"
    parts = [f"L{m['layers']} d{m['d_model']} H{m['heads']}", f"PE {m['positional_encoding']}", f"mask {m['mask']}",
             fmt, f"{o['name']} lr {o['lr']:g}"]
    if m.get("init", "gpt2") != "gpt2":
        parts.insert(1, f"init {m['init']}")
    if o["name"] == "sgd":
        parts.append(f"momentum {o.get('momentum', 0):g}" + (" nesterov" if o.get("nesterov") else ""))
    if o["name"] == "ecd":
        parts.append(f"eta {o.get('eta', 100):g} F0 {o.get('F0', 2):g}")
    if config.get("symmetry_breaking_bias", {}).get("enabled"):
        parts.append("redrawn q/v biases")
    if o.get("weight_decay"):
        parts.append(f"wd {o['weight_decay']:g}")
    if o.get("betas") and o["betas"] != [0.9, 0.98]:
        parts.append("betas " + "/".join(f"{b:g}" for b in o["betas"]))
    parts.append(s["name"] + (f" to {s.get('min_lr_ratio', 0):g}x" if s["name"] == "cosine" else ""))
    parts.append(f"batch {tr['batch']}")
    return ", ".join(parts)


def main(runs, table_only=False):
    print("| run | recipe | steps | test exact | digits (units → thousands) | best exact (step) | first ≥ 0.99 | wall |")
    print("|---|---|---:|---:|---|---:|---:|---:|")
    curves = []
    for run in runs:
        run = run.rstrip("/")
        if not os.path.exists(os.path.join(run, "metrics.csv")):
            continue
        rows, final, config = load(run)
        if not rows:
            continue
        last = rows[-1]
        best = max(rows, key=lambda r: float(r["test_exact_match"]))
        first99 = next((r["step"] for r in rows if float(r["test_exact_match"]) >= 0.99), "never")
        digits = " ".join(f"{float(last[f'digit{k}']):.3f}" for k in range(4))
        steps = last["step"] if final else f"{last['step']} (stopped)"
        # A stopped run: its clock at the last evaluation (older metrics.csv files have none).
        wall = f"{final['wall_seconds']:.0f} s" if final else (f"{float(last['wall_s']):.0f} s" if last.get("wall_s") else "—")
        print(f"| {os.path.basename(run)} | {recipe(config)} | {steps} | {float(last['test_exact_match']):.4f} | "
              f"{digits} | {float(best['test_exact_match']):.4f} ({best['step']}) | {first99} | {wall} |")
        curves.append((os.path.basename(run), rows))
    if table_only:
        return
    for name, rows in curves:
        print(f"\n`{name}` (step: exact | units tens hundreds thousands)\n")
        print("    " + "\n    ".join(
            f"{r['step']:>6}: {float(r['test_exact_match']):.4f} | " +
            " ".join(f"{float(r[f'digit{k}']):.3f}" for k in range(4)) for r in rows))


if __name__ == "__main__":
    table_only = sys.argv[1:2] == ["--table"]
    runs = sys.argv[2:] if table_only else sys.argv[1:]
    if not runs:
        sys.exit("usage: report.py [--table] RUN_DIR...")
    for run in runs if table_only else []:  # a README block names its runs; the summary skips other directories
        if not os.path.exists(os.path.join(run, "metrics.csv")):
            print(f"report.py: {run}: no metrics.csv (not a symbreak train --out directory)", file=sys.stderr)
            sys.exit(2)
    main(runs, table_only)
