#!/usr/bin/env bash
# Builds and runs the order service with everything it needs: installs the packages, builds,
# starts the dev stack (PostgreSQL 15 and Kafka 3.9), and serves on port 8080 until Ctrl-C,
# then stops the stack.
set -euo pipefail

if [[ "${1:-}" == "--help" ]]; then
  cat <<'USAGE'
usage: tools/run.sh [order-service flags...]
  Serves the API on http://localhost:8080 (PORT or --port to change) over the dev stack's
  PostgreSQL. Flags are passed to order-service (see build/tools/order-service --help).
USAGE
  exit 0
fi

cd "$(dirname "$0")/.."
source tools/prepare.sh
build_release run
stack_up_until_exit

port="${PORT:-${Port:-8080}}"
cat <<TRY

The order service is starting on http://localhost:${port}. Try:
  curl -si -X POST localhost:${port}/orders -H 'Content-Type: application/json' \\
    -d '{"user_id": 101, "args": [{"product_id": 1001, "quantity": 2, "price": 4.99}]}'
  curl -s localhost:${port}/orders/1
Ctrl-C stops it and the stack.

TRY
PORT="$port" build/tools/order-service "$@"
