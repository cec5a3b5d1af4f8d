#!/usr/bin/env bash
# Sets up and runs the whole keras_ls test suite, once per Keras backend,
# then the checks that need environments of their own.
# Usage: bash scripts/test.sh [extra pytest args for the backend suites]
#
# 1. Lint: `ruff format --check` and `ruff check` fail the run (ruff comes
#    with the `test` extra; settings in ruff.toml). Fix with
#    `.venv/bin/ruff format . && .venv/bin/ruff check --fix .`.
#    Then the documentation site: `mkdocs build --strict` (mkdocs.yml; the
#    `test` extra has the `docs` extra's packages). The API reference it
#    renders is checked against the code by tests/test_public_api.py, and
#    tests/docs/ opens the built site in headless Chromium (jax suite).
# 2. The suite on tensorflow, jax and torch, in the project environment
#    .venv (created when missing by scripts/setup.sh, which installs the
#    package with its `all` and `test` extras; no system Python is touched).
#    It includes the multi-process tests: tests/distributed/test_multiprocess_tf.py
#    (2 TensorFlow workers, MultiWorkerMirroredStrategy) on tensorflow and
#    tests/distributed/test_multiprocess_jax.py (2 jax.distributed processes) on jax.
# 3. The Keras floor: the whole jax suite again in .venv-floor, with the
#    oldest supported Keras and a JAX of its time (ci/constraints-floor.txt),
#    without TensorFlow or PyTorch.
# 4. The next Keras: the whole jax suite again in .venv-nightly, with a
#    pinned keras-nightly build (ci/constraints-nightly.txt; the file says
#    how to bump it), without TensorFlow or PyTorch.
# 5. The wheel: scripts/wheel_smoke.sh builds the sdist and wheel, checks
#    them with twine, installs the wheel into a fresh JAX-only venv and
#    runs a fit there.
#    Steps 3, 4 and 5 run one after the other in the background, during
#    step 2.
# Every step runs even when an earlier one failed; the status is 1 if any
# failed. KERAS_LS_SKIP_EXTRA=1 runs steps 1 and 2 only.
set -uo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh all,test,keras-hub || exit 1

echo "=== ruff format --check && ruff check"
.venv/bin/ruff format --check . || exit 1
.venv/bin/ruff check . || exit 1

status=0
step() {  # step NAME COMMAND...: runs and times one step
  local name="$1" start=$SECONDS
  shift
  echo "=== $name"
  "$@" || { status=1; echo "=== FAILED: $name"; }
  echo "=== $name: $((SECONDS - start)) s"
}

# The documentation site (mkdocs.yml): a broken link, a missing page, an
# unknown anchor or an unresolved cross-reference fails it. Not -q: mkdocs
# counts only the warnings it logs. The site goes to site/ (gitignored).
step "docs: mkdocs build --strict" \
  env NO_MKDOCS_2_WARNING=1 .venv/bin/mkdocs build --strict

# The Keras floor, the Keras nightly and the wheel run in the background
# during the backend suites, which leave the second core partly idle. Their
# output follows the suites'.
extra_log="$(mktemp "${TMPDIR:-/tmp}/keras_ls_extra.XXXXXX")"
extra_start=$SECONDS
extra() {
  floor_env() {
    [ -x .venv-floor/bin/python ] || python3 -m venv .venv-floor || return 1
    .venv-floor/bin/python -m pip install -q -c ci/constraints-floor.txt \
      -e ".[jax,plot]" pytest hypothesis
  }
  step "Keras floor: set up .venv-floor (ci/constraints-floor.txt)" floor_env
  # The whole jax suite, on the oldest supported Keras. Tests that need
  # TensorFlow, PyTorch, tensorboard or a newer Keras API skip themselves
  # (conftest.py and the tests' skip marks), and so does the golden .keras
  # file: Keras 3.15 wrote it, and Keras files load forward only.
  step "Keras floor: KERAS_BACKEND=jax in .venv-floor" \
    env KERAS_BACKEND=jax .venv-floor/bin/python -m pytest -q
  nightly_env() {
    local pip=(.venv-nightly/bin/python -m pip install -q
               -c ci/constraints-nightly.txt)
    [ -x .venv-nightly/bin/python ] || python3 -m venv .venv-nightly \
      || return 1
    # keras-nightly provides the `keras` module under its own name, and
    # setup.cfg's `keras` would be installed over it: keras_ls goes in with
    # --no-deps, after its other requirements and the jax and plot extras.
    "${pip[@]}" keras-nightly jax numpy matplotlib pytest hypothesis \
      && "${pip[@]}" --no-deps -e . || return 1
    if .venv-nightly/bin/python -m pip show -q keras 2>/dev/null; then
      echo "the keras distribution is in .venv-nightly; rm -rf it and rerun"
      return 1
    fi
  }
  step "Keras nightly: set up .venv-nightly (ci/constraints-nightly.txt)" \
    nightly_env
  step "Keras nightly: KERAS_BACKEND=jax in .venv-nightly" \
    env KERAS_BACKEND=jax .venv-nightly/bin/python -m pytest -q
  step "wheel smoke test (scripts/wheel_smoke.sh)" bash scripts/wheel_smoke.sh
  return $status
}
if [ "${KERAS_LS_SKIP_EXTRA:-0}" != 1 ]; then
  extra >"$extra_log" 2>&1 &
  extra_pid=$!
fi

for backend in tensorflow jax torch; do
  step "KERAS_BACKEND=$backend" \
    env KERAS_BACKEND=$backend .venv/bin/python -m pytest -q "$@"
done

if [ -n "${extra_pid:-}" ]; then
  wait "$extra_pid" || status=1
  echo "=== Keras floor, nightly and wheel (run alongside the suites)"
  cat "$extra_log"
  echo "=== Keras floor, nightly and wheel: done $((SECONDS - extra_start)) s after start"
fi
rm -f "$extra_log"
exit $status
