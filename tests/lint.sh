#!/usr/bin/env bash
# The sources' checks, run by ctest (label lint): every C++ file formatted as .clang-format says,
# and the product's sources clean under .clang-tidy's checks, against the build's compile
# commands. Exits non-zero on any finding and prints it.
# usage: tests/lint.sh format|tidy BUILD-DIR
set -euo pipefail
if [[ "${1:-}" == "--help" || $# -ne 2 ]]; then
  echo "usage: tests/lint.sh format|tidy BUILD-DIR"
  [[ "${1:-}" == "--help" ]] && exit 0 || exit 2
fi
cd "$(dirname "$0")/.."
build=$2
folders=(domain commands projections adapters tools)

case "$1" in
  format)
    # Every C++ file of the repository, tests included.
    mapfile -t files < <(find "${folders[@]}" tests -name '*.cpp' -o -name '*.hpp' | sort)
    echo "clang-format: ${#files[@]} files"
    clang-format --dry-run --Werror "${files[@]}"
    ;;
  tidy)
    # The product's translation units (tests are held to the compiler's warnings), as the build
    # compiles them; generated sources in the build tree are not ours to tidy.
    regex="^$PWD/($(IFS='|'; echo "${folders[*]}"))/.*\\.cpp\$"
    echo "clang-tidy: the product's sources in $build/compile_commands.json"
    # librdkafka's RD_KAFKA_V_* macros are GNU statement expressions, which -Wpedantic -Werror
    # (our compile flags, as clang sees them) would turn into errors.
    run-clang-tidy -p "$build" -j "$(nproc)" -quiet -extra-arg=-Wno-gnu-statement-expression \
      "$regex" >"$build/clang-tidy.log" 2>&1 || status=$?
    sed 's/\x1b\[[0-9;]*m//g' "$build/clang-tidy.log" | grep -E "(warning|error): " | sort -u || true
    if [[ ${status:-0} -ne 0 ]]; then
      echo "clang-tidy found the above (full output: $build/clang-tidy.log)"
      exit 1
    fi
    echo "clang-tidy: no finding"
    ;;
  *) echo "usage: tests/lint.sh format|tidy BUILD-DIR" >&2; exit 2 ;;
esac
