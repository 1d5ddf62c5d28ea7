#!/bin/sh
# ctest web:board: tracker serve in headless Chromium, driven by puppeteer-core.
# Exits 77 (ctest: skipped) where node, Chromium or puppeteer-core is missing;
# `make test` installs puppeteer-core (npm ci here) whenever npm is present, and CI
# installs Debian's chromium. Usage: run.sh <tracker binary> <output directory>
set -eu
here=$(cd "$(dirname "$0")" && pwd)
tracker=$1
out=$2
chromium=${CHROMIUM:-/usr/bin/chromium}
if ! command -v node > /dev/null 2>&1; then
  echo "skipped: node is not installed (apt-get install nodejs npm, then make test)"; exit 77
fi
if [ ! -x "$chromium" ]; then
  echo "skipped: no Chromium at $chromium (apt-get install chromium)"; exit 77
fi
if [ ! -d "$here/node_modules/puppeteer-core" ] || [ ! -f "$here/node_modules/axe-core/axe.min.js" ]; then
  echo "skipped: puppeteer-core or axe-core is not installed (make test runs npm ci in tests/web when npm is present)"; exit 77
fi
mkdir -p "$out"
board=$(mktemp -d)
trap 'rm -rf "$board"' EXIT
export GIT_CONFIG_NOSYSTEM=1 HOME="$board"
git -C "$board" init -q -b main
git -C "$board" config user.name test
git -C "$board" config user.email test@example.com
cd "$board"
"$tracker" init > /dev/null
"$tracker" new "Drag me" --priority 2 --label ui > /dev/null
"$tracker" new "Moved by the CLI" --type bug > /dev/null
"$tracker" new "Login page" --label auth --body "Users log in with **email**." > /dev/null
"$tracker" new "Evil body" --body '<script>window.pwned = 1</script><img src=x onerror="window.pwned = 2">' > /dev/null
"$tracker" claim 3 --owner agent-7 > /dev/null
"$tracker" new "Edit me in the page" --priority 4 --body "The old body." > /dev/null
"$tracker" new "Delete me" > /dev/null
"$tracker" new "Already shipped" > /dev/null
"$tracker" move 7 done > /dev/null
# A week of history made by hand, as a team's commits are (flow reads the commit
# times): three stories added, started and finished on different days.
at() { date -u -d "-$1 days" +%Y-%m-%dT%H:%M:%SZ; }
commit_at() { GIT_AUTHOR_DATE="$(at "$1")" GIT_COMMITTER_DATE="$(at "$1")" git commit -qm "$2"; }
for i in 1 2 3; do
  f=${i}01_story_history-$i.md
  printf -- '---\nname: History %s\ncreated: %s\n---\n' "$i" "$(at $((8 - i)))" > "work/1_backlog/$f"
  git add work && commit_at $((8 - i)) "add history $i"
  git mv "work/1_backlog/$f" work/2_current/ && commit_at $((6 - i)) "start history $i"
  git mv "work/2_current/$f" work/5_done/ && commit_at $((4 - i)) "finish history $i"
done
node "$here/board.mjs" "$tracker" "$board" "$out"
