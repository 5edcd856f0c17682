# Shared by the dev-stack scripts: where the stack lives and how to run a command as its owner.
# Sourced, not run.
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
STACK_DIR="${STACK_DIR:-$repo_root/.stack}"
mkdir -p "$STACK_DIR"

say() { echo "[$(basename "$0" .sh)] $*" >&2; }

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
