#!/usr/bin/env bash
# Stages every sweep under experiments/results/sweeps (and every pilot sweep under
# experiments/results/pilots) for a commit, also while it runs: each ledger
# as a consistent SQLite snapshot (the live file may be mid-write), and the finished runs' small files
# (metrics, configs, final.json, analysis.json; .gitignore keeps weights, checkpoints and bulk files
# out). A new machine resumes the sweeps from what was committed.
#
#   bash experiments/scripts/stage-sweeps.sh && git commit -m "..."
set -euo pipefail
cd "$(dirname "$0")/../.."
for dir in experiments/results/sweeps/*/ experiments/results/pilots/*/; do
  ledger=${dir}ledger.sqlite
  [ -f "$ledger" ] || continue
  snapshot=$(mktemp)
  python3 - "$ledger" "$snapshot" <<'PY'
import sqlite3, sys
source = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True, timeout=30)  # never writes the live ledger
target = sqlite3.connect(sys.argv[2])
source.backup(target)  # a consistent copy, whatever the sweep is writing
target.execute("PRAGMA journal_mode=DELETE")
target.close()
PY
  # A ledger whose rows match the committed one stays as committed (a snapshot's bytes differ).
  committed=$(mktemp)
  if git show "HEAD:$ledger" > "$committed" 2>/dev/null &&
     python3 - "$snapshot" "$committed" <<'PY'
import sqlite3, sys
dump = lambda path: "\n".join(sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True).iterdump())
sys.exit(0 if dump(sys.argv[1]) == dump(sys.argv[2]) else 1)
PY
  then
    echo "$ledger: unchanged"
  else
    blob=$(git hash-object -w "$snapshot")
    git update-index --add --cacheinfo "100644,$blob,$ledger"
  fi
  rm -f "$snapshot" "$committed"
  # Finished runs only: a run directory with final.json.
  for run in "$dir"runs/*/; do
    [ -f "${run}final.json" ] && git add "$run"
  done
  for f in "$dir"configs "$dir"results.json "$dir"results.md "$dir"*.png "$dir"*.svg; do
    [ -e "$f" ] || continue
    # Every figure is at most 2 MB (tests/experiments: Figures.*); a larger one is a regression in
    # the figures' code, and stays out of git until `symbreak sweep --rewrite-results` redraws it.
    if [ -f "$f" ] && [ "$(stat -c %s "$f")" -gt 2097152 ]; then
      echo "stage-sweeps: not staged, over 2 MB: $f (redraw it: symbreak sweep --plan ... --out $dir --rewrite-results)" >&2
      git rm -q --cached --ignore-unmatch "$f"
      continue
    fi
    git add "$f"
  done
  echo "staged $(git diff --cached --name-only -- "$dir" | wc -l) files of $dir"
done
