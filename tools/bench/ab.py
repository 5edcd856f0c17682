"""What the interleaved before-and-after scripts (ab_drain.py, ab_ingest.py, ab_read.py) share:
their command line's common part, the check that the dev stack's environment is there, and the
order of their runs (each binary once per round, so that a machine that drifts between runs moves
every binary alike)."""
import argparse
import os

import bench


def parser(doc, runs):
    """The binaries to compare and how many runs of each; `doc` is the script's docstring."""
    made = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    made.add_argument("binaries", nargs="+", metavar="BINARY")
    made.add_argument("--runs", type=int, default=runs, help="runs of each binary, interleaved")
    return made


def add_load(made, seconds):
    """--connections and --seconds, for a script that loads the service with wrk."""
    made.add_argument("--connections", type=int, default=bench.CONNECTIONS,
                      help="wrk connections (at least 2: wrk runs two threads)")
    made.add_argument("--seconds", type=int, default=seconds)


def parse(made):
    """The arguments, once the dev stack's environment is set; wrk's connections as asked."""
    args = made.parse_args()
    if getattr(args, "connections", 2) < 2:
        made.error("--connections must be at least 2")
    for variable in ("DB_URL", "KAFKA_BROKERS"):
        if variable not in os.environ:
            made.error(f"{variable} is not set: eval \"$(tools/stack/stack.sh env)\"")
    if hasattr(args, "connections"):
        bench.CONNECTIONS = args.connections  # wrk's connection count in bench.wrk
    return args


def cpu(pid, url):
    """CPU seconds so far: the process `pid`'s, and PostgreSQL's by process (the dev stack's, as
    bench.cpu_seconds gives them, for bench.cpu_seconds_between)."""
    return (sum(bench.cpu_seconds([pid]).values()),
            bench.cpu_seconds(bench.stack_pids(url)[0]))


def interleaved(binaries, runs, one_run):
    """Prints one_run(binary, label) for each binary once per round, `runs` rounds."""
    for index, binary in enumerate(binaries):
        print(f"b{index}: {binary}")
    for run in range(1, runs + 1):
        for index, binary in enumerate(binaries):
            print(one_run(binary, f"b{index}r{run}"), flush=True)
