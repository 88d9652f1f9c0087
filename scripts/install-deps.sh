#!/usr/bin/env bash
# Installs the Debian 12 packages attngen needs (as root, or with sudo);
# does nothing when they are all present.
set -euo pipefail
pkgs=(cmake make g++ libhalide14-0-dev libgtest-dev libgmock-dev libbenchmark-dev
      libopenblas-dev libdnnl-dev python3 pkg-config)
missing=()
for p in "${pkgs[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
echo "installing: ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
