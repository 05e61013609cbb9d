#!/usr/bin/env bash
# Build Homeward and run the whole test suite (README: "Run the tests").
# Usage: scripts/test.sh [build-dir]   (default: build)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
dir=${1:-build}
if [ ! -f "$dir/build.ninja" ]; then
  meson setup "$dir" >/dev/null
fi
meson compile -C "$dir"
meson test -C "$dir" --print-errorlogs --num-processes "$(nproc)"
