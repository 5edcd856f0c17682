#!/usr/bin/env bash
# Runs the whole test suite, as CI does: installs the packages, builds twice (plain, and with
# AddressSanitizer + UndefinedBehaviorSanitizer), starts the dev stack (PostgreSQL 15 and
# Kafka 3.9), runs every ctest test in both builds, and stops the stack again.
set -euo pipefail

if [[ "${1:-}" == "--help" ]]; then
  cat <<'USAGE'
usage: tools/test.sh [--no-asan]
  Unit, integration and end-to-end tests through ctest, in a plain build (build/) and in an
  ASan+UBSan build (build-asan/), the sources' format and clang-tidy checks (in build/), and the
  libFuzzer harnesses for a bounded time (build-fuzz/).
  Starts and stops its own PostgreSQL and Kafka (tools/stack).
USAGE
  exit 0
fi
asan=1
[[ "${1:-}" == "--no-asan" ]] && asan=0

cd "$(dirname "$0")/.."
source tools/prepare.sh
build_release test
if [[ $asan == 1 ]]; then
  echo "== building build-asan/ (AddressSanitizer + UndefinedBehaviorSanitizer)"
  cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DORDER_SANITIZE=ON >/dev/null
  cmake --build build-asan
fi
echo "== building build-fuzz/ (libFuzzer harnesses of tests/fuzz, clang, ASan + UBSan)"
cmake -S . -B build-fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DORDER_FUZZ=ON >/dev/null
cmake --build build-fuzz
echo "== fuzzing the decoders (ctest in build-fuzz/)"
ctest --test-dir build-fuzz --output-on-failure

stack_up_until_exit

echo "== ctest in build/"
ctest --test-dir build --output-on-failure
if [[ $asan == 1 ]]; then
  echo "== ctest in build-asan/"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp:print_suppressions=0" \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build-asan --output-on-failure -LE lint
fi
