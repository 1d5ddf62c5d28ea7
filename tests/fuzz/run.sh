#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan + UBSan) and runs each, one per core at a time, for the given
# number of seconds (default 60), starting from its seed corpus in
# tests/fuzz/corpus/<target>/. New inputs go to build-fuzz/corpus/<target>/, never
# into the seeds; an input that fails a target is saved as build-fuzz/<target>-crash-*
# and makes this script fail.
#   tests/fuzz/run.sh [seconds] [target...]
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(fuzz_story fuzz_config fuzz_search fuzz_claim)
if [ ! -f build-fuzz/CMakeCache.txt ]; then
  cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DTRACKER_FUZZ=ON -DTRACKER_TESTS=OFF -DTRACKER_WERROR=OFF > build-fuzz.cmake.log 2>&1 || { cat build-fuzz.cmake.log; exit 1; }
fi
cmake --build build-fuzz -j "$(nproc 2>/dev/null || echo 2)" --target "${targets[@]}"
# The targets run side by side, one per core: the same time each, in less wall time.
jobs=$(nproc 2>/dev/null || echo 2)
run_target() {
  local t=$1
  mkdir -p "build-fuzz/corpus/$t"
  build-fuzz/tests/fuzz/$t -max_total_time="$seconds" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="build-fuzz/$t-" "build-fuzz/corpus/$t" "tests/fuzz/corpus/$t" \
    > "build-fuzz/$t.log" 2>&1
}
for t in "${targets[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
  echo "== $t for ${seconds}s"
  rm -f "build-fuzz/$t.status"
  (if run_target "$t"; then echo 0; else echo 1; fi > "build-fuzz/$t.status") &
done
wait
status=0
for t in "${targets[@]}"; do
  if [ "$(cat "build-fuzz/$t.status" 2>/dev/null)" != 0 ]; then
    echo "== $t failed:"
    tail -40 "build-fuzz/$t.log"
    status=1
  fi
  grep -E '^(#[0-9]+ +DONE|stat::number_of_executed_units)' "build-fuzz/$t.log" || true
done
exit $status
