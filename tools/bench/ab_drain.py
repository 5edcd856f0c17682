"""Two or more order-service binaries draining the same log to Kafka, in interleaved runs: the
quick before-and-after of a change to the publisher or to what runs beside it, on a machine that
moves too much between runs for one run of each to say anything.

The log (N order.created events, loaded by COPY as bench.py loads it) is kept in a template
database, ab_drain_log, made once and reused while its size matches --events. Each run starts the
binary on a file copy of it and a fresh topic, and reports the drain as the publication scenario
times it (start to the publisher's checkpoint at the last event), the service's CPU, and how busy
the whole machine was; with --read-models, also when both read models reached the end of the log.

Needs the dev stack: tools/stack/stack.sh up; eval "$(tools/stack/stack.sh env)".

usage: python3 tools/bench/ab_drain.py [--events N] [--runs R] [--read-models] BINARY...
"""
import os
import subprocess
import sys
import time

import ab
import bench

TEMPLATE = "ab_drain_log"
READ_MODELS = ("orders-projector", "product-sales-projector")


def machine_ticks():
    """(idle, total) jiffies of all CPUs since boot."""
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    return fields[3] + fields[4], sum(fields)


def prepared_log(server, events):
    """The template's URL, loaded with `events` events unless it already holds that many."""
    template = bench.with_database(server, TEMPLATE)
    admin = bench.with_database(server, "postgres")
    if bench.psql(admin, f"SELECT 1 FROM pg_database WHERE datname = '{TEMPLATE}'"):
        if int(bench.psql(template, "SELECT count(*) FROM events")) == events:
            return template
        bench.drop_database(server, TEMPLATE)
    bench.psql(admin, f"CREATE DATABASE {TEMPLATE}")
    admin_binary = os.path.join(bench.ROOT, "build", "tools", "order-admin")
    subprocess.run([admin_binary, "migrate", "--db-url", template], check=True,
                   capture_output=True)
    print(f"loaded {events:,} events by COPY in {bench.load_backlog(template, events):.1f} s",
          flush=True)
    return template


def at_or_after(position):
    return f"(transaction_id, global_position) >= ('{position[0]}'::xid8, {position[1]})"


def one_run(binary, label, server, last, events, args):
    url = bench.copy_database(server, TEMPLATE, "ab_drain_run")
    bench.psql(bench.with_database(server, "postgres"), "CHECKPOINT")
    topic = f"ab-drain-{label}-{int(time.time())}"
    subprocess.run(["kcat", "-b", os.environ["KAFKA_BROKERS"], "-L", "-t", topic],
                   capture_output=True)
    time.sleep(1)
    env = dict(os.environ, ORDER_TOPIC=topic, DB_URL=url, PORT=str(bench.free_port()),
               ACCESS_LOG="off")
    postgres, kafka = bench.stack_pids(url)
    before_pg, before_kafka = bench.cpu_seconds(postgres), bench.cpu_seconds(kafka)
    idle_before, total_before = machine_ticks()
    start = time.time()
    service = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        def wait_for(query, what):
            """The first non-empty answer to `query`, polled twice a second."""
            while not (answer := bench.psql(url, query)):
                if service.poll() is not None:
                    raise SystemExit(f"{binary} exited before {what}")
                time.sleep(0.5)
            return answer

        done = wait_for(f"""SELECT extract(epoch FROM updated_at) FROM subscriptions
                            WHERE name = 'kafka-publisher' AND {at_or_after(last)}""",
                        "the publisher reached the end of the log")
        seconds = float(done) - start
        idle_after, total_after = machine_ticks()
        cpu = sum(bench.cpu_seconds([service.pid]).values())
        # Before the service stops: its backends go with it.
        postgres, kafka = bench.stack_pids(url)
        pg_cpu = bench.cpu_seconds_between(before_pg, bench.cpu_seconds(postgres))
        kafka_cpu = bench.cpu_seconds_between(before_kafka, bench.cpu_seconds(kafka))
        read_models = ""
        if args.read_models:
            done = wait_for(f"""SELECT max(extract(epoch FROM updated_at)) FROM subscriptions
                                WHERE name IN {READ_MODELS} HAVING count(*) = {len(READ_MODELS)}
                                  AND bool_and({at_or_after(last)})""",
                            "the read models reached the end of the log")
            read_models = f"; read models at the end {float(done) - start:.1f} s after the start"
    finally:
        service.terminate()
        service.wait(timeout=30)
        bench.delete_topics({topic})
        bench.drop_database(server, "ab_drain_run")
    busy = 1 - (idle_after - idle_before) / max(1, total_after - total_before)
    return (f"{label}: {events / seconds:7,.0f} events/s ({seconds:.2f} s); CPU: service "
            f"{cpu:.1f} s, PostgreSQL {pg_cpu:.1f} s, Kafka {kafka_cpu:.1f} s; machine {busy:.0%} "
            f"busy{read_models}")


def main():
    parser = ab.parser(__doc__, runs=3)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--read-models", action="store_true",
                        help="also wait for the read models to reach the end of the log")
    args = ab.parse(parser)
    server = os.environ["DB_URL"]
    template = prepared_log(server, args.events)
    last = bench.last_event(template)
    ab.interleaved(args.binaries, args.runs,
                   lambda binary, label: one_run(binary, label, server, last, args.events, args))


if __name__ == "__main__":
    sys.exit(main())
