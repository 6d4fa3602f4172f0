#!/usr/bin/env bash
# Build TensorRT 8.2's Python bindings for Python 3.8 on JetPack 4.6 (L4T r32.7).
# Uses NVIDIA's TensorRT OSS python/ sources (release/8.2) and the TensorRT headers and
# libraries JetPack installs (/usr/include/aarch64-linux-gnu, /usr/lib/aarch64-linux-gnu).
# Installs the resulting wheel into the active Python (a 3.8 venv).
set -euo pipefail

TRT_BRANCH="${TRT_BRANCH:-release/8.2}"
PYTHON="${PYTHON:-python3}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

PY_MAJOR_MINOR="$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
PY_INCLUDE="$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')"
PYBIND11_DIR="$("$PYTHON" -c 'import pybind11; print(pybind11.get_include())')/.."

git clone --depth 1 --branch "$TRT_BRANCH" https://github.com/NVIDIA/TensorRT.git "$WORK/TensorRT"
mkdir -p "$WORK/ext/python${PY_MAJOR_MINOR}/include"
cp -r "$PY_INCLUDE"/. "$WORK/ext/python${PY_MAJOR_MINOR}/include/"

cd "$WORK/TensorRT/python"
TRT_OSSPATH="$WORK/TensorRT" \
EXT_PATH="$WORK/ext" \
PYTHON_MAJOR_VERSION="${PY_MAJOR_MINOR%%.*}" \
PYTHON_MINOR_VERSION="${PY_MAJOR_MINOR##*.}" \
TARGET_ARCHITECTURE=aarch64 \
TRT_LIBPATH=/usr/lib/aarch64-linux-gnu \
PYBIND11_DIR="$PYBIND11_DIR" \
  bash ./build.sh

"$PYTHON" -m pip install build/dist/tensorrt-*.whl
"$PYTHON" -c 'import tensorrt; print("TensorRT", tensorrt.__version__, "for Python 3.8")'
