#!/usr/bin/env bash
# Sets up the project environment, .venv, for the README's two commands.
#
# Usage: bash scripts/setup.sh EXTRAS        (e.g. jax,plot or all,test)
#
# 1. Installs the Debian/Ubuntu packages it needs with apt-get, directly as
#    root and through sudo otherwise: dataset-fashion-mnist (the real data)
#    when /usr/share/datasets/fashion-mnist is missing, python3-venv when
#    `python3 -m venv` cannot create an environment, and chromium (for the
#    browser test of the documentation site) when EXTRAS has test or docs.
#    Without root, sudo or apt it prints one note and goes on: keras-ls
#    then looks for the data elsewhere, or downloads it, and the browser
#    test skips.
# 2. Creates .venv with `python3 -m venv` when it is missing.
# 3. Installs this checkout, editable, with the given extras and the pins of
#    ci/constraints.txt into .venv only; never into a system Python.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:?usage: bash scripts/setup.sh EXTRAS (e.g. jax,plot)}"
data_dir=/usr/share/datasets/fashion-mnist
log="$(mktemp "${TMPDIR:-/tmp}/keras_ls_setup.XXXXXX")"

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# apt_install PACKAGE...: installs with apt-get; status 1 when it cannot.
apt_install() {
  command -v apt-get >/dev/null || { why="no apt-get"; return 1; }
  if [ "$(id -u)" != 0 ] && ! command -v sudo >/dev/null; then
    why="not root, and no sudo"
    return 1
  fi
  local install=(env DEBIAN_FRONTEND=noninteractive apt-get install -y -q)
  echo "setup: apt-get install $* (log: $log)"
  # A fresh container has no package lists: update only when needed.
  if as_root "${install[@]}" "$@" >>"$log" 2>&1 \
      || { as_root apt-get update -q >>"$log" 2>&1 \
           && as_root "${install[@]}" "$@" >>"$log" 2>&1; }; then
    return 0
  fi
  why="apt-get failed, see $log"
  return 1
}

why=""
if [ ! -d "$data_dir" ]; then
  apt_install dataset-fashion-mnist \
    || echo "note: could not install dataset-fashion-mnist ($why);" \
            "keras-ls will look for Fashion-MNIST elsewhere or download it"
fi

# The browser test of the documentation site (tests/docs/test_site.py)
# drives Debian's Chromium; it skips without it.
case ",$extras," in
  *,test,*|*,docs,*)
    if [ ! -x /usr/bin/chromium ]; then
      apt_install chromium \
        || echo "note: could not install chromium ($why); the browser" \
                "test of the documentation site will skip"
    fi
    ;;
esac

if [ ! -x .venv/bin/python ]; then
  echo "setup: python3 -m venv .venv"
  if ! python3 -m venv .venv >>"$log" 2>&1; then
    rm -rf .venv
    apt_install python3-venv || {
      echo "error: 'python3 -m venv' failed and python3-venv could not be" \
           "installed ($why); install it, then rerun" >&2
      exit 1
    }
    python3 -m venv .venv
  fi
fi

echo "setup: pip install -e \".[$extras]\" into .venv"
.venv/bin/python -m pip install -q -c ci/constraints.txt -e ".[$extras]"
rm -f "$log"
