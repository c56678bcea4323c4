#!/usr/bin/env bash
# One-time (idempotent) set-up: system libraries on Debian/Ubuntu, a virtual environment
# in .venv, and the Python packages. Seconds when everything is already in place.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
VENV=.venv
STAMP="$VENV/.installed"

# --- system libraries (Debian/Ubuntu only; other systems: see README) ---------------
need_pkgs=()
if command -v dpkg-query >/dev/null 2>&1; then
    for pkg in libfluidsynth3 libasound2 libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0 libxcb-render-util0 libxcb-shape0 libxcb-xfixes0 libxcb-xkb1 libxkbcommon-x11-0 libegl1 libgl1 libfontconfig1 libdbus-1-3 xvfb xauth; do
        # Ubuntu 24.04 renamed the ALSA library libasound2t64 (libasound2 is then virtual).
        found=0
        for name in "$pkg" "${pkg}t64"; do
            if dpkg-query -W -f='${Status}' "$name" 2>/dev/null | grep -q "install ok installed"; then
                found=1
            fi
        done
        if [ "$found" -eq 0 ]; then
            need_pkgs+=("$pkg")
        fi
    done
fi
if [ "${#need_pkgs[@]}" -gt 0 ]; then
    if [ "$(id -u)" -eq 0 ]; then
        SUDO=""
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO="sudo -n"
    else
        echo "setup: missing system packages: ${need_pkgs[*]}" >&2
        echo "setup: install them with: sudo apt-get install ${need_pkgs[*]}  (then run this again)" >&2
        exit 1
    fi
    echo "setup: installing system packages: ${need_pkgs[*]}"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    for i in "${!need_pkgs[@]}"; do
        if [ "${need_pkgs[$i]}" = libasound2 ] && apt-cache show libasound2t64 >/dev/null 2>&1; then
            need_pkgs[$i]=libasound2t64
        fi
    done
    $SUDO apt-get install -y -qq "${need_pkgs[@]}"
fi

# --- virtual environment and Python packages ----------------------------------------
if [ ! -x "$VENV/bin/python" ]; then
    echo "setup: creating $VENV"
    "$PYTHON" -m venv "$VENV"
fi
if [ ! -f "$STAMP" ] || [ pyproject.toml -nt "$STAMP" ]; then
    echo "setup: installing Python packages into $VENV"
    "$VENV/bin/python" -m pip install -q --upgrade pip
    # torch first and pinned: a CPU machine must not pull a multi-GB CUDA build by accident.
    # GPU users: pre-install a CUDA build of the same version (see README) and it is kept.
    if ! "$VENV/bin/python" -c "import torch" >/dev/null 2>&1; then
        if [ -n "${TORCH_INDEX_URL:-}" ]; then
            "$VENV/bin/python" -m pip install -q "torch==2.13.0" --index-url "$TORCH_INDEX_URL"
        else
            "$VENV/bin/python" -m pip install -q "torch==2.13.0"
        fi
    fi
    "$VENV/bin/python" -m pip install -q -e ".[dev]"
    touch "$STAMP"
fi
