#!/usr/bin/env bash
# Benchmarks tracker on generated boards and compares every figure with a baseline
# measured in the same run on the same files.
# Usage: bench/run.sh [--sizes 1000,10000,100000] [--runs 7] [--claims 200] [--remote-claims 48]
#        [--fleet 160] [--flow 10000] [--import 10000] (TRACKER=/path/to/tracker)
# --claims 0 leaves out the claim throughput run (minutes at 100,000 stories);
# --remote-claims 0 the claims across clones over a `git daemon` remote; --fleet 0
# the fleet run (4, 16 and 32 clones draining 160 stories); --flow 0 the flow
# metrics over a history of 5 transitions per story (minutes to write); --import 0
# the import of that many beads issues in one commit.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
tracker=$(realpath -m "${TRACKER:-$here/../build/tracker}")
sizes=10000
runs=7
claims=200
remote_claims=48
fleet=160
flow=10000
import=10000
while [ $# -gt 0 ]; do
  case "$1" in
    --sizes) sizes=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --claims) claims=$2; shift 2 ;;
    --remote-claims) remote_claims=$2; shift 2 ;;
    --fleet) fleet=$2; shift 2 ;;
    --flow) flow=$2; shift 2 ;;
    --import) import=$2; shift 2 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "bench/run.sh: unknown option '$1'" >&2; exit 2 ;;
  esac
done
[ -x "$tracker" ] || { echo "error: no tracker binary at $tracker; run 'make' first" >&2; exit 1; }
[ "$runs" -ge 5 ] || { echo "bench/run.sh: --runs must be at least 5" >&2; exit 2; }
[ -z "$sizes" ] || command -v rg > /dev/null ||
  { echo "error: the search baseline needs ripgrep (rg); 'make bench' installs it" >&2; exit 1; }

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
  measure -- "$tracker" show $((n / 2)); show_ms=$median; show_rss=$rss
  row "show $((n / 2))" "$show_ms" "$show_rss" "\`find work -name '*.md'\`" "$find_ms"
  # Start-up: what any command pays before its work, and a one-story read, against git's.
  show_file=$(git ls-files work | grep "/$((n / 2))_" || true)
  measure -- git show "HEAD:$show_file"
  row "show $((n / 2))" "$show_ms" "$show_rss" "\`git show HEAD:<its file>\`" "$median"
  measure -- git --version; git_version_ms=$median
  measure -- "$tracker" --version; row "--version (start-up)" "$median" "$rss" "\`git --version\`" "$git_version_ms"
  measure -- rg -l -i -e cache -e timeout work; rg_ms=$median
  measure -- "$tracker" search cache timeout; row "search cache timeout" "$median" "$rss" "\`rg -l -i -e cache -e timeout work\`" "$rg_ms"
  # Every word a prefix, and a typo searched as the nearest indexed word (a pass
  # over FTS5's vocabulary), against rg finding the words as meant.
  measure -- "$tracker" search cach timout
  row "search cach timout (a prefix, a typo)" "$median" "$rss" "\`rg -l -i -e cache -e timeout work\`" "$rg_ms"
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
  measure -- env TRACKER_WATCH=1 "$tracker" search cach timout
  row "search cach timout (a prefix, a typo), watcher" "$median" "$rss" "\`rg -l -i -e cache -e timeout work\`" "$rg_ms"
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

# Flow metrics: $flow stories in the backlog, then five transitions of each (one
# commit each, tracker's trailers), written by `git fast-import`; `flow` over the
# whole history against `git log --name-status` over the same commits.
if [ "$flow" -gt 0 ]; then
  fdir=$(mktemp -d "${TMPDIR:-/tmp}/tracker-bench-flow.XXXXXX")
  trap 'rm -rf "$tools" "$fdir"' EXIT
  (
    cd "$fdir"
    git init -q -b main
    git config gc.auto 0
    "$tracker" init > /dev/null
    awk -v n="$flow" -v base=1767571200 -f "$here/gen-history.awk" | git fast-import --quiet
    git reset -q --hard
    n=$flow
    measure --warmup 0 --runs 3 -- git log --name-status; gitlog_ms=$median
    measure -- "$tracker" flow --since 2026-01-01 --until 2026-03-01
    row "flow over $((5 * flow)) transitions ($(git rev-list --count HEAD) commits)" "$median" "$rss" \
      "\`git log --name-status\` (the same commits)" "$gitlog_ms"
  )
  rm -rf "$fdir"
