# Shared by run.sh, test.sh and bench/bench.sh, sourced from the repository root: the packages,
# the release build, and the dev stack for as long as the calling script runs.

# Installs what is missing of the package group $1 (run, test or bench: tools/install-deps.sh)
# and builds build/ (RelWithDebInfo).
build_release() {
  tools/install-deps.sh "$1"
  echo "== building build/ (RelWithDebInfo)"
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build build
}

# Starts PostgreSQL and Kafka, stops them when the calling script exits, and exports DB_URL and
# KAFKA_BROKERS.
stack_up_until_exit() {
  tools/stack/stack.sh up
  trap 'tools/stack/stack.sh down' EXIT
  eval "$(tools/stack/stack.sh env)"
}
