#!/usr/bin/env bash
# The benchmarks: builds, starts the dev stack (PostgreSQL 15 and Kafka 3.9), loads a backlog,
# runs each scenario beside its baseline (tools/bench/bench.py), writes bench/results/<date>.md
# and .json, prints the table, and stops the stack.
set -euo pipefail

if [[ "${1:-}" == "--help" ]]; then
  cat <<'USAGE'
usage: tools/bench/bench.sh [--events N] [--seconds S] [--only SCENARIO]... [--compare FILE.json]
  N order.created events (default 1,000,000) are loaded by COPY into a scratch database, and
  every scenario runs on a file copy of it. publication: order-service draining them to Kafka,
  against COPY of the events table and kcat -P of the same envelopes (>= 0.5x both). rebuild:
  order-admin rebuild orders, against COPY (>= 0.5x, >= 200,000 events/s, <= 200 MB). Then, on
  the N events with every subscription's checkpoint at the last one, S seconds per side (default
  20): ingest (POST /orders by wrk, 32 connections, against pgbench inserting the same event row
  one commit per order: >= 1.5x, p99 <= 25 ms), record-to-kafka (the broker's append time of
  each new order's message minus its event's recorded_at: p99 <= 20 ms), read (GET
  /orders/{id} against order-pistache-ceiling, Pistache alone answering the same response:
  >= 0.95x; pgbench's SELECT of the stream's rows reported beside it) and the service's memory.
  Then shards (the drain with SUBSCRIPTION_SHARDS=1 and 4, with the CPU split, and the handover
  after kill -9 with 1 shard and 6). SCENARIO: publication, rebuild, ingest (with
  record-to-kafka, read and memory), shards; e.g. --only shards --events 100000.
  --compare FILE.json: a report of a run at another N; adds the size row (ingest, read and
  rebuild at both sizes, disk per event). When N is not 1,000,000 it defaults to the newest
  1,000,000 report in bench/results. The 10,000,000 run:
    tools/bench/bench.sh --events 10000000 --compare bench/results/<the 1,000,000 run>.json
  Writes bench/results/<date>.md, .json and .png (<date>-10M.* and so on when N is not
  1,000,000). Exits non-zero when a target is missed.
USAGE
  exit 0
fi

cd "$(dirname "$0")/../.."
source tools/prepare.sh
build_release bench
# The stack starts here, in this session, even when it was already up. With Linux's autogroup
# scheduling, a broker started from another shell is a session of its own, and under the ingest
# load on two CPUs its produce requests then waited up to 104 ms for a request thread:
# record-to-Kafka measured that (p99 115 ms against 10 ms; broker_grouping in bench.py). Started
# here, it shares the service's session, as on a fresh machine. The report says which it was.
tools/stack/stack.sh down >/dev/null
stack_up_until_exit

# matplotlib is Debian's, for Debian's python3 (installed by the bench group above).
/usr/bin/python3 tools/bench/bench.py --service build/tools/order-service --admin build/tools/order-admin "$@"
