#!/usr/bin/env bash
# Runs one libFuzzer harness for a bounded time over the corpus kept in the repository (read, not
# written: what it finds new goes to a scratch folder). Exits non-zero on a crash, a leak, a
# sanitizer report or a timeout, leaving the input as crash-*/leak-*/timeout-* in the build tree.
# CORPUS.dict beside the corpus, where there is one, names the tokens the documents are made of.
# usage: run.sh HARNESS CORPUS SECONDS
set -euo pipefail
harness=$1 corpus=$2 seconds=$3
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
dictionary=()
[[ -f ${corpus%/}.dict ]] && dictionary=(-dict="${corpus%/}.dict")
# The harness's status is the test's: the filter never fails the pipeline (pipefail), so a
# non-zero status can only be the harness's. (`filter || true` after the pipeline would have
# replaced it with true's 0, and a crash passed.)
status=0
"$harness" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
  "${dictionary[@]}" \
  -artifact_prefix="$(dirname "$harness")/" "$scratch" "$corpus" 2>&1 |
  { grep -E "^(#[0-9]+ +DONE|stat::number_of_executed_units|stat::new_units_added|==[0-9]+==|SUMMARY|INFO: (Seed|Loaded))" || true; } ||
  status=$?
exit "$status"
