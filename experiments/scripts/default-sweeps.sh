#!/usr/bin/env bash
# Runs (or resumes) the default-scale sweeps one after another, niced, one job of one thread, into
# experiments/results/sweeps/<plan>. A sweep's SQLite ledger keeps every finished run, so running this
# again after a kill (or on a new machine, from the committed ledgers) continues where it stopped.
#
#   bash experiments/scripts/default-sweeps.sh [BINARY] [PLAN...]
#
# BINARY defaults to a private copy of build/cli/symbreak (a rebuild during a sweep must not swap
# the binary that the sweep's child processes exec). PLANs default to the unfinished default plans.
set -uo pipefail
cd "$(dirname "$0")/../.."
binary=${1:-}
shift || true
if [ -z "$binary" ]; then
  built=build/cli/symbreak
  mkdir -p /tmp/symbreak-sweep-bin
  cp "$built" /tmp/symbreak-sweep-bin/symbreak
  binary=/tmp/symbreak-sweep-bin/symbreak
fi
plans=("$@")
((${#plans[@]})) || plans=(depth symmetry shipped)
for plan in "${plans[@]}"; do
  out=experiments/results/sweeps/$plan
  echo "$(date -u +%FT%TZ) sweep $plan -> $out"
  nice -n 19 "$binary" sweep --plan "experiments/plans/$plan.json" --out "$out" --jobs 1 --threads 1
  echo "$(date -u +%FT%TZ) sweep $plan exited $?"
done
