#!/usr/bin/env bash
# Do the verdicts depend on the machine? Runs the main job's `symbreak reproduce --verify` with two
# builds whose floating point differs as much as one machine allows, and compares what they decide:
#   A: -march=x86-64-v3 (AVX2/FMA, contracted multiply-adds), the build that trained the committed
#      runs; each retraining runs with the OpenBLAS kernels its run.json records (reproduce's default);
#   B: -march=x86-64 (SSE2, no FMA), OpenBLAS forced to its Prescott (SSE3) kernels for everything.
# (OpenBLAS picks its kernels at run time, so the build flag alone would not change them;
# OPENBLAS_CORETYPE does.)
#
#   bash experiments/scripts/two-builds.sh [build-A] [build-B] [out-dir]
#
# Defaults: build, build-generic (configured and built here if absent, target symbreak only) and
# experiments/results/two-builds. Writes <out>/A and <out>/B (each reproduce --verify's claims.json,
# its log and which build and kernels ran), and <out>/comparison.json and <out>/comparison.md (every claim's verdict in
# both builds, and every retrained run's deviation from its ledger curve in both builds). Exits 1
# when any verdict differs.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
build_a=${1:-build}
build_b=${2:-build-generic}
out=${3:-experiments/results/two-builds}

if [ ! -x "$build_a/cli/symbreak" ]; then
  echo "two-builds.sh: $build_a/cli/symbreak not found (build it first: bash .ci/bootstrap.sh main)" >&2
  exit 2
fi
if [ ! -x "$build_b/cli/symbreak" ]; then
  cmake -S . -B "$build_b" -DCMAKE_BUILD_TYPE=Release -DSYMBREAK_ARCH_FLAGS=-march=x86-64 -DSYMBREAK_WITH_MPI=OFF >/dev/null
  cmake --build "$build_b" -j"$(nproc)" --target symbreak
fi

mkdir -p "$out"
# SIDES="A" or SIDES="B" runs one side (two invocations may run side by side); the comparison runs
# once both sides' claims.json exist.
for side in ${SIDES:-A B}; do
  if [ "$side" = A ]; then exe="$build_a/cli/symbreak"; core=""; else exe="$build_b/cli/symbreak"; core=Prescott; fi
  rm -rf "$out/$side.tmp"
  kernels=${core:-"unset (each retraining uses the kernels its run.json records)"}
  echo "== build $side: $exe, OPENBLAS_CORETYPE=$kernels"
  # An empty OPENBLAS_CORETYPE would still count as set (reproduce passes no kernels then): unset it.
  ( if [ -n "$core" ]; then export OPENBLAS_CORETYPE=$core; else unset OPENBLAS_CORETYPE; fi
    OPENBLAS_VERBOSE=2 "$exe" reproduce --verify --out "$out/$side.tmp" ) 2>&1 | tee "$out/$side.log.tmp" |
    grep -E "^(Core|verify|reproduce)" || true
  mkdir -p "$out/$side"
  mv "$out/$side.tmp/claims.json" "$out/$side/claims.json"
  mv "$out/$side.log.tmp" "$out/$side/log.txt"
  rm -rf "$out/$side.tmp"
  { echo "exe: $exe"; echo "OPENBLAS_CORETYPE: $kernels"; grep -m1 -E "^Core" "$out/$side/log.txt" || true
    grep -E "SYMBREAK_ARCH_FLAGS:" "$(dirname "$(dirname "$exe")")/CMakeCache.txt"; } > "$out/$side/build.txt"
done
if [ -f "$out/A/claims.json" ] && [ -f "$out/B/claims.json" ]; then
  python3 experiments/scripts/compare-verdicts.py "$out/A/claims.json" "$out/B/claims.json" "$out"
fi
