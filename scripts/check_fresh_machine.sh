#!/usr/bin/env bash
# Runs the README's two commands from a fresh clone, as a new user would.
#
# Usage (as root, on Debian/Ubuntu):
#   bash scripts/check_fresh_machine.sh [--quick] [-- PYTEST_ARGS...]
#
# It clones the current commit of this repository into a new temporary
# folder per case, takes the two commands from README.md itself (the two
# fenced bash blocks of its "Try it" section, so they cannot drift), and
# runs each with
#   env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
#          HOME=<a new empty folder>
# (only ~/.config/pip is copied into that HOME, so that pip finds the same
# package index). The cases:
#   1. root, without sudo (sudo is not installed during this case);
#   2. a sudo user (a throw-away user with passwordless sudo; sudo is
#      installed for this case when missing), the clone owned by that user;
#   3. a user without root or sudo, without the data package, on a machine
#      where keras.datasets cannot download (the error line is checked);
#   4. root, without the data package beforehand (apt-get remove): command 1
#      must install it again.
# Command 1 runs exactly as written in every case. Command 2 runs in full
# in case 1 only; in cases 2 and 4 it gets PYTEST_ARGS (default:
# tests/experiment/test_cli.py) appended, in case 3 it is not run; --quick appends
# PYTEST_ARGS in case 1 as well. The script prints a table of statuses and
# wall times; the logs stay in the temporary folder it names. On exit it
# reinstalls dataset-fashion-mnist, removes the throw-away users and removes
# sudo again if it installed it.
set -uo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
quick=0
pytest_args=(tests/experiment/test_cli.py)
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1; shift ;;
    --) shift; [ $# -gt 0 ] && pytest_args=("$@"); break ;;
    *) echo "usage: $0 [--quick] [-- PYTEST_ARGS...]" >&2; exit 2 ;;
  esac
done
if [ "$(id -u)" != 0 ]; then
  echo "error: run as root (it adds users and runs apt-get)" >&2
  exit 2
fi

STOCK_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
DATA_PACKAGE=dataset-fashion-mnist
DATA_DIR=/usr/share/datasets/fashion-mnist
SUDO_USER_NAME=klsfresh_sudo
PLAIN_USER_NAME=klsfresh_plain
export DEBIAN_FRONTEND=noninteractive
work="$(mktemp -d /tmp/keras_ls_fresh.XXXXXX)"
chmod 755 "$work"
summary="$work/summary.txt"
commit="$(git -C "$repo" rev-parse --short HEAD)"

# --- the two commands, from README.md ------------------------------------
awk '
  /^## / { in_section = ($0 ~ /^## Try it/) }
  in_section && /^```bash$/ { n++; inside = 1; next }
  inside && /^```$/ { inside = 0; next }
  inside { print > (dir "/command" n ".sh") }
' dir="$work" "$repo/README.md"
if [ ! -s "$work/command1.sh" ] || [ ! -s "$work/command2.sh" ] \
    || [ -e "$work/command3.sh" ]; then
  echo "error: README.md's 'Try it' section must hold exactly two" \
       "fenced bash blocks" >&2
  exit 1
fi
if ! grep -q "keras-ls compare" "$work/command1.sh" \
    || ! grep -q "scripts/test.sh" "$work/command2.sh"; then
  echo "error: README.md's first block must run keras-ls compare and" \
       "the second the tests" >&2
  exit 1
fi
command1="$(cat "$work/command1.sh")"
command2="$(cat "$work/command2.sh")"

# --- machine state, restored on exit -------------------------------------
had_sudo=0
command -v sudo >/dev/null && had_sudo=1

cleanup() {
  echo "--- restoring the machine"
  if [ ! -d "$DATA_DIR" ]; then
    apt-get install -y -q "$DATA_PACKAGE" >>"$work/restore.log" 2>&1 \
      || echo "warning: could not reinstall $DATA_PACKAGE" \
              "(see $work/restore.log)"
  fi
  for user in "$SUDO_USER_NAME" "$PLAIN_USER_NAME"; do
    id "$user" >/dev/null 2>&1 && userdel "$user" >/dev/null 2>&1
  done
  rm -f "/etc/sudoers.d/$SUDO_USER_NAME"
  if [ "$had_sudo" = 0 ] && command -v sudo >/dev/null; then
    remove_sudo >>"$work/restore.log" 2>&1 \
      || echo "warning: could not remove sudo (see $work/restore.log)"
  fi
  # The environments are large; the logs stay.
  rm -rf "$work"/case*/clone/.venv
}
trap cleanup EXIT

# Debian's sudo refuses its own removal while root has no password, unless
# told that root is reachable otherwise (it is: we are root).
remove_sudo() {
  SUDO_FORCE_REMOVE=yes apt-get purge -y -q sudo && ! command -v sudo
}

apt_get() {  # apt_get ARGS...: quietly, updating the lists when needed
  apt-get "$@" >>"$work/apt.log" 2>&1 \
    || { apt-get update -q >>"$work/apt.log" 2>&1 \
         && apt-get "$@" >>"$work/apt.log" 2>&1; }
}

seconds() { date +%s.%N; }

printf '%-6s %-28s %-5s %-5s %-8s %6s  %9s  %s\n' case who sudo data \
  command status "wall" "last line of output" >"$summary"
failed=0

