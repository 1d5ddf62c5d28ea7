// Hostile and broken input: files that are not UTF-8, alias bombs, huge files,
// ids at their limits. Each is refused with a clear message, and every other story
// keeps working.
#include <catch2/catch.hpp>

#include "helpers.hpp"

#include <nlohmann/json.hpp>

using namespace testing;
using json = nlohmann::json;

namespace {

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

/// Every line of `err` is a JSON object (what --json promises on stderr).
void require_json_lines(const std::string& err) {
  for (const auto& line : lines(err)) {
    INFO(line);
    REQUIRE(json::parse(line).is_object());
  }
}

/// The check report of the board as JSON, with its exit code.
json check_report(const Board& board, int expected_code) {
  auto r = run_tracker(board.root(), {"--json", "check"});
  INFO(r.err);
  REQUIRE(r.code == expected_code);
  return json::parse(r.out);
}

/// The problems of `report` about `path`.
std::vector<json> problems_of(const json& report, const std::string& path) {
  std::vector<json> out;
  for (const auto& p : report["problems"])
    if (p["path"] == path) out.push_back(p);
  return out;
}

}  // namespace

TEST_CASE("a file that is not UTF-8 is malformed (check kind encoding), and every command works around it") {
  Board board;
  board.create({"Alpha"});
  board.create({"Beta"});
  const std::string legacy = "work/1_backlog/5_story_legacy.md", bad = "work/1_backlog/7_story_bad.md";
  write(board.root() / legacy, "---\nname: legacy\nlabels: [caf\xe9]\n---\n");
  write(board.root() / bad, "---\nname: \"\\\xaf\"\n---\n");
  git(board.root(), {"add", "work"});
  git(board.root(), {"commit", "-q", "-m", "legacy files"});

  json report = check_report(board, 5);
  auto legacy_problems = problems_of(report, legacy);
  REQUIRE(legacy_problems.size() == 1);
  CHECK(legacy_problems[0]["kind"] == "encoding");
  CHECK(legacy_problems[0]["line"] == 3);
  CHECK(contains(legacy_problems[0]["message"], "byte 0xE9"));
  REQUIRE(problems_of(report, bad).size() == 1);
  CHECK(problems_of(report, bad)[0]["kind"] == "encoding");

  // Every command, with --json: a clean exit code, JSON on stdout, JSON lines on stderr.
  const std::vector<std::pair<std::vector<std::string>, int>> commands = {
      {{"list"}, 0},
      {{"ready"}, 0},
      {{"search", "alpha"}, 0},
      {{"stats"}, 0},
      {{"show", "1"}, 0},
      {{"show", "5"}, 5},
      {{"show", "7"}, 5},
      {{"set", "7", "priority=2"}, 5},
      {{"set", "1", "priority=2"}, 0},
      {{"move", "2", "current"}, 0},
      {{"claim", "--owner", "bot"}, 0},
      {{"index", "rebuild"}, 0},
      {{"log"}, 0},
      {{"diff", "HEAD~3..HEAD"}, 0},
      {{"check"}, 5},
      {{"doctor", "--dry-run"}, 0},
  };
  for (const auto& [args, code] : commands) {
    std::vector<std::string> argv = {"--json"};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = run_tracker(board.root(), argv);
    INFO(join_lines(args) << "\n" << r.out << r.err);
    CHECK(r.code == code);
    if (code == 0) CHECK_NOTHROW(json::parse(r.out));
    require_json_lines(r.err);
  }
  // The plain-text warnings name the file and line.
  auto r = run_tracker(board.root(), {"list"});
  CHECK(contains(r.err, legacy + ":3: not valid UTF-8 text (byte 0xE9); save it as UTF-8 text"));
  CHECK(contains(r.out, "Alpha"));
}

