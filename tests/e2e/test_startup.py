"""Starting and stopping the real binaries: configuration from the seed's names and .env, one
clear line for a missing or unreachable database, migrations applied exactly once, SIGTERM."""
import json
import os
import subprocess
import tempfile
import time
import unittest

import harness


def run(args, env=None, cwd=None, timeout=15):
    started = time.monotonic()
    result = subprocess.run(args, capture_output=True, text=True, env=env, cwd=cwd,
                            timeout=timeout)
    return result, time.monotonic() - started


class Startup(unittest.TestCase):
    def test_no_database_configured_is_one_clear_line(self):
        with tempfile.TemporaryDirectory() as empty:
            result, seconds = run([harness.ARGS.service], env={"PATH": os.environ["PATH"]},
                                  cwd=empty)
        self.assertNotEqual(result.returncode, 0)
        self.assertLess(seconds, 5)
        lines = result.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, result.stderr)
        self.assertIn("DB_URL", lines[0])

    def test_an_unreachable_database_is_one_line_with_the_password_masked(self):
        result, seconds = run([harness.ARGS.service, "--db-url",
                               "postgresql://someone:secret@127.0.0.1:1/nothing"])
        self.assertNotEqual(result.returncode, 0)
        self.assertLess(seconds, 10)
        lines = result.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, result.stderr)
        self.assertIn("127.0.0.1:1", lines[0])
        self.assertNotIn("secret", result.stderr)

    def test_help_exits_zero(self):
        result, _ = run([harness.ARGS.service, "--help"])
        self.assertEqual(result.returncode, 0)
        self.assertIn("DB_URL", result.stdout)

    def test_the_seed_env_file_is_honoured(self):
        db = harness.FreshDatabase()
        try:
            port = harness.free_port()
            with tempfile.TemporaryDirectory() as folder:
                with open(os.path.join(folder, ".env"), "w") as env_file:
                    env_file.write(f"DB_URL={db.url}\nORDER_TOPIC=e2e-{db.name}\nPort={port}\n")
                environment = {"PATH": os.environ["PATH"]}
                if "KAFKA_BROKERS" in os.environ:
                    environment["KAFKA_BROKERS"] = os.environ["KAFKA_BROKERS"]
                process = subprocess.Popen([harness.ARGS.service], cwd=folder, env=environment,
                                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                try:
                    client = harness.Client(port)
                    deadline = time.time() + 20
                    while True:
                        try:
                            status = client.request("GET", "/healthz").status
                            break
                        except OSError:
                            if time.time() > deadline:
                                raise
                            time.sleep(0.2)
                    self.assertEqual(status, 200)
                finally:
                    process.terminate()
                    self.assertEqual(process.wait(timeout=10), 0)
        finally:
            db.drop()

    def test_migrate_twice_applies_each_migration_once(self):
        db = harness.FreshDatabase()
        try:
            first, _ = run([harness.ARGS.admin, "migrate", "--db-url", db.url])
            self.assertEqual(first.returncode, 0, first.stderr)
            count = db.scalar("SELECT count(*) FROM schema_migrations")
            self.assertGreater(int(count), 0)
            second, _ = run([harness.ARGS.admin, "migrate", "--db-url", db.url])
            self.assertEqual(second.returncode, 0, second.stderr)
            self.assertIn("applied 0 migration(s)", second.stdout)
            self.assertEqual(db.scalar("SELECT count(*) FROM schema_migrations"), count)
        finally:
            db.drop()

    def test_a_rollback_onto_a_newer_schema_runs_and_says_so(self):
        db = harness.FreshDatabase()
        try:
            first, _ = run([harness.ARGS.admin, "migrate", "--db-url", db.url])
            self.assertEqual(first.returncode, 0, first.stderr)
            harness.psql(db.url, "INSERT INTO schema_migrations (version, name) "
                                 "VALUES (999, 'from_a_newer_build')")
            service = harness.Service(db.url)
            try:
                self.assertEqual(201, service.client().request("POST", "/orders",
                                                               harness.SEED_BODY).status)
            finally:
                self.assertEqual(0, service.stop())
            warnings = [json.loads(line) for line in service.output().splitlines()
                        if "migrations this build does not know" in line]
            self.assertEqual(1, len(warnings), service.output()[-2000:])
            self.assertEqual("warn", warnings[0]["level"])
            self.assertEqual("999 from_a_newer_build", warnings[0]["migrations"])
        finally:
            db.drop()


if __name__ == "__main__":
    harness.run(__name__)
