#!/usr/bin/env bash
# Download the wheels the GPU machine's image lacks into .whl/ (run here, where there is network;
# the GPU machine has none). The GPU image has python 3.12 + torch/numpy/safetensors/rich/...
# but no PyAV and no omegaconf (omegaconf 2.4 needs PyYAML; 2.3 needed the antlr4 runtime). benchmarks/gpu.sh installs them from .whl/.
# .whl/ is kept out of git through .git/info/exclude (not .gitignore).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
mkdir -p .whl .git/info
grep -qxF '.whl/' .git/info/exclude 2>/dev/null || echo '.whl/' >> .git/info/exclude

# binary wheels for CPython 3.12 on x86-64 Linux
"$PY" -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 -d .whl av omegaconf pyyaml
# antlr4-python3-runtime 4.9.3 (omegaconf's parser) is published as a source archive only: build
# a pure-python wheel from it here (it has no compiled parts, so it installs on any CPython 3).
if ! ls .whl/antlr4_python3_runtime-4.9.3-*.whl >/dev/null 2>&1; then
    "$PY" -m pip wheel --no-deps -w .whl antlr4-python3-runtime==4.9.3
fi
ls -l .whl