TEST_CASE("text that is not UTF-8 is refused on the way in: names, labels, bodies, set values") {
  Board board;
  board.create({"Alpha"});
  int commits = board.commit_count();
  auto r = run_tracker(board.root(), {"new", "caf\xe9"});
  CHECK(r.code == 2);
  CHECK(r.err == "tracker: the story name is not valid UTF-8 text\n");
  CHECK(run_tracker(board.root(), {"new", "Cafe", "--label", "caf\xe9"}).code == 2);
  write(board.root() / "../body.txt", std::string("a\0b", 3));
  r = run_tracker(board.root(), {"new", "Cafe", "--body-file", (board.root() / "../body.txt").string()});
  CHECK(r.code == 2);
  CHECK(r.err == "tracker: the story body is not valid UTF-8 text\n");
  r = run_tracker(board.root(), {"--json", "set", "1", "note=caf\xe9"});
  CHECK(r.code == 2);
  CHECK(json::parse(r.err)["error"] == "the value of note is not valid UTF-8 text");
  CHECK(board.commit_count() == commits);
  CHECK(git(board.root(), {"status", "--porcelain"}).empty());
}

TEST_CASE("a story past the limits is malformed with a message naming the limit, and its neighbours are unaffected") {
  Board board;
  board.create({"Alpha"});
  fs::path backlog = board.root() / "work/1_backlog";
  // Billion laughs: 441 bytes that would expand to 10^8 values.
  std::string laughs = "---\nname: laughs\na0: &a0 [lol,lol,lol,lol,lol,lol,lol,lol,lol,lol]\n";
  for (int i = 1; i < 8; ++i) {
    laughs += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [";
    for (int k = 0; k < 10; ++k) laughs += (k ? ",*a" : "*a") + std::to_string(i - 1);
    laughs += "]\n";
  }
  write(backlog / "10_story_laughs.md", laughs + "---\n");
  write(backlog / "11_story_self.md", "---\nname: self\nx: &a [*a]\n---\n");
  std::string keys = "---\nname: keys\n";
  for (int i = 0; i < 1001; ++i) keys += "k" + std::to_string(i) + ": v\n";
  write(backlog / "12_story_keys.md", keys + "---\n");
  write(backlog / "13_story_big.md", "---\nname: big\n---\n" + std::string(1024 * 1024, 'x'));
  write(backlog / "14_story_deep.md", "---\nname: deep\nx: " + std::string(100, '[') + std::string(100, ']') + "\n---\n");

  json report = check_report(board, 5);
  auto message = [&](const std::string& file) {
    auto p = problems_of(report, "work/1_backlog/" + file);
    REQUIRE(p.size() == 1);
    CHECK(p[0]["kind"] == "malformed");
    return p[0]["message"].get<std::string>();
  };
  CHECK(message("10_story_laughs.md") ==
        "the front matter expands to more than 10000 values (aliases count each time they are used)");
  CHECK(contains(message("11_story_self.md"), "more than 64 deep"));
  CHECK(message("12_story_keys.md") == "the front matter has more than 1000 keys");
  CHECK(message("13_story_big.md") ==
        "the file is larger than 1048576 bytes, the most a story file may hold (limits.story_bytes in "
        ".tracker/config.yml)");
  CHECK(contains(message("14_story_deep.md"), "more than 64 deep"));
  auto r = run_tracker(board.root(), {"--json", "list"});
  REQUIRE(r.code == 0);
  CHECK(json::parse(r.out).size() == 1);
  CHECK(run_tracker(board.root(), {"set", "1", "priority=3"}).code == 0);

  // The size limit is configurable; a file just under it is read.
  std::string config = read(board.root() / ".tracker/config.yml");
  write(board.root() / ".tracker/config.yml", config + "\nlimits:\n  story_bytes: 2097152\n");
  report = check_report(board, 5);
  CHECK(problems_of(report, "work/1_backlog/13_story_big.md").empty());
  CHECK(json::parse(run_tracker(board.root(), {"--json", "show", "13"}).out)["name"] == "big");
  write(board.root() / ".tracker/config.yml", config + "\nlimits:\n  story_bytes: 12\n");
  r = run_tracker(board.root(), {"list"});
  CHECK(r.code == 5);
  CHECK(contains(r.err, "'story_bytes' must be a number of bytes from 1024 to 1073741824"));
}

TEST_CASE("a body from /dev/zero or past the size limit is refused before it is read to its end") {
  Board board;
  int commits = board.commit_count();
  auto r = run_tracker(board.root(), {"new", "Zero", "--body-file", "/dev/zero"});
  CHECK(r.code == 2);
  CHECK(r.err ==
        "tracker: --body-file '/dev/zero' is larger than 1048576 bytes, the most a story file may hold "
        "(limits.story_bytes in .tracker/config.yml)\n");
  RunOptions big;
  big.input = std::string(1024 * 1024 + 1, 'x');
  r = run_tracker(board.root(), {"new", "Big", "--body-file", "-"}, big);
  CHECK(r.code == 2);
  CHECK(contains(r.err, "--body-file '-' is larger than 1048576 bytes"));
  // A body that fits but makes the file too large with its front matter.
  big.input = std::string(1024 * 1024 - 10, 'x');
  r = run_tracker(board.root(), {"new", "Big", "--body-file", "-"}, big);
  CHECK(r.code == 2);
  CHECK(contains(r.err, "a story file holds at most 1048576"));
  CHECK(board.commit_count() == commits);
}

TEST_CASE("ids are decimal, from 1 to 999999999999999, and the id counter never overflows") {
  Board board;
  board.create({"Alpha"});
  for (const char* bad : {"0x1", "0", "-1", "abc", "+1", "1e3", " 1"}) {
    auto r = run_tracker(board.root(), {"show", bad});
    INFO(bad);
    CHECK(r.code == 2);
    CHECK(r.err == "tracker: invalid id '" + std::string(bad) + "': ids are positive integers\n");
  }
  CHECK(run_tracker(board.root(), {"show", "#1"}).code == 0);
  CHECK(run_tracker(board.root(), {"move", "#1", "current"}).code == 0);
  CHECK(run_tracker(board.root(), {"move", "0x1", "qa"}).err == "tracker: invalid id '0x1': ids are positive integers\n");
  CHECK(run_tracker(board.root(), {"show", "1000000000000000"}).err ==
        "tracker: invalid id '1000000000000000': ids are at most 999999999999999\n");
  CHECK(run_tracker(board.root(), {"list", "--limit", "0"}).err ==
        "tracker: invalid --limit '0': expected a whole number from 1 to 1000000\n");
  // Limits past their maxima: no wrap-around to a negative or an empty answer.
  CHECK(run_tracker(board.root(), {"list", "--limit", "1000001"}).err ==
        "tracker: invalid --limit '1000001': expected a whole number from 1 to 1000000\n");
  CHECK(run_tracker(board.root(), {"log", "--limit", "99999999999"}).code == 2);
  CHECK(run_tracker(board.root(), {"ready", "--limit", "18446744073709551615"}).code == 2);
  CHECK(run_tracker(board.root(), {"list", "--limit", "1000000"}).code == 0);
  RunResult pid = run_tracker(board.root(), {"claim", "1", "--owner", "a", "--pid", "4294967297"});
  CHECK(pid.code == 2);
  CHECK(contains(pid.err, "from 0 to 4194304"));
  CHECK(run_tracker(board.root(), {"claim", "1", "--owner", "a", "--pid", "-1"}).code == 2);

  // A damaged counter at INT64_MAX: refused, no file made.
  fs::path last_id = board.root() / ".git/tracker/last-id";
  write(last_id, "9223372036854775807\n");
  int commits = board.commit_count();
  auto r = run_tracker(board.root(), {"new", "Overflow"});
  CHECK(r.code == 5);
  CHECK(contains(r.err, "no story id is left: the highest in use is 9223372036854775807"));
  write(last_id, "999999999999998\n");
  r = run_tracker(board.root(), {"--json", "new", "Last"});
  REQUIRE(r.code == 0);
  CHECK(json::parse(r.out)["id"] == 999999999999999);
  CHECK(run_tracker(board.root(), {"new", "Past"}).code == 5);
  CHECK(board.commit_count() == commits + 1);
  CHECK(json::parse(run_tracker(board.root(), {"--json", "show", "999999999999999"}).out)["name"] == "Last");
}

TEST_CASE("reclaim of a dead holder's claim on a finished story ends the claim and leaves the story done") {
  Board board;
  board.create({"Finished"});
  // A claim tied to a process that has exited: its holder is dead at once.
  int pid = spawn({"true"});
  REQUIRE(wait_for(pid) == 0);
  REQUIRE(run_tracker(board.root(), {"claim", "1", "--owner", "bot", "--pid", std::to_string(pid)}).code == 0);
  // Moved into done by hand (tracker move would end the claim itself).
  fs::path from = board.root() / board.path_of(1);
  fs::rename(from, board.root() / "work/5_done" / from.filename());
  REQUIRE(run_tracker(board.root(), {"commit"}).code == 0);
  int commits = board.commit_count();
  auto r = run_tracker(board.root(), {"--json", "reclaim"});
  INFO(r.err);
  REQUIRE(r.code == 0);
  json changes = json::parse(r.out)["reclaimed"];
  REQUIRE(changes.size() == 1);
  CHECK(changes[0]["from"] == "done");
  CHECK(changes[0]["to"] == "done");
  CHECK(changes[0]["claim_only"] == true);
  CHECK(board.commit_count() == commits);
  json s = json::parse(run_tracker(board.root(), {"--json", "show", "1"}).out);
  CHECK(s["stage"] == "done");
  CHECK(s["claim"].is_null());
  CHECK(s["retry_count"] == 0);
  CHECK(run_tracker(board.root(), {"reclaim", "1"}).out == "#1 is not claimed; nothing to reclaim\n");
}

TEST_CASE("a stories directory or stage directory that git would refuse is refused") {
  TempDir dir;
  git(dir.path(), {"init", "-q"});
  for (const char* bad : {".git/board", ".GIT/board", "work/.Git", "a/.git./b", "x/git~1", "a//b", "a\\b"}) {
    INFO(bad);
    auto r = run_tracker(dir.path(), {"init", "--dir", bad});
    CHECK(r.code == 2);
    CHECK(contains(r.err, "bad stories directory '"));
    CHECK_FALSE(fs::exists(dir / ".tracker"));
  }
  Board board;
  std::string config = read(board.root() / ".tracker/config.yml");
  for (const char* bad : {"stories_dir: .git/board", "stories_dir: work/.GIT"}) {
    std::string text = config;
    text.replace(text.find("stories_dir: work"), 17, bad);
    write(board.root() / ".tracker/config.yml", text);
    auto r = run_tracker(board.root(), {"list"});
    INFO(bad);
    CHECK(r.code == 5);
    CHECK(contains(r.err, "git refuses a '"));
  }
  std::string text = config;
  text.replace(text.find("dir: 3_qa"), 9, "dir: git~1");
  write(board.root() / ".tracker/config.yml", text);
  auto r = run_tracker(board.root(), {"list"});
  CHECK(r.code == 5);
  CHECK(contains(r.err, "stage directory 'git~1' must be a plain directory name that git accepts"));
}

TEST_CASE("symbolic links are never followed: check reports them, move refuses them, commit leaves them out") {
  Board board;
  board.create({"Alpha"});
  board.create({"Beta"});
  TempDir outside;
  write(outside / "1_story_planted.md", "---\nname: Planted\n---\n");
  fs::remove_all(board.root() / "work/3_qa");
  fs::create_directory_symlink(outside.path(), board.root() / "work/3_qa");
  write(outside / "secret.md", "---\nname: Secret\n---\n");
  fs::create_symlink(outside / "secret.md", board.root() / "work/1_backlog/9_story_link.md");
  std::string head = git(board.root(), {"rev-parse", "HEAD"});

  json report = check_report(board, 5);
  auto qa = problems_of(report, "work/3_qa"), link = problems_of(report, "work/1_backlog/9_story_link.md");
  REQUIRE(qa.size() == 1);
  CHECK(qa[0]["kind"] == "symlink");
  REQUIRE(link.size() == 1);
  CHECK(link[0]["kind"] == "symlink");
  CHECK(report["problems"].size() == 2);  // the files behind the links are not the board's

  json list = json::parse(run_tracker(board.root(), {"--json", "list"}).out);
  CHECK(list.size() == 2);
  CHECK(run_tracker(board.root(), {"show", "9"}).code == 4);

  auto r = run_tracker(board.root(), {"move", "1", "qa"});
  CHECK(r.code == 5);
  CHECK(r.err == "tracker: work/3_qa is a symbolic link, and tracker never writes through one; make it a directory\n");
  CHECK(fs::exists(board.root() / "work/1_backlog/1_story_alpha.md"));
  CHECK(fs::directory_iterator(outside.path()) != fs::directory_iterator());
  CHECK_FALSE(fs::exists(outside / "1_story_alpha.md"));
  CHECK(run_tracker(board.root(), {"new", "Gamma", "--stage", "qa"}).code == 5);

  // A hand edit next to the links: commit takes it and leaves the links out.
  write(board.root() / "work/1_backlog/2_story_beta.md", "---\nname: Beta edited\n---\n");
  r = run_tracker(board.root(), {"commit"});
  INFO(r.err);
  CHECK(r.code == 0);
  CHECK(contains(r.err, "a symbolic link, left out: work/1_backlog/9_story_link.md"));
  CHECK(contains(r.err, "a symbolic link, left out: work/3_qa"));
  CHECK(git(board.root(), {"show", "--name-only", "--format=", "HEAD"}) == "work/1_backlog/2_story_beta.md\n");
  CHECK(git(board.root(), {"rev-parse", "HEAD~1"}) == head);
  auto fsck = run({"git", "-C", board.root().string(), "fsck", "--strict", "--no-dangling"});
  CHECK(fsck.code == 0);

  // A stories directory that is itself a link: one problem, nothing read through it.
  fs::rename(board.root() / "work", board.root() / "real-work");
  fs::create_directory_symlink("real-work", board.root() / "work");
  report = check_report(board, 5);
  REQUIRE(report["problems"].size() == 1);
  CHECK(report["problems"][0]["path"] == "work");
  CHECK(report["problems"][0]["kind"] == "symlink");
  CHECK(json::parse(run_tracker(board.root(), {"--json", "list"}).out).empty());
}

TEST_CASE("reads work in a read-only repository, from an index in memory, and writes fail cleanly") {
  if (!can_unshare()) {
    WARN("skipped: this machine gives tests no mount namespace");
    return;
  }
  Board board;
  board.create({"Alpha", "--priority", "3"});
  board.create({"Beta"});
  // The state directory is gone too: a fresh clone on a read-only mount has none.
  fs::remove_all(board.root() / ".git/tracker");
  BoardState before(board.root());
  auto r = in_namespace(
      "cd \"$D\" && mount --bind \"$D\" \"$D\" && mount -o remount,bind,ro \"$D\" && cd \"$D\" || exit 99\n"
      "for c in 'list' 'show 1' 'search alpha' 'check' 'stats' 'ready' 'log' 'index status'; do\n"
      "  out=$(\"$T\" --json $c 2>&1); echo \"$c=$?\"; done\n"
      "\"$T\" --json list | tr -d ' \\n'; echo\n"
      "\"$T\" index status | head -1\n"
      "\"$T\" set 1 priority=4 2>&1; echo \"set=$?\"\n"
      "\"$T\" new Gamma 2>&1; echo \"new=$?\"\n",
      board.root());
  INFO(r.out << r.err);
  REQUIRE(r.code == 0);
  for (const char* c : {"list", "show 1", "search alpha", "check", "stats", "ready", "log", "index status"})
    CHECK(contains(r.out, std::string(c) + "=0\n"));
  CHECK(contains(r.out, "\"id\":1,\"type\":\"story\",\"name\":\"Alpha\""));
  CHECK(contains(r.out, "index:        in memory: the state directory cannot be written"));
  CHECK(contains(r.out, "Read-only file system"));
  CHECK(contains(r.out, "set=1\n"));
  CHECK(contains(r.out, "new=1\n"));
  CHECK(BoardState(board.root()) == before);
}

TEST_CASE("a new story size limit is applied to every story at once, even one the index has trusted since") {
  Board board;
  write(board.root() / "work/1_backlog/13_story_big.md", "---\nname: big\n---\n" + std::string(1024 * 1024, 'x'));
  // Ten seconds later, as far as the index can tell: the file is past the racy
  // window, so its row is trusted as long as its stat is the same.
  RunOptions later;
  later.env["TRACKER_TEST_TIME_OFFSET"] = "10";
  auto r = run_tracker(board.root(), {"--json", "show", "13"}, later);
  CHECK(r.code == 5);
  std::string config = read(board.root() / ".tracker/config.yml");
  write(board.root() / ".tracker/config.yml", config + "\nlimits:\n  story_bytes: 2097152\n");
  r = run_tracker(board.root(), {"--json", "show", "13"}, later);
  REQUIRE(r.code == 0);
  CHECK(json::parse(r.out)["name"] == "big");
  // And back: the lower limit makes it malformed again.
  write(board.root() / ".tracker/config.yml", config);
  CHECK(run_tracker(board.root(), {"--json", "show", "13"}, later).code == 5);
}
