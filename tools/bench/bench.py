"""The benchmark scenarios, each measured beside its baseline in the same run on the same
PostgreSQL and Kafka (tools/bench/bench.sh starts them), reported as ratios.

  publication  order-service drains a backlog of N events to a fresh topic on the real broker;
               baseline: the same N envelopes produced from a file by kcat -P (idempotent, acks=all)
  rebuild      order-admin rebuild orders over the N events; baseline: COPY events to /dev/null

Writes bench/results/<date>.md and .json and prints the table."""
import argparse
import datetime
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
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


def load_backlog(url, events, chunk=100_000):
    """N order.created events of N orders with the seed's items, in transactions of `chunk`."""
    for first in range(1, events + 1, chunk):
        last = min(events, first + chunk - 1)
        psql(url, f"""
            INSERT INTO streams SELECT g, 1 FROM generate_series({first}, {last}) g;
            INSERT INTO events (stream_id, stream_version, event_type, data, metadata)
            SELECT g, 1, 'order.created',
                   jsonb_build_object('orderid', g, 'userid', 1 + g % 1000, 'totalamount', '13.48',
                     'status', 'pending', 'items', jsonb_build_array(
                       jsonb_build_object('product_id', 1001, 'quantity', 2, 'price', 4.99),
                       jsonb_build_object('product_id', 1002, 'quantity', 1, 'price', 3.5))),
                   jsonb_build_object('request_id', 'bench-' || g, 'correlation_id', 'bench-' || g)
            FROM generate_series({first}, {last}) g""")
    psql(url, f"SELECT setval('order_ids', {events})")
    psql(url, "VACUUM ANALYZE events")


