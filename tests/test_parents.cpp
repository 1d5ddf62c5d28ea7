// Parent stories: the `parent` key, its rules at every command that writes it,
// `tree`, progress, the ready rule and the refusal to finish a parent early.
#include <catch2/catch.hpp>

#include "helpers.hpp"

#include <tracker/story.hpp>

#include <sys/stat.h>

#include <nlohmann/json.hpp>

using namespace testing;
using nlohmann::json;

namespace {

/// #1 Payments epic, children #2 Card form and #3 Refunds, and #4 Refund API under #3.
struct Epic {
  Board board;
  Epic() {
    board.create({"Payments epic"});
    board.create({"Card form", "--parent", "1"});
    board.create({"Refunds", "--parent", "1"});
    board.create({"Refund API", "--parent", "3"});
  }
  const fs::path& root() const { return board.root(); }
  RunResult run(const std::vector<std::string>& args) { return run_tracker(root(), args); }
};

}  // namespace

TEST_CASE("parent: new --parent and set parent write the key, unset removes it") {
  Epic e;
  CHECK(read(e.root() / e.board.path_of(2)).find("\nparent: 1\n") != std::string::npos);
  auto r = e.run({"set", "4", "parent=#1"});
  INFO(r.err);
  REQUIRE(r.code == 0);
  CHECK(read(e.root() / e.board.path_of(4)).find("\nparent: 1\n") != std::string::npos);
  CHECK(git(e.root(), {"log", "-1", "--format=%s"}) == "tracker: set #4 (parent 3 -> 1)\n");
  REQUIRE(e.run({"unset", "4", "parent"}).code == 0);
  CHECK(read(e.root() / e.board.path_of(4)).find("parent:") == std::string::npos);
  json shown = json::parse(e.run({"--json", "show", "2"}).out);
  CHECK(shown["parent"] == 1);
  CHECK(shown["progress"].is_null());
  CHECK(json::parse(e.run({"--json", "show", "1"}).out)["progress"] == json{{"done", 0}, {"total", 2}});
  CHECK(run({"git", "-C", e.root().string(), "fsck", "--strict", "--no-progress"}).code == 0);
}

TEST_CASE("parent: a missing parent, the story itself, a cycle and a bad value are refused, nothing written") {
  Epic e;
  BoardState before(e.root());
  auto missing = e.run({"set", "2", "parent=99"});
  CHECK(missing.code == 4);
  CHECK(missing.err == "tracker: no story #99 to be the parent of #2\n");
  auto self = e.run({"set", "2", "parent=2"});
  CHECK(self.code == 5);
  CHECK(self.err == "tracker: story #2 cannot be its own parent\n");
  auto cycle = e.run({"set", "1", "parent=4"});
  CHECK(cycle.code == 5);
  CHECK(cycle.err == "tracker: parent 4 would make a cycle of parents: #1 -> #4 -> #3 -> #1\n");
  auto bad = e.run({"set", "2", "parent=epic"});
  CHECK(bad.code == 2);
  CHECK(bad.err == "tracker: parent takes a story id, got 'epic'\n");
  CHECK(e.run({"new", "Orphan", "--parent", "99"}).code == 4);
  CHECK(e.run({"new", "Orphan", "--parent", "x"}).code == 2);
  CHECK(BoardState(e.root()) == before);
}

TEST_CASE("parent: tree draws the hierarchy with stages and progress") {
  Epic e;
  e.board.create({"Loose story"});
  REQUIRE(e.run({"move", "2", "done"}).code == 0);
  auto r = e.run({"tree"});
  REQUIRE(r.code == 0);
  CHECK(r.out ==
        "#1 Payments epic  backlog  1/2 done\n"
        "├─ #2 Card form  done\n"
        "└─ #3 Refunds  backlog  0/1 done\n"
        "   └─ #4 Refund API  backlog\n"
        "#5 Loose story  backlog\n");
  CHECK(e.run({"tree", "3"}).out == "#3 Refunds  backlog  0/1 done\n└─ #4 Refund API  backlog\n");
  CHECK(e.run({"tree", "3", "--limit", "1"}).out == "#3 Refunds  backlog  0/1 done\n");
  CHECK(e.run({"tree", "42"}).code == 4);
  json nodes = json::parse(e.run({"--json", "tree"}).out);
  REQUIRE(nodes.size() == 5);
  CHECK(nodes[3] == json{{"id", 4}, {"name", "Refund API"}, {"type", "story"}, {"stage", "backlog"},
                         {"depth", 2}, {"parent", 3}, {"progress", nullptr}});
  CHECK(nodes[0]["progress"] == json{{"done", 1}, {"total", 2}});
  CHECK(e.run({"list", "--parent", "1"}).out.find("Card form") != std::string::npos);
  json children = json::parse(e.run({"--json", "list", "--parent", "3"}).out);
  REQUIRE(children.size() == 1);
  CHECK(children[0]["id"] == 4);
  CHECK(json::parse(e.run({"--json", "list", "--parent", "4"}).out).empty());
  auto board = e.run({"board"});
  // The card's second line carries its children's progress (#1's: 1 of 2 done).
  CHECK(board.out.find("  1/2") != std::string::npos);
}

