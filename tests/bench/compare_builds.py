#!/usr/bin/env python3
"""Two builds' Google Benchmarks side by side, in one run: before and after a change.

    git worktree add /tmp/before REV && cmake -S /tmp/before -B /tmp/before/build -DCMAKE_BUILD_TYPE=Release \\
        && cmake --build /tmp/before/build -j2 --target symbreak_bench_forward symbreak_bench_train ...
    python3 tests/bench/compare_builds.py /tmp/before/build build [--rounds 2]

Runs each selected benchmark of each build alternately (A B B A per round, so that a drift of the
machine's speed hits both sides alike), each as Google Benchmark's median of 3 repetitions, and
prints the median over rounds per side and the ratio after/before. A ratio within the spread of
the two sides' own rounds is noise.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

# (binary, filter): small, medium and large cases of every benchmark binary.
SELECTION = [
    ("symbreak_bench_forward", r"BM_Forward<float>/L:2/d:64/n:16$"),
    ("symbreak_bench_forward", r"BM_Forward<Exact>/L:2/d:8/n:8$"),
    ("symbreak_bench_train", r"BM_TrainStep/(tiny|small)/2/real_time$"),
    ("symbreak_bench_properties", r"^(f32|exact)/(EQUIV|ROT-QK)$"),
    ("symbreak_bench_prover", r"BM_Prove/L:2/d:4/n:8/causal:(0|1)$"),
]


def run(build, binary, pattern):
    exe = os.path.join(build, "tests", "bench", binary)
    if not os.path.exists(exe):
        sys.exit(f"compare_builds.py: {exe} not found (build the benchmark targets first)")
    with tempfile.NamedTemporaryFile(suffix=".json") as report:
        # The report goes to a file: some benchmark binaries print progress on stdout.
        subprocess.run([exe, f"--benchmark_filter={pattern}", "--benchmark_repetitions=3",
                        "--benchmark_report_aggregates_only=true", f"--benchmark_out={report.name}",
                        "--benchmark_out_format=json"], stdout=subprocess.DEVNULL, check=True)
        out = open(report.name).read()
    if not out.strip():
        return {}  # nothing matched in this build
    times = {}
    for b in json.loads(out)["benchmarks"]:
        if b.get("aggregate_name") == "median":
            times[b["run_name"]] = (b["real_time"], b["time_unit"])
    return times


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("before")
    ap.add_argument("after")
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    samples = {}  # (name, side) -> [times]
    units = {}
    for _ in range(args.rounds):
        for side, build in (("before", args.before), ("after", args.after), ("after", args.after), ("before", args.before)):
            for binary, pattern in SELECTION:
                for name, (t, unit) in run(build, binary, pattern).items():
                    samples.setdefault((name, side), []).append(t)
                    units[name] = unit
    print(f"{'benchmark':48s} {'before':>14s} {'after':>14s} {'after/before':>13s}  spread (max/min of own rounds)")
    for name in sorted(units):
        b, a = samples.get((name, "before"), []), samples.get((name, "after"), [])
        if not b or not a:
            print(f"{name:48s} only in {'before' if b else 'after'}")
            continue
        mb, ma = statistics.median(b), statistics.median(a)
        spread = max(max(b) / min(b), max(a) / min(a))
        print(f"{name:48s} {mb:11.4g} {units[name]:2s} {ma:11.4g} {units[name]:2s} {ma / mb:12.3f}x  {spread:.3f}")


if __name__ == "__main__":
    main()