# run_case NAME USER COMMAND_NUMBER COMMAND EXPECT: runs COMMAND in the
# case's clone as USER (root or a throw-away user), with a stock PATH and a
# new empty HOME; EXPECT is the status that counts as a pass.
run_case() {
  local name="$1" user="$2" number="$3" command="$4" expect="$5"
  local dir="$work/$name" log="$work/$name/command$number.log"
  local start end status wall last who sudo data
  sudo=no; command -v sudo >/dev/null && sudo=yes
  data=no; [ -d "$DATA_DIR" ] && data=yes
  echo "--- $name, command $number as $user (sudo installed: $sudo," \
       "data package before: $data): $command"
  start="$(seconds)"
  if [ "$user" = root ]; then
    (cd "$dir/clone" && env -i PATH="$STOCK_PATH" HOME="$dir/home" \
       bash -c "$command") >"$log" 2>&1 </dev/null
  else
    runuser -u "$user" -- env -i PATH="$STOCK_PATH" HOME="$dir/home" \
      bash -c "cd '$dir/clone' && $command" >"$log" 2>&1 </dev/null
  fi
  status=$?
  end="$(seconds)"
  wall="$(awk -v a="$start" -v b="$end" 'BEGIN {
    s = b - a; printf "%dm%02ds", s / 60, s % 60 }')"
  last="$(grep -v '^[[:space:]]*$' "$log" | tail -n 1 | cut -c1-150)"
  who="$user"
  [ "$status" = "$expect" ] || { failed=1; who="$user (EXPECTED $expect)"; }
  printf '%-6s %-28s %-5s %-5s %-8s %6s  %9s  %s\n' "$name" "$who" \
    "$sudo" "$data" "$number" "$status" "$wall" "$last" >>"$summary"
  echo "    status $status (expected $expect), $wall; log: $log"
  return "$status"
}

# new_case NAME OWNER: a fresh clone and an empty HOME with the pip config.
new_case() {
  local name="$1" owner="$2" dir="$work/$1"
  mkdir -p "$dir/home"
  git clone -q "$repo" "$dir/clone"
  if [ -d "$HOME/.config/pip" ]; then
    mkdir -p "$dir/home/.config"
    cp -r "$HOME/.config/pip" "$dir/home/.config/pip"
  fi
  if [ "$owner" != root ]; then
    chown -R "$owner:$owner" "$dir/clone" "$dir/home"
  fi
}

quick_note=""
pytest_quick="$(printf ' %q' "${pytest_args[@]}")"
echo "Checking the README's commands at commit $commit in $work"
echo "command 1: $command1"
echo "command 2: $command2"
echo "command 2 gets '${pytest_quick# }' appended in cases 2 and 4$(
  [ "$quick" = 1 ] && echo ' and 1 (--quick)'); case 3 skips it"

# Case 1: root, without sudo.
if [ "$had_sudo" = 1 ]; then
  echo "note: sudo is installed on this machine; case 1 runs as root," \
       "which setup.sh serves with plain apt-get"
fi
new_case case1 root
run_case case1 root 1 "$command1" 0
if [ "$quick" = 1 ]; then
  run_case case1 root 2 "$command2$pytest_quick" 0
else
  run_case case1 root 2 "$command2" 0
fi

# Case 2: a sudo user.
command -v sudo >/dev/null || apt_get install -y -q sudo \
  || { echo "error: could not install sudo" >&2; exit 1; }
useradd --no-create-home --home-dir "$work/case2/home" --shell /bin/bash \
  "$SUDO_USER_NAME"
echo "$SUDO_USER_NAME ALL=(ALL) NOPASSWD:ALL" \
  >"/etc/sudoers.d/$SUDO_USER_NAME"
chmod 440 "/etc/sudoers.d/$SUDO_USER_NAME"
new_case case2 "$SUDO_USER_NAME"
run_case case2 "$SUDO_USER_NAME" 1 "$command1" 0
run_case case2 "$SUDO_USER_NAME" 2 "$command2$pytest_quick" 0

# Without the data package from here on.
apt-get remove -y -q "$DATA_PACKAGE" >>"$work/apt.log" 2>&1
[ -d "$DATA_DIR" ] && { echo "error: $DATA_DIR is still there" >&2; exit 1; }

# Case 3: no root, no sudo rights, no data package, no download: command 1
# must end with one line that says what to do (exit status 2).
useradd --no-create-home --home-dir "$work/case3/home" --shell /bin/bash \
  "$PLAIN_USER_NAME"
new_case case3 "$PLAIN_USER_NAME"
run_case case3 "$PLAIN_USER_NAME" 1 "$command1" 2
tail -n 1 "$work/case3/command1.log" | grep -q \
  "^keras-ls: error: Fashion-MNIST was not found; install it with" \
  || { failed=1; echo "    FAIL: case 3 did not end with the error line"; }

# Case 4: root, without sudo, without the data package: command 1 must
# install it again.
if [ "$had_sudo" = 0 ]; then
  remove_sudo >>"$work/apt.log" 2>&1 \
    || { echo "error: could not remove sudo for case 4" >&2; exit 1; }
fi
new_case case4 root
run_case case4 root 1 "$command1" 0
if [ -d "$DATA_DIR" ]; then
  echo "    $DATA_PACKAGE was installed again by command 1"
else
  failed=1
  echo "    FAIL: command 1 did not install $DATA_PACKAGE"
fi
run_case case4 root 2 "$command2$pytest_quick" 0

echo
echo "Summary (commit $commit; stock PATH, new empty HOME; command 2 with" \
     "'${pytest_quick# }' in cases 2 and 4$(
       [ "$quick" = 1 ] && echo ' and 1'), not run in case 3):"
cat "$summary"
for f in "$work"/case*/command2.log; do
  echo "$(basename "$(dirname "$f")") command 2 pytest:" \
       "$(grep -E '^[0-9]+ (passed|failed)|(passed|failed|error).* in ' "$f" \
          | tr '\n' ' ')"
done
[ "$failed" = 0 ] && echo "ALL CASES PASSED" || echo "SOME CASES FAILED"
exit "$failed"
