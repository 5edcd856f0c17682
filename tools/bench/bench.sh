#!/usr/bin/env bash
# The benchmarks: builds, starts the dev stack (PostgreSQL 15 and Kafka 3.9), loads a backlog,
# runs each scenario beside its baseline (tools/bench/bench.py), writes bench/results/<date>.md
# and .json, prints the table, and stops the stack.
set -euo pipefail

if [[ "${1:-}" == "--help" ]]; then
  cat <<'USAGE'
usage: tools/bench/bench.sh [--events N] [--seconds S] [--only SCENARIO]...
  N order.created events (default 1,000,000) are loaded into a scratch database; then
  publication (order-service draining them to Kafka, against kcat -P of the same envelopes) and
  rebuild (order-admin rebuild orders, against COPY of the events table) are measured as ratios.
  Then ingest (POST /orders by wrk, 32 connections, against pgbench inserting the same event
  row one commit per order), read (GET /orders/{id} against pgbench selecting the stream's
  rows) and the service's memory, S seconds per side (default 20). Then shards (the same
  drain with SUBSCRIPTION_SHARDS=1 and 4, with the CPU split, and the handover after kill -9
  with 1 shard and 6). SCENARIO: publication, rebuild, ingest (with read and memory), shards;
  e.g. --only shards --events 100000. Writes bench/results/<date>.md, .json and .png.
  Exits non-zero when a target is missed.
USAGE
  exit 0
fi

cd "$(dirname "$0")/../.."
source tools/prepare.sh
build_release bench
stack_up_until_exit

# matplotlib is Debian's, for Debian's python3 (installed by the bench group above).
/usr/bin/python3 tools/bench/bench.py --service build/tools/order-service --admin build/tools/order-admin "$@"