def publication(args, url, events):
    brokers = os.environ["KAFKA_BROKERS"]
    stamp = str(int(time.time()))
    # Baseline: the same envelopes, key and value, from a file through kcat -P.
    with tempfile.NamedTemporaryFile("w", suffix=".envelopes", delete=False) as f:
        path = f.name
    with open(path, "w") as out:
        subprocess.run(["psql", url, "-XAtq", "-c", """
            COPY (SELECT stream_id || E'\\t' || json_build_object('id', event_id, 'type', event_type,
                    'version', '1.0', 'timestamp', to_char(recorded_at AT TIME ZONE 'UTC',
                    'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), 'data', data)::text
                  FROM events ORDER BY global_position) TO STDOUT"""],
                       check=True, stdout=out)
    baseline_topic = f"bench-kcat-{stamp}"
    subprocess.run(["kcat", "-b", brokers, "-L", "-t", baseline_topic], capture_output=True)
    time.sleep(1)
    baseline_seconds, _ = timed(
        ["kcat", "-P", "-b", brokers, "-t", baseline_topic, "-K", "\t", "-X",
         "enable.idempotence=true", "-X", "linger.ms=5", "-X", "batch.num.messages=10000",
         "-X", "queue.buffering.max.messages=1000000", "-l", path])
    os.unlink(path)

    # Measured: the service's publisher draining the whole log to a fresh topic. Its projector
    # runs too, as it does in production.
    last = psql(url, "SELECT transaction_id, global_position FROM events "
                     "ORDER BY transaction_id DESC, global_position DESC LIMIT 1").split("|")
    topic = f"bench-publish-{stamp}"
    subprocess.run(["kcat", "-b", brokers, "-L", "-t", topic], capture_output=True)
    time.sleep(1)
    env = dict(os.environ, ORDER_TOPIC=topic, DB_URL=url, PORT=str(free_port()))
    log = open(os.path.join(args.results, "bench-service.log.tmp"), "w")
    start = time.monotonic()
    service = subprocess.Popen([args.service], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        while True:
            done = psql(url, f"SELECT count(*) FROM subscriptions WHERE name = 'kafka-publisher' "
                             f"AND (transaction_id, global_position) >= "
                             f"('{last[0]}'::xid8, {last[1]})")
            if done == "1":
                break
            if service.poll() is not None:
                raise SystemExit("order-service exited during the publication scenario")
            time.sleep(0.2)
        seconds = time.monotonic() - start
        rss = int(open(f"/proc/{service.pid}/status").read().split("VmRSS:")[1].split()[0]) / 1024
        latency = publication_latency(url, env, topic, brokers, events)
    finally:
        service.terminate()
        service.wait(timeout=30)
    return {
        "scenario": "publication",
        "measured": f"order-service drains {events:,} events to Kafka",
        "events_per_second": events / seconds,
        "seconds": seconds,
        "baseline": f"kcat -P of the same {events:,} envelopes",
        "baseline_events_per_second": events / baseline_seconds,
        "baseline_seconds": baseline_seconds,
        "ratio": baseline_seconds / seconds,
        "target": ">= 0.5x the baseline and >= 50,000 events/s",
        "met": baseline_seconds / seconds >= 0.5 and events / seconds >= 50_000,
        "service_rss_mb_after": rss,
        **latency,
    }


def publication_latency(url, env, topic, brokers, backlog, clients=8, seconds=10):
    """With the backlog drained: clients place orders through the API for `seconds`; for each
    new order, the time from its event's recording (the appending transaction) to its message's
    Kafka timestamp (set when the publisher produces it; the broker's ack follows within ms)."""
    import http.client
    import threading
    port = int(env["PORT"])
    body = json.dumps({"user_id": 101, "args": [{"product_id": 1001, "quantity": 2, "price": 4.99},
                                                {"product_id": 1002, "quantity": 1, "price": 3.5}]})
    placed = []
    stop = time.monotonic() + seconds

    def client():
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        while time.monotonic() < stop:
            connection.request("POST", "/orders", body, {"Content-Type": "application/json"})
            response = connection.getresponse()
            response.read()
            if response.status == 201:
                placed.append(1)
        connection.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    time.sleep(3)  # let the last events reach the topic
    out = subprocess.run(["kcat", "-C", "-b", brokers, "-t", topic, "-o", f"-{len(placed) + 10}",
                          "-e", "-q", "-f", "%T\t%s\n"], capture_output=True, text=True,
                         check=True).stdout
    latencies = []
    for line in out.splitlines():
        stamp, _, value = line.partition("\t")
        envelope = json.loads(value)
        if envelope["data"]["orderid"] <= backlog:
            continue
        recorded = datetime.datetime.strptime(envelope["timestamp"], "%Y-%m-%dT%H:%M:%S.%fZ")
        recorded = recorded.replace(tzinfo=datetime.timezone.utc).timestamp()
        latencies.append(int(stamp) / 1000.0 - recorded)
    latencies.sort()

    def percentile(p):
        return 1000 * latencies[min(len(latencies) - 1, int(p * len(latencies)))] if latencies else 0

    return {"load_orders_per_second": len(placed) / seconds,
            "latency_orders_measured": len(latencies),
            "record_to_kafka_p50_ms": percentile(0.50),
            "record_to_kafka_p99_ms": percentile(0.99)}


def rebuild(args, url, events):
    baseline_seconds, _ = timed(["psql", url, "-XAtq", "-c", "COPY events TO STDOUT"],
                                stdout=subprocess.DEVNULL)
    seconds, peak = timed([args.admin, "rebuild", "orders", "--db-url", url],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return {
        "scenario": "rebuild",
        "measured": f"order-admin rebuild orders over {events:,} events",
        "events_per_second": events / seconds,
        "seconds": seconds,
        "baseline": "COPY events TO /dev/null",
        "baseline_events_per_second": events / baseline_seconds,
        "baseline_seconds": baseline_seconds,
        "ratio": baseline_seconds / seconds,
        "target": "time <= 3x the baseline, >= 200,000 events/s, peak RSS <= 200 MB",
        "met": seconds <= 3 * baseline_seconds and events / seconds >= 200_000 and peak <= 200,
        "peak_rss_mb": peak,
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--service", required=True)
    parser.add_argument("--admin", required=True)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--results", default=os.path.join(ROOT, "bench", "results"))
    args = parser.parse_args()
    os.makedirs(args.results, exist_ok=True)

    server = os.environ["DB_URL"]
    admin = with_database(server, "postgres")
    name = "order_bench"
    psql(admin, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    psql(admin, f"CREATE DATABASE {name}")
    url = with_database(server, name)
    subprocess.run([args.admin, "migrate", "--db-url", url], check=True, capture_output=True)
    print(f"loading {args.events:,} events ...", flush=True)
    start = time.monotonic()
    load_backlog(url, args.events)
    print(f"loaded in {time.monotonic() - start:.1f} s", flush=True)

    results = []
    for scenario in (publication, rebuild):
        print(f"running {scenario.__name__} ...", flush=True)
        results.append(scenario(args, url, args.events))
    psql(admin, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    today = datetime.date.today().isoformat()
    machine = f"{os.cpu_count()} CPUs, {os.uname().release}"
    lines = [f"# Benchmarks, {today}", "", f"{args.events:,} events; {machine}.", "",
             "| scenario | measured | events/s | baseline | events/s | ratio | target | met |",
             "|---|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r['scenario']} | {r['measured']} ({r['seconds']:.1f} s) | "
                     f"{r['events_per_second']:,.0f} | {r['baseline']} ({r['baseline_seconds']:.1f} s) | "
                     f"{r['baseline_events_per_second']:,.0f} | {r['ratio']:.2f}x | {r['target']} | "
                     f"{'yes' if r['met'] else 'NO'} |")
    extra = [f"- {r['scenario']}: " + ", ".join(
        f"{k} {v:.1f}" for k, v in r.items()
        if isinstance(v, float) and ("_mb" in k or "_ms" in k or k.startswith("load_")))
             for r in results]
    lines += ["", "Memory and latency:", *extra, "",
              "Not measured yet: ingest (wrk against pgbench), read, idle and loaded service "
              "memory."]
    report = "\n".join(lines) + "\n"
    with open(os.path.join(args.results, f"{today}.md"), "w") as f:
        f.write(report)
    with open(os.path.join(args.results, f"{today}.json"), "w") as f:
        json.dump({"date": today, "events": args.events, "machine": machine, "results": results},
                  f, indent=2)
    print()
    print(report)
    return 0 if all(r["met"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
