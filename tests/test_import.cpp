// tracker import (beads, Backlog.md, GitHub Issues) and tracker export: realistic
// inputs written from each format's documentation, a few hundred records each, with
// epics and subtasks, every status, links to missing ids, CRLF, non-ASCII titles and
// broken lines; one commit, `check` clean and `git fsck --strict` after each import.
#include <catch2/catch.hpp>

#include "helpers.hpp"
#include "remote_helpers.hpp"

#include <nlohmann/json.hpp>

#include <map>
#include <set>

using namespace testing;
using nlohmann::json;

namespace {

const std::vector<std::string> kBeadsStatuses = {"open", "in_progress", "closed", "blocked", "deferred"};

/// 300 beads issues: 20 epics (bd-e1..), each with 4 children (bd-eN.M, linked
/// parent-child), and 200 others in every status; blocks, related and
/// discovered-from links, two links to ids the file does not hold, non-ASCII titles,
/// a tombstone, and CRLF line endings when `crlf`.
std::string beads_issues(bool crlf) {
  std::string out;
  auto line = [&](const json& j) { out += j.dump() + (crlf ? "\r\n" : "\n"); };
  for (int e = 1; e <= 20; ++e) {
    line({{"id", "bd-e" + std::to_string(e)},
          {"title", "Epic " + std::to_string(e) + ": paiement über alles 支付"},
          {"description", "The epic's goal.\nTwo lines."},
          {"status", e % 2 ? "open" : "in_progress"},
          {"priority", 1},
          {"issue_type", "epic"},
          {"created_at", "2025-10-30T12:34:56.123456-07:00"},
          {"labels", {"epic", "q4"}}});
    for (int c = 1; c <= 4; ++c) {
      std::string id = "bd-e" + std::to_string(e) + "." + std::to_string(c);
      json deps = json::array();
      deps.push_back({{"issue_id", id}, {"depends_on_id", "bd-e" + std::to_string(e)}, {"type", "parent-child"}});
      if (c > 1)
        deps.push_back({{"issue_id", id},
                        {"depends_on_id", "bd-e" + std::to_string(e) + "." + std::to_string(c - 1)},
                        {"type", "blocks"}});
      line({{"id", id},
            {"title", "Part " + std::to_string(c) + " of epic " + std::to_string(e)},
            {"status", c == 1 ? "closed" : "open"},
            {"priority", c % 5},
            {"issue_type", "task"},
            {"assignee", c == 2 ? "alice" : ""},
            {"dependencies", deps}});
    }
  }
  for (int i = 1; i <= 200; ++i) {
    std::string id = "bd-" + std::to_string(i);
    json j = {{"id", id},
              {"title", "Issue " + std::to_string(i) + (i % 10 == 0 ? " — naïve café ✓" : "")},
              {"status", kBeadsStatuses[static_cast<std::size_t>(i) % kBeadsStatuses.size()]},
              {"priority", i % 5},
              {"issue_type", i % 3 == 0 ? "bug" : "feature"},
              {"description", "What is wrong with " + std::to_string(i) + "."},
              {"created_at", "2025-11-01T08:00:00Z"}};
    if (i % 4 == 0) j["design"] = "Design notes.";
    if (i % 6 == 0) j["acceptance_criteria"] = "- it works";
    if (i % 8 == 0) j["notes"] = "A note.";
    if (i % 5 == 2) j["closed_at"] = "2025-11-02T09:00:00Z";
    json deps = json::array();
    if (i > 5 && i % 3 == 0) deps.push_back({{"issue_id", id}, {"depends_on_id", "bd-" + std::to_string(i - 5)}, {"type", "blocks"}});
    if (i % 11 == 0) deps.push_back({{"issue_id", id}, {"depends_on_id", "bd-" + std::to_string(i + 1)}, {"type", "related"}});
    if (i % 13 == 0)
      deps.push_back({{"issue_id", id}, {"depends_on_id", "bd-" + std::to_string(i - 1)}, {"type", "discovered-from"}});
    if (i == 50) deps.push_back({{"issue_id", id}, {"depends_on_id", "bd-gone1"}, {"type", "blocks"}});
    if (i == 60) deps.push_back({{"issue_id", id}, {"depends_on_id", "bd-gone2"}, {"type", "parent-child"}});
    if (!deps.empty()) j["dependencies"] = deps;
    line(j);
  }
  line({{"id", "bd-dead"}, {"title", "Deleted"}, {"status", "tombstone"}});
  return out;
}

/// The board's stories as `show --json` gives them, by their `source` key (or "#id"
/// for a story without one).
std::map<std::string, json> by_source(const fs::path& root) {
  std::map<std::string, json> out;
  json list = json::parse(run_tracker(root, {"--json", "list", "--limit", "100000"}).out);
  for (const auto& s : list) {
    json shown = json::parse(run_tracker(root, {"--json", "show", std::to_string(s["id"].get<long>())}).out);
    std::string source = shown.contains("fields") && shown["fields"].contains("source")
                             ? shown["fields"]["source"].get<std::string>()
                             : shown.value("source", "");
    out[source.empty() ? "#" + std::to_string(shown["id"].get<long>()) : source] = shown;
  }
  return out;
}

/// A board whose check is clean and whose repository passes git fsck --strict, also
/// after git gc has repacked the packs a big commit writes.
void require_sound(const fs::path& root) {
  RunResult check = run_tracker(root, {"check"});
  INFO(check.out << check.err);
  CHECK(check.code == 0);
  RunResult fsck = run({"git", "-C", root.string(), "fsck", "--strict"});
  INFO(fsck.err);
  CHECK(fsck.code == 0);
  CHECK(run({"git", "-C", root.string(), "gc", "--quiet"}).code == 0);
  CHECK(run({"git", "-C", root.string(), "fsck", "--strict", "--no-progress"}).code == 0);
  CHECK(run_tracker(root, {"flow"}).code == 0);
  CHECK(run_tracker(root, {"log"}).code == 0);
}

}  // namespace

