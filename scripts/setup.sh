#!/usr/bin/env bash
# Installs the system packages Segue needs to build and test on Debian or
# Ubuntu: a C/C++ compiler for the bundled OpenH264 source, nasm for its
# assembly (about 2x faster encoding) and ffmpeg, whose ffprobe and decoder
# the tests use to check clips independently of our own code.
set -euo pipefail

packages=(build-essential pkg-config nasm ffmpeg)

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done

if ((${#missing[@]})); then
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  echo "installing: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null; then
  echo "error: cargo not found; install Rust 1.94 or newer with rustup (https://rustup.rs) and run this again" >&2
  exit 1
fi
version=$(rustc --version | awk '{print $2}')
if [[ "$(printf '%s\n1.94.0\n' "$version" | sort -V | head -n1)" != "1.94.0" ]]; then
  echo "error: Rust $version is too old; Segue needs 1.94 or newer (rustup update)" >&2
  exit 1
fi
