"""Two or more order-service binaries under the same ingest load, in interleaved runs: the quick
before-and-after of a change to the write or publication path, on a machine that moves too much
between runs for one run of each to say anything.

Each run starts the binary on an empty database of its own (created, then dropped) and a fresh
topic with LogAppendTime, places orders with wrk (ingest.lua, the bench's body) and reports:
orders/s with wrk's latency, the service's and PostgreSQL's CPU per order, PostgreSQL transactions per order, and
record-to-Kafka (the broker's append time minus the commit time of the event's transaction,
every message, with the event's recorded_at as the start beside it), as bench.py computes it.
PostgreSQL records commit times for these runs (track_commit_timestamp, which restarts the dev
stack's server) and stops at the end.

Needs the dev stack: tools/stack/stack.sh up; eval "$(tools/stack/stack.sh env)". Run it in the
session that started the stack: a broker in a session of its own waits for a CPU under this load
(Linux's autogroup; see broker_grouping in bench.py), and record-to-Kafka then measures that.

usage: python3 tools/bench/ab_ingest.py [--connections N] [--seconds S] [--runs R] BINARY...
"""
import argparse
import os
import sys
import tempfile
import time

import ab
import bench


def one_run(binary, label, args):
    server = os.environ["DB_URL"].rsplit("/", 1)[0]
    name = f"ab_{label}_{int(time.time())}"
    bench.psql(server + "/postgres", f"CREATE DATABASE {name}")
    url = f"{server}/{name}"
    topic = f"ab-{label}-{int(time.time())}"
    try:
        bench.create_topic(topic, message_timestamp_type="LogAppendTime")
        service = bench.Service(argparse.Namespace(service=binary, results=tempfile.gettempdir()),
                                url, f"ab-{label}", topic=topic, ACCESS_LOG="off")
        try:
            time.sleep(2)  # the subscriptions lead and the producer connects

            def transactions():
                return int(bench.psql(url, "SELECT xact_commit + xact_rollback FROM "
                                           "pg_stat_database WHERE datname = current_database()"))

            before = *ab.cpu(service.process.pid, url), transactions()
            load = bench.wrk(service.url("/orders"), "ingest.lua", args.seconds)
            after = *ab.cpu(service.process.pid, url), transactions()
            time.sleep(3)  # the last orders reach Kafka
        finally:
            service.stop()
        record = bench.record_to_kafka(topic, 0, url)
    finally:
        bench.delete_topics({topic})
        bench.psql(server + "/postgres", f"DROP DATABASE {name}")
    orders = max(1, load["requests"])
    postgres_cpu = bench.cpu_seconds_between(before[1], after[1])
    return (f"{label}: {load['per_second']:7,.0f} orders/s ({load['errors']} errors), "
            f"p50 / p99 {load['p50_us'] / 1000:.1f} / {load['p99_us'] / 1000:.1f} ms; "
            f"CPU per order: service {(after[0] - before[0]) / orders * 1e6:4.0f} µs, "
            f"PostgreSQL {postgres_cpu / orders * 1e6:4.0f} µs; "
            f"{(after[2] - before[2]) / orders:.2f} transactions per order; "
            f"record-to-Kafka from the {record['from']} p50 / p99 / p99.9 "
            f"{record['p50_us'] / 1000:.1f} / {record['p99_us'] / 1000:.1f} / "
            f"{record['p999_us'] / 1000:.1f} ms, from recorded_at p99 "
            f"{record['recorded_us']['p99_us'] / 1000:.1f} ms ({record['messages']:,} messages)")


def main():
    parser = ab.parser(__doc__, runs=2)
    ab.add_load(parser, seconds=15)
    args = ab.parse(parser)
    server = os.environ["DB_URL"]
    bench.track_commit_times(server, True)
    try:
        ab.interleaved(args.binaries, args.runs,
                       lambda binary, label: one_run(binary, label, args))
    finally:
        bench.track_commit_times(server, False)


if __name__ == "__main__":
    sys.exit(main())