TEST_CASE("import beads: 300 issues, epics and links, in one commit, check and fsck clean") {
  Board b;
  write(b.root() / "issues.jsonl", beads_issues(false));
  int before = b.commit_count();
  auto missing_map = run_tracker(b.root(), {"import", "beads", "issues.jsonl"});
  CHECK(missing_map.code == 5);
  CHECK(missing_map.err.find("status 'blocked' (40 records, the first at issues.jsonl:") != std::string::npos);
  CHECK(missing_map.err.find("map it with --map 'blocked=STAGE'") != std::string::npos);
  CHECK(b.commit_count() == before);

  auto r = run_tracker(b.root(), {"--json", "import", "beads", "issues.jsonl", "--map", "blocked=backlog", "--map",
                                  "deferred=backlog"});
  INFO(r.err);
  REQUIRE(r.code == 0);
  json out = json::parse(r.out);
  CHECK(out["created"].size() == 300);
  CHECK(out["skipped"].size() == 1);
  CHECK(out["missing_links"].size() == 2);
  CHECK(out["types_added"] == json({"epic", "task", "feature"}));
  CHECK(b.commit_count() == before + 1);
  CHECK(git(b.root(), {"log", "-1", "--format=%s"}) == "tracker: import 300 stories from beads\n");
  std::string body = git(b.root(), {"log", "-1", "--format=%b"});
  CHECK(body.find("Source: beads issues.jsonl") != std::string::npos);
  CHECK(body.find("Tracker-Action: import") != std::string::npos);
  CHECK(read(b.root() / ".tracker/config.yml").find("types: [story, bug, spike, refactor, epic, task, feature]") !=
        std::string::npos);

  auto stories = by_source(b.root());
  REQUIRE(stories.size() == 300);
  const json& epic = stories["beads:bd-e1"];
  CHECK(epic["name"] == "Epic 1: paiement über alles 支付");
  CHECK(epic["type"] == "epic");
  CHECK(epic["stage"] == "backlog");
  CHECK(epic["priority"] == 3);  // beads' 1 on tracker's scale (4 - 1)
  CHECK(epic["created"] == "2025-10-30T19:34:56Z");
  CHECK(epic["progress"] == json{{"done", 1}, {"total", 4}});
  const json& part2 = stories["beads:bd-e1.2"];
  CHECK(part2["parent"] == epic["id"]);
  CHECK(part2["depends_on"] == json::array({stories["beads:bd-e1.1"]["id"]}));
  CHECK(part2["fields"]["assignee"] == "alice");
  CHECK(stories["beads:bd-e1.1"]["stage"] == "done");
  CHECK(stories["beads:bd-e2"]["stage"] == "current");
  CHECK(stories["beads:bd-3"]["stage"] == "backlog");  // blocked, mapped
  CHECK(stories["beads:bd-4"]["stage"] == "backlog");  // deferred, mapped
  CHECK(stories["beads:bd-4"]["body"].get<std::string>().find("## Design\n\nDesign notes.") != std::string::npos);
  CHECK(stories["beads:bd-50"]["fields"]["source_links"] == json::array({"depends_on bd-gone1"}));
  CHECK(stories["beads:bd-60"]["fields"]["source_links"] == json::array({"parent bd-gone2"}));
  CHECK(stories["beads:bd-11"]["fields"]["related"] == json::array({stories["beads:bd-12"]["id"]}));
  CHECK(stories["beads:bd-10"]["name"] == "Issue 10 — naïve café ✓");
  CHECK(stories.count("beads:bd-dead") == 0);
  require_sound(b.root());
  // The epics' children are not done: the epics are not ready.
  json ready = json::parse(run_tracker(b.root(), {"--json", "ready", "--limit", "1000"}).out);
  for (const auto& s : ready) CHECK(s["id"] != epic["id"]);
  // The import's lines in log: one per story, from the commit's tree.
  CHECK(run_tracker(b.root(), {"log", "--limit", "1000"}).out.find(" create ") != std::string::npos);
}

