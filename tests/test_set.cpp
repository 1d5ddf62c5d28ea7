// set / unset: golden files for every kind of key, and every bad input.
#include <catch2/catch.hpp>

#include "helpers.hpp"

#include <nlohmann/json.hpp>

using namespace testing;
using nlohmann::json;

namespace {

std::vector<std::string> fields_of(const std::string& line) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (true) {
    auto tab = line.find('\t', pos);
    out.push_back(line.substr(pos, tab == std::string::npos ? std::string::npos : tab - pos));
    if (tab == std::string::npos) return out;
    pos = tab + 1;
  }
}

/// A board with stories 1-3 and the golden story #9 committed as `text`.
struct GoldenBoard {
  Board board;
  std::string path = "work/1_backlog/9_story_golden.md";
  explicit GoldenBoard(const std::string& text) {
    for (int i = 0; i < 3; ++i) board.create({"Dependency " + std::to_string(i + 1)});
    write(board.root() / path, text);
    git(board.root(), {"add", "-A"});
    git(board.root(), {"commit", "-qm", "golden"});
  }
};

}  // namespace

TEST_CASE("set and unset change only the lines of their keys (golden files)") {
  std::vector<std::string> cases;
  for (const auto& e : fs::directory_iterator(GOLDEN_DIR "/set"))
    if (e.path().extension() == ".args") cases.push_back(e.path().stem().string());
  std::sort(cases.begin(), cases.end());
  REQUIRE(cases.size() >= 15);
  for (const auto& name : cases) {
    SECTION(name) {
      fs::path dir = fs::path(GOLDEN_DIR) / "set";
      auto spec = lines(read(dir / (name + ".args")));
      REQUIRE(spec.size() == 2);
      GoldenBoard g(read(dir / (name + ".before.md")));
      // The line edits alone: a new name would also rename the file (tested in test_first_hour).
      std::vector<std::string> args = fields_of(spec[0]);
      if (args.front() == "set") args.push_back("--keep-file-name");
      auto r = run_tracker(g.board.root(), args);
      INFO(r.err);
      REQUIRE(r.code == 0);
      CHECK(read(g.board.root() / g.path) == read(dir / (name + ".after.md")));
      // The commit holds exactly that change: these added and removed line counts.
      CHECK(git(g.board.root(), {"diff", "--numstat", "HEAD~1", "HEAD"}) == spec[1] + "\t" + g.path + "\n");
      CHECK(git(g.board.root(), {"status", "--porcelain"}).empty());
      CHECK(run_tracker(g.board.root(), {"check"}).code == 0);
    }
  }
}

TEST_CASE("set: one line out, one line in, one commit that names the change") {
  Board board;
  board.create({"Alpha", "--priority", "1"});
  auto r = run_tracker(board.root(), {"set", "1", "priority=3"});
  REQUIRE(r.code == 0);
  CHECK(r.out == "#1: priority 1 -> 3\n");
  CHECK(git(board.root(), {"log", "-1", "--format=%s"}) == "tracker: set #1 (priority 1 -> 3)\n");
  std::string diff = git(board.root(), {"diff", "-U0", "HEAD~1", "HEAD"});
  CHECK(diff.find("\n-priority: 1\n+priority: 3\n") != std::string::npos);

  r = run_tracker(board.root(), {"set", "1", "labels=ui,api", "team=core", "--json"});
  REQUIRE(r.code == 0);
  json j = json::parse(r.out);
  CHECK(j["changes"] == json::array({"labels +ui +api", "team (none) -> core"}));
  CHECK(j["commit"].is_string());
  json shown = json::parse(run_tracker(board.root(), {"show", "1", "--json"}).out);
  CHECK(shown["labels"] == json::array({"ui", "api"}));
  CHECK(shown["fields"]["team"] == "core");

  // The same values again: nothing to commit.
  int commits = board.commit_count();
  r = run_tracker(board.root(), {"set", "1", "priority=3", "labels=api,ui"});
  CHECK(r.code == 0);
  CHECK(r.out == "#1: nothing to change\n");
  CHECK(board.commit_count() == commits);

  r = run_tracker(board.root(), {"unset", "1", "team", "labels", "nothere"});
  CHECK(r.code == 0);
  CHECK(r.out == "#1: labels -ui -api, team core -> (none)\n");
  CHECK(git(board.root(), {"log", "-1", "--format=%s"}) ==
        "tracker: unset #1 (labels -ui -api, team core -> (none))\n");
}

