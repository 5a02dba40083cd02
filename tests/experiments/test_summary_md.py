#!/usr/bin/env python3
"""experiments/results/SUMMARY.md is what experiments/report.py prints for the committed runs
(experiments/results/*/), so a hand edit of the summary, or a run changed without regenerating it, fails."""
import glob
import os
import subprocess
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


def main():
    runs = sorted(glob.glob(os.path.join(ROOT, "experiments", "results", "*", "")))
    printed = subprocess.run([sys.executable, os.path.join(ROOT, "experiments", "report.py"), *runs],
                             capture_output=True, text=True, check=True).stdout
    with open(os.path.join(ROOT, "experiments", "results", "SUMMARY.md")) as f:
        committed = f.read()
    if printed != committed:
        ours, theirs = printed.splitlines(), committed.splitlines()
        first = next((i for i, (a, b) in enumerate(zip(ours, theirs)) if a != b), min(len(ours), len(theirs)))
        print(f"SUMMARY.md differs from report.py's output at line {first + 1}:\n"
              f"  committed: {theirs[first] if first < len(theirs) else '(end)'}\n"
              f"  printed:   {ours[first] if first < len(ours) else '(end)'}\n"
              "regenerate: python3 experiments/report.py experiments/results/*/ > experiments/results/SUMMARY.md")
        return 1
    print(f"SUMMARY.md matches report.py over {len(runs)} directories")
    return 0


if __name__ == "__main__":
    sys.exit(main())
