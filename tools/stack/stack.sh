#!/usr/bin/env bash
# The whole dev stack: the project's PostgreSQL 15 and Kafka 3.9 broker, up and down together.
set -euo pipefail
source "$(dirname "$0")/common.sh"
here="$(dirname "$0")"

usage() {
  cat <<'USAGE'
usage: tools/stack/stack.sh up|down|status|env
  up      start PostgreSQL, then Kafka; write their addresses to .stack/env
  down    stop Kafka, then PostgreSQL
  status  say what runs
  env     print `export DB_URL=... KAFKA_BROKERS=...` lines, for: eval "$(tools/stack/stack.sh env)"
USAGE
}

env_lines() {
  echo "export DB_URL=$("$here/pg.sh" url)"
  echo "export KAFKA_BROKERS=$("$here/kafka.sh" bootstrap)"
  # The broker's listener that asks for a user name and password, for tests of a secured
  # Kafka (the service itself reads none of these).
  "$here/kafka.sh" sasl | {
    read -r address user password
    echo "export STACK_KAFKA_SASL_BROKERS=$address STACK_KAFKA_SASL_USER=$user" \
      "STACK_KAFKA_SASL_PASSWORD=$password"
  }
}

case "${1:-}" in
  up)
    "$here/pg.sh" start >/dev/null
    "$here/kafka.sh" start >/dev/null
    env_lines >"$STACK_DIR/env"
    say "up: $(tr '\n' ' ' <"$STACK_DIR/env")"
    ;;
  down)
    "$here/kafka.sh" stop
    "$here/pg.sh" stop
    ;;
  status)
    echo "postgresql: $("$here/pg.sh" status || true)"
    echo "kafka: $("$here/kafka.sh" status || true)"
    ;;
  env) env_lines ;;
  --help|-h|help) usage ;;
  *) usage >&2; exit 2 ;;
esac