TEST_CASE("import beads again: only what changed is updated, nothing is duplicated, keys the import does not own stay") {
  Board b;
  std::string text = beads_issues(false);
  write(b.root() / "issues.jsonl", text);
  std::vector<std::string> args = {"import", "beads", "issues.jsonl", "--map", "blocked=backlog", "--map", "deferred=backlog"};
  REQUIRE(run_tracker(b.root(), args).code == 0);
  int after_first = b.commit_count();
  auto again = run_tracker(b.root(), args);
  REQUIRE(again.code == 0);
  CHECK(again.out.find("created 0, updated 0, unchanged 300") != std::string::npos);
  CHECK(b.commit_count() == after_first);

  auto stories = by_source(b.root());
  long id6 = stories["beads:bd-6"]["id"];
  REQUIRE(run_tracker(b.root(), {"block", std::to_string(id6), "--reason", "waiting on legal"}).code == 0);
  // bd-6 is renamed and closed at the source; bd-new is new and depends on it.
  auto at = text.find("\"Issue 6\"");
  REQUIRE(at != std::string::npos);
  text.replace(at, 9, "\"Issue 6 renamed\"");
  auto line_end = text.find('\n', at);
  auto line_start = text.rfind('\n', at) + 1;
  std::string line = text.substr(line_start, line_end - line_start);
  json j = json::parse(line);
  j["status"] = "closed";
  text.replace(line_start, line_end - line_start, j.dump());
  text += json({{"id", "bd-new"}, {"title", "Brand new"}, {"status", "open"},
                {"dependencies", {{{"issue_id", "bd-new"}, {"depends_on_id", "bd-6"}, {"type", "blocks"}}}}})
              .dump() +
          "\n";
  write(b.root() / "issues.jsonl", text);
  auto third = run_tracker(b.root(), {"--json", "import", "beads", "issues.jsonl", "--map", "blocked=backlog", "--map",
                                      "deferred=backlog"});
  INFO(third.err);
  REQUIRE(third.code == 0);
  json out = json::parse(third.out);
  CHECK(out["created"].size() == 1);
  REQUIRE(out["updated"].size() == 1);
  CHECK(out["updated"][0]["id"] == id6);
  CHECK(out["updated"][0]["changed"] == json({"stage", "name"}));
  CHECK(out["unchanged"] == 299);
  CHECK(git(b.root(), {"log", "-1", "--format=%s"}) == "tracker: import 2 stories from beads (1 new, 1 updated)\n");
  auto now = by_source(b.root());
  CHECK(now.size() == 301);
  CHECK(now["beads:bd-6"]["id"] == id6);
  CHECK(now["beads:bd-6"]["name"] == "Issue 6 renamed");
  CHECK(now["beads:bd-6"]["stage"] == "done");
  CHECK(now["beads:bd-6"]["blocked"] == true);  // tracker's own key stays
  CHECK(now["beads:bd-new"]["depends_on"] == json::array({id6}));
  CHECK(now["beads:bd-6"]["path"].get<std::string>().find("renamed") != std::string::npos);
  require_sound(b.root());
}

TEST_CASE("import beads: a broken line, CRLF, a cycle and a bad priority are named with file and line, nothing written") {
  Board b;
  std::string text = beads_issues(true);
  // Line 5 broken: its end is missing.
  std::size_t at = 0;
  for (int i = 0; i < 4; ++i) at = text.find('\n', at) + 1;
  text.erase(text.find('\r', at) - 5, 5);  // the line cut short
  write(b.root() / "issues.jsonl", text);
  BoardState before(b.root());
  auto r = run_tracker(b.root(), {"import", "beads", "issues.jsonl", "--map", "blocked=backlog", "--map", "deferred=backlog"});
  CHECK(r.code == 5);
  CHECK(r.err.find("tracker: issues.jsonl:5: not a JSON line") == 0);
  CHECK(r.err.find("nothing was imported") != std::string::npos);
  CHECK(BoardState(b.root()) == before);

  // The dry run names every problem.
  std::string cyc = json({{"id", "x-1"}, {"title", "A"}, {"status", "open"},
                          {"dependencies", {{{"issue_id", "x-1"}, {"depends_on_id", "x-2"}, {"type", "blocks"}}}}})
                        .dump() +
                    "\r\n" +
                    json({{"id", "x-2"}, {"title", "B"}, {"status", "open"},
                          {"dependencies", {{{"issue_id", "x-2"}, {"depends_on_id", "x-1"}, {"type", "blocks"}}}}})
                        .dump() +
                    "\r\n" + json({{"id", "x-3"}, {"title", "C"}, {"status", "open"}, {"priority", 9}}).dump() + "\r\n";
  write(b.root() / "cycle.jsonl", cyc);
  before = BoardState(b.root());
  auto dry = run_tracker(b.root(), {"import", "beads", "cycle.jsonl", "--dry-run"});
  CHECK(dry.code == 5);
  CHECK(dry.err.find("cycle.jsonl:3: x-3's priority 9 is not 0 to 4") != std::string::npos);
  CHECK(dry.err.find("a cycle of dependencies: x-1 -> x-2 -> x-1") != std::string::npos);
  CHECK(dry.err.find("2 problems") != std::string::npos);
  CHECK(BoardState(b.root()) == before);

  // A clean CRLF file imports.
  write(b.root() / "issues.jsonl", beads_issues(true));
  auto ok = run_tracker(b.root(), {"import", "beads", "issues.jsonl", "--map", "blocked=backlog", "--map", "deferred=qa",
                                   "--map-type", "feature=story", "--map-type", "task=story"});
  INFO(ok.err);
  REQUIRE(ok.code == 0);
  CHECK(read(b.root() / ".tracker/config.yml").find("types: [story, bug, spike, refactor, epic]") != std::string::npos);
  CHECK(git(b.root(), {"ls-files", "work/3_qa"}).size() > 0);
  require_sound(b.root());
}

