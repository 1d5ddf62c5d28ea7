# Writes a `git fast-import` stream on top of refs/heads/main: one commit adding N
# stories to the backlog, then 5 transitions of each (backlog -> current -> qa ->
# current -> qa -> done), interleaved, one commit each with tracker's trailers, a
# minute apart from unix time `base`. For bench/run.sh's flow run.
# Usage: awk -v n=10000 -v base=1767571200 -f bench/gen-history.awk | git fast-import --quiet
function data(text) { printf "data %d\n%s\n", length(text), text }
BEGIN {
  split("1_backlog 2_current 3_qa 2_current 3_qa 5_done", dirs, " ")
  split("backlog current qa current qa done", names, " ")
  for (i = 1; i <= n; i++) {
    print "blob"
    print "mark :" i
    data("---\nname: Story " i "\ncreated: 2026-01-01T00:00:00Z\n---\n\nA story of the flow benchmark.\n")
  }
  t = base
  print "commit refs/heads/main"
  print "committer bench <bench@example.com> " t " +0000"
  data("board of " n " stories")
  print "from refs/heads/main^0"
  for (i = 1; i <= n; i++) print "M 100644 :" i " work/1_backlog/" i "_story_s" i ".md"
  print ""
  for (round = 1; round <= 5; round++) {
    for (i = 1; i <= n; i++) {
      t += 60
      from = names[round]; to = names[round + 1]
      print "commit refs/heads/main"
      print "committer bench <bench@example.com> " t " +0000"
      data("tracker: move #" i " " from " -> " to "\n\nTracker-Action: move\nTracker-Story: " i "\nTracker-From: " from "\nTracker-To: " to)
      print "R work/" dirs[round] "/" i "_story_s" i ".md work/" dirs[round + 1] "/" i "_story_s" i ".md"
      print ""
    }
  }
}