fi

# Import: $import beads issues (epics, children, blocking links) into an empty
# board, one commit (docs/import.md), against writing the same story files with
# `cp -r` and committing them with `git add` + `git commit`, in the same run.
if [ "$import" -gt 0 ]; then
  idir=$(mktemp -d "${TMPDIR:-/tmp}/tracker-bench-import.XXXXXX")
  trap 'rm -rf "$tools" "$idir"' EXIT
  (
    cd "$idir"
    awk -v n="$import" -v seed=42 -f "$here/gen-beads.awk" > issues.jsonl
    # Every run on a board of its own, made beforehand: deleting 10,000 files just
    # before a run would make the file system's inode allocation the figure.
    fresh() {
      mkdir "$1" && (cd "$1" && git init -q -b main && git config gc.auto 0 && "$tracker" init > /dev/null)
    }
    fresh first
    "$tracker" -C first import beads "$idir/issues.jsonl" > /dev/null
    for i in 1 2 3; do fresh "base$i"; fresh "run$i"; echo "$idir/base$i" >> each-base; echo "$idir/run$i" >> each-run; done
    n=$import
    measure --warmup 0 --runs 3 --each each-base -- \
      sh -c 'cd "$1" && cp -r "$2"/. work && git add -A && git commit -qm import' sh {} "$idir/first/work"
    base_ms=$median
    measure --warmup 0 --runs 3 --each each-run -- "$tracker" -C {} import beads "$idir/issues.jsonl"
    row "import beads ($import issues, one commit)" "$median" "$rss" "\`cp -r\` of its story files + \`git add -A\` + \`git commit\`" "$base_ms"
  )
  rm -rf "$idir"
fi

# Claims across clones (docs/remote.md): 4 clones x 2 claimers take $remote_claims
# stories over a `git daemon` remote, against the naive way measured in the same
# run: 8 claimers (a clone each: two git processes cannot share a work tree), each
# claim a commit pushed to the branch, and on a rejected push a fetch, a reset to
# the remote's branch and another pick (a rebase would meet the same conflicts).
# Both must claim every story exactly once.
[ "$remote_claims" -gt 0 ] || [ "$fleet" -gt 0 ] || exit 0
rdir=$(mktemp -d "${TMPDIR:-/tmp}/tracker-bench-remote.XXXXXX")
daemon_pid=
trap 'rm -rf "$tools" "$rdir"; [ -z "$daemon_pid" ] || kill "$daemon_pid" 2>/dev/null' EXIT
git init -q --bare -b main "$rdir/board.git"
for attempt in 1 2 3 4 5; do
  port=$((20000 + RANDOM % 40000))
  git daemon --reuseaddr --listen=127.0.0.1 --port="$port" --base-path="$rdir" --export-all \
    --enable=receive-pack "$rdir" 2> /dev/null &
  daemon_pid=$!
  url="git://127.0.0.1:$port/board.git"
  for _ in $(seq 50); do git ls-remote "$url" > /dev/null 2>&1 && break; sleep 0.1; done
  git ls-remote "$url" > /dev/null 2>&1 && break
  kill "$daemon_pid" 2> /dev/null || true
  daemon_pid=
done
[ -n "$daemon_pid" ] || { echo "bench/run.sh: git daemon did not start" >&2; exit 1; }

