#!/usr/bin/env bash
# Install the Debian 12 packages Homeward builds and tests with, if missing.
# Runs as root (apt-get); does nothing when everything is already there.
set -euo pipefail

pkgs=(meson ninja-build pkg-config gcc clang libclang-rt-14-dev
      libuv1-dev libsqlite3-dev libcbor-dev libsodium-dev libinih-dev libjansson-dev python3)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi
