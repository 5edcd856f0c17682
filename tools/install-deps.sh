#!/usr/bin/env bash
# Installs the Debian bookworm packages the build, the dev stack, the tests and the benchmarks use.
# Idempotent: packages already present are left alone. Works as root or through sudo.
set -euo pipefail

# Every package the project uses, by what needs it. A fresh machine has none of these for
# certain: name each one here, with --no-install-recommends in mind (a recommended package is
# never brought along).
run_packages=(
  build-essential cmake ninja-build pkg-config git curl ca-certificates
  libpistache-dev libpqxx-dev libpq-dev librdkafka-dev
  libboost-json1.81-dev libboost1.81-dev libfmt-dev doctest-dev libssl-dev libjemalloc-dev
  postgresql-15 postgresql-client-15
  kcat maven default-jre-headless python3 time
)
# The suite: clang with its libFuzzer and sanitizer runtimes (libclang-rt-14-dev is only a
# recommendation of clang), clang-format and clang-tidy for the sources' checks, venv for the
# Python test tools installed from PyPI, the browser (headless, driven by Selenium through
# chromedriver) that tests the audit page, and Prometheus (its server scrapes the service in an
# end-to-end test; its promtool checks the /metrics text), and iptables, which cuts an instance
# of the service off from the database in an end-to-end test.
test_packages=(clang libclang-rt-14-dev clang-format clang-tidy python3-venv chromium
               chromium-driver prometheus iptables)
# The benchmarks: the HTTP load, the chart, the profiles.
bench_packages=(wrk python3-matplotlib linux-perf)

usage() {
  cat <<'USAGE'
usage: tools/install-deps.sh [--list] [run|test|bench|all]... [PACKAGE...]
  Installs what is missing of the named groups (default: test, which includes run):
    run    build the service and run the dev stack (PostgreSQL 15, Kafka 3.9)
    test   run + the suite's compilers, runtimes and tools
    bench  run + the benchmarks' load generator, chart and profiler
    all    every group
  --list  print every package of every group, one a line, and install nothing
USAGE
}

list=0
groups=()
extra=()
for arg in "$@"; do
  case "$arg" in
    --help|-h) usage; exit 0 ;;
    --list) list=1 ;;
    run|test|bench|all) groups+=("$arg") ;;
    -*) usage >&2; exit 2 ;;
    *) extra+=("$arg") ;;
  esac
done

if [[ $list == 1 ]]; then
  printf '%s\n' "${run_packages[@]}" "${test_packages[@]}" "${bench_packages[@]}"
  exit 0
fi

[[ ${#groups[@]} -gt 0 || ${#extra[@]} -gt 0 ]] || groups=(test)
packages=()
for group in "${groups[@]}"; do
  case "$group" in
    run) packages+=("${run_packages[@]}") ;;
    test) packages+=("${run_packages[@]}" "${test_packages[@]}") ;;
    bench) packages+=("${run_packages[@]}" "${bench_packages[@]}") ;;
    all) packages+=("${run_packages[@]}" "${test_packages[@]}" "${bench_packages[@]}") ;;
  esac
done
packages+=(${extra[@]+"${extra[@]}"})

missing=()
for p in $(printf '%s\n' "${packages[@]}" | sort -u); do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-deps: all ${#packages[@]} packages present"
else
  sudo=""
  if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get -o DPkg::Lock::Timeout=600 update -qq
  $sudo apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  echo "install-deps: done"
fi

# The suite also builds the seed's Kafka consumer in Go 1.23 or newer, which bookworm does not
# package: the machine's own Go, or one from the Go module proxy (tools/go-toolchain.sh).
for group in "${groups[@]}"; do
  if [[ $group == test || $group == all ]]; then
    echo "install-deps: Go for the seed's consumer: $("$(dirname "$0")/go-toolchain.sh")"
    break
  fi
done