# seed_remote [STORIES] [CLONES]: a fresh branch of STORIES ($remote_claims)
# stories in the backlog, no claims, and CLONES (8) fresh clones c1, c2, ...
seed_remote() {
  local stories=${1:-$remote_claims} clones=${2:-8}
  rm -rf "$rdir/seed" "$rdir"/c[0-9]*
  git -C "$rdir/board.git" for-each-ref --format='delete %(refname)' refs/tracker | git -C "$rdir/board.git" update-ref --stdin
  mkdir "$rdir/seed" && cd "$rdir/seed"
  git init -q -b main && "$tracker" init > /dev/null
  for i in $(seq "$stories"); do "$tracker" new "Story $i" > /dev/null; done
  printf 'remote:\n  name: origin\n  branch: main\n  timeout: 60s\n' >> .tracker/config.yml
  git commit -qam remote && git remote add origin "$url" && git push -q --force origin HEAD:main
  for c in $(seq "$clones"); do git clone -q "$url" "$rdir/c$c"; done
  cd "$rdir"
}

# race CLONES CMD: a process in each of the clones named (1 to 8; a number twice is
# two processes in one clone) runs CMD until it fails; sets $race_s.
race() {
  local start pids=() c clones=$1
  shift
  start=$(date +%s%N)
  for c in $clones; do
    ( cd "$rdir/c$c" && while "$@" >> "$rdir/claims.$c.$BASHPID" 2> /dev/null; do :; done ) &
    pids+=($!)
  done
  wait "${pids[@]}" || true
  race_s=$(awk -v ns=$(( $(date +%s%N) - start )) 'BEGIN { print ns / 1e9 }')
}

# naive_claim: one claim the naive way, in the current clone; prints the story file.
naive_claim() {
  local f
  for _ in $(seq 200); do
    git fetch -q origin main && git reset -q --hard origin/main
    f=$(find work/1_backlog -name '*.md' | shuf -n 1)
    [ -n "$f" ] || return 1
    # Each claimer its own author, as agents are: two identical commits (the same
    # story, parent and second) would make the second push "up to date", a success.
    git mv "$f" work/2_current/ 2> /dev/null && GIT_AUTHOR_NAME="naive-$$" git commit -qm "claim $f" || continue
    if git push -q origin HEAD:main 2> /dev/null; then echo "$f"; return 0; fi
  done
  return 1
}
export -f naive_claim

# fleet N: N clones with one claimer each drain $fleet stories, each claimer
# looping `tracker claim` until it exits 6; sets $fleet_rate (claims/s) and
# $fleet_wait ("p50 / p95 / max" seconds of every claim, the last one, exit 6,
# too). Every story must be claimed exactly once.
fleet_run() {
  local n=$1 c start pids=() claimed distinct
  seed_remote "$fleet" "$n"
  rm -f "$rdir"/claims.* "$rdir"/times.*
  start=$(date +%s%N)
  for c in $(seq "$n"); do
    ( cd "$rdir/c$c" && while :; do
        s=$EPOCHREALTIME
        "$tracker" claim --owner "f$c" >> "$rdir/claims.$c" 2> /dev/null; rc=$?
        echo "$s $EPOCHREALTIME" >> "$rdir/times.$c"
        [ $rc = 0 ] || break
      done ) &
    pids+=($!)
  done
  wait "${pids[@]}" || true
  fleet_rate=$(awk -v c="$fleet" -v ns=$(( $(date +%s%N) - start )) 'BEGIN { print c / (ns / 1e9) }')
  claimed=$(cat "$rdir"/claims.* | grep -c '^claimed' || true)
  distinct=$(cat "$rdir"/claims.* | awk '/^claimed/ { print $2 }' | sort -u | wc -l)
  [ "$claimed" -eq "$fleet" ] && [ "$distinct" -eq "$fleet" ] ||
    { echo "bench/run.sh: $n clones claimed $claimed ($distinct distinct) of $fleet" >&2; exit 1; }
  fleet_wait=$(cat "$rdir"/times.* | awk '{ print $2 - $1 }' | sort -g |
    awk '{ v[NR] = $1 } END { i = int(NR * 0.95); if (i < 1) i = 1; printf "%.2f / %.2f / %.2f s", v[int((NR + 1) / 2)], v[i], v[NR] }')
}

