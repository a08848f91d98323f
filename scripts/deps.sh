#!/usr/bin/env bash
# Installs the Debian packages that building symbiont, its default guest image
# and its tests need. Idempotent: silent and fast when everything is present.
set -eu

PKGS=(
  build-essential clang lld pkg-config
  libcmocka-dev
  zlib1g-dev liblzma-dev libzstd-dev liblz4-dev libbz2-dev
  libslirp-dev libglib2.0-dev libjson-c-dev libbpf-dev libext2fs-dev
  cpio e2fsprogs bc python3 kmod
  qemu-system-x86 gdb gnuplot-nox
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
