"""The benchmark scenarios, each measured beside its baseline in the same run on the same
PostgreSQL and Kafka (tools/bench/bench.sh starts them), reported as ratios.

Every scenario starts from a log of N order.created events (--events, default 1,000,000) loaded
once by COPY, on a file copy of it of its own:

  publication      order-service drains the N events to a fresh topic on the real broker, its
                   projectors running beside it; baselines: COPY of the events table to /dev/null,
                   and the same N envelopes produced from a file by kcat -P with the
                   publisher's producer settings (idempotent, acks=all, uncompressed); met
                   against both; beside them, the drain with compression.type=lz4 (an operator's
                   choice) and kcat -P with LZ4
  rebuild          order-admin rebuild orders over the N events; baseline: COPY events to /dev/null
  ingest           POST /orders with the seed's body on 32 keep-alive connections (wrk), on the N
                   events with every checkpoint at the last of them, publisher and projectors
                   running; baseline: pgbench inserting the same event row, one transaction per
                   order, 32 clients, on the same log; then how long the subscriptions take to drain
  record-to-kafka  for each order of the ingest load, the broker's append time of its message (a
                   topic with LogAppendTime) minus the commit time of its event's transaction
                   (PostgreSQL's track_commit_timestamp, on for this run only); from its
                   recorded_at, the transaction's start, beside it
  read             GET /orders/{id} of random orders, preloaded and new, 32 connections (wrk);
                   baseline: order-pistache-ceiling, Pistache alone answering the same response
                   with the service's reactor threads, under the same load; pgbench selecting
                   the same stream's rows is reported beside it
  memory           order-service RSS idle, and at the end of the ingest and read scenarios
  shards           publication drain of the N events by one instance with SUBSCRIPTION_SHARDS=1,
                   then with 4 (ratio, and where the CPU went: service, PostgreSQL, Kafka); and the
                   time from a kill -9 of one of two instances until every publication shard is
                   led again, with 1 shard and with 6
  size             with --compare (or by default when N is not 1,000,000, against the newest
                   1,000,000 report): ingest, read and rebuild here beside that run's, and the disk
                   per event at both sizes

Writes bench/results/<date>.md, .json and .png (<date>-<N>.* when N is not 1,000,000:
throughput and latency percentiles per scenario) and prints the table."""
import argparse
import datetime
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from urllib.parse import urlsplit, urlunsplit

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def psql(url, sql, **kwargs):
    return subprocess.run(["psql", url, "-XAtq", "-v", "ON_ERROR_STOP=1", "-c", sql],
                          check=True, capture_output=True, text=True, **kwargs).stdout.strip()