if [ "$fleet" -gt 0 ]; then
  # Claims at fleet scale (docs/remote.md): the same server and stories for each
  # fleet size, in this run; the baseline is the 4-clone fleet.
  where="git daemon${TRACKER_BENCH_NETEM:+, 50 ms netem on the loopback}"
  fleet_run 4; base_rate=$fleet_rate
  printf '| %s | claims across 4 clones x 1, %s (wait p50 / p95 / max: %s) | %.1f claims/s | | | |\n' \
    "$fleet" "$where" "$fleet_wait" "$fleet_rate"
  for n in 16 32; do
    fleet_run "$n"
    printf '| %s | claims across %s clones x 1, %s (wait p50 / p95 / max: %s) | %.1f claims/s | | 4 clones x 1: %.1f claims/s | %.2fx |\n' \
      "$fleet" "$n" "$where" "$fleet_wait" "$fleet_rate" "$base_rate" "$(awk -v a="$fleet_rate" -v b="$base_rate" 'BEGIN { print a / b }')"
  done
  # The same with 50 ms of delay on the loopback, nearer a hosted remote: in a
  # network namespace of its own (unshare -rn), where the kernel has netem.
  if [ -z "${TRACKER_BENCH_NETEM:-}" ]; then
    netem='ip link set lo up && tc qdisc add dev lo root netem delay 50ms'
    if unshare -rn sh -c "$netem" 2> /dev/null; then
      TRACKER_BENCH_NETEM=1 unshare -rn bash -c "$netem && exec \"\$0\" \"\$@\"" "$0" \
        --sizes "" --claims 0 --remote-claims 0 --flow 0 --fleet "$fleet" | tail -n +3
    else
      echo "| | claims across clones with 50 ms of delay on the loopback: not measured (this machine has no netem in a network namespace) | | | | |"
    fi
  fi
fi
[ "$remote_claims" -gt 0 ] || exit 0

rm -f "$rdir"/claims.*
seed_remote
race "1 2 3 4 1 2 3 4" "$tracker" claim --owner bench
tracker_rate=$(awk -v c="$remote_claims" -v s="$race_s" 'BEGIN { print c / s }')
claimed=$(cat "$rdir"/claims.* | grep -c '^claimed' || true)
distinct=$(cat "$rdir"/claims.* | awk '/^claimed/ { print $2 }' | sort -u | wc -l)
[ "$claimed" -eq "$remote_claims" ] && [ "$distinct" -eq "$remote_claims" ] ||
  { echo "bench/run.sh: tracker claimed $claimed ($distinct distinct) of $remote_claims" >&2; exit 1; }
rm -f "$rdir"/claims.*
seed_remote
race "1 2 3 4 5 6 7 8" bash -c naive_claim  # git needs a work tree per process
naive_rate=$(awk -v c="$remote_claims" -v s="$race_s" 'BEGIN { print c / s }')
naive_claimed=$(cat "$rdir"/claims.* | wc -l)
naive_distinct=$(sort -u "$rdir"/claims.* | wc -l)
[ "$naive_claimed" -eq "$remote_claims" ] && [ "$naive_distinct" -eq "$remote_claims" ] ||
  { echo "bench/run.sh: the naive way claimed $naive_claimed ($naive_distinct distinct) of $remote_claims" >&2; exit 1; }
printf '| %s | claim across 4 clones x 2 processes, git daemon | %.1f claims/s | | naive push of the branch + fetch/rebase: %.1f claims/s | %.2fx |\n' \
  "$remote_claims" "$tracker_rate" "$naive_rate" "$(awk -v a="$tracker_rate" -v b="$naive_rate" 'BEGIN { print a / b }')"

# Latency of one claim over the remote, against one `git push` of a one-commit change.
seed_remote
cd "$rdir/c1"
measure --warmup 0 --runs 5 --before "$tracker release 1 > /dev/null 2>&1 || true" -- "$tracker" claim 1 --owner solo
claim_ms=$median claim_rss=$rss
measure --warmup 0 --runs 5 --before "git commit -q --allow-empty -m x" -- git push -q origin HEAD:main
printf '| 1 | one claim over the remote (git daemon) | %s ms | %s MiB | one `git push` of a one-commit change: %s ms | %s |\n' \
  "$claim_ms" "$claim_rss" "$median" "$(awk -v a="$claim_ms" -v b="$median" 'BEGIN { printf "%.2f", a / b }')"
cd /