TEST_CASE("parent: a hand-written parent that is missing or loops is drawn as a root and named by check") {
  Epic e;
  // #2 names a story that is gone; #3 and #4 name each other.
  auto rewrite = [&](long id, const std::string& from, const std::string& to) {
    fs::path p = e.root() / e.board.path_of(id);
    std::string text = read(p);
    text.replace(text.find(from), from.size(), to);
    write(p, text);
  };
  e.board.create({"Below the loop", "--parent", "3"});
  rewrite(2, "parent: 1", "parent: 77");
  rewrite(3, "parent: 1", "parent: 4");
  auto tree = e.run({"tree"});
  REQUIRE(tree.code == 0);
  CHECK(tree.out.find("#2 Card form  backlog  (parent #77 is not a story above it)") != std::string::npos);
  CHECK(tree.out.find("#1 Payments epic  backlog\n") != std::string::npos);
  // #3 and #4 are roots (their loop has no top); #5 hangs under #3, where it was.
  CHECK(tree.out.find("#3 Refunds  backlog  0/2 done  (parent #4 is not a story above it)\n└─ #5 Below the loop  "
                      "backlog\n") != std::string::npos);
  CHECK(tree.out.find("(parent #3 is not a story above it)") != std::string::npos);  // #4
  CHECK(tree.out.find("#5 Below the loop  backlog  (parent") == std::string::npos);
  auto check = e.run({"check"});
  CHECK(check.code == 5);
  CHECK(check.out.find("parent: no story #77") != std::string::npos);
  CHECK(check.out.find("parent cycle: #3 -> #4 -> #3") != std::string::npos);
}

TEST_CASE("parent: a parent with open children is not ready, cannot be claimed, and is finished only after them") {
  Epic e;
  CHECK(e.run({"ready"}).out.find("Payments epic") == std::string::npos);
  CHECK(e.run({"ready"}).out.find("Refunds") == std::string::npos);  // its child #4 is open
  CHECK(e.run({"ready"}).out.find("Refund API") != std::string::npos);
  auto claim = e.run({"claim", "1", "--owner", "ann"});
  CHECK(claim.code == 3);
  CHECK(claim.err.find("story #1 is a parent whose children are not done: #2 (backlog), #3 (backlog)") !=
        std::string::npos);

  BoardState before(e.root());
  auto done = e.run({"done", "1"});
  CHECK(done.code == 3);
  CHECK(done.err ==
        "tracker: story #1 has children that are not done: #2 (backlog), #3 (backlog); finish them first, or "
        "finish it anyway with --force\n");
  CHECK(e.run({"move", "3", "done"}).code == 3);
  CHECK(e.run({"archive", "3"}).code == 3);
  CHECK(BoardState(e.root()) == before);

  // Children that go with it in the same move count as done.
  auto together = e.run({"move", "3", "4", "done"});
  INFO(together.err);
  REQUIRE(together.code == 0);
  CHECK(e.run({"ready"}).out.find("Payments epic") == std::string::npos);  // #2 is still open
  REQUIRE(e.run({"done", "2"}).code == 0);
  CHECK(e.run({"ready"}).out.find("Payments epic") != std::string::npos);
  REQUIRE(e.run({"done", "1"}).code == 0);
  CHECK(json::parse(e.run({"--json", "show", "1"}).out)["progress"] == json{{"done", 2}, {"total", 2}});
}

TEST_CASE("parent: a parent is deleted only with its children, or by force") {
  Epic e;
  BoardState before(e.root());
  auto r = e.run({"delete", "3"});
  CHECK(r.code == 3);
  CHECK(r.err.find("story #3 is the parent of #4") != std::string::npos);
  CHECK(BoardState(e.root()) == before);
  REQUIRE(e.run({"delete", "3", "4"}).code == 0);
  REQUIRE(e.run({"delete", "1", "--force"}).code == 0);
  auto check = e.run({"check"});
  CHECK(check.code == 5);
  CHECK(check.out.find("parent: no story #1") != std::string::npos);
}

