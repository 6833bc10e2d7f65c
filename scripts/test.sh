#!/usr/bin/env bash
# The whole test suite on a fresh machine (CI runs exactly this through .ci/run):
# formatting, lints and doc links, Rust unit/integration/doc tests, the python-export tests, and the Python
# wheel of the runtime (PyO3) with its Ray pipeline test.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
need_tools
ensure_venv
ensure_ort
export PYTHONDONTWRITEBYTECODE=1
echo "==> cargo fmt --check"
cargo fmt --all -- --check
echo "==> cargo clippy"
cargo clippy --locked --all-targets -- -D warnings
echo "==> cargo doc (intra-doc links)"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --locked
echo "==> cargo test"
cargo test --locked
echo "==> python-export tests"
.venv/bin/python -m pytest python-export/tests -q -p no:cacheprovider
echo "==> Python bindings (wheel, parity with the CLI, Ray pipeline)"
BAISEG_RT_BIN="$PWD/target/debug/baiseg-rt" bash bindings/python/test.sh
