# Writes n beads issues (issues.jsonl lines) to stdout: a tenth of them epics with
# children (parent-child links), a third blocked by an earlier issue, every status
# beads' import maps by default. Usage: awk -v n=10000 -v seed=42 -f gen-beads.awk
BEGIN {
  srand(seed)
  split("open in_progress closed", status, " ")
  split("task bug feature chore", type, " ")
  for (i = 1; i <= n; i++) {
    t = (i % 10 == 1) ? "epic" : type[1 + int(rand() * 4)]
    deps = ""
    if (i > 10 && i % 3 == 0)
      deps = sprintf("{\"issue_id\":\"bd-%d\",\"depends_on_id\":\"bd-%d\",\"type\":\"blocks\"}", i, i - 7)
    if (i % 10 != 1) {
      epic = i - (i - 1) % 10
      link = sprintf("{\"issue_id\":\"bd-%d\",\"depends_on_id\":\"bd-%d\",\"type\":\"parent-child\"}", i, epic)
      deps = deps == "" ? link : deps "," link
    }
    printf "{\"id\":\"bd-%d\",\"title\":\"Issue %d: make the %s path handle case %d\",", i, i, t, int(rand() * 1000)
    printf "\"description\":\"When the %d-th request arrives the cache times out.\\nSteps to reproduce follow.\",", i
    printf "\"status\":\"%s\",\"priority\":%d,\"issue_type\":\"%s\",\"labels\":[\"area-%d\"],", status[1 + int(rand() * 3)], int(rand() * 5), t, i % 7
    printf "\"created_at\":\"2025-10-%02dT12:00:00Z\"", 1 + i % 28
    if (deps != "") printf ",\"dependencies\":[%s]", deps
    printf "}\n"
  }
}