TEST_CASE("parent: done --force finishes a parent whose children are open") {
  Epic e;
  auto r = e.run({"done", "1", "--force"});
  INFO(r.err);
  REQUIRE(r.code == 0);
  CHECK(e.board.path_of(1).find("done") != std::string::npos);
  CHECK(e.run({"claim", "3", "--owner", "ann", "--force"}).code == 0);
}

TEST_CASE("parent: renumber rewrites the children's parent") {
  Epic e;
  auto r = e.run({"renumber", "3"});
  INFO(r.err);
  REQUIRE(r.code == 0);
  CHECK(read(e.root() / e.board.path_of(4)).find("\nparent: 5\n") != std::string::npos);
  CHECK(git(e.root(), {"status", "--porcelain"}).empty());
  CHECK(e.run({"check"}).code == 0);
  CHECK(e.run({"tree", "5"}).out == "#5 Refunds  backlog  0/1 done\n└─ #4 Refund API  backlog\n");
}

TEST_CASE("parent: flow --parent counts only that story's children") {
  Epic e;
  e.board.create({"Elsewhere"});
  REQUIRE(e.run({"move", "2", "5", "done"}).code == 0);
  json all = json::parse(e.run({"--json", "flow"}).out);
  json epic = json::parse(e.run({"--json", "flow", "--parent", "1"}).out);
  auto done_count = [](const json& f) {
    std::int64_t n = 0;
    for (const auto& w : f["throughput"]) n += w["done"].get<std::int64_t>();
    return n;
  };
  CHECK(done_count(all) == 2);
  CHECK(done_count(epic) == 1);
}

TEST_CASE("parent: the merge driver takes a parent changed on one side, and a different change on both is a conflict") {
  tracker::Story where;
  where.id = 5;
  where.type = "story";
  where.stage = "backlog";
  auto lines3 = [](std::string_view, std::string_view o, std::string_view) {
    return tracker::StoryFileMerge{std::string(o), 1};
  };
  std::string base = "---\nname: X\nparent: 1\n---\n";
  auto one_side = tracker::merge_story_file(where, base, "---\nname: X\nparent: 2\n---\n",
                                            "---\nname: Y\nparent: 1\n---\n", {}, lines3);
  CHECK(one_side.conflicts == 0);
  CHECK(one_side.text == "---\nname: Y\nparent: 2\n---\n");
  auto both = tracker::merge_story_file(where, base, "---\nname: X\nparent: 2\n---\n",
                                        "---\nname: X\nparent: 3\n---\n", {}, lines3);
  CHECK(both.conflicts == 1);
  CHECK(both.text.find("<<<<<<<") != std::string::npos);
}

TEST_CASE("parent: edit keeps the rule - a cycle or a missing parent written in the editor is refused") {
  Epic e;
  BoardState before(e.root());
  fs::path editor = e.root() / ".." / (e.root().filename().string() + "-editor.sh");
  auto edit_with = [&](const std::string& sed) {
    write(editor, "#!/bin/sh\nsed -i '" + sed + "' \"$1\"\n");
    ::chmod(editor.c_str(), 0755);
    RunOptions o;
    o.cwd = e.root();
    o.env["VISUAL"] = editor.string();
    return run({TRACKER_BIN, "edit", "1"}, o);
  };
  auto cycle = edit_with("s/^name: Payments epic$/name: Payments epic\\nparent: 4/");
  CHECK(cycle.code == 5);
  CHECK(cycle.err.find("parent: parent 4 would make a cycle of parents: #1 -> #4 -> #3 -> #1") != std::string::npos);
  auto missing = edit_with("s/^name: Payments epic$/name: Payments epic\\nparent: 40/");
  CHECK(missing.code == 5);
  CHECK(missing.err.find("parent: no story #40 to be the parent of #1") != std::string::npos);
  CHECK(BoardState(e.root()) == before);
  fs::remove(editor);
}

TEST_CASE("parent: two processes closing a cycle at once - one wins, the other is refused, never both", "[stress]") {
  for (int round = 0; round < 10; ++round) {
    Board b;
    b.create({"A"});
    b.create({"B"});
    RunOptions o;
    o.cwd = b.root();
    o.env["TRACKER_OWNER"] = "x";
    int one = spawn({TRACKER_BIN, "set", "1", "parent=2"}, o);
    int two = spawn({TRACKER_BIN, "set", "2", "parent=1"}, o);
    int a = wait_for(one), c = wait_for(two);
    INFO("round " << round << ": exit codes " << a << " and " << c);
    CHECK(((a == 0 && c == 5) || (a == 5 && c == 0)));
    auto check = run_tracker(b.root(), {"check"});
    CHECK(check.code == 0);
    CHECK(git(b.root(), {"status", "--porcelain"}).empty());
  }
}
