# Shared by the dev-stack scripts: where the stack lives and how to run a command as its owner.
# Sourced, not run.
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
STACK_DIR="${STACK_DIR:-$repo_root/.stack}"
mkdir -p "$STACK_DIR"

say() { echo "[$(basename "$0" .sh)] $*" >&2; }

# Stops at once, naming what is missing, when a command the stack runs is not installed (rather
# than waiting out a readiness check that cannot pass).
require() {
  local missing=()
  for command in "$@"; do
    command -v "$command" >/dev/null 2>&1 || missing+=("$command")
  done
  if ((${#missing[@]} > 0)); then
    say "not installed: ${missing[*]}; tools/install-deps.sh run installs what the stack needs"
    exit 1
  fi
}

# PostgreSQL refuses to run as root: as root, run its commands as the `postgres` system user.
as_owner() {
  if [[ $(id -u) -eq 0 ]]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

# Waits up to $1 seconds for the command after it to succeed.
wait_for() {
  local seconds=$1
  shift
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || return 1
    sleep 0.5
  done
}
