"""order-admin refuses a bad argument with one line on stderr that names it, and exit status 2,
before it touches the database."""
import subprocess
import unittest

import harness

CASES = [
    (["history", "abc"], "abc"),
    (["history", "0"], "0"),
    (["history", "-5"], "-5"),
    (["history", "12x"], "12x"),
    (["history", "1", "2"], "2"),
    (["history", "--user"], "--user"),
    (["history", "--user", "bob"], "bob"),
    (["history", "--jsn", "1"], "--jsn"),
    (["history"], "ORDER-ID"),
    (["history", "1", "--user", "2"], "--user"),
    (["rebuild"], "orders"),
    (["rebuild", "customers"], "customers"),
    (["rebuild", "orders", "now"], "now"),
    (["verify", "everything"], "everything"),
    (["migrate", "down"], "down"),
    (["frobnicate"], "frobnicate"),
    (["history", "1", "--db-url"], "--db-url"),
    (["status", "now"], "now"),
    (["reshard"], "subscription"),
    (["reshard", "kafka-publisher"], "subscription"),
    (["reshard", "customers", "2"], "customers"),
    (["reshard", "kafka-publisher", "0"], "0"),
    (["reshard", "kafka-publisher", "65"], "64"),
    (["reshard", "kafka-publisher", "two"], "two"),
    (["reshard", "orders-projector", "2", "--wait", "soon"], "soon"),
]


class AdminArguments(unittest.TestCase):
    def test_every_bad_argument_is_one_line_naming_it_and_exit_2(self):
        # A database nobody listens on: an argument error must come before any connection.
        for args, named in CASES:
            with self.subTest(args=args):
                result = subprocess.run([harness.ARGS.admin, *args, "--db-url",
                                         "postgresql://x@127.0.0.1:1/x"] if args[-1] != "--db-url"
                                        else [harness.ARGS.admin, *args],
                                        capture_output=True, text=True, timeout=10)
                self.assertEqual(2, result.returncode, result)
                lines = result.stderr.splitlines()
                self.assertEqual(1, len(lines), result.stderr)
                self.assertIn(named, lines[0])
                self.assertTrue(lines[0].startswith("order-admin: "), lines[0])
                self.assertEqual("", result.stdout)

    def test_a_good_argument_still_reaches_the_database(self):
        result = subprocess.run([harness.ARGS.admin, "history", "1", "--db-url",
                                 "postgresql://x@127.0.0.1:1/x"],
                                capture_output=True, text=True, timeout=30)
        self.assertEqual(1, result.returncode, result)


if __name__ == "__main__":
    harness.run(__name__)
