#!/usr/bin/env bash
# Benchmarks tracker on generated boards and compares every figure with a baseline
# measured in the same run on the same files.
# Usage: bench/run.sh [--sizes 1000,10000,100000] [--runs 7] [--claims 200]   (TRACKER=/path/to/tracker)
# --claims 0 leaves out the claim throughput run (minutes at 100,000 stories).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
tracker=$(realpath -m "${TRACKER:-$here/../build/tracker}")
sizes=10000
runs=7
claims=200
while [ $# -gt 0 ]; do
  case "$1" in
    --sizes) sizes=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --claims) claims=$2; shift 2 ;;
    -h|--help) sed -n '2,5p' "$0"; exit 0 ;;
    *) echo "bench/run.sh: unknown option '$1'" >&2; exit 2 ;;
  esac
done
[ -x "$tracker" ] || { echo "error: no tracker binary at $tracker; run 'make' first" >&2; exit 1; }
[ "$runs" -ge 5 ] || { echo "bench/run.sh: --runs must be at least 5" >&2; exit 2; }
command -v rg > /dev/null || { echo "error: the search baseline needs ripgrep (rg); 'make bench' installs it" >&2; exit 1; }

tools=$(mktemp -d "${TMPDIR:-/tmp}/tracker-bench-tools.XXXXXX")
cc -O2 -o "$tools/walk" "$here/walk.c"
cc -O2 -o "$tools/measure" "$here/measure.c"
trap 'rm -rf "$tools"' EXIT

export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@example.com
export GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@example.com

# measure [measure options] -- CMD...: sets $median (ms) and $rss (MiB).
measure() {
  local out
  out=$("$tools/measure" --runs "$runs" "$@")
  median=${out% *}
  rss=$(awk -v k="${out#* }" 'BEGIN { printf "%.1f", k / 1024 }')
}

# row COMMAND MEDIAN RSS BASELINE BASELINE_MEDIAN
row() {
  printf '| %s | %s | %s ms | %s MiB | %s: %s ms | %s |\n' "$n" "$1" "$2" "$3" "$4" "$5" \
    "$(awk -v a="$2" -v b="$5" 'BEGIN { printf "%.2f", a / b }')"
}

# claim_race: 8 processes share $per_worker * 8 claims, every claim a commit; sets
# $claim_s, the seconds they took. A claim that fails fails the benchmark.
claim_race() {
  local start w pids=()
  start=$(date +%s%N)
  for w in 1 2 3 4 5 6 7 8; do
    ( for _ in $(seq "$per_worker"); do "$tracker" claim --owner "w$w" > /dev/null || exit 1; done ) &
    pids+=($!)
  done
  for w in "${pids[@]}"; do wait "$w" || { echo "bench/run.sh: a claimer failed" >&2; exit 1; }; done
  claim_s=$(awk -v ns=$(( $(date +%s%N) - start )) 'BEGIN { print ns / 1e9 }')
}

# reset_board: the board as generated again (every story back, no claims), and the
# index brought up to date before any clock starts.
reset_board() {
  git reset -q --hard "$board_commit"
  rm -rf "$state/claims"
  "$tracker" list > /dev/null
}

