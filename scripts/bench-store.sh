#!/usr/bin/env bash
# Store benchmark, side by side with its peer: builds and runs bench-store
# (plain SQLite vs Homeward's encrypting VFS) and bench-store-sqlcipher (plain
# vs Debian's SQLCipher). Installs libsqlcipher-dev for the peer only: SQLCipher
# is what we measure against, never a dependency of Homeward.
# Usage: scripts/bench-store.sh [records] [build-dir]   (defaults 100000, build)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-100000}
dir=${2:-build}
if ! pkg-config --exists sqlcipher; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y --no-install-recommends libsqlcipher-dev >/dev/null ||
    { apt-get update >/dev/null && apt-get install -y --no-install-recommends libsqlcipher-dev >/dev/null; }
fi
if [ ! -f "$dir/build.ninja" ]; then
  meson setup "$dir" >/dev/null
else
  meson setup --reconfigure "$dir" >/dev/null
fi
meson compile -C "$dir" tests/bench-store tests/bench/store/bench-store-sqlcipher >/dev/null
work=$(mktemp -d "${TMPDIR:-/tmp}/hw-bench-store-XXXXXX")
trap 'rm -rf "$work"' EXIT
"$dir/tests/bench-store" "$n" "$work"
"$dir/tests/bench/store/bench-store-sqlcipher" "$n" "$work"