TEST_CASE("import beads --dry-run prints the plan and the mapping, writes nothing") {
  Board b;
  write(b.root() / "issues.jsonl", beads_issues(false));
  BoardState before(b.root());
  auto r = run_tracker(b.root(), {"import", "beads", "issues.jsonl", "-n", "--map", "blocked=backlog", "--map",
                                  "deferred=backlog"});
  INFO(r.err);
  REQUIRE(r.code == 0);
  CHECK(r.out.find("  in_progress -> current\n") != std::string::npos);
  CHECK(r.out.find("  epic -> epic (added to .tracker/config.yml)\n") != std::string::npos);
  CHECK(r.out.find("+ beads:bd-e1 -> backlog epic Epic 1: paiement über alles 支付\n") != std::string::npos);
  CHECK(r.out.find("would create 300, would update 0, unchanged 0") != std::string::npos);
  CHECK(BoardState(b.root()) == before);
  CHECK(read(b.root() / ".tracker/config.yml").find("epic") == std::string::npos);
}

namespace {

/// A Backlog.md project: config.yml with its statuses, 200 tasks in tasks/ (every
/// status, subtasks task-N.M, dependencies, one to a task that is not there), 30 in
/// completed/, 20 in archive/tasks/, 10 drafts; one CRLF file.
void backlog_project(const fs::path& dir) {
  write(dir / "backlog/config.yml",
        "project_name: \"Demo\"\ndefault_status: \"To Do\"\nstatuses: [\"To Do\", \"In Progress\", \"Review\", \"Done\"]\n"
        "labels: []\nmilestones: []\ndate_format: yyyy-mm-dd\n");
  const std::vector<std::string> statuses = {"To Do", "In Progress", "Review", "Done"};
  auto task = [&](const std::string& sub, const std::string& id, const std::string& title, const std::string& extra,
                  bool crlf) {
    std::string text = "---\nid: " + id + "\ntitle: '" + title + "'\n" + extra +
                       "created_date: '2025-06-08 14:30'\nlabels: [backend, api]\n---\n\n## Description\n\n"
                       "<!-- SECTION:DESCRIPTION:BEGIN -->\nDo " + title + ".\n<!-- SECTION:DESCRIPTION:END -->\n\n"
                       "## Acceptance Criteria\n<!-- AC:BEGIN -->\n- [ ] #1 It works\n<!-- AC:END -->\n";
    if (crlf) {
      std::string c;
      for (char ch : text) c += ch == '\n' ? std::string("\r\n") : std::string(1, ch);
      text = c;
    }
    write(dir / "backlog" / sub / (id + " - " + title + ".md"), text);
  };
  for (int i = 1; i <= 160; ++i) {
    std::string extra = "status: " + statuses[static_cast<std::size_t>(i) % 4] + "\nassignee: ['@alice']\n";
    if (i % 3 == 0) extra += "priority: high\n";
    if (i % 3 == 1) extra += "priority: low\n";
    if (i > 1 && i % 5 == 0) extra += "dependencies: [task-" + std::to_string(i - 1) + "]\n";
    if (i == 77) extra += "dependencies: [task-999]\n";
    task("tasks", "task-" + std::to_string(i), "Task " + std::to_string(i) + (i % 9 == 0 ? " – Überprüfung" : ""),
         extra, i == 42);
  }
  for (int p = 1; p <= 20; ++p)
    for (int s = 1; s <= 2; ++s)
      task("tasks", "task-" + std::to_string(p) + "." + std::to_string(s), "Sub " + std::to_string(s) + " of " + std::to_string(p),
           "status: To Do\n" + (s == 2 ? std::string("parent_task_id: task-") + std::to_string(p) + "\n" : ""), false);
  for (int i = 1; i <= 30; ++i) task("completed", "task-" + std::to_string(200 + i), "Finished " + std::to_string(i), "status: Done\n", false);
  for (int i = 1; i <= 20; ++i) task("archive/tasks", "task-" + std::to_string(300 + i), "Old " + std::to_string(i), "status: To Do\n", false);
  for (int i = 1; i <= 10; ++i) task("drafts", "draft-" + std::to_string(i), "Idea " + std::to_string(i), "status: To Do\n", false);
}

}  // namespace

