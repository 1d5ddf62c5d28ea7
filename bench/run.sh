#!/usr/bin/env bash
# Benchmarks tracker on generated boards and compares every figure with a floor
# measured in the same run on the same files.
# Usage: bench/run.sh [--sizes 10000] [--runs 7]     (TRACKER=/path/to/tracker)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
tracker=$(realpath -m "${TRACKER:-$here/../build/tracker}")
sizes=10000
runs=7
while [ $# -gt 0 ]; do
  case "$1" in
    --sizes) sizes=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    -h|--help) sed -n '2,4p' "$0"; exit 0 ;;
    *) echo "bench/run.sh: unknown option '$1'" >&2; exit 2 ;;
  esac
done
[ -x "$tracker" ] || { echo "error: no tracker binary at $tracker; run 'make' first" >&2; exit 1; }

walker=$(mktemp "${TMPDIR:-/tmp}/tracker-walk.XXXXXX")
cc -O2 -o "$walker" "$here/walk.c"

export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@example.com
export GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@example.com

# measure CMD...: sets $median to the median wall time of CMD in ms. hyperfine
# (without a shell) times it when it is installed; otherwise a bash timer does, which
# adds a few ms of fork and exec to every figure.
measure() {
  if command -v hyperfine > /dev/null; then
    local json
    json=$(mktemp)
    hyperfine -N --warmup 2 --runs "$runs" --export-json "$json" "$(printf '%q ' "$@")" > /dev/null 2>&1
    median=$(grep -m1 '"median"' "$json" | sed 's/.*: *//; s/,.*//' | awk '{ printf "%.1f", $1 * 1000 }')
    rm -f "$json"
  else
    measure_stateful "$@"
  fi
}

# measure_stateful CMD...: like measure, with a bash timer, for a CMD that keeps state
# between runs (a function, not $(...), so that the state survives).
measure_stateful() {
  local times=() start end
  for _ in $(seq "$runs"); do
    start=$(date +%s%N)
    "$@" > /dev/null 2>&1
    end=$(date +%s%N)
    times+=($(( (end - start) / 1000 )))
  done
  median=$(printf '%s\n' "${times[@]}" | sort -n | awk '{ a[NR] = $1 } END { printf "%.1f", a[int((NR + 1) / 2)] / 1000 }')
}

# Each call moves the next story: a move to the stage a story is in would do nothing.
next_move=0
tracker_move() {
  next_move=$((next_move + 1))
  "$tracker" move "${backlog_ids[$next_move]}" current
}
git_move() {
  next_move=$((next_move + 1))
  local f=${backlog_files[$next_move]}
  git mv "$f" "work/3_qa/$(basename "$f")" && git commit -qm "move $f"
}

row() { printf '| %s | %s | %s ms | %s | %s ms | %s |\n' "$1" "$2" "$3" "$4" "$5" "$(awk -v a="$3" -v b="$5" 'BEGIN { printf "%.2f", a / b }')"; }

echo "| stories | command | median | baseline | baseline median | ratio |"
echo "| --- | --- | --- | --- | --- | --- |"
for n in ${sizes//,/ }; do
  dir=$(mktemp -d "${TMPDIR:-/tmp}/tracker-bench.XXXXXX")
  trap 'rm -rf "$dir"' EXIT
  (
    cd "$dir"
    git init -q -b main
    "$tracker" init > /dev/null
    awk -v n="$n" -v seed=42 -f "$here/gen-board.awk"
    git add -A && git commit -qm "board of $n stories"
  )
  cd "$dir"
  mapfile -t backlog_files < <(ls work/1_backlog/*.md | head -$((runs * 2 + 2)))
  backlog_ids=()
  for f in "${backlog_files[@]}"; do b=$(basename "$f"); backlog_ids+=("${b%%_*}"); done

  sleep 2  # let the files age past the index's racy-timestamp window, as on a real board
  measure find work -name '*.md'; find_ms=$median
  measure "$walker" work; walk_ms=$median
  "$tracker" list > /dev/null  # build the index: the figures below are warm
  measure "$tracker" list; row "$n" "list" "$median" "find work -name '*.md'" "$find_ms"
  measure "$tracker" list --stage current; row "$n" "list --stage current" "$median" "find work -name '*.md'" "$find_ms"
  row "$n" "list --stage current" "$median" "readdir + fstatat walk (bench/walk.c)" "$walk_ms"
  measure "$tracker" --version; row "$n" "tracker --version (process start)" "$median" "find work -name '*.md'" "$find_ms"
  measure "$tracker" show $((n / 2)); row "$n" "show $((n / 2))" "$median" "find work -name '*.md'" "$find_ms"
  next_move=0
  measure_stateful tracker_move; move_ms=$median
  measure_stateful git_move  # moves the stories after the ones tracker moved
  row "$n" "move (with commit)" "$move_ms" "git mv + git commit" "$median"

  # Claim throughput: 8 processes each claim $per_worker stories, every claim a commit,
  # against one process doing git mv + git commit per story.
  per_worker=25
  start=$(date +%s%N)
  for w in 1 2 3 4 5 6 7 8; do
    ( for _ in $(seq $per_worker); do "$tracker" claim --owner "w$w" > /dev/null || exit 1; done ) &
  done
  wait
  claim_s=$(awk -v ns=$(( $(date +%s%N) - start )) 'BEGIN { print ns / 1e9 }')
  mapfile -t qa_files < <(ls work/1_backlog/*.md | head -50)
  start=$(date +%s%N)
  for f in "${qa_files[@]}"; do git mv "$f" work/4_merge/ && git commit -qm "move $f"; done
  git_s=$(awk -v ns=$(( $(date +%s%N) - start )) 'BEGIN { print ns / 1e9 }')
  awk -v n="$n" -v c=$((per_worker * 8)) -v cs="$claim_s" -v g=${#qa_files[@]} -v gs="$git_s" 'BEGIN {
    printf "| %s | claim, 8 processes (%d claims) | %.1f claims/s | git mv + git commit, 1 process | %.1f moves/s | %.2fx |\n",
           n, c, c / cs, g / gs, (c / cs) / (g / gs) }'
  cd /
  rm -rf "$dir"
  trap - EXIT
done
rm -f "$walker"
