#!/usr/bin/env bash
# Installs what Segue needs to build and test on Debian or Ubuntu.
#
#   scripts/setup.sh         the engine and the `segue` command-line tool: a
#                            C/C++ compiler for the bundled OpenH264 source,
#                            nasm for its assembly (about 2x faster encoding)
#                            and ffmpeg, whose ffprobe and decoder the tests
#                            use to check clips independently of our code.
#   scripts/setup.sh --app   also the desktop app: WebKitGTK and GTK for
#                            Tauri, GStreamer's libav plugin (the webview
#                            plays H.264 with it), Xvfb, WebKitWebDriver,
#                            xdotool and PyGObject (the test drags files in),
#                            tauri-driver for the end-to-end test, a CJK
#                            font for its screenshots, and the web UI's npm
#                            packages.
#   scripts/setup.sh --bench all of --app, plus Redis for the queue
#                            benchmark's Celery peer and WebKit2's GObject
#                            bindings for the app benchmark's bare webview.
set -euo pipefail
cd "$(dirname "$0")/.."

app=false
bench=false
case "${1:-}" in
  --app) app=true ;;
  --bench) app=true bench=true ;;
esac

packages=(build-essential pkg-config nasm ffmpeg)
if $app; then
  packages+=(libwebkit2gtk-4.1-dev libgtk-3-dev librsvg2-dev libayatana-appindicator3-dev
    libssl-dev libsoup-3.0-dev libxdo-dev file xvfb xauth webkit2gtk-driver
    gstreamer1.0-libav gstreamer1.0-plugins-good fonts-wqy-microhei dbus-daemon
    xdotool python3-gi gir1.2-gtk-3.0)
fi
if $bench; then
  packages+=(redis-server gir1.2-webkit2-4.1)
fi

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

$app || exit 0

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "error: Node.js and npm not found; install Node.js 20.19 or newer (https://nodejs.org) and run this again" >&2
  exit 1
fi
node_version=$(node --version | tr -d v)
if [[ "$(printf '%s\n20.19.0\n' "$node_version" | sort -V | head -n1)" != "20.19.0" ]]; then
  echo "error: Node.js $node_version is too old; the web UI's build tools need 20.19 or newer" >&2
  exit 1
fi
# npm ci deletes node_modules first, so it runs only when the lock file
# changed since the last install; a build or test run using node_modules
# at the same time is then left alone.
for dir in ui tests/e2e; do
  stamp="$dir/node_modules/.installed-package-lock.json"
  if ! cmp -s "$dir/package-lock.json" "$stamp"; then
    npm --prefix "$dir" ci --no-audit --no-fund --loglevel=error
    cp "$dir/package-lock.json" "$stamp"
  fi
done

if ! command -v tauri-driver >/dev/null; then
  echo "installing tauri-driver (the WebDriver bridge of the end-to-end test)"
  cargo install tauri-driver --locked --quiet
fi
