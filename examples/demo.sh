#!/usr/bin/env bash
# A tour of tracker: copies examples/sample-board into a fresh git repository in a
# temp dir and runs the everyday commands against it, printing each one first.
# Usage: examples/demo.sh            (TRACKER=/path/to/tracker to pick the binary)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
tracker=$(realpath -m "${TRACKER:-$here/../build/tracker}")
[ -x "$tracker" ] || { echo "error: no tracker binary at $tracker; run 'make demo' or set TRACKER" >&2; exit 1; }

demo=$(mktemp -d "${TMPDIR:-/tmp}/tracker-demo.XXXXXX")
trap 'rm -rf "$demo"' EXIT
# The demo commits as a fixed identity so that it works before `git config` is set up.
export GIT_AUTHOR_NAME="Tracker Demo" GIT_AUTHOR_EMAIL="demo@example.com"
export GIT_COMMITTER_NAME="Tracker Demo" GIT_COMMITTER_EMAIL="demo@example.com"

bold=$(tput bold 2>/dev/null || true); plain=$(tput sgr0 2>/dev/null || true)
step() { printf '\n%s# %s%s\n' "$bold" "$*" "$plain"; }
run() { printf '%s$ %s%s\n' "$bold" "$*" "$plain"; "$@"; }
tracker() { "$tracker" "$@"; }

step "A fresh repository holding the sample board (21 stories across six stages)"
cp -r "$here/sample-board/." "$demo/"
cd "$demo"
git init -q -b main
git add -A && git commit -qm "Import the sample board"
run ls work

step "The board, in stage order"
run tracker list

step "Only the auth backlog, most urgent first, as JSON for scripts"
run tracker list --stage backlog --label auth --sort priority --json

step "One story: its fields and body"
run tracker show 13

step "The file behind it: markdown with YAML front matter"
run tracker show 13 --raw

step "Create stories: each prints its new id and becomes one commit"
run tracker new "Add a password strength meter" --priority 2 --label auth --label frontend \
  --body "Show weak/ok/strong while the user types a new password."
run tracker new "Crash when a note title is empty" --type bug --priority 3 --depends-on 7

step "Move a story: a pure rename and one commit"
run tracker move 13 current
run git show --stat -M --format='%s%n%n%b' HEAD

step "Move several stories in one commit; stage directories work as names too"
run tracker move 9 10 3_qa

step "Hand edits are first-class: edit a file, and the next command sees it"
sed -i 's/^priority: 1$/priority: 5/' work/1_backlog/14_story_export-all-notes-as-a-zip-of-markdown-files.md
run tracker list --stage backlog --sort priority --limit 3

step "Review the hand edit as a semantic diff, then commit only story files"
run tracker diff
run tracker commit

step "Full-text search: ranked by bm25, name matches first, with the matching line"
run tracker search "markdown OR password" --limit 3

step "Bad input gets a clear message and a distinct exit code"
run tracker move 13 curent || echo "(exit $?)"
run tracker show 999 || echo "(exit $?)"

step "The shadow index: a cache under .git that any command rebuilds"
run tracker index status
rm .git/tracker/index.db*
run tracker list --stage current

step "History: every transition is a commit with trailers, and log reads them"
run git log --format='%h %s' -6
run tracker log 13

printf '\n%sDone.%s The demo repository was %s (now removed).\n' "$bold" "$plain" "$demo"
