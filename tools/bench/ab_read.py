"""Two or more order-service binaries under the same read load, in interleaved runs: the quick
before-and-after of a change to the read path (GET /orders/{id}), on a machine that moves too much
between runs for one run of each to say anything.

The orders are ab_drain.py's log (N orders, one order.created event each, loaded by COPY into the
template database ab_drain_log, made once and reused while its size matches --events). Each run
starts the binary on a file copy of it with every subscription's checkpoint at the log's end (so
nothing is published or projected during the load), reads random orders with wrk (read.lua, the
bench's request) and reports reads/s with wrk's latency, and the service's and PostgreSQL's CPU
per read.

Needs the dev stack: tools/stack/stack.sh up; eval "$(tools/stack/stack.sh env)".

usage: python3 tools/bench/ab_read.py [--events N] [--connections N] [--seconds S] [--runs R]
                                      BINARY...
"""
import argparse
import os
import sys
import time

import ab_drain
import ab
import bench


def one_run(binary, label, server, args):
    url = bench.copy_database(server, ab_drain.TEMPLATE, "ab_read_run")
    bench.checkpoints_at_the_end(url)
    bench.psql(bench.with_database(server, "postgres"), "CHECKPOINT")
    try:
        service = bench.Service(argparse.Namespace(service=binary, results="/tmp"), url,
                                f"ab-read-{label}", ACCESS_LOG="off")
        try:
            time.sleep(1)  # the subscriptions lead and find nothing to do
            # A short untimed load first: the first requests open the service's connections.
            bench.wrk(service.url("/orders/1"), "read.lua", 2, (args.events,))
            before = ab.cpu(service.process.pid, url)
            load = bench.wrk(service.url("/orders/1"), "read.lua", args.seconds, (args.events,))
            after = ab.cpu(service.process.pid, url)
        finally:
            service.stop()
    finally:
        bench.drop_database(server, "ab_read_run")
    reads = max(1, load["requests"])
    postgres_cpu = bench.cpu_seconds_between(before[1], after[1])
    return (f"{label}: {load['per_second']:7,.0f} reads/s ({load['errors']} errors), "
            f"p50 / p99 {load['p50_us'] / 1000:.1f} / {load['p99_us'] / 1000:.1f} ms; "
            f"CPU per read: service {(after[0] - before[0]) / reads * 1e6:4.1f} µs, "
            f"PostgreSQL {postgres_cpu / reads * 1e6:4.1f} µs")


def main():
    parser = ab.parser(__doc__, runs=3)
    parser.add_argument("--events", type=int, default=1_000_000,
                        help="orders in the log (ab_drain.py's template)")
    ab.add_load(parser, seconds=10)
    args = ab.parse(parser)
    server = os.environ["DB_URL"]
    ab_drain.prepared_log(server, args.events)
    ab.interleaved(args.binaries, args.runs,
                   lambda binary, label: one_run(binary, label, server, args))


if __name__ == "__main__":
    sys.exit(main())