# median of the numbers given
median_of() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "| size | command | median | peak RSS | baseline: median | ratio |"
echo "| --- | --- | --- | --- | --- | --- |"
for n in ${sizes//,/ }; do
  dir=$(mktemp -d "${TMPDIR:-/tmp}/tracker-bench.XXXXXX")
  trap 'rm -rf "$tools" "$dir"' EXIT
  cd "$dir"
  git init -q -b main
  git config gc.auto 0  # no background gc in the middle of a measurement
  "$tracker" init > /dev/null
  awk -v n="$n" -v seed=42 -f "$here/gen-board.awk"
  git add -A && git commit -qm "board of $n stories"
  board_commit=$(git rev-parse HEAD)
  state=$(git rev-parse --git-common-dir)/tracker
  ls work/1_backlog > "$tools/all-backlog"  # (not piped into head: pipefail would see SIGPIPE)
  head -$((2 * (runs + 1))) "$tools/all-backlog" > "$tools/backlog"
  sed 's/_.*//' "$tools/backlog" | head -$((runs + 1)) > "$tools/move-ids"
  tail -n +$((runs + 2)) "$tools/backlog" | sed 's|^|work/1_backlog/|' > "$tools/git-files"
  sleep 2  # let the files age past the index's racy-timestamp window, as on a real board

  # History: the board commit adds all $n stories, the worst case for log, diff and
  # commit, which read it with one tree diff (docs/design.md, "Reading history").
  init_commit=$(git rev-parse HEAD~1)
  measure -- git log -2 --name-status; gitlog_ms=$median
  measure -- "$tracker" log --limit 2
  row "log --limit 2 (a commit adding every story)" "$median" "$rss" "\`git log -2 --name-status\`" "$gitlog_ms"
  measure -- "$tracker" diff HEAD~1..HEAD; diff_ms=$median; diff_rss=$rss
  row "diff HEAD~1..HEAD (every story created)" "$diff_ms" "$diff_rss" "\`git log -2 --name-status\`" "$gitlog_ms"
  measure -- git diff -p HEAD~1 HEAD; gitdiff_ms=$median
  row "diff HEAD~1..HEAD (every story created)" "$diff_ms" "$diff_rss" "\`git diff -p HEAD~1 HEAD\` (reads the blobs too)" "$gitdiff_ms"
  uncommit="git reset -q --soft $init_commit && git reset -q"
  measure --before "$uncommit" -- sh -c 'git add -A && git commit -qm board'; git_add_commit_ms=$median
  measure --before "$uncommit" -- "$tracker" commit
  row "commit (every story made by hand)" "$median" "$rss" "\`git log -2 --name-status\`" "$gitlog_ms"
  row "commit (every story made by hand)" "$median" "$rss" "\`git add -A\` + \`git commit\`" "$git_add_commit_ms"
  git reset -q --hard "$board_commit"

  measure -- find work -name '*.md'; find_ms=$median
  measure -- "$tools/walk" work; walk_ms=$median
  measure --warmup 0 -- find work -name '*.md' -exec cat {} +; cat_ms=$median
  measure --warmup 0 --before "rm -f $state/index.db $state/index.db-wal $state/index.db-shm" -- "$tracker" list
  row "cold index build (\`list\`, no index.db)" "$median" "$rss" "\`cat\` of every story file" "$cat_ms"
  measure -- "$tracker" list; row "list" "$median" "$rss" "\`find work -name '*.md'\`" "$find_ms"
  measure -- "$tracker" list --stage current --json
  row "list --stage current --json" "$median" "$rss" "\`find work -name '*.md'\`" "$find_ms"
  measure -- "$tracker" list --stage current
  row "list --stage current" "$median" "$rss" "\`find work -name '*.md'\`" "$find_ms"
  row "list --stage current" "$median" "$rss" "readdir + fstatat walk (bench/walk.c)" "$walk_ms"
  measure -- "$tracker" ready; row "ready" "$median" "$rss" "\`find work -name '*.md'\`" "$find_ms"
  measure -- "$tracker" show $((n / 2)); row "show $((n / 2))" "$median" "$rss" "\`find work -name '*.md'\`" "$find_ms"
  measure -- rg -l -i -e cache -e timeout work; rg_ms=$median
  measure -- "$tracker" search cache timeout; row "search cache timeout" "$median" "$rss" "\`rg -l -i -e cache -e timeout work\`" "$rg_ms"
  measure --warmup 1 --each "$tools/move-ids" -- "$tracker" move {} current; move_ms=$median; move_rss=$rss
  measure --warmup 1 --each "$tools/git-files" -- sh -c 'git mv "$1" work/3_qa/ && git commit -qm "move $1"' sh {}
  row "move (one commit)" "$move_ms" "$move_rss" "\`git mv\` + \`git commit\`" "$median"
  # The same reads with the watcher (index.watch): a refresh asks it what changed
  # instead of statting every story file.
  "$tracker" index watch start > /dev/null
  TRACKER_WATCH=1 "$tracker" list > /dev/null  # its first answer is a walk; then a token
  measure -- env TRACKER_WATCH=1 "$tracker" list; row "list, watcher" "$median" "$rss" "\`find work -name '*.md'\`" "$find_ms"
  measure -- env TRACKER_WATCH=1 "$tracker" list --stage current
  row "list --stage current, watcher" "$median" "$rss" "readdir + fstatat walk (bench/walk.c)" "$walk_ms"
  measure -- env TRACKER_WATCH=1 "$tracker" ready; row "ready, watcher" "$median" "$rss" "\`find work -name '*.md'\`" "$find_ms"
  measure -- env TRACKER_WATCH=1 "$tracker" search cache timeout
  row "search cache timeout, watcher" "$median" "$rss" "\`rg -l -i -e cache -e timeout work\`" "$rg_ms"
  "$tracker" index watch stop > /dev/null

  if [ "$claims" -eq 0 ]; then cd /; rm -rf "$dir"; continue; fi  # --claims 0: no claim figures
  # Claim throughput: 8 processes share $claims claims, every claim a commit, against
  # one process doing git mv + git commit per story; each the median of 3 runs on the
  # board as generated. A few single claims first, for the peak RSS of one.
  measure --warmup 0 --runs 5 -- "$tracker" claim --owner solo; claim_rss=$rss
  per_worker=$((claims / 8))
  walk_rates=() watch_rates=() git_rates=()
  for _ in 1 2 3; do
    reset_board
    claim_race  # sets claim_s
    walk_rates+=("$(awk -v c=$((per_worker * 8)) -v s="$claim_s" 'BEGIN { print c / s }')")
    # Again with the watcher (its first answer, a walk, before the clock starts).
    reset_board
    "$tracker" index watch start > /dev/null
    TRACKER_WATCH=1 "$tracker" list > /dev/null
    TRACKER_WATCH=1 claim_race
    watch_rates+=("$(awk -v c=$((per_worker * 8)) -v s="$claim_s" 'BEGIN { print c / s }')")
    "$tracker" index watch stop > /dev/null
    reset_board
    mapfile -t git_files < <(find work/1_backlog -name '*.md' | head -50)
    start=$(date +%s%N)
    for f in "${git_files[@]}"; do git mv "$f" work/4_merge/ && git commit -qm "move $f"; done
    git_rates+=("$(awk -v g=${#git_files[@]} -v ns=$(( $(date +%s%N) - start )) 'BEGIN { print g / (ns / 1e9) }')")
  done
  git_rate=$(median_of "${git_rates[@]}")
  for run in "claim, 8 processes:$(median_of "${walk_rates[@]}")" "claim, 8 processes, watcher:$(median_of "${watch_rates[@]}")"; do
    awk -v n="$n" -v what="${run%:*}" -v c=$((per_worker * 8)) -v rate="${run##*:}" -v g="$git_rate" -v rss="$claim_rss" 'BEGIN {
      printf "| %s | %s (%d claims, median of 3 runs) | %.1f claims/s | %s MiB | `git mv` + `git commit`, 1 process, median of 3 runs: %.1f moves/s | %.2fx |\n",
             n, what, c, rate, rss, g, rate / g }'
  done
  cd /
  rm -rf "$dir"
done