def with_database(url, name):
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def timed(command, **kwargs):
    """Runs a command; returns (seconds, its peak RSS in MB), measured by GNU time."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as report:
        subprocess.run(["/usr/bin/time", "-f", "%e %M", "-o", report.name, *command], check=True,
                       **kwargs)
        seconds, kilobytes = report.read().split()[-2:]
    return float(seconds), int(kilobytes) / 1024.0


class Profile:
    """perf record -a over the measured side of a scenario (when perf works here): where the
    machine's CPU went, by process, and the hottest symbols of ours, for the report."""

    def __init__(self, name, enabled):
        self.name = name
        self.summary = None
        self.process = None
        if not enabled or not shutil.which("perf"):
            return
        self.data = os.path.join(tempfile.gettempdir(), f"bench-{name}-{os.getpid()}.perf")
        self.process = subprocess.Popen(["perf", "record", "-F", "499", "-a", "-g", "-o",
                                         self.data], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.process is None:
            return
        self.process.send_signal(signal.SIGINT)
        self.process.wait(timeout=60)
        try:
            self.summary = {"by_process": self.report("comm", 3.0),
                            "ours": self.report("comm,sym", 1.0, ours=True)}
        finally:
            if os.path.exists(self.data):
                os.unlink(self.data)

    def report(self, keys, limit, ours=False):
        out = subprocess.run(["perf", "report", "-i", self.data, "--no-children", "--stdio",
                              "--sort", keys, "-g", "none", "--percent-limit", str(limit)],
                             capture_output=True, text=True).stdout
        rows = []
        for line in out.splitlines():
            parts = line.split(None, 1)
            if not parts or not parts[0].endswith("%") or line.startswith("#"):
                continue
            label = " ".join(parts[1].split())
            if ours and not label.startswith(("order-service", "order-admin")):
                continue
            rows.append((label, float(parts[0].rstrip("%"))))
        return rows[:12]


# The backlog's order.created event: the seed's body as the service records it, with the user id
# varied so the orders spread over users as real ones do.
BACKLOG_DATA = ('{"orderid": %d, "userid": %d, "totalamount": "13.48", "status": "pending", '
                '"items": [{"product_id": 1001, "quantity": 2, "price": 4.99}, '
                '{"product_id": 1002, "quantity": 1, "price": 3.5}]}')
BACKLOG_METADATA = '{"request_id": "bench-%d", "correlation_id": "bench-%d"}'


def backlog_copy_script(events, chunk):
    """psql's input that loads N orders of one order.created event each: per `chunk` orders, a
    COPY of their streams rows and one of their events, with the rows inline after each COPY (as
    pg_dump writes them), each COPY its own transaction like a log written over time. event_id,
    recorded_at and transaction_id come from the table's defaults, as for the service's appends."""
    for first in range(1, events + 1, chunk):
        ids = range(first, min(events, first + chunk - 1) + 1)
        yield "COPY streams (stream_id, version) FROM STDIN;\n"
        yield "".join(f"{g}\t1\n" for g in ids)
        yield "\\.\n"
        yield "COPY events (stream_id, stream_version, event_type, data, metadata) FROM STDIN;\n"
        yield "".join(f"{g}\t1\torder.created\t{BACKLOG_DATA % (g, 1 + g % 1000)}\t"
                      f"{BACKLOG_METADATA % (g, g)}\n" for g in ids)
        yield "\\.\n"


def load_backlog(url, events, chunk=100_000):
    """N order.created events of N orders, loaded by COPY from rows this process generates and
    streams into psql's stdin (not through HTTP: at 10,000,000 events the API would take hours);
    then the id sequence past them, and VACUUM ANALYZE so the first scenario does not pay for the
    hint bits and statistics of a fresh table. Returns the seconds it took."""
    start = time.monotonic()
    loader = subprocess.Popen(["psql", url, "-XAtq", "-v", "ON_ERROR_STOP=1", "-f", "-"],
                              stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    try:
        for part in backlog_copy_script(events, chunk):
            loader.stdin.write(part)
        loader.stdin.close()
    except BrokenPipeError:
        pass
    if loader.wait() != 0:
        raise SystemExit("loading the backlog by COPY failed (psql's error above)")
    psql(url, f"SELECT setval('order_ids', {events})")
    psql(url, "VACUUM ANALYZE events")
    psql(url, "VACUUM ANALYZE streams")
    return time.monotonic() - start


def disk_per_event(url, events):
    """Bytes on disk per event: the events and streams tables with their indexes and TOAST."""
    events_bytes, streams_bytes = map(int, psql(
        url, "SELECT pg_total_relation_size('events'), pg_total_relation_size('streams')"
    ).split("|"))
    return {"events_table_bytes": events_bytes, "streams_table_bytes": streams_bytes,
            "disk_bytes_per_event": (events_bytes + streams_bytes) / events}


def copy_database(server, template, name):
    """A copy of the loaded log for one scenario, so each starts from the same known state. A file
    copy (STRATEGY FILE_COPY), not PostgreSQL 15's default of writing the whole copy through the
    WAL: at 10,000,000 events that is gigabytes."""
    admin = with_database(server, "postgres")
    psql(admin, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    psql(admin, f"CREATE DATABASE {name} TEMPLATE {template} STRATEGY FILE_COPY")
    return with_database(server, name)


# The service's subscriptions with one shard (SUBSCRIPTION_SHARDS unset): the publisher's name in
# tools/order_service_main.cpp, the projectors' in adapters/pg/orders_table.hpp and
# product_sales_table.hpp.
SUBSCRIBERS = ("kafka-publisher", "orders-projector", "product-sales-projector")


def checkpoints_at_the_end(url):
    """Every subscription's checkpoint set to the log's last event, as in a service that has kept
    up with the backlog: started on it, the service then publishes and projects only what the
    measured load appends, not the preloaded N events."""
    xid, position = last_event(url)
    values = ", ".join(f"('{name}', '{xid}'::xid8, {position})" for name in SUBSCRIBERS)
    psql(url, f"""INSERT INTO subscriptions (name, transaction_id, global_position)
                  VALUES {values} ON CONFLICT (name) DO UPDATE
                  SET transaction_id = excluded.transaction_id,
                      global_position = excluded.global_position""")


def subscriptions_behind(url, xid, position):
    """Names of the subscriptions whose checkpoint lies before the given event: one the service
    made that SUBSCRIBERS does not know would drain the whole backlog during the measurement."""
    return psql(url, f"""SELECT string_agg(name, ', ') FROM subscriptions
                         WHERE (transaction_id, global_position) < ('{xid}'::xid8, {position})""")


def envelopes_file(url, limit=None):
    """A file of the log's public envelopes, `key<TAB>value` a line in log order (the first
    `limit` events only, if given), as kcat -P -K '\\t' -l reads it."""
    with tempfile.NamedTemporaryFile("w", suffix=".envelopes", delete=False) as out:
        subprocess.run(["psql", url, "-XAtq", "-c", f"""
            COPY (SELECT stream_id || E'\\t' || json_build_object('id', event_id, 'type', event_type,
                    'version', '1.0', 'timestamp', to_char(recorded_at AT TIME ZONE 'UTC',
                    'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), 'data', data)::text
                  FROM events ORDER BY global_position
                  {f"LIMIT {limit}" if limit else ""}) TO STDOUT"""],
                       check=True, stdout=out)
        return out.name


def kcat_seconds(path, topic, compression="none"):
    """Seconds kcat takes to produce the envelopes of `path` to a fresh `topic`, idempotently and
    uncompressed as the publisher does by default (`compression`: another compression.type); the
    topic is deleted afterwards."""
    brokers = os.environ["KAFKA_BROKERS"]
    subprocess.run(["kcat", "-b", brokers, "-L", "-t", topic], capture_output=True)
    time.sleep(1)
    seconds, _ = timed(
        ["kcat", "-P", "-b", brokers, "-t", topic, "-K", "\t", "-X",
         "enable.idempotence=true", "-X", "linger.ms=5", "-X", "batch.num.messages=10000",
         "-X", "queue.buffering.max.messages=1000000", "-X", f"compression.type={compression}",
         "-l", path])
    delete_topics({topic})
    return seconds


def publication(args, url, events):
    brokers = os.environ["KAFKA_BROKERS"]
    stamp = str(int(time.time()))
    # Baseline: the database's raw read rate of the same events, the floor of any drain of them.
    copy_seconds = copy_out_seconds(url)
    # Baseline: the same envelopes, key and value, from a file through kcat -P.
    path = envelopes_file(url)
    # The broker's JVM compiles its hot paths during the first seconds of a load: one untimed send
    # of the same envelopes first, so that neither the baseline nor the drain after it measures
    # that (on a freshly started broker the timed send took from 2.1 to 6.8 s).
    warm_up_seconds = kcat_seconds(path, f"bench-warm-up-{stamp}")
    baseline_seconds = kcat_seconds(path, f"bench-kcat-{stamp}")

    # Measured: the service's publisher draining the whole log to a fresh topic. Its projector
    # runs too, as it does in production.
    last = psql(url, "SELECT transaction_id, global_position FROM events "
                     "ORDER BY transaction_id DESC, global_position DESC LIMIT 1").split("|")
    topic = f"bench-publish-{stamp}"
    subprocess.run(["kcat", "-b", brokers, "-L", "-t", topic], capture_output=True)
    time.sleep(1)
    env = dict(os.environ, ORDER_TOPIC=topic, DB_URL=url, PORT=str(free_port()))
    log = open(os.path.join(args.results, "bench-service.log.tmp"), "w")
    start = time.time()
    service = subprocess.Popen([args.service], env=env, stdout=log, stderr=subprocess.STDOUT)
    profile = Profile("publication", args.profile)
    try:
        # Polled once a second, so the polling costs nothing worth measuring; the end is when the
        # checkpoint reached the last event, as the database recorded it.
        done = f"""SELECT extract(epoch FROM updated_at) FROM subscriptions
                   WHERE name = 'kafka-publisher' AND (transaction_id, global_position) >=
                         ('{last[0]}'::xid8, {last[1]})"""
        with profile:
            while not (finished := psql(url, done)):
                if service.poll() is not None:
                    raise SystemExit("order-service exited during the publication scenario")
                time.sleep(1)
        seconds = float(finished) - start
        rss = int(open(f"/proc/{service.pid}/status").read().split("VmRSS:")[1].split()[0]) / 1024
    finally:
        service.terminate()
        service.wait(timeout=30)
        log.close()
        delete_topics({topic})
    os.unlink(log.name)
    # Beside the row, not measured against its target: the operator's choice of compression
    # (README, "Publication"). The broker's LZ4 path is warmed by an untimed kcat send first, as
    # the uncompressed one was; then kcat with LZ4, and the drain with and without it, both timed
    # as the shards row times its drains (the read models start again from scratch).
    kcat_seconds(path, f"bench-warm-up-lz4-{stamp}", "lz4")
    lz4_kcat = kcat_seconds(path, f"bench-kcat-lz4-{stamp}", "lz4")
    os.unlink(path)
    uncompressed = shard_drain(args, url, events, 1)
    with tempfile.NamedTemporaryFile("w", suffix=".properties") as config:
        config.write("compression.type=lz4\n")
        config.flush()
        lz4 = shard_drain(args, url, events, 1, KAFKA_CONFIG_FILE=config.name)
    lz4.update(kcat_seconds=lz4_kcat, uncompressed=uncompressed)
    copy_ratio, kcat_ratio = copy_seconds / seconds, baseline_seconds / seconds
    return {
        "scenario": "publication",
        "codec": codec_rates(args),
        "measured": f"order-service drains {events:,} events to Kafka, projectors beside it",
        "unit": "events/s",
        "per_second": events / seconds,
        "seconds": seconds,
        "baseline": f"COPY events TO /dev/null; kcat -P of the same {events:,} envelopes",
        # Two baselines, both measured here: the row is met only against both.
        "baselines": [
            {"baseline": "COPY events TO /dev/null", "per_second": events / copy_seconds,
             "seconds": copy_seconds, "ratio": copy_ratio},
            {"baseline": f"kcat -P of the same {events:,} envelopes",
             "per_second": events / baseline_seconds, "seconds": baseline_seconds,
             "ratio": kcat_ratio},
        ],
        "ratio": min(copy_ratio, kcat_ratio),
        "target": ">= 0.5x the COPY rate and >= 0.5x kcat",
        "met": copy_ratio >= 0.5 and kcat_ratio >= 0.5,
        "service_rss_mb_after": rss,
        "kcat_warm_up_seconds": warm_up_seconds,  # the untimed send that warmed the broker
        "lz4": lz4,
        "profile": profile.summary,
    }


def copy_out_seconds(url):
    """Seconds to COPY the whole events table out of PostgreSQL into /dev/null: the publication
    and rebuild rows' baseline, the rate at which the database hands the log out at all."""
    start = time.monotonic()
    subprocess.run(["psql", url, "-XAtq", "-c", "COPY events TO STDOUT"], check=True,
                   stdout=subprocess.DEVNULL)
    return time.monotonic() - start


def codec_rates(args):
    """The per-event CPU work of the subscriptions on one core, without PostgreSQL or Kafka
    (order-codec-bench, built beside the service): an upper bound the drain can approach."""
    codec = os.path.join(os.path.dirname(args.service), "order-codec-bench")
    if not os.path.exists(codec):
        return None
    return json.loads(subprocess.run([codec], check=True, capture_output=True, text=True).stdout)


def rebuild(args, url, events):
    baseline_seconds = copy_out_seconds(url)
    with Profile("rebuild", args.profile) as profile:
        seconds, peak = timed([args.admin, "rebuild", "orders", "--db-url", url],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return {
        "scenario": "rebuild",
        "measured": f"order-admin rebuild orders over {events:,} events",
        "unit": "events/s",
        "per_second": events / seconds,
        "seconds": seconds,
        "baseline": "COPY events TO /dev/null",
        "baseline_per_second": events / baseline_seconds,
        "baseline_seconds": baseline_seconds,
        "ratio": baseline_seconds / seconds,
        "target": ">= 0.5x the COPY rate (time <= 2x), >= 200,000 events/s, peak RSS <= 200 MB",
        "met": seconds <= 2 * baseline_seconds and events / seconds >= 200_000 and peak <= 200,
        "peak_rss_mb": peak,
        "profile": profile.summary,
    }


HERE = os.path.dirname(os.path.abspath(__file__))
CONNECTIONS = 32  # the ingest and read scenarios' client count, for wrk and pgbench alike
SEED_BODY = json.dumps({"user_id": 101, "args": [
    {"product_id": 1001, "quantity": 2, "price": 4.99},
    {"product_id": 1002, "quantity": 1, "price": 3.50}]})

# The baseline's order: the same event row as the service appends for the seed's body, one
# transaction (one commit) per order.
INGEST_SQL = """
INSERT INTO events (stream_id, stream_version, event_type, data, metadata)
SELECT n, 1, 'order.created',
       jsonb_build_object('orderid', n, 'userid', 101, 'totalamount', '13.48', 'status', 'pending',
         'items', '[{"product_id": 1001, "quantity": 2, "price": 4.99},
                    {"product_id": 1002, "quantity": 1, "price": 3.5}]'::jsonb),
       jsonb_build_object('request_id', md5(n::text), 'correlation_id', md5(n::text))
FROM (SELECT nextval('order_ids') AS n) AS next;
"""

# The read baseline: the rows GET /orders/{id} folds, one random stream at a time.
READ_SQL = """
\\set id random(1, :orders)
SELECT global_position, stream_version, event_id::text, event_type, data::text, recorded_at
FROM events WHERE stream_id = :id ORDER BY stream_version;
"""


def fresh_database(args, server, name):
    admin = with_database(server, "postgres")
    psql(admin, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    psql(admin, f"CREATE DATABASE {name}")
    url = with_database(server, name)
    subprocess.run([args.admin, "migrate", "--db-url", url], check=True, capture_output=True)
    return url


def drop_database(server, name):
    psql(with_database(server, "postgres"), f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(f.read().split("VmRSS:")[1].split()[0]) / 1024


def percentile(values, p):
    return values[min(len(values) - 1, int(p * len(values)))] if values else 0


def percentiles(latencies):
    """p50_us, p90_us, p99_us and p999_us of `latencies` (microseconds), which it sorts."""
    latencies.sort()
    return {key: percentile(latencies, p) for key, p in (
        ("p50_us", 0.50), ("p90_us", 0.90), ("p99_us", 0.99), ("p999_us", 0.999))}


def wrk(url, script, seconds, script_args=()):
    """Runs wrk with one of the Lua scripts; returns its JSON report with per_second added."""
    command = ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{seconds}s", "--timeout", "10s",
               "-s", os.path.join(HERE, script), url]
    if script_args:
        command += ["--", *map(str, script_args)]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    report = json.loads([line for line in out.splitlines() if line.startswith("{")][-1])
    report["per_second"] = report["requests"] / (report["duration_us"] / 1e6)
    report["errors"] = sum(v for k, v in report.items() if k.startswith("errors_"))
    return report


def pgbench(url, sql, seconds, variables=()):
    """Runs pgbench with one script, CONNECTIONS clients, prepared statements; returns the
    transactions per second and the latency percentiles (microseconds) from its per-transaction
    log."""
    with tempfile.TemporaryDirectory() as folder:
        script = os.path.join(folder, "script.sql")
        with open(script, "w") as f:
            f.write(sql)
        command = ["pgbench", "-n", "-M", "prepared", "-c", str(CONNECTIONS), "-j", "2",
                   "-T", str(seconds), "-l", "--log-prefix", os.path.join(folder, "tx"),
                   "-f", script]
        for name, value in variables:
            command += ["-D", f"{name}={value}"]
        subprocess.run([*command, url], check=True, capture_output=True, text=True)
        latencies = []
        for name in os.listdir(folder):
            if name.startswith("tx"):
                with open(os.path.join(folder, name)) as log:
                    latencies += [int(line.split()[2]) for line in log if line.strip()]
    return {"requests": len(latencies), "per_second": len(latencies) / seconds,
            **percentiles(latencies)}


def listening(process, port, timeout):
    """Whether `process` accepts connections on `port` within `timeout` seconds (False as soon as
    it exits)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                return False
            time.sleep(0.05)


class Service:
    """order-service on a free port over `url`, with the stack's broker and a fresh topic."""

    def __init__(self, args, url, name, topic=None, **settings):
        self.port = free_port()
        self.topic = topic or f"bench-{name}-{int(time.time())}"
        env = dict(os.environ, ORDER_TOPIC=self.topic, DB_URL=url, PORT=str(self.port), **settings)
        self.log = open(os.path.join(args.results, f"bench-{name}.log.tmp"), "w")
        self.process = subprocess.Popen([args.service], env=env, stdout=self.log,
                                        stderr=subprocess.STDOUT)
        if not listening(self.process, self.port, 30):
            raise SystemExit(f"order-service did not start (see {self.log.name})")

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def rss_mb(self):
        return rss_mb(self.process.pid)

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=30)
        self.log.close()
        os.unlink(self.log.name)


def last_event(url):
    return psql(url, "SELECT transaction_id, global_position FROM events "
                     "ORDER BY transaction_id DESC, global_position DESC LIMIT 1").split("|")


def wait_drained(url, subscribers, timeout=120):
    """Seconds until every subscriber's checkpoint reaches the last event of the log."""
    xid, position = last_event(url)
    names = ", ".join(f"'{name}'" for name in subscribers)
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        done = psql(url, f"SELECT count(*) FROM subscriptions WHERE name IN ({names}) AND "
                         f"(transaction_id, global_position) >= ('{xid}'::xid8, {position})")
        if int(done) == len(subscribers):
            return time.monotonic() - start
        time.sleep(0.05)
    return float("inf")


def kafka_java(*command, check=True):
    """Runs one of Kafka's own tools from the jars the dev stack runs its broker from
    (tools/stack/kafka.sh fetches them once, into the same cache)."""
    pom = open(os.path.join(ROOT, "tools", "stack", "kafka", "pom.xml")).read()
    version = re.search(r"<kafka.version>(.*)</kafka.version>", pom).group(1)
    cache = os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache"))
    jars = os.environ.get("KAFKA_JAR_CACHE",
                          os.path.join(cache, "order-service", f"kafka-{version}"))
    return subprocess.run(["java", "-Xmx256m", "-cp", os.path.join(jars, "*"), *command],
                          check=check, capture_output=True, text=True)


def create_topic(name, **configs):
    """A topic as the stack makes 'orders' (3 partitions), with the given topic configs."""
    settings = [item for key, value in configs.items()
                for item in ("--config", f"{key.replace('_', '.')}={value}")]
    kafka_java("org.apache.kafka.tools.TopicCommand", "--bootstrap-server",
               os.environ["KAFKA_BROKERS"], "--create", "--topic", name, "--partitions", "3",
               "--replication-factor", "1", *settings)


def bench_topics():
    """The topics on the stack's broker that a bench made (their names start with bench-)."""
    out = subprocess.run(["kcat", "-b", os.environ["KAFKA_BROKERS"], "-L"], capture_output=True,
                         text=True, check=True).stdout
    return set(re.findall(r'topic "(bench-[^"]+)"', out))


def delete_topics(names):
    """Deletes the topics of this run: at 10,000,000 events the drains leave gigabytes on the
    broker's disk per run."""
    if not names:
        return
    # Not fatal: a topic left behind costs disk, not the run's numbers.
    done = kafka_java("org.apache.kafka.tools.TopicCommand", "--bootstrap-server",
                      os.environ["KAFKA_BROKERS"], "--delete", "--if-exists", "--topic",
                      "^(" + "|".join(re.escape(n) for n in sorted(names)) + ")$", check=False)
    if done.returncode != 0:
        print(f"could not delete the topics {', '.join(sorted(names))}: {done.stderr.strip()}")


def track_commit_times(server, on):
    """Turns PostgreSQL's record of each transaction's commit time (track_commit_timestamp) on or
    off, by restarting the dev stack's server (tools/stack/pg.sh) if it is not so already. True
    when the server is so afterwards; False for a server that is not the dev stack's.

    Only the measured ingest runs with it: with one commit per order, pgbench inserted 3,862
    orders/s with it and 4,262 without (six interleaved 10 s runs each on 2026-11-28), a cost
    the baseline must not pay. The service, committing a group of orders at a time, pays it in
    the measured run, to its own disadvantage."""
    want = "on" if on else "off"
    admin = with_database(server, "postgres")
    if psql(admin, "SHOW track_commit_timestamp") == want:
        return True
    pg = os.path.join(ROOT, "tools", "stack", "pg.sh")
    stack = subprocess.run([pg, "url"], capture_output=True, text=True).stdout.strip()

    def address(url):
        parts = urlsplit(url)
        return ("127.0.0.1" if parts.hostname == "localhost" else parts.hostname, parts.port)

    if address(stack) != address(server):
        return False
    psql(admin, "ALTER SYSTEM SET track_commit_timestamp = on" if on
         else "ALTER SYSTEM RESET track_commit_timestamp")
    subprocess.run([pg, "stop"], check=True, capture_output=True)
    subprocess.run([pg, "start"], check=True, capture_output=True)
    return psql(admin, "SHOW track_commit_timestamp") == want


def commit_times(url, first_order):
    """The commit time (epoch seconds) of every event of the orders from `first_order` on, by
    event id, from PostgreSQL's own record of its commits (track_commit_timestamp); None when the
    server keeps no such record."""
    if psql(url, "SHOW track_commit_timestamp") != "on":
        return None
    # pg_xact_commit_timestamp takes the 32-bit xid: the low half of the stored xid8.
    rows = psql(url, f"""
        SELECT event_id, extract(epoch FROM pg_xact_commit_timestamp(
                           (transaction_id::text::bigint % 4294967296)::text::xid))
        FROM events WHERE stream_id >= {first_order}""")
    return {event_id: float(at) for event_id, at in
            (line.split("|") for line in rows.splitlines()) if at}


# What record-to-Kafka's figure starts at.
START_OF = {"commit": "commit of the event's transaction (PostgreSQL's track_commit_timestamp)",
            "recorded_at": "event's recorded_at (its transaction's start, before its commit: "
                           "an upper bound of commit to acknowledgement)"}


def record_to_kafka(topic, first_order, url=None):
    """Per message of the orders from `first_order` on, the time from its event's commit to the
    broker's append of it. The topic's message.timestamp.type is LogAppendTime: each message
    carries the time the broker appended it, just before it acknowledged it. The commit is
    PostgreSQL's commit time of the event's transaction when the server at `url` tracks commit
    times (track_commit_timestamp); latency_us is then the target's figure, commit to
    acknowledgement. recorded_us is always there: from the envelope's timestamp, the event's
    recorded_at, which is the start of the appending transaction, before its commit; an upper
    bound of the same, that the appending transaction's own time lengthens. Microseconds."""
    out = subprocess.run(["kcat", "-C", "-b", os.environ["KAFKA_BROKERS"], "-t", topic,
                          "-o", "beginning", "-e", "-q", "-f", "%T\t%s\n"],
                         capture_output=True, text=True, check=True).stdout
    committed = commit_times(url, first_order) if url else None
    from_recorded, from_commit, missing = [], [], 0
    for line in out.splitlines():
        appended_ms, _, value = line.partition("\t")
        envelope = json.loads(value)
        if envelope["data"]["orderid"] < first_order:
            continue
        appended_us = int(appended_ms) * 1000
        recorded = datetime.datetime.strptime(envelope["timestamp"], "%Y-%m-%dT%H:%M:%S.%fZ")
        recorded = recorded.replace(tzinfo=datetime.timezone.utc).timestamp()
        from_recorded.append(appended_us - recorded * 1e6)
        if committed is not None:
            if (at := committed.get(envelope["id"])) is None:
                missing += 1
            else:
                from_commit.append(appended_us - at * 1e6)

    def with_max(latencies):
        return {**percentiles(latencies), "max_us": latencies[-1] if latencies else 0}

    # Every message must have found its commit, or the figure would leave some out.
    by_commit = committed is not None and missing == 0
    return {"messages": len(from_recorded), "from": "commit" if by_commit else "recorded_at",
            **with_max(from_commit if by_commit else from_recorded),
            "recorded_us": with_max(from_recorded),
            "without_commit_time": missing}


def response_shape(url):
    """One real answer's headers (but those Pistache writes itself: Content-Length, and the
    Connection both servers set) and body size, for the ceiling server to answer the same."""
    with urllib.request.urlopen(url, timeout=10) as response:
        body = response.read()
        headers = [(name, value) for name, value in response.getheaders()
                   if name.lower() not in ("content-length", "connection")]
    return headers, len(body)


class Ceiling:
    """order-pistache-ceiling (built beside the service) on a free port, answering every request
    with the given headers and a body of `body_bytes`."""

    def __init__(self, args, headers, body_bytes):
        binary = os.path.join(os.path.dirname(args.service), "order-pistache-ceiling")
        if not os.path.exists(binary):
            raise SystemExit(f"{binary} is missing: build the order-pistache-ceiling target")
        self.port = free_port()
        command = [binary, "--port", str(self.port), "--body-bytes", str(body_bytes)]
        for name, value in headers:
            command += ["--header", f"{name}: {value}"]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        if not listening(self.process, self.port, 10):
            self.stop()
            raise SystemExit("order-pistache-ceiling did not start")

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
        self.process.wait(timeout=10)


def ingest_read_memory(args, server, template, events):
    """The ingest, record-to-Kafka, read and memory scenarios, each side on its own copy of the
    loaded log (`template`, N events), with every subscription's checkpoint at its last event."""
    seconds = args.seconds
    # The broker warmed as the publication scenario warms it (one untimed send of up to
    # 1,000,000 envelopes), whichever scenarios ran before: on a broker fresh from its start, the
    # JVM's compiler threads took a fifth of the CPU during the measured load.
    path = envelopes_file(with_database(server, template), limit=1_000_000)
    print("  broker warm-up: kcat -P ...", flush=True)
    kcat_seconds(path, f"bench-warm-up-ingest-{int(time.time())}")
    os.unlink(path)
    track_commit_times(server, False)
    base = copy_database(server, template, "order_bench_ingest_base")
    print("  ingest baseline: pgbench ...", flush=True)
    ingest_base = pgbench(base, INGEST_SQL, seconds)
    drop_database(server, "order_bench_ingest_base")

    # The same load with each append committing on its own: what group commit gains.
    alone_url = copy_database(server, template, "order_bench_ingest_alone")
    checkpoints_at_the_end(alone_url)
    service = Service(args, alone_url, "ingest-alone", GROUP_COMMIT="off")
    try:
        print("  ingest, GROUP_COMMIT=off: wrk POST /orders ...", flush=True)
        alone = wrk(service.url("/orders"), "ingest.lua", seconds)
    finally:
        service.stop()
        delete_topics({service.topic})
    drop_database(server, "order_bench_ingest_alone")

    # Record-to-Kafka starts at each event's commit, as PostgreSQL records it.
    track_commit_times(server, True)
    url = copy_database(server, template, "order_bench_ingest")
    checkpoints_at_the_end(url)
    xid, position = last_event(url)
    # The broker stamps each message with the time it appends it: the record-to-Kafka row.
    topic = f"bench-ingest-{int(time.time())}"
    create_topic(topic, message_timestamp_type="LogAppendTime")
    service = Service(args, url, "ingest", topic=topic)
    try:
        time.sleep(3)
        idle_rss = service.rss_mb()
        if behind := subscriptions_behind(url, xid, position):
            raise SystemExit(f"subscriptions {behind} would drain the preloaded log during the "
                             f"ingest scenario: add them to SUBSCRIBERS in tools/bench/bench.py")
        print("  ingest: wrk POST /orders ...", flush=True)
        histograms_before = publisher_histograms(service)
        load = wrk(service.url("/orders"), "ingest.lua", seconds)
        loaded_rss = service.rss_mb()
        drain = wait_drained(url, SUBSCRIBERS)
        histograms = publisher_histograms(service)
        waits = slow_between(histograms_before["wait"], histograms["wait"])
        reads = slow_between(histograms_before["read"], histograms["read"])
        record = record_to_kafka(topic, events + 1, url)
        placed = int(psql(url, f"SELECT count(*) FROM streams WHERE stream_id > {events}"))
        # Where the CPU goes under the same load, in a load of its own after the measured one:
        # perf record -a -g during the measured load lengthened record-to-Kafka's tail. Two pairs
        # of interleaved runs (bench.sh --only ingest, with and without --no-profile): p99 24.3
        # and 17.4 ms profiled, 16.5 and 12.6 not; p99.9 144.1 and 40.0 against 51.7 and 24.7.
        ingest_profile = None
        if args.profile:
            print("  ingest, profiled apart: wrk POST /orders ...", flush=True)
            with Profile("ingest", True) as ingest_profile:
                wrk(service.url("/orders"), "ingest.lua", min(seconds, 10))
            wait_drained(url, SUBSCRIBERS)
        # Ids are handed out in blocks from the sequence, contiguous from 1 but for what a failed
        # request left unused; every id up to the highest is read, preloaded ones included.
        orders = int(psql(url, "SELECT max(stream_id) FROM streams"))

        headers, body_bytes = response_shape(service.url(f"/orders/{max(1, orders // 2)}"))
        print("  read: wrk GET /orders/{id} ...", flush=True)
        with Profile("read", args.profile) as read_profile:
            read = wrk(service.url("/orders/1"), "read.lua", seconds, [orders])
        print("  read baseline: pgbench ...", flush=True)
        read_pgbench = pgbench(url, READ_SQL, seconds, [("orders", orders)])
        after_read_rss = service.rss_mb()
    finally:
        service.stop()
        delete_topics({topic})
    drop_database(server, "order_bench_ingest")
    track_commit_times(server, False)

    # The read row's baseline: the HTTP layer alone, same Pistache, same reactor threads, the
    # same answer, the same load, right after the service's own run.
    print("  read baseline: wrk against order-pistache-ceiling ...", flush=True)
    ceiling = Ceiling(args, headers, body_bytes)
    try:
        read_ceiling = wrk(ceiling.url("/orders/1"), "read.lua", seconds, [orders])
    finally:
        ceiling.stop()

    percentiles = ("p50_us", "p90_us", "p99_us", "p999_us")
    ingest_ratio = load["per_second"] / ingest_base["per_second"]
    read_ratio = read["per_second"] / read_ceiling["per_second"]
    return [
        {
            "scenario": "ingest",
            "measured": f"POST /orders, {CONNECTIONS} connections, {seconds} s (wrk), "
                        f"{events:,} events already in the log",
            "unit": "orders/s",
            "per_second": load["per_second"],
            "baseline": f"pgbench INSERT of the event row, 1 commit per order, {CONNECTIONS} "
                        f"clients, same log",
            "baseline_per_second": ingest_base["per_second"],
            "ratio": ingest_ratio,
            "target": ">= 1.5x the baseline, p99 <= 25 ms",
            "met": ingest_ratio >= 1.5 and load["p99_us"] <= 25_000 and load["errors"] == 0,
            "latency_us": {k: load[k] for k in percentiles},
            "baseline_latency_us": {k: ingest_base[k] for k in percentiles},
            "requests": load["requests"], "errors": load["errors"], "orders_placed": placed,
            "without_group_commit_per_second": alone["per_second"],
            "without_group_commit_p99_us": alone["p99_us"],
            "profile": ingest_profile.summary if ingest_profile else None,
            "drained_seconds_after_load": drain,
        },
        {
            "scenario": "record-to-kafka",
            "measured": f"broker append time - the {START_OF[record['from']]}, the "
                        f"{record['messages']:,} orders of the ingest load",
            "unit": "ms",
            "target": "p99 <= 20 ms",
            "met": record["messages"] > 0 and record["messages"] >= placed
                   and record["p99_us"] <= 20_000,
            "latency_us": {k: record[k] for k in percentiles},
            "messages": record["messages"], "max_us": record["max_us"], "topic_orders": placed,
            "from": record["from"], "recorded_latency_us": record["recorded_us"],
            "without_commit_time": record["without_commit_time"],
            # Where the tail is: how long the publisher waited for the broker's acknowledgements,
            # and how long it took to read the log.
            "publisher_waits": waits,
            "publisher_reads": reads,
        },
        {
            "scenario": "read",
            "measured": f"GET /orders/{{id}} of {orders:,} orders, {CONNECTIONS} connections (wrk)",
            "unit": "reads/s",
            "per_second": read["per_second"],
            "baseline": f"order-pistache-ceiling: the same answer ({body_bytes} bytes, "
                        f"{len(headers)} headers) from Pistache alone, same load",
            "baseline_per_second": read_ceiling["per_second"],
            "ratio": read_ratio,
            "target": ">= 0.95x the Pistache ceiling",
            "met": read_ratio >= 0.95 and read["errors"] == 0 and read_ceiling["errors"] == 0,
            "latency_us": {k: read[k] for k in percentiles},
            "baseline_latency_us": {k: read_ceiling[k] for k in percentiles},
            "requests": read["requests"], "errors": read["errors"],
            "baseline_errors": read_ceiling["errors"],
            "body_bytes": body_bytes, "response_headers": [name for name, _ in headers],
            # Reported beside the ceiling: the database's own rate for the same rows.
            "pgbench_per_second": read_pgbench["per_second"],
            "pgbench_ratio": read["per_second"] / read_pgbench["per_second"],
            "pgbench_latency_us": {k: read_pgbench[k] for k in percentiles},
            "profile": read_profile.summary,
        },
        {
            "scenario": "memory",
            "measured": "order-service RSS idle / after ingest / after read",
            "unit": "MB",
            "idle_rss_mb": idle_rss, "loaded_rss_mb": loaded_rss,
            "after_read_rss_mb": after_read_rss,
            "target": "<= 64 MB idle, <= 256 MB loaded",
            "met": idle_rss <= 64 and max(loaded_rss, after_read_rss) <= 256,
        },
    ]


def baselines_of(r):
    """A row's baselines as a list: publication has two (COPY and kcat), most rows one, the
    record-to-Kafka, memory and size rows none."""
    if "baselines" in r:
        return r["baselines"]
    if "baseline_per_second" in r:
        return [{"baseline": r["baseline"], "per_second": r["baseline_per_second"],
                 "seconds": r.get("baseline_seconds"), "ratio": r["ratio"]}]
    return []


def ms(latency_us):
    return " / ".join(f"{latency_us[k] / 1000:.1f}" for k in ("p50_us", "p90_us", "p99_us",
                                                             "p999_us"))


def chart(results, path):
    """Throughput beside its baselines, and latency percentiles, per scenario, as a PNG."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rated = [r for r in results if baselines_of(r)]
    timed_results = [r for r in results if "latency_us" in r]
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5))
    most = max([len(baselines_of(r)) for r in rated] or [1])
    width = 0.8 / (1 + most)
    labelled = set()
    for x, r in enumerate(rated):
        bars = [("order-service", r["per_second"], None)] + [
            (f"baseline {j + 1}", b["per_second"], b["ratio"])
            for j, b in enumerate(baselines_of(r))]
        for j, (label, rate, ratio) in enumerate(bars):
            at = x - 0.4 + width / 2 + j * width
            left.bar(at, rate, width, color=f"C{j}", label=None if label in labelled else label)
            labelled.add(label)
            if ratio is not None:
                left.annotate(f"{ratio:.2f}x", (at, rate), ha="center", va="bottom", fontsize=8)
    left.set_xticks(range(len(rated)), [f"{r['scenario']}\n({r['unit']})" for r in rated])
    left.set_yscale("log")
    left.set_title("Throughput (log scale); ratio to each baseline on its bar\n"
                   "(publication: COPY, then kcat -P; read: the Pistache ceiling)", fontsize=10)
    left.legend()
    percentiles = ["p50_us", "p90_us", "p99_us", "p999_us"]
    baseline_names = {"ingest": "pgbench", "read": "Pistache ceiling"}
    series = [(r["scenario"], label, r[key]) for r in timed_results
              for key, label in (("latency_us", "order-service"), ("baseline_latency_us",
                                 baseline_names.get(r["scenario"], "baseline"))) if key in r]
    width = 0.8 / max(1, len(series))
    for i, (scenario, label, latency) in enumerate(series):
        offset = i * width - 0.4 + width / 2
        right.bar([k + offset for k in range(len(percentiles))],
                  [latency[p] / 1000 for p in percentiles], width, label=f"{scenario}: {label}")
    right.set_xticks(range(len(percentiles)), ["p50", "p90", "p99", "p99.9"])
    right.set_ylabel("ms")
    right.set_title("Latency percentiles")
    right.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def table(results):
    lines = ["| scenario | measured | rate | baseline | rate | ratio | target | met |",
             "|---|---|---|---|---|---|---|---|"]
    for r in results:
        met = "yes" if r["met"] else "NO"
        if r["scenario"] == "memory":
            lines.append(f"| memory | {r['measured']} | {r['idle_rss_mb']:.1f} / "
                         f"{r['loaded_rss_mb']:.1f} / {r['after_read_rss_mb']:.1f} MB | | | | "
                         f"{r['target']} | {met} |")
            continue
        if r["scenario"] == "record-to-kafka":
            lines.append(f"| record-to-kafka | {r['measured']} | p50 / p99 / p99.9: "
                         f"{r['latency_us']['p50_us'] / 1000:.1f} / "
                         f"{r['latency_us']['p99_us'] / 1000:.1f} / "
                         f"{r['latency_us']['p999_us'] / 1000:.1f} ms | — | | | "
                         f"{r['target']} | {met} |")
            continue
        if r["scenario"] == "size":
            lines.append(f"| size | {r['measured']} | {r['rates']} | {r['baseline']} | "
                         f"{r['baseline_rates']} | {r['ratios']} | {r['target']} | {met} |")
            continue
        took = f" ({r['seconds']:.1f} s)" if "seconds" in r else ""
        bases = baselines_of(r)
        base_text = "; ".join(b["baseline"] + (f" ({b['seconds']:.1f} s)" if b.get("seconds")
                                               else "") for b in bases)
        base_rates = "; ".join(f"{b['per_second']:,.0f} {r['unit']}" for b in bases)
        ratios = "; ".join(f"{b['ratio']:.2f}x" for b in bases)
        lines.append(f"| {r['scenario']} | {r['measured']}{took} | "
                     f"{r['per_second']:,.0f} {r['unit']} | {base_text} | {base_rates} | "
                     f"{ratios} | {r['target']} | {met} |")
    return lines


def profiles(results):
    """Where the CPU went during each scenario's measured side (perf record -a)."""
    lines = []
    for r in results:
        summary = r.get("profile")
        if not summary:
            continue
        shares = ", ".join(f"{label} {share:.0f}%" for label, share in summary["by_process"])
        lines.append(f"- {r['scenario']}: {shares}")
        if summary["ours"]:
            hot = "; ".join(f"{label.split(None, 1)[-1]} {share:.1f}%"
                            for label, share in summary["ours"][:6])
            lines.append(f"  - hottest in ours: {hot}")
    if lines:
        lines = ["## Where the CPU went (perf record -a, all CPUs, measured side only; ingest's "
                 "in a load of its own after the measured one)", "",
                 *lines]
    return lines


def details(results):
    lines = []
    for r in results:
        if "latency_us" in r and r["scenario"] != "record-to-kafka":
            lines.append(f"- {r['scenario']} latency p50 / p90 / p99 / p99.9: "
                         f"{ms(r['latency_us'])} ms (baseline {ms(r['baseline_latency_us'])} ms); "
                         f"{r['requests']:,} requests, {r['errors']} errors")
        if r.get("codec"):
            lines.append(f"- publication, per event on one core (order-codec-bench): decode the "
                         f"log's data {r['codec']['decode_event_per_second']:,.0f}/s, build the "
                         f"public message {r['codec']['public_message_per_second']:,.0f}/s")
        if r.get("lz4"):
            lz4, plain = r["lz4"], r["lz4"]["uncompressed"]
            split = lambda d: (f"service {d['cpu_service_s']:.1f} s, PostgreSQL "
                               f"{d['cpu_postgres_s']:.1f} s, Kafka {d['cpu_kafka_s']:.1f} s")
            lines.append(f"- publication with compression.type=lz4 in KAFKA_CONFIG_FILE (an "
                         f"operator's choice), each drain timed as the shards row times it: "
                         f"{lz4['seconds']:.1f} s ({split(lz4)}) against {plain['seconds']:.1f} s "
                         f"uncompressed ({split(plain)}), {plain['seconds'] / lz4['seconds']:.2f}x; "
                         f"kcat -P with LZ4 {lz4['kcat_seconds']:.1f} s, "
                         f"{lz4['kcat_seconds'] / lz4['seconds']:.2f}x of it")
        if r["scenario"] == "shards":
            lines.append(f"- shards: CPU during the drain with 1 shard: {r['cpu_split_1_shard']}; "
                         f"with 4: {r['cpu_split_4_shards']}")
            lines.append(f"- shards: publication handed over after kill -9 of one of two "
                         f"instances in {r['handover_1_shard_ms']:.0f} ms with 1 shard, "
                         f"{r['handover_6_shards_ms']:.0f} ms with 6 (median of 3)")
        if r["scenario"] == "ingest":
            lines.append(f"- ingest: {r['orders_placed']:,} orders placed on the log's "
                         f"backlog; publisher and projectors drained "
                         f"{r['drained_seconds_after_load']:.2f} s after the load (<= 5 s "
                         f"expected: {'yes' if r['drained_seconds_after_load'] <= 5 else 'NO'})")
            lines.append(f"- ingest with GROUP_COMMIT=off (each append commits on its own), same "
                         f"load: {r['without_group_commit_per_second']:,.0f} orders/s, p99 "
                         f"{r['without_group_commit_p99_us'] / 1000:.1f} ms; group commit: "
                         f"{r['per_second'] / r['without_group_commit_per_second']:.2f}x")
        if r["scenario"] == "record-to-kafka":
            lines.append(f"- record-to-kafka p50 / p90 / p99 / p99.9: {ms(r['latency_us'])} ms, "
                         f"max {r['max_us'] / 1000:.1f} ms, over {r['messages']:,} messages of "
                         f"{r['topic_orders']:,} orders placed; the topic's timestamps are the "
                         f"broker's (LogAppendTime), the start is the {START_OF[r['from']]}")
            if recorded := r.get("recorded_latency_us"):
                lines.append(f"- record-to-kafka from the {START_OF['recorded_at']} instead: "
                             f"p50 / p90 / p99 / p99.9 {ms(recorded)} ms, max "
                             f"{recorded['max_us'] / 1000:.1f} ms")
            if r.get("without_commit_time"):
                lines.append(f"- record-to-kafka: {r['without_commit_time']:,} messages had no "
                             f"commit time in PostgreSQL, so the row is from recorded_at")
            if waits := r.get("publisher_waits"):
                lines.append(f"- record-to-kafka: the publisher waited for the broker's "
                             f"acknowledgement of {waits['batches']:,} batches during the load "
                             f"(order_publication_wait_seconds): {waits['over_50ms']} over 50 ms, "
                             f"{waits['over_100ms']} over 100 ms, {waits['over_250ms']} over "
                             f"250 ms")
            if reads := r.get("publisher_reads"):
                lines.append(f"- record-to-kafka: the publisher read the log {reads['batches']:,} "
                             f"times during the load (order_publication_read_seconds): "
                             f"{reads['over_50ms']} took over 50 ms, {reads['over_100ms']} over "
                             f"100 ms, {reads['over_250ms']} over 250 ms")
        if r["scenario"] == "read":
            lines.append(f"- read beside the database: pgbench SELECT of the stream's rows, "
                         f"{CONNECTIONS} clients: {r['pgbench_per_second']:,.0f} reads/s, "
                         f"{r['pgbench_ratio']:.2f}x pgbench; its latency "
                         f"{ms(r['pgbench_latency_us'])} ms")
            lines.append(f"- read's ceiling answers {r['body_bytes']} bytes with the service's "
                         f"headers ({', '.join(r['response_headers'])}) on the reactor thread; "
                         f"{r['baseline_errors']} errors")
        if r["scenario"] == "size":
            lines += [f"- size: {line}" for line in r["lines"]]
        extra = ", ".join(f"{k} {v:.1f}" for k, v in r.items()
                          if isinstance(v, float) and ("_mb" in k or "_ms" in k or
                                                       k.startswith("load_"))
                          and r["scenario"] != "memory")
        if extra:
            lines.append(f"- {r['scenario']}: {extra}")
    return lines


def cpu_seconds(pids):
    """{pid: user + system CPU seconds} of the given processes (those still there)."""
    ticks = os.sysconf("SC_CLK_TCK")
    out = {}
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            out[pid] = (int(fields[11]) + int(fields[12])) / ticks
        except (OSError, IndexError, ValueError):
            pass
    return out


def cpu_seconds_between(before, after):
    """The CPU seconds the processes took between two cpu_seconds() readings; a process that
    started between them counts from zero."""
    return sum(v - before.get(pid, 0) for pid, v in after.items())


def broker_grouping():
    """How the CPU scheduler groups the broker with the service and wrk (this process's children).
    With autogroup on (kernel.sched_autogroup_enabled), Linux shares the CPUs between sessions
    before threads, and every PostgreSQL backend is a session of its own. Measured on two CPUs
    under the ingest load (tools/bench/ab_ingest.py, same stack, run under setsid and without):
    with the broker in a session of its own, its produce requests waited up to 104 ms in its
    request queue and up to 95 ms before their response went out (Kafka's request log) and
    record-to-Kafka p99 was 115-117 ms; with the broker in the service's session, 10-11 ms.
    bench.sh starts the stack in its own session, so the broker shares the service's; a stack
    already up is restarted there."""
    try:
        with open("/proc/sys/kernel/sched_autogroup_enabled") as f:
            if f.read().strip() != "1":
                return "autogroup off"
        with open("/proc/self/autogroup") as f:
            mine = f.read().split()[0]
        groups = set()
        for pid in stack_pids(os.environ["DB_URL"])[1]:
            with open(f"/proc/{pid}/autogroup") as f:
                groups.add(f.read().split()[0])
    except (OSError, KeyError, subprocess.CalledProcessError):
        return "autogroup unknown"
    if not groups:
        return "autogroup on, no broker of the dev stack found"
    if groups == {mine}:
        return "autogroup on, the broker in the bench's session"
    return "autogroup on, the broker in a session of its own (started outside bench.sh)"


def stack_pids(url):
    """The processes of the stack this run uses: PostgreSQL's postmaster and its children (the
    backends), and the Kafka broker listening on KAFKA_BROKERS' port; another stack on the same
    machine is left out."""
    data = psql(url, "SELECT setting FROM pg_settings WHERE name = 'data_directory'")
    with open(os.path.join(data, "postmaster.pid")) as f:
        postmaster = int(f.readline())
    port = os.environ["KAFKA_BROKERS"].split(",")[0].rsplit(":", 1)[1]
    postgres, kafka = [postmaster], []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                parent = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline") as f:
                command = f.read().split("\0")
        except (OSError, IndexError, ValueError):
            continue
        if parent == postmaster:
            postgres.append(int(entry))
        properties = [c for c in command if c.endswith("server.properties")]
        if properties and "kafka" in " ".join(command).lower():
            try:
                with open(properties[0]) as f:
                    if f"127.0.0.1:{port}," in f.read():
                        kafka.append(int(entry))
            except OSError:
                pass
    return postgres, kafka


def shard_drain(args, url, events, shards, **settings):
    """Seconds for one instance with SUBSCRIPTION_SHARDS=`shards` (and the environment's
    `settings`) to publish the whole log to a fresh topic (the read models projected again
    alongside, as in production), and the CPU seconds of the service, PostgreSQL and Kafka
    meanwhile."""
    psql(url, "DELETE FROM subscriptions; TRUNCATE orders, product_sales, product_sales_orders")
    # A shard is done when its checkpoint reached the last event of its streams, found once here,
    # before the clock starts. (Asking the log, at every poll, whether any event of the shard lay
    # after its checkpoint took PostgreSQL 1.5 s at 1,000,000 events, a hash join over the whole
    # log, and the polls took most of a CPU from the drains they timed.)
    ends = {int(i): (int(xid), int(position)) for i, xid, position in (
        line.split("|") for line in psql(url, f"""
            SELECT DISTINCT ON (mod(stream_id, {shards})) mod(stream_id, {shards}),
                   transaction_id, global_position
            FROM events ORDER BY mod(stream_id, {shards}), transaction_id DESC,
                                 global_position DESC""").splitlines())}
    names = ({"kafka-publisher": 0} if shards == 1 else
             {f"kafka-publisher#{i}/{shards}": i for i in range(shards)})

    def drained():
        reached = {name: (int(xid), int(position)) for name, xid, position in (
            line.split("|") for line in psql(url, """
                SELECT name, transaction_id, global_position FROM subscriptions
                WHERE split_part(name, '#', 1) = 'kafka-publisher'""").splitlines())}
        return all(name in reached and reached[name] >= ends.get(i, (0, 0))
                   for name, i in names.items())

    postgres, kafka = stack_pids(url)
    before_pg, before_kafka = cpu_seconds(postgres), cpu_seconds(kafka)
    start = time.time()
    service = Service(args, url, f"shards-{shards}", SUBSCRIPTION_SHARDS=str(shards), **settings)
    before_service = cpu_seconds([service.process.pid])
    try:
        while not drained():
            if service.process.poll() is not None:
                raise SystemExit("order-service exited during the shards scenario")
            time.sleep(0.5)
        seconds = float(psql(url, "SELECT extract(epoch FROM max(updated_at)) FROM subscriptions "
                                  "WHERE split_part(name, '#', 1) = 'kafka-publisher'")) - start
        # Before the service stops: its backends go with it.
        service_cpu = sum(cpu_seconds([service.process.pid]).values()) - sum(
            before_service.values())
        postgres, kafka = stack_pids(url)
        after_pg, after_kafka = cpu_seconds(postgres), cpu_seconds(kafka)
    finally:
        service.stop()
        delete_topics({service.topic})
    pg_cpu = cpu_seconds_between(before_pg, after_pg)
    java_cpu = cpu_seconds_between(before_kafka, after_kafka)
    return {"seconds": seconds, "per_second": events / seconds,
            "cpu_service_s": service_cpu, "cpu_postgres_s": pg_cpu, "cpu_kafka_s": java_cpu}


def publisher_histograms(service):
    """The service's order_publication_wait_seconds and order_publication_read_seconds
    histograms, as {"wait": ..., "read": ...}, each {upper bound: cumulative count}, +Inf
    included, from one read of its /metrics."""
    with urllib.request.urlopen(service.url("/metrics"), timeout=5) as response:
        text = response.read().decode()
    return {kind: {float(le): int(float(n)) for le, n in re.findall(
        rf'^order_publication_{kind}_seconds_bucket\{{le="([^"]+)"\}} (\S+)$', text, re.MULTILINE)}
        for kind in ("wait", "read")}


def slow_between(before, after):
    """The observations of one publisher histogram between two snapshots: how many, and how many
    took longer than 50, 100 and 250 ms."""
    count = after[float("inf")] - before[float("inf")]
    return {"batches": count,
            **{f"over_{int(bound * 1000)}ms": count - (after[bound] - before[bound])
               for bound in (0.05, 0.1, 0.25)}}


def led_publisher_shards(service):
    try:
        with urllib.request.urlopen(service.url("/metrics"), timeout=2) as response:
            text = response.read().decode()
    except OSError:
        return None
    return {int(m) for m in re.findall(
        r'order_subscription_shard_leader\{subscription="publisher",shard="(\d+)",[^}]*\} 1',
        text)}


def handover(args, server, shards, rounds=3):
    """Seconds from a kill -9 of the instance leading the most publication shards (of two) until
    the other leads them all; the median of `rounds`."""
    times = []
    for round_ in range(rounds):
        name = "order_bench_handover"
        url = fresh_database(args, server, name)
        services = [Service(args, url, f"handover-{shards}-{round_}-{i}",
                            SUBSCRIPTION_SHARDS=str(shards), INSTANCE_ID=f"bench-{i}")
                    for i in range(2)]
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                views = [led_publisher_shards(s) or set() for s in services]
                if set().union(*views) == set(range(shards)):
                    break
                time.sleep(0.1)
            time.sleep(1)
            views = [led_publisher_shards(s) or set() for s in services]
            victim = max(range(2), key=lambda i: len(views[i]))
            survivor = services[1 - victim]
            services[victim].process.kill()
            killed_at = time.monotonic()
            while time.monotonic() - killed_at < 60:
                if led_publisher_shards(survivor) == set(range(shards)):
                    break
                time.sleep(0.02)
            times.append(time.monotonic() - killed_at)
            services[victim].process.wait()
        finally:
            for s in services:
                if s.process.poll() is None:
                    s.stop()
                else:
                    s.log.close()
                    os.unlink(s.log.name)
            drop_database(server, name)
    times.sort()
    return times[len(times) // 2]


def shards_scenario(args, url, events):
    one = shard_drain(args, url, events, 1)
    four = shard_drain(args, url, events, 4)
    server = os.environ["DB_URL"]
    handover_one = handover(args, server, 1)
    handover_six = handover(args, server, 6)
    split = lambda r: (f"service {r['cpu_service_s']:.1f} s, PostgreSQL {r['cpu_postgres_s']:.1f} s, "
                       f"Kafka {r['cpu_kafka_s']:.1f} s")
    return {
        "scenario": "shards",
        "measured": f"one instance, SUBSCRIPTION_SHARDS=4, drains {events:,} events to Kafka",
        "unit": "events/s",
        "per_second": four["per_second"],
        "seconds": four["seconds"],
        "baseline": f"the same with SUBSCRIPTION_SHARDS=1",
        "baseline_per_second": one["per_second"],
        "baseline_seconds": one["seconds"],
        "ratio": one["seconds"] / four["seconds"],
        "target": "recorded (2 cores bound the gain); handover after kill -9 < 5 s",
        "met": handover_one < 5 and handover_six < 5,
        "cpu_split_1_shard": split(one),
        "cpu_split_4_shards": split(four),
        "handover_1_shard_ms": handover_one * 1000,
        "handover_6_shards_ms": handover_six * 1000,
    }


def size_label(events):
    """10000000 -> "10M", 100000 -> "100k": the report's file name for a run that is not at the
    default size, so a 10,000,000 run does not overwrite the 1,000,000 one of the same day."""
    if events % 1_000_000 == 0:
        return f"{events // 1_000_000}M"
    if events % 1000 == 0:
        return f"{events // 1000}k"
    return str(events)


def newest_report(folders, events):
    """The newest report JSON in `folders` of a run over `events` events, or None."""
    found = []
    for folder in folders:
        for name in os.listdir(folder) if os.path.isdir(folder) else ():
            path = os.path.join(folder, name)
            if not name.endswith(".json"):
                continue
            try:
                with open(path) as f:
                    if json.load(f).get("events") == events:
                        found.append((os.path.getmtime(path), path))
            except (OSError, ValueError):
                continue
    return max(found)[1] if found else None


def size_row(results, events, log, path):
    """The cost curve: this run's ingest, read and rebuild beside another run's at a different N
    (`path`, its JSON). Throughput should not fall as the log grows (within 10%), and a rebuild's
    time should grow linearly, i.e. its events/s hold (within 10%)."""
    with open(path) as f:
        other = json.load(f)
    if other["events"] == events:
        print(f"--compare {path}: the same {events:,} events as this run; no size row")
        return None
    here = {r["scenario"]: r for r in results}
    there = {r["scenario"]: r for r in other["results"]}
    bigger = events > other["events"]
    compared = []
    for scenario in ("ingest", "read", "rebuild"):
        if "per_second" in here.get(scenario, {}) and "per_second" in there.get(scenario, {}):
            mine, theirs = here[scenario]["per_second"], there[scenario]["per_second"]
            # The larger log's rate over the smaller's: what growing the log costs.
            compared.append((scenario, mine, theirs, mine / theirs if bigger else theirs / mine,
                             here[scenario]["unit"]))
    if not compared:
        print(f"--compare {path}: no ingest, read or rebuild in both runs; no size row")
        return None
    name = os.path.basename(path)
    large, small = (events, other["events"]) if bigger else (other["events"], events)
    disk_there = other.get("log", {}).get("disk_bytes_per_event")
    lines = [f"{scenario}: {mine:,.0f} {unit} at {events:,} events, {theirs:,.0f} at "
             f"{other['events']:,} ({name}): {ratio:.2f}x at {large:,} of the rate at {small:,}"
             for scenario, mine, theirs, ratio, unit in compared]
    lines.append(f"disk per event: {log['disk_bytes_per_event']:,.0f} bytes at {events:,} events, "
                 + (f"{disk_there:,.0f} at {other['events']:,}" if disk_there else
                    f"not recorded at {other['events']:,}"))
    if "log" not in other:
        lines.append(f"{name} predates the preloaded log: its ingest and read ran on an empty "
                     f"database, so they compare an empty log with this one")
    return {
        "scenario": "size",
        "measured": " / ".join(c[0] for c in compared) + f" at {events:,} events",
        "rates": " / ".join(f"{c[1]:,.0f}" for c in compared),
        "baseline": f"the same at {other['events']:,} events ({name})",
        "baseline_rates": " / ".join(f"{c[2]:,.0f}" for c in compared),
        "ratios": " / ".join(f"{c[3]:.2f}x" for c in compared) + f" ({large:,} vs {small:,})",
        "target": "at the larger log: ingest and read >= 0.9x the throughput, rebuild >= 0.9x "
                  "the events/s (time linear in N); disk per event reported",
        "met": all(c[3] >= 0.9 for c in compared),
        "compared_with": path,
        "compared_events": other["events"],
        "ratios_larger_over_smaller": {c[0]: c[3] for c in compared},
        "disk_bytes_per_event": log["disk_bytes_per_event"],
        "compared_disk_bytes_per_event": disk_there,
        "lines": lines,
    }


# ingest also runs record-to-kafka, read and memory.
SCENARIOS = ("publication", "rebuild", "ingest", "shards")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--service", required=True)
    parser.add_argument("--admin", required=True)
    parser.add_argument("--events", type=int, default=1_000_000,
                        help="the log loaded by COPY before every scenario: the backlog of "
                             "publication, rebuild and shards, and the history ingest and read "
                             "run on")
    parser.add_argument("--seconds", type=int, default=20,
                        help="how long each side of the ingest and read scenarios runs")
    parser.add_argument("--only", choices=SCENARIOS, action="append",
                        help="run only these scenarios (repeatable); default: all")
    parser.add_argument("--results", default=os.path.join(ROOT, "bench", "results"))
    parser.add_argument("--compare", metavar="FILE.json",
                        help="a report of a run at another --events: adds the size row (default, "
                             "when --events is not 1,000,000: the newest such report of a "
                             "1,000,000 run in --results or bench/results)")
    parser.add_argument("--no-profile", dest="profile", action="store_false",
                        help="skip perf record over the measured side of each scenario")
    args = parser.parse_args()
    os.makedirs(args.results, exist_ok=True)
    chosen = args.only or SCENARIOS
    compare = args.compare
    if compare is None and args.events != 1_000_000:
        compare = newest_report([args.results, os.path.join(ROOT, "bench", "results")],
                                1_000_000)

    server = os.environ["DB_URL"]
    results = []
    topics_before = bench_topics()
    # The log every scenario starts from, loaded once; each scenario group works on a file copy
    # of it, so what one changes (checkpoints, read models, appended orders) no other sees.
    template = "order_bench_log"
    template_url = fresh_database(args, server, template)
    print(f"loading {args.events:,} events by COPY ...", flush=True)
    load_seconds = load_backlog(template_url, args.events)
    log = {"events": args.events, "load_seconds": load_seconds,
           **disk_per_event(template_url, args.events)}
    print(f"loaded in {load_seconds:.1f} s; {log['disk_bytes_per_event']:,.0f} bytes per event "
          f"on disk", flush=True)
    try:
        if "publication" in chosen or "rebuild" in chosen or "shards" in chosen:
            name = "order_bench"
            url = copy_database(server, template, name)
            for scenario, scenario_name in ((publication, "publication"), (rebuild, "rebuild"),
                                            (shards_scenario, "shards")):
                if scenario_name in chosen:
                    print(f"running {scenario_name} ...", flush=True)
                    results.append(scenario(args, url, args.events))
            drop_database(server, name)
        if "ingest" in chosen:
            print("running ingest, record-to-kafka, read and memory ...", flush=True)
            results += ingest_read_memory(args, server, template, args.events)
    finally:
        drop_database(server, template)
        # Any left by a scenario that stopped half-way.
        delete_topics(bench_topics() - topics_before)
    if compare and (row := size_row(results, args.events, log, compare)):
        results.append(row)

    today = datetime.date.today().isoformat()
    stem = today if args.events == 1_000_000 else f"{today}-{size_label(args.events)}"
    machine = f"{os.cpu_count()} CPUs, {os.uname().release}, {broker_grouping()}"
    lines = [f"# Benchmarks, {today}", "",
             f"Log of {args.events:,} events loaded by COPY in {load_seconds:.1f} s, "
             f"{log['disk_bytes_per_event']:,.0f} bytes per event on disk (events and streams, "
             f"indexes included); every scenario starts from a copy of it. Ingest and read run "
             f"on it with every subscription's checkpoint set to its last event (the preloaded "
             f"orders are not published or projected again; the read models hold only the new "
             f"orders), {args.seconds} s per side; {machine}.", "",
             *table(results), "", *details(results), "",
             *profiles(results), "",
             f"![throughput and latency]({stem}.png)"]
    report = "\n".join(lines) + "\n"
    with open(os.path.join(args.results, f"{stem}.md"), "w") as f:
        f.write(report)
    with open(os.path.join(args.results, f"{stem}.json"), "w") as f:
        json.dump({"date": today, "events": args.events, "machine": machine, "log": log,
                   "results": results}, f, indent=2)
    chart(results, os.path.join(args.results, f"{stem}.png"))
    print()
    print(report)
    return 0 if all(r["met"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
