#!/usr/bin/env python3
"""Regenerates every generated table in README.md and experiments/README.md from the committed ledgers.

Each block between `<!-- BEGIN generated from experiments/results/sweeps/NAME ...-->` and
`<!-- END generated -->` holds one table of `symbreak sweep --plan experiments/plans/NAME.json --out
experiments/results/sweeps/NAME --markdown` (for experiments/results/pilots/NAME: the plan
experiments/plans/pilots/NAME.json); the table is the one whose header line matches the block's first
line. tests/experiments (CommittedResults) checks the blocks against the ledgers.

    python3 experiments/scripts/readme-tables.py [path/to/symbreak]   # default build/cli/symbreak
"""
import pathlib
import re
import subprocess
import sys

root = pathlib.Path(__file__).resolve().parents[2]
symbreak = sys.argv[1] if len(sys.argv) > 1 else str(root / "build/cli/symbreak")
begin = re.compile(r"<!-- BEGIN generated from experiments/results/(sweeps|pilots)/(\S+) [^\n]*-->\n")
end = "<!-- END generated -->"
markdown = {}


def tables_of(kind, name):
    if (kind, name) not in markdown:
        plan = f"experiments/plans/{name}.json" if kind == "sweeps" else f"experiments/plans/pilots/{name}.json"
        out = subprocess.run([symbreak, "sweep", "--plan", plan, "--out", f"experiments/results/{kind}/{name}", "--markdown"],
                             cwd=root, check=True, capture_output=True, text=True).stdout
        markdown[(kind, name)] = out.splitlines()
    return markdown[(kind, name)]


def table_with_header(lines, header):
    for i, line in enumerate(lines):
        if line == header:
            j = i
            while j < len(lines) and lines[j].startswith("|"):
                j += 1
            return "\n".join(lines[i:j]) + "\n"
    sys.exit(f"no table with the header {header!r} in the --markdown output")


for readme in (root / "README.md", root / "experiments/README.md"):
    text = readme.read_text()
    out, at, changed = [], 0, 0
    for m in begin.finditer(text):
        body = m.end()
        stop = text.index(end, body)
        old = text[body:stop]
        new = table_with_header(tables_of(m.group(1), m.group(2)), old.splitlines()[0])
        out.append(text[at:body] + new)
        at = stop
        changed += old != new
    out.append(text[at:])
    readme.write_text("".join(out))
    print(f"{readme.relative_to(root)}: {changed} generated table(s) changed")
