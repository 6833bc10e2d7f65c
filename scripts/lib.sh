# Shared set-up steps for scripts/*.sh (sourced, not run).
# Everything is installed inside the repository: .venv (python-export, pinned) and .ort (ONNX Runtime).
ORT_VERSION=1.32.0
PYTHON=${PYTHON:-python3}

die() { echo "error: $*" >&2; exit 1; }

need_tools() {
  command -v cargo >/dev/null || die "cargo not found: install Rust (https://rustup.rs) and re-run"
  command -v "$PYTHON" >/dev/null || die "$PYTHON not found: install Python 3 (apt-get install python3 python3-venv)"
}

# .venv with python-export and its exact pins (torch, onnx, onnxruntime, opencv, pycocotools, pytest, ...).
ensure_venv() {
  if [ ! -x .venv/bin/python ]; then
    echo "==> creating .venv"
    "$PYTHON" -m venv .venv || die "python3 -m venv failed: on Debian install python3-venv (apt-get install python3-venv)"
  fi
  if ! .venv/bin/python -c 'import baiseg_export, torch, onnxruntime, cv2, pycocotools, pytest' 2>/dev/null \
     || [ python-export/pyproject.toml -nt .venv/.installed ]; then
    echo "==> installing python-export and its pinned dependencies into .venv (first time: several GB for torch)"
    .venv/bin/python -m pip install --disable-pip-version-check -q -e "python-export[dev]"
    touch .venv/.installed
  fi
}

# The ONNX Runtime shared library for `ort` (load-dynamic): from .venv if present, else a small
# local install of the onnxruntime wheel into .ort/ (no Python packages are imported from it).
ensure_ort() {
  if [ -n "${ORT_DYLIB_PATH:-}" ]; then
    [ -f "$ORT_DYLIB_PATH" ] || die "ORT_DYLIB_PATH=$ORT_DYLIB_PATH does not exist"
    return
  fi
  if ls .venv/lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so.* >/dev/null 2>&1; then
    return
  fi
  if ! ls .ort/onnxruntime/capi/libonnxruntime.so.* >/dev/null 2>&1; then
    echo "==> installing ONNX Runtime $ORT_VERSION (the onnxruntime wheel) into .ort/"
    if "$PYTHON" -m pip --version >/dev/null 2>&1; then
      "$PYTHON" -m pip install --disable-pip-version-check -q --no-deps --target .ort "onnxruntime==$ORT_VERSION"
    else
      "$PYTHON" -m venv .ort-venv || die "need pip or python3-venv to fetch the onnxruntime wheel (apt-get install python3-venv)"
      .ort-venv/bin/python -m pip install --disable-pip-version-check -q --no-deps --target .ort "onnxruntime==$ORT_VERSION"
      rm -rf .ort-venv
    fi
  fi
}