TEST_CASE("import backlog-md: statuses through its config, completed, archive and drafts, subtasks, dependencies") {
  Board b;
  backlog_project(b.root() / "src");
  auto refused = run_tracker(b.root(), {"import", "backlog-md", "src/backlog"});
  CHECK(refused.code == 5);
  CHECK(refused.err.find("status 'Review' (40 records, the first at task-10 - Task 10.md:1) has no stage") !=
        std::string::npos);
  auto r = run_tracker(b.root(), {"--json", "import", "backlog-md", "src", "--map", "Review=qa"});
  INFO(r.err);
  REQUIRE(r.code == 0);
  json out = json::parse(r.out);
  CHECK(out["created"].size() == 260);
  CHECK(out["missing_links"].size() == 1);
  auto stories = by_source(b.root());
  REQUIRE(stories.size() == 260);
  CHECK(stories["backlog-md:task-3"]["stage"] == "done");
  CHECK(stories["backlog-md:task-4"]["stage"] == "backlog");
  CHECK(stories["backlog-md:task-1"]["stage"] == "current");
  CHECK(stories["backlog-md:task-2"]["stage"] == "qa");
  CHECK(stories["backlog-md:task-3"]["priority"] == 3);
  CHECK(stories["backlog-md:task-1"]["priority"] == 1);
  CHECK(stories["backlog-md:task-1"]["fields"]["assignee"] == "alice");
  CHECK(stories["backlog-md:task-10"]["depends_on"] == json::array({stories["backlog-md:task-9"]["id"]}));
  CHECK(stories["backlog-md:task-77"]["fields"]["source_links"] == json::array({"depends_on task-999"}));
  CHECK(stories["backlog-md:task-5.1"]["parent"] == stories["backlog-md:task-5"]["id"]);  // from the dotted id
  CHECK(stories["backlog-md:task-5.2"]["parent"] == stories["backlog-md:task-5"]["id"]);  // parent_task_id
  CHECK(stories["backlog-md:task-201"]["stage"] == "done");
  CHECK(stories["backlog-md:task-301"]["stage"] == "archived");
  CHECK(stories["backlog-md:draft-1"]["stage"] == "backlog");
  CHECK(stories["backlog-md:draft-1"]["labels"] == json({"backend", "api", "draft"}));
  CHECK(stories["backlog-md:task-9"]["name"] == "Task 9 – Überprüfung");
  CHECK(stories["backlog-md:task-42"]["body"].get<std::string>().find("<!-- SECTION:DESCRIPTION:BEGIN -->\nDo Task 42.") !=
        std::string::npos);
  CHECK(stories["backlog-md:task-42"]["created"] == "2025-06-08T14:30:00Z");
  require_sound(b.root());
}

TEST_CASE("import backlog-md: a task whose front matter does not parse is named with its file and line") {
  Board b;
  backlog_project(b.root() / "src");
  write(b.root() / "src/backlog/tasks/task-500 - Broken.md", "---\nid: task-500\ntitle: [unclosed\nstatus: To Do\n---\nBody\n");
  BoardState before(b.root());
  auto r = run_tracker(b.root(), {"import", "backlog-md", "src", "--map", "Review=qa"});
  CHECK(r.code == 5);
  CHECK(r.err.find("tracker: task-500 - Broken.md:") == 0);
  CHECK(r.err.find("the front matter does not parse") != std::string::npos);
  CHECK(BoardState(b.root()) == before);
}

