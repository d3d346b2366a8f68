#!/usr/bin/env bash
# Static LLVM 23 (with the NVPTX target) for building the `cuda` feature on a machine whose
# only network is a package mirror (PyPI).
#
# burn-cuda 0.22 → cubecl-cuda → cubecl-llvm, whose build runs tracel-llvm-bundler 23.1.0-4:
# that build script downloads a prebuilt LLVM unless
# `$XDG_DATA_HOME/tracel/tracel-llvm-23.1.0-4/.tracel-llvm-installed` exists, and cubecl-llvm
# then links the libraries `bin/llvm-config --link-static --libs` names in that folder. PyPI's
# mlc-llvm-static wheels hold exactly such a folder (static PIC libraries, headers and a
# Python llvm-config); the extra-targets wheel adds NVPTX.
#
# When burn moves to a new tracel-llvm-bundler, change BUNDLER below to its version (the
# folder name its build script looks for) and the two wheel versions to an LLVM of the same
# major version.
#
# Usage: scripts/cuda-llvm.sh [DIR]        (DIR defaults to target/llvm-23, git-ignored)
#   then: eval "$(scripts/cuda-llvm.sh --env)"; cargo build --release --features cuda
set -euo pipefail
cd "$(dirname "$0")/.."

BUNDLER="23.1.0-4"
WHEELS=(mlc-llvm-static==23.1.1.post0 mlc-llvm-static-extra-targets==23.1.1.post0)
PYTHON="${PYTHON:-python3}"

ENV_ONLY=0
if [ "${1:-}" = "--env" ]; then
  ENV_ONLY=1
  shift
fi
DIR="${1:-target/llvm-23}"
mkdir -p "$DIR"
DIR="$(cd "$DIR" && pwd)"
DATA="$DIR/xdg-data"
LINK="$DATA/tracel/tracel-llvm-$BUNDLER"
STATIC="$DIR/wheels/mlc_llvm_static/static"

print_env() {
  echo "export XDG_DATA_HOME=$DATA"
  echo "export CUDARC_CUDA_VERSION=${CUDARC_CUDA_VERSION:-12080}"
}

if [ "$ENV_ONLY" = 1 ] && [ -f "$LINK/.tracel-llvm-installed" ]; then
  print_env
  exit 0
fi

if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
  echo "cuda-llvm: $PYTHON is missing or older than 3.10 (the wheels' llvm-config is a Python 3.10+ script); set PYTHON=" >&2
  exit 1
fi

if [ ! -x "$STATIC/bin/llvm-config" ]; then
  echo "== installing ${WHEELS[*]} into $DIR/wheels (about 92 MB of wheels, 400 MB unpacked)" >&2
  "$PYTHON" -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --no-deps \
    --target "$DIR/wheels" "${WHEELS[@]}" >&2
fi

TARGETS="$("$STATIC/bin/llvm-config" --targets-built)"
VERSION="$("$STATIC/bin/llvm-config" --version)"
case " $TARGETS " in
  *" NVPTX "*) ;;
  *) echo "cuda-llvm: the LLVM in $STATIC has no NVPTX target (built: $TARGETS); is mlc-llvm-static-extra-targets installed?" >&2; exit 1 ;;
esac
case "$VERSION" in
  23.*) ;;
  *) echo "cuda-llvm: llvm-config says LLVM $VERSION; tracel-llvm-bundler $BUNDLER needs LLVM 23" >&2; exit 1 ;;
esac

mkdir -p "$(dirname "$LINK")"
ln -sfn "$STATIC" "$LINK"
touch "$LINK/.tracel-llvm-installed"
echo "== LLVM $VERSION with NVPTX at $LINK" >&2
print_env
