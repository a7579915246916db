#!/usr/bin/env bash
# Set up everything the project needs on a Debian or Ubuntu machine with Python 3.11:
# the apt packages (ffmpeg, espeak-ng, make), a .venv/ at the repository root, and the pip packages.
# Idempotent: a second run only checks, unless pyproject.toml changed.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_packages=(ffmpeg espeak-ng make)
# Headless Chromium for the browser check of the built book (Debian's package; Ubuntu's is a snap shim).
if grep -qi '^ID=debian' /etc/os-release 2>/dev/null; then apt_packages+=(chromium); fi
missing=()
for p in "${apt_packages[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
python=${PYTHON:-python3.11}
command -v "$python" >/dev/null || python=python3
"$python" -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
if ((${#missing[@]})); then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "setup: installing apt packages: ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

"$python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' \
    || { echo "setup: Python 3.11 is required, found $("$python" --version)" >&2; exit 1; }

stamp=.venv/.emoomni-installed
want=$(sha256sum pyproject.toml | cut -c1-16)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    exit 0
fi
[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[book,dev,server]"
nodeps=$(.venv/bin/python -c 'import tomllib; print(" ".join(tomllib.load(open("pyproject.toml", "rb"))["tool"]["emoomni"]["no-deps"]))')
.venv/bin/python -m pip install -q --no-deps $nodeps
echo "$want" > "$stamp"
echo "setup: .venv ready"