namespace {

/// `gh issue list --json ...` output: 150 issues, open and closed, labels,
/// milestones, assignees, unicode; and the REST API's form, two pages
/// (`gh api --paginate`), with pull requests among them.
std::string gh_issues() {
  json all = json::array();
  for (int n = 1; n <= 150; ++n) {
    json labels = json::array({{{"name", "bug"}, {"color", "d73a4a"}}});
    if (n % 7 == 0) labels.push_back({{"name", "good first issue"}});
    all.push_back({{"number", n},
                   {"title", "Issue #" + std::to_string(n) + (n % 10 == 0 ? " «quoted» 日本" : "")},
                   {"body", n % 3 ? json("Steps:\r\n1. run\r\n2. see") : json(nullptr)},
                   {"state", n % 4 == 0 ? "CLOSED" : "OPEN"},
                   {"createdAt", "2024-03-01T10:00:00Z"},
                   {"closedAt", n % 4 == 0 ? json("2024-04-01T10:00:00Z") : json(nullptr)},
                   {"labels", labels},
                   {"assignees", n % 5 == 0 ? json::array({{{"login", "octocat"}}}) : json::array()},
                   {"milestone", n % 6 == 0 ? json({{"title", "v1.0"}}) : json(nullptr)},
                   {"author", {{"login", "hubot"}}},
                   {"url", "https://github.com/acme/widgets/issues/" + std::to_string(n)}});
  }
  return all.dump(2);
}

std::string rest_pages() {
  std::string out;
  for (int page = 0; page < 2; ++page) {
    json issues = json::array();
    for (int n = page * 50 + 1; n <= page * 50 + 50; ++n) {
      json i = {{"number", n},
                {"title", "REST " + std::to_string(n)},
                {"body", "text"},
                {"state", n % 2 ? "open" : "closed"},
                {"created_at", "2024-03-01T10:00:00Z"},
                {"closed_at", n % 2 ? json(nullptr) : json("2024-03-02T10:00:00Z")},
                {"labels", json::array({{{"name", "area: api"}}})},
                {"assignees", json::array()},
                {"milestone", nullptr},
                {"user", {{"login", "dev"}}},
                {"repository_url", "https://api.github.com/repos/acme/gadgets"}};
      if (n % 10 == 0) i["pull_request"] = {{"url", "x"}};
      issues.push_back(i);
    }
    out += issues.dump(1) + "\n";
  }
  return out;
}

}  // namespace

TEST_CASE("import github: gh issue list JSON and the REST API's pages, pull requests skipped") {
  Board b;
  write(b.root() / "issues.json", gh_issues());
  auto r = run_tracker(b.root(), {"--json", "import", "github", "issues.json"});
  INFO(r.err);
  REQUIRE(r.code == 0);
  CHECK(json::parse(r.out)["created"].size() == 150);
  auto stories = by_source(b.root());
  const json& s10 = stories["github:acme/widgets#10"];
  CHECK(s10["name"] == "Issue #10 «quoted» 日本");
  CHECK(s10["stage"] == "backlog");
  CHECK(stories["github:acme/widgets#12"]["stage"] == "done");
  CHECK(stories["github:acme/widgets#12"]["fields"]["milestone"] == "v1.0");
  CHECK(stories["github:acme/widgets#12"]["fields"]["closed"] == "2024-04-01T10:00:00Z");
  CHECK(stories["github:acme/widgets#14"]["labels"] == json({"bug", "good first issue"}));
  CHECK(stories["github:acme/widgets#5"]["fields"]["assignee"] == "octocat");
  CHECK(stories["github:acme/widgets#1"]["body"] == "Steps:\n1. run\n2. see\n");
  require_sound(b.root());

  write(b.root() / "rest.json", rest_pages());
  auto rest = run_tracker(b.root(), {"--json", "import", "github", "rest.json"});
  INFO(rest.err);
  REQUIRE(rest.code == 0);
  json out = json::parse(rest.out);
  CHECK(out["created"].size() == 90);
  CHECK(out["skipped"].size() == 10);
  auto all = by_source(b.root());
  CHECK(all.count("github:acme/gadgets#1") == 1);
  CHECK(all.count("github:acme/gadgets#10") == 0);
  CHECK(all["github:acme/gadgets#2"]["stage"] == "done");
  // --repo names a source whose JSON has no url.
  write(b.root() / "bare.json", R"([{"number": 1, "title": "Bare", "state": "OPEN"}])");
  REQUIRE(run_tracker(b.root(), {"import", "github", "bare.json", "--repo", "acme/bare"}).code == 0);
  CHECK(by_source(b.root()).count("github:acme/bare#1") == 1);
  require_sound(b.root());

  write(b.root() / "broken.json", "[\n  {\"number\": 1,\n   \"title\": \"x\",,\n  }\n]\n");
  auto broken = run_tracker(b.root(), {"import", "github", "broken.json"});
  CHECK(broken.code == 5);
  CHECK(broken.err.find("tracker: broken.json:3: not JSON") == 0);
}

TEST_CASE("import: bad arguments are refused with one line, nothing written") {
  Board b;
  write(b.root() / "issues.jsonl", beads_issues(false));
  BoardState before(b.root());
  auto format = run_tracker(b.root(), {"import", "jira", "issues.jsonl"});
  CHECK(format.code == 2);
  auto map = run_tracker(b.root(), {"import", "beads", "issues.jsonl", "--map", "blocked"});
  CHECK(map.code == 2);
  CHECK(map.err == "tracker: --map takes STATUS=STAGE, got 'blocked'\n");
  auto stage = run_tracker(b.root(), {"import", "beads", "issues.jsonl", "--map", "blocked=limbo"});
  CHECK(stage.code == 2);
  CHECK(stage.err.find("--map blocked=limbo: unknown stage 'limbo'") != std::string::npos);
  auto type = run_tracker(b.root(), {"import", "beads", "issues.jsonl", "--map-type", "epic=Big-Epic"});
  CHECK(type.code == 2);
  auto none = run_tracker(b.root(), {"import", "beads", "nope.jsonl"});
  CHECK(none.code == 2);
  CHECK(none.err == "tracker: no such file or directory: nope.jsonl\n");
  CHECK(BoardState(b.root()) == before);
}

