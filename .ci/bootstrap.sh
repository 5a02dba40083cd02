#!/usr/bin/env bash
# One command for a newcomer on a fresh Debian 12 machine: install what is missing, build, then
#   main  — run the main job: symbreak demo, then symbreak reproduce --verify (exact evidence, every
#           claim decided from the committed default-scale sweeps, a retrained sample of their runs
#           checked on this machine; build/reproduce-verify/report.html)
#   test  — run every test through ctest
# Usage: bash .ci/bootstrap.sh main|test
set -euo pipefail
mode=${1:-main}
case "$mode" in main|test) ;; *) echo "usage: bash .ci/bootstrap.sh main|test" >&2; exit 2 ;; esac
cd "$(dirname "$0")/.."

# Debian packages only; docs/BUILD.md says what each provides.
packages=(g++ cmake make pkg-config
          libgmp-dev libmpfr-dev libboost-dev libeigen3-dev nlohmann-json3-dev libcli11-dev
          libgtest-dev libgmock-dev librapidcheck-dev libbenchmark-dev libopenblas-dev
          libsqlite3-dev libcairo2-dev fonts-dejavu-core libkainjow-mustache-dev libpugixml-dev libfmt-dev libopenmpi-dev openmpi-bin
          clang libclang-rt-14-dev
          pybind11-dev python3-dev python3-numpy python3-pytest)  # import symbreak (python/) and its pytest suite
# The tests render the reproduce report in headless Chromium (about a minute to install).
if [ "$mode" = test ]; then packages+=(chromium); fi
# PyTorch (about 1.5 minutes to install) lets the tests validate libtorch's and PyTorch's attention;
# SYMBREAK_SKIP_TORCH=1 builds and tests without it.
if [ "${SYMBREAK_SKIP_TORCH:-0}" != 1 ]; then
  packages+=(libtorch-dev python3-torch python3-numpy)
fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "bootstrap: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The tests validate ONNX Runtime (CPU) through its npm package, whose CPU library ships inside it;
# ONNXRUNTIME_NODE_INSTALL=skip keeps its install step from fetching GPU files. Node comes from Debian
# when the machine has none (a machine with NodeSource's nodejs keeps it: Debian's npm conflicts).
if [ "$mode" = test ] && [ "${SYMBREAK_SKIP_ORT:-0}" != 1 ]; then
  if ! command -v node > /dev/null || ! command -v npm > /dev/null; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends nodejs npm
  fi
  if [ ! -d validate/adapters/ort/node_modules/onnxruntime-node ]; then
    echo "bootstrap: installing onnxruntime-node (validate/adapters/ort/package-lock.json)"
    (cd validate/adapters/ort && ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund --loglevel=error)
  fi
fi

build=${SYMBREAK_BUILD_DIR:-build}
torch_flag=()
[ "${SYMBREAK_SKIP_TORCH:-0}" = 1 ] && torch_flag=(-DSYMBREAK_WITH_TORCH=OFF)
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DSYMBREAK_WITH_MPI=ON "${torch_flag[@]}"
# The main job needs only the symbreak tool; the tests build everything (libraries, tests, benchmarks).
if [ "$mode" = main ]; then
  cmake --build "$build" -j2 --target symbreak
else
  cmake --build "$build" -j2
fi

if [ "$mode" = main ]; then
  "$build/cli/symbreak" demo
  echo
  # The verdicts of the committed default-scale sweeps, verified on this machine (no sweep runs;
  # `symbreak reproduce --quick` runs small indicative sweeps instead).
  rm -rf "$build/reproduce-verify"
  "$build/cli/symbreak" reproduce --verify --out "$build/reproduce-verify"
else
  ctest --test-dir "$build" --output-on-failure -j2
fi
