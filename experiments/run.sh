#!/usr/bin/env bash
# Runs named training recipes one after another and keeps each run's curves and final numbers in
# experiments/results/<name>/ (metrics.csv, final.json, log.txt; the weights stay local).
#   bash experiments/run.sh NAME CONFIG SEED [EXTRA symbreak train FLAGS...]
set -euo pipefail
cd "$(dirname "$0")/.."
name=$1 config=$2 seed=$3
shift 3
out=experiments/results/$name
mkdir -p "$out"
cp "$config" "$out/config.json"
build/cli/symbreak train --config "$config" --seed "$seed" --out "$out" "$@" | tee "$out/log.txt"