TEST_CASE("import again over a story another identity holds: exit 3 naming the holder, nothing written, and --force ends the claim") {
  Board b;
  auto issue = [](const std::string& title) {
    return json({{"id", "bd-1"}, {"title", title}, {"status", "open"}, {"priority", 2}}).dump() + "\n";
  };
  write(b.root() / "issues.jsonl", issue("Parser"));
  REQUIRE(run_tracker(b.root(), {"import", "beads", "issues.jsonl"}).code == 0);
  long id = by_source(b.root())["beads:bd-1"]["id"];
  REQUIRE(run_tracker(b.root(), {"claim", std::to_string(id), "--owner", "ann"}).code == 0);
  write(b.root() / "issues.jsonl", issue("Parser, renamed at the source"));
  BoardState before(b.root());
  auto held = run_tracker(b.root(), {"import", "beads", "issues.jsonl"});
  CHECK(held.code == 3);
  INFO(held.err);
  CHECK(held.err.find("ann") != std::string::npos);
  CHECK(held.err.find("--force") != std::string::npos);
  CHECK(BoardState(b.root()) == before);
  // --force updates it and ends ann's claim, in the import's commit.
  auto forced = run_tracker(b.root(), {"--json", "import", "beads", "issues.jsonl", "--force"});
  INFO(forced.err);
  REQUIRE(forced.code == 0);
  CHECK(json::parse(forced.out)["updated"].size() == 1);
  json shown = json::parse(run_tracker(b.root(), {"--json", "show", std::to_string(id)}).out);
  CHECK(shown["name"] == "Parser, renamed at the source");
  CHECK(shown["claim"].is_null());
  CHECK(run_tracker(b.root(), {"check"}).code == 0);
}

TEST_CASE("export then import gives back the same board: jsonl and backlog-md") {
  Board b;
  write(b.root() / "issues.jsonl", beads_issues(false));
  REQUIRE(run_tracker(b.root(), {"import", "beads", "issues.jsonl", "--map", "blocked=qa", "--map", "deferred=merge"}).code == 0);
  long a = b.create({"Tracker's own story", "--priority", "7", "--label", "x"});
  REQUIRE(run_tracker(b.root(), {"move", std::to_string(a), "archived"}).code == 0);
  auto original = by_source(b.root());

  // What identifies a story across boards: its name; what must come back: the rest.
  auto shape = [](const std::map<std::string, json>& stories) {
    std::map<long, std::string> name_of;
    for (const auto& [src, s] : stories) name_of[s["id"]] = s["name"];
    std::map<std::string, json> out;
    for (const auto& [src, s] : stories) {
      json deps = json::array();
      for (const auto& d : s["depends_on"]) deps.push_back(name_of[d.get<long>()]);
      out[s["name"]] = {{"stage", s["stage"]},
                        {"type", s["type"]},
                        {"priority", s["priority"]},
                        {"labels", s["labels"]},
                        {"depends_on", deps},
                        {"parent", s["parent"].is_null() ? json(nullptr) : json(name_of[s["parent"].get<long>()])},
                        {"body", s["body"]}};
    }
    return out;
  };

  auto exported = run_tracker(b.root(), {"export", "--format", "jsonl"});
  REQUIRE(exported.code == 0);
  Board other;
  write(other.root() / "board.jsonl", exported.out);
  auto back = run_tracker(other.root(), {"import", "beads", "board.jsonl"});
  INFO(back.err);
  REQUIRE(back.code == 0);
  auto copy = by_source(other.root());
  CHECK(copy.size() == original.size());
  CHECK(shape(copy) == shape(original));
  // The beads ids come back as the source's own.
  CHECK(copy.count("beads:bd-e1") == 1);
  require_sound(other.root());

  // Backlog.md: priorities 1 to 3 and the stages come back.
  Board small;
  small.create({"One", "--priority", "3", "--label", "a"});
  small.create({"Two", "--priority", "1", "--depends-on", "1"});
  long three = small.create({"Three"});
  REQUIRE(run_tracker(small.root(), {"set", std::to_string(three), "parent=1"}).code == 0);
  REQUIRE(run_tracker(small.root(), {"move", "2", "qa"}).code == 0);
  REQUIRE(run_tracker(small.root(), {"move", "1", "done"}).code == 3);  // its child is open
  REQUIRE(run_tracker(small.root(), {"move", "3", "archived"}).code == 0);
  auto to_dir = run_tracker(small.root(), {"export", "--format", "backlog-md", "--out", (small.root() / "out").string()});
  INFO(to_dir.err);
  REQUIRE(to_dir.code == 0);
  CHECK(fs::exists(small.root() / "out/config.yml"));
  CHECK(fs::exists(small.root() / "out/archive/tasks/task-3 - Three.md"));
  Board third;
  auto md = run_tracker(third.root(), {"import", "backlog-md", (small.root() / "out").string()});
  INFO(md.err);
  REQUIRE(md.code == 0);
  CHECK(shape(by_source(third.root())) == shape(by_source(small.root())));
  require_sound(third.root());
}

