# Writes a realistic board of N stories (bodies about 1 KB) under work/.
# Usage: awk -v n=10000 -v seed=1 -f bench/gen-board.awk
BEGIN {
  srand(seed)
  split("backlog current qa merge done archived", stage_names, " ")
  split("1_backlog 2_current 3_qa 4_merge 5_done 6_archived", stage_dirs, " ")
  # Cumulative share of stories per stage, in per mille.
  split("600 650 700 720 920 1000", stage_cut, " ")
  split("story story story bug bug spike refactor", types, " ")
  split("auth frontend backend infra search notes security performance design tech-debt", labels, " ")
  split("add fix improve refactor remove speed up document test migrate support", verbs, " ")
  split("login page search index cache export import editor sync billing report dashboard api webhook", nouns, " ")
  nwords = split("the a user can should when then data file request response error value list item page " \
                 "server client cache index query update delete create read write field token session " \
                 "account setting option message event queue worker job retry timeout limit", words, " ")
  for (i = 1; i <= n; i++) {
    r = int(rand() * 1000)
    for (s = 1; s <= 6; s++) if (r < stage_cut[s]) break
    type = types[1 + int(rand() * 7)]
    name = verbs[1 + int(rand() * 10)] " " nouns[1 + int(rand() * 14)] " " i
    slug = name; gsub(/ /, "-", slug)
    path = "work/" stage_dirs[s] "/" i "_" type "_" slug ".md"
    printf "---\nname: %s\npriority: %d\nlabels: [%s, %s]\n", name, int(rand() * 4), labels[1 + int(rand() * 10)], labels[1 + int(rand() * 10)] > path
    if (i > 10 && rand() < 0.3) printf "depends_on: [%d]\n", 1 + int(rand() * (i - 1)) > path
    if (s == 2) printf "agent: coder-%d\n", 1 + int(rand() * 8) > path
    printf "created: 2026-%02d-%02dT%02d:%02d:00Z\n---\n\n", 1 + int(rand() * 11), 1 + int(rand() * 28), int(rand() * 24), int(rand() * 60) > path
    body = ""
    while (length(body) < 1000) {
      line = ""
      for (w = 0; w < 12; w++) line = line words[1 + int(rand() * nwords)] " "
      body = body line "\n"
    }
    printf "%s", body > path
    close(path)
  }
}