TEST_CASE("set refuses bad values with exit 2 and changes nothing") {
  Board board;
  board.create({"Alpha"});
  board.create({"Beta", "--depends-on", "1"});
  std::string before = read(board.root() / board.path_of(1));
  int commits = board.commit_count();
  struct Bad {
    std::vector<std::string> args;
    int code;
    std::string message;
  };
  std::vector<Bad> bad = {
      {{"set", "1", "priority=high"}, 2, "priority must be an integer, got 'high'"},
      {{"set", "1", "priority="}, 2, "priority must be an integer, got ''"},
      {{"set", "1", "retry_count=-1"}, 2, "retry_count cannot be negative"},
      {{"set", "1", "blocked=maybe"}, 2, "blocked must be true or false, got 'maybe'"},
      {{"set", "1", "created=yesterday"}, 2, "created must be a time like 2026-11-23T07:41:00Z, got 'yesterday'"},
      {{"set", "1", "name= "}, 2, "name cannot be empty; use tracker unset 1 name"},
      {{"set", "1", "priorty=2"}, 2, "unknown key 'priorty' (did you mean 'priority'?)"},
      {{"set", "1", "stage=done"}, 2, "stage is the story's directory; use tracker move 1 <stage>"},
      {{"set", "1", "type=bgu"}, 2, "unknown type 'bgu' (did you mean 'bug'?); types are: story, bug, spike, refactor"},
      {{"unset", "1", "type"}, 2, "every story has a type; give type=<type> (story, bug, spike, refactor)"},
      {{"set", "1", "id=5"}, 2, "the id names the story for good; tracker renumber 1 gives it a fresh one"},
      {{"set", "1", "priority"}, 2, "'priority' is not key=value (to remove a key: tracker unset 1 priority)"},
      {{"set", "1", "=3"}, 2, "'=3' is not key=value (to remove a key: tracker unset 1 =3)"},
      {{"set", "1", "two words=x"}, 2, "'two words' is not a valid key"},
      {{"set", "1", "priority=1", "priority=2"}, 2, "key 'priority' is given twice"},
      {{"set", "1", "name=two\nlines"}, 2, "name: values are one line; use tracker edit for more"},
      {{"set", "1", "depends_on=x"}, 2, "depends_on takes story ids, got 'x'"},
      {{"set", "1", "depends_on=9"}, 4, "no story #9"},
      {{"set", "1", "depends_on=1"}, 5, "story #1 cannot depend on itself"},
      {{"set", "1", "depends_on=2"}, 5, "depends_on 2 would make a dependency cycle: #1 -> #2 -> #1"},
      {{"set", "7", "priority=1"}, 4, "no story #7"},
      {{"set", "1"}, 2, ""},
      {{"unset", "1", "priority=1"}, 2, "unset takes key names, not 'priority=1' (to change a value: tracker set)"},
  };
  for (const auto& b : bad) {
    auto r = run_tracker(board.root(), b.args);
    INFO(b.args[2 < b.args.size() ? 2 : 0]);
    CHECK(r.code == b.code);
    if (!b.message.empty()) CHECK(r.err == "tracker: " + b.message + "\n");
  }
  CHECK(read(board.root() / board.path_of(1)) == before);
  CHECK(board.commit_count() == commits);
  CHECK(git(board.root(), {"status", "--porcelain"}).empty());
}

TEST_CASE("set and unset refuse what they cannot do line by line, and say to use edit") {
  Board board;
  board.create({"Alpha"});
  fs::path file = board.root() / board.path_of(1);
  // A key YAML reads but no line starts with: unset cannot remove it.
  write(file, "---\nname: Alpha\n\"owner\": ann\n---\n");
  git(board.root(), {"commit", "-qam", "quoted key"});
  auto r = run_tracker(board.root(), {"unset", "1", "owner"});
  CHECK(r.code == 2);
  CHECK(r.err == "tracker: cannot unset owner: it is not written as a plain 'owner:' line; use tracker edit 1\n");
  // A quoted value that runs on into unindented lines (yaml-cpp reads it): replacing
  // its first line would make the rest keys of their own. Refused, nothing written.
  write(file, "---\nname: \"Alpha\nlocked: true\"\nnote: x\n---\n");
  git(board.root(), {"commit", "-qam", "multi-line name"});
  std::string before = read(file);
  REQUIRE(json::parse(run_tracker(board.root(), {"--json", "show", "1"}).out)["name"] == "Alpha locked: true");
  r = run_tracker(board.root(), {"set", "1", "name=Beta"});
  CHECK(r.code == 2);
  CHECK(r.err == "tracker: the change would also change locked (the front matter is written in a way set cannot edit "
                 "line by line); use tracker edit 1\n");
  CHECK(read(file) == before);
  // A value continued on indented lines is replaced whole.
  write(file, "---\nname: Alpha\nnote: two\n  lines\n---\n");
  git(board.root(), {"commit", "-qam", "indented continuation"});
  CHECK(run_tracker(board.root(), {"set", "1", "note=one"}).code == 0);
  CHECK(read(file) == "---\nname: Alpha\nnote: one\n---\n");
}