TEST_CASE("export csv: a header, one row per story, quoted cells") {
  Board b;
  b.create({"Plain"});
  b.create({"With, a comma and \"quotes\"", "--label", "a", "--label", "b"});
  auto r = run_tracker(b.root(), {"export", "--format", "csv"});
  REQUIRE(r.code == 0);
  auto rows = lines(r.out);
  REQUIRE(rows.size() == 3);
  CHECK(rows[0] == "id,type,stage,name,priority,labels,depends_on,parent,agent,blocked,created,source,body\r");
  CHECK(rows[2].find("2,story,backlog,\"With, a comma and \"\"quotes\"\"\",,a;b,") == 0);
  auto bad = run_tracker(b.root(), {"export", "--format", "xml"});
  CHECK(bad.code == 2);
  auto dir = run_tracker(b.root(), {"export", "--format", "backlog-md"});
  CHECK(dir.code == 2);
  CHECK(dir.err == "tracker: export --format backlog-md writes a directory: name it with --out DIR\n");
}

TEST_CASE("import across clones: ids from the remote, a re-import in the other clone changes nothing, edits merge") {
  SharedRemote remote(false);
  seed(remote, 3);
  Clone a(remote), b(remote);
  std::string text;
  for (int i = 1; i <= 30; ++i) {
    json j = {{"id", "bd-" + std::to_string(i)}, {"title", "Issue " + std::to_string(i)}, {"status", "open"}};
    if (i > 1 && i <= 5)
      j["dependencies"] = json::array({{{"issue_id", j["id"]}, {"depends_on_id", "bd-1"}, {"type", "parent-child"}}});
    text += j.dump() + "\n";
  }
  TempDir src;
  write(src / "issues.jsonl", text);
  const std::string file = (src / "issues.jsonl").string();

  // a imports while b creates a story: the ids come from the remote, so none is given twice.
  auto imported = run_tracker(a.root(), {"--json", "import", "beads", file});
  INFO(imported.err);
  REQUIRE(imported.code == 0);
  REQUIRE(run_tracker(b.root(), {"new", "Made in b"}).code == 0);
  REQUIRE(run_tracker(a.root(), {"sync"}).code == 0);
  auto synced = run_tracker(b.root(), {"sync"});
  INFO(synced.err);
  REQUIRE(synced.code == 0);
  CHECK(run_tracker(b.root(), {"check"}).code == 0);
  CHECK(by_source(b.root()).size() == 34);

  // b imports the same file again: nothing to change, no commit.
  std::string head = git(b.root(), {"rev-parse", "HEAD"});
  auto again = run_tracker(b.root(), {"import", "beads", file});
  CHECK(again.code == 0);
  CHECK(again.out.find("created 0, updated 0, unchanged 30") != std::string::npos);
  CHECK(git(b.root(), {"rev-parse", "HEAD"}) == head);

  // The source renames bd-2 and b imports it; a, meanwhile, blocks the same story.
  long two = by_source(a.root())["beads:bd-2"]["id"];
  auto at = text.find("\"Issue 2\"");
  text.replace(at, 9, "\"Issue 2, renamed\"");
  write(src / "issues.jsonl", text);
  REQUIRE(run_tracker(b.root(), {"import", "beads", file}).code == 0);
  REQUIRE(run_tracker(a.root(), {"block", std::to_string(two), "--reason", "legal"}).code == 0);
  REQUIRE(run_tracker(b.root(), {"sync"}).code == 0);
  auto merged = run_tracker(a.root(), {"sync"});
  INFO(merged.err);
  REQUIRE(merged.code == 0);
  json story = json::parse(run_tracker(a.root(), {"--json", "show", std::to_string(two)}).out);
  CHECK(story["name"] == "Issue 2, renamed");
  CHECK(story["blocked"] == true);
  CHECK(story["parent"] == by_source(a.root())["beads:bd-1"]["id"]);
  require_sound(a.root());

  // Both clones import a new record before either syncs: the board then holds it
  // twice, and the next import says so instead of guessing which is the record's.
  text += json({{"id", "bd-31"}, {"title", "Both"}, {"status", "open"}}).dump() + "\n";
  write(src / "issues.jsonl", text);
  REQUIRE(run_tracker(a.root(), {"import", "beads", file}).code == 0);
  REQUIRE(run_tracker(b.root(), {"import", "beads", file}).code == 0);
  REQUIRE(run_tracker(a.root(), {"sync"}).code == 0);
  REQUIRE(run_tracker(b.root(), {"sync"}).code == 0);
  auto twice = run_tracker(b.root(), {"import", "beads", file});
  CHECK(twice.code == 5);
  CHECK(twice.err.find("beads:bd-31 is on the board 2 times (#") != std::string::npos);
}
