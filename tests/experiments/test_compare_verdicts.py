#!/usr/bin/env python3
"""compare-verdicts.py on synthetic claims.json pairs: agreement exits 0, a flipped verdict or a
failed check exits 1 and is marked, last-ulp differences are measured, bad input exits 2."""
import json
import os
import subprocess
import sys
import tempfile

SCRIPT = os.path.join(os.path.dirname(__file__), "..", "..", "experiments", "scripts", "compare-verdicts.py")


def claims(verdict="reproduced", x=1.0, ok=True):
    return {"environment": {"arch_flags": "-march=x86-64-v3"},
            "claims": [{"id": "A1", "kind": "exact", "verdict": "reproduced", "numbers": {"n": 3}},
                       {"id": "B3-ECD", "kind": "empirical", "verdict": verdict, "numbers": {"ci": [x, 0.5, 2.0]}}],
            "verification": [{"sweep": "depth", "check": "retrain L1-s1", "status": "identical" if ok else "differs",
                              "ok": ok, "detail": "d"}]}


def run(a, b, d):
    pa, pb = os.path.join(d, "a.json"), os.path.join(d, "b.json")
    for p, j in ((pa, a), (pb, b)):
        with open(p, "w") as f:
            f.write(j if isinstance(j, str) else json.dumps(j))
    r = subprocess.run([sys.executable, SCRIPT, pa, pb, os.path.join(d, "out")], capture_output=True, text=True)
    return r.returncode, r.stderr


def main():
    failures = []
    with tempfile.TemporaryDirectory() as d:
        rc, _ = run(claims(x=1.0), claims(x=1.0 + 2e-16), d)
        out = json.load(open(os.path.join(d, "out", "comparison.json")))
        if rc != 0 or not out["agree"]:
            failures.append(f"agreeing runs: rc {rc}")
        b3 = [c for c in out["claims"] if c["id"] == "B3-ECD"][0]
        if not (0 < b3["max_relative_difference"] < 1e-15 and b3["at"] == "/ci[0]"):
            failures.append(f"last-ulp difference not measured: {b3}")
        rc, _ = run(claims(), claims(verdict="inconclusive"), d)
        md = open(os.path.join(d, "out", "comparison.md")).read()
        if rc != 1 or "inconclusive **differs**" not in md:
            failures.append(f"flipped verdict: rc {rc}")
        rc, _ = run(claims(), claims(ok=False), d)
        if rc != 1:
            failures.append(f"failed check on one side: rc {rc}")
        rc, err = run(claims(), "{not json", d)
        if rc != 2 or "cannot read" not in err:
            failures.append(f"malformed file: rc {rc}, {err!r}")
        rc, err = run(claims(), {"claims": [{"id": "X9", "verdict": "reproduced"}]}, d)
        if rc != 2 or "different claims" not in err:
            failures.append(f"different claim sets: rc {rc}, {err!r}")
    for f in failures:
        print("FAIL:", f)
    if not failures:
        print("compare-verdicts: 5 of 5 cases as expected")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
