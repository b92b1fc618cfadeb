#!/bin/sh
# Runs one libFuzzer target for a bounded time: tests/fuzz/run.sh NAME BUILD_DIR SECONDS.
# New inputs go to BUILD_DIR/corpus/NAME, never into the committed seeds; a crash, leak, timeout
# or memory blow-up fails with the fuzzer's report and the reproducer under BUILD_DIR/artifacts.
set -u
name=$1 dir=$2 secs=$3
seeds=tests/fuzz/corpus/$name
mkdir -p "$dir/corpus/$name" "$dir/artifacts"
log=$dir/fuzz_$name.log
start=$(date +%s)
if ASAN_OPTIONS=detect_leaks=1:strict_string_checks=1 UBSAN_OPTIONS=print_stacktrace=1 \
    "$dir/fuzz_$name" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=16384 \
    -dict=tests/fuzz/fuzz.dict -artifact_prefix="$dir/artifacts/$name-" -print_final_stats=1 \
    "$dir/corpus/$name" "$seeds" >"$log" 2>&1
then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
    echo "fuzz_$name: ok, $runs runs in $(($(date +%s) - start)) s, $cov"
else
    tail -60 "$log"
    echo "fuzz_$name: FAILED (log $log)"
    exit 1
fi
