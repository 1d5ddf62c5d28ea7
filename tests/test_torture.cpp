// Concurrency torture: eight workers for a minute of random set, move, claim,
// release, done, link, edit (a scripted editor) and hand edits followed by
// `tracker commit`, on one board of 30 stories. Each worker writes only keys of its
// own, so the last change it was told succeeded is the value each of its keys must
// have at the end. Then: every story on disk once, HEAD equals the disk, git fsck
// --strict is clean, every acknowledged change is there, and check passes.
#include <catch2/catch.hpp>

#include "helpers.hpp"

#include <sys/wait.h>
#include <unistd.h>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <sstream>

using testing::Board;
using testing::git;
using testing::read;
using testing::run;
using testing::run_tracker;
using testing::RunOptions;
using testing::write;
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr int kWorkers = 8;
constexpr int kStories = 30;

/// One worker: random commands until `seconds` have passed. Every command that
/// succeeded and changed a key is logged as "<id> <key> <value>", and every link as
/// "<id> depends_on <other>". Runs in a child process.
void work(const fs::path& root, const fs::path& tools, int w, unsigned seed, int seconds, const fs::path& log_path) {
  std::mt19937 rng(seed);
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
  std::ofstream log(log_path);
  const std::string me = "w" + std::to_string(w);
  const std::vector<std::string> stages = {"backlog", "current", "qa", "done"};
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  for (int n = 0; std::chrono::steady_clock::now() < deadline; ++n) {
    int id = 1 + pick(kStories);
    std::string ids = std::to_string(id), value = std::to_string(n);
    switch (pick(8)) {
      case 0:
        if (run_tracker(root, {"set", ids, "s_" + me + "=" + value}).code == 0)
          log << id << " s_" << me << " " << value << "\n";
        break;
      case 1:
        run_tracker(root, {"move", ids, stages[static_cast<std::size_t>(pick(4))]});
        break;
      case 2:
        if (run_tracker(root, {"claim", ids, "--owner", me}).code == 0)
          run_tracker(root, {pick(2) ? "release" : "done", ids});
        break;
      case 3: {
        int other = 1 + pick(kStories);
        if (other != id && run_tracker(root, {"link", ids, std::to_string(other)}).code == 0)
          log << id << " depends_on " << other << "\n";
        break;
      }
      case 4: {
        // The scripted editor sets e_<me> to $VALUE, replacing the line if there is one.
        RunOptions o;
        o.env["VISUAL"] = (tools / "editor.sh").string();
        o.env["KEY"] = "e_" + me;
        o.env["VALUE"] = value;
        if (run_tracker(root, {"edit", ids}, o).code == 0) log << id << " e_" << me << " " << value << "\n";
        break;
      }
      case 5: {
        // A hand edit that takes the story's lock as tracker does (flock(1) on
        // <git-dir>/tracker/locks/<id>), then `tracker commit`.
        RunOptions o;
        o.env["ROOT"] = root.string();
        o.env["ID"] = ids;
        o.env["KEY"] = "h_" + me;
        o.env["VALUE"] = value;
        auto r = run({"flock", (root / ".git/tracker/locks" / ids).string(), (tools / "hand.sh").string()}, o);
        if (r.code == 0) {
          log << id << " h_" << me << " " << value << "\n";
          log.flush();
          auto c = run_tracker(root, {"commit", "-m", "hand edit by " + me});
          if (c.code != 0 && c.code != 6 && c.code != 3) {  // 6: another commit took it
            std::ofstream(log_path.string() + ".failed") << "exit " << c.code << ": " << c.err;
            std::_Exit(10);
          }
        }
        break;
      }
      default:
        run_tracker(root, {"set", ids, "priority=" + std::to_string(pick(5))});
    }
    log.flush();
  }
}

}  // namespace

TEST_CASE("torture: eight workers of random commands and hand edits for a minute lose nothing", "[stress]") {
  Board board;
  const fs::path root = board.root();
  for (int i = 1; i <= kStories; ++i)
    write(root / ("work/1_backlog/" + std::to_string(i) + "_story_t" + std::to_string(i) + ".md"),
          "---\nname: T" + std::to_string(i) + "\npriority: 1\n---\nBody of " + std::to_string(i) + ".\n");
  REQUIRE(run_tracker(root, {"commit", "-m", "seed"}).code == 0);
  fs::create_directories(root / ".git/tracker/locks");

  testing::TempDir tools;
  // KEY: VALUE, replacing the key's line or adding it before the closing line.
  const std::string set_key =
      "if grep -q \"^$KEY:\" \"$F\"; then sed -i \"s/^$KEY: .*/$KEY: $VALUE/\" \"$F\"; "
      "else awk -v k=\"$KEY\" -v v=\"$VALUE\" 'NR>1 && !done && /^---/ {print k\": \"v; done=1} {print}' \"$F\" "
      "> \"$F.new\" && cat \"$F.new\" > \"$F\" && rm -f \"$F.new\"; fi\n";
  write(tools / "editor.sh", "#!/bin/sh\nF=\"$1\"\n" + set_key);
  write(tools / "hand.sh",
        "#!/bin/sh\nF=$(ls \"$ROOT\"/work/*/\"$ID\"_*.md 2>/dev/null | head -1)\n[ -n \"$F\" ] || exit 1\n" + set_key);
  for (const char* f : {"editor.sh", "hand.sh"}) fs::permissions(tools / f, fs::perms::owner_all);

  unsigned seed = std::random_device{}();
  if (const char* s = std::getenv("TRACKER_TORTURE_SEED")) seed = static_cast<unsigned>(std::stoul(s));
  int seconds = 60;
  if (const char* s = std::getenv("TRACKER_TORTURE_SECONDS")) seconds = std::stoi(s);
  INFO("seed " << seed << " (TRACKER_TORTURE_SEED reruns it)");
  std::vector<pid_t> workers;
  for (int w = 0; w < kWorkers; ++w) {
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      work(root, tools.path(), w, seed + static_cast<unsigned>(w), seconds, tools / ("log" + std::to_string(w)));
      std::_Exit(0);
    }
    workers.push_back(pid);
  }
  for (pid_t pid : workers) {
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    std::string why;
    for (int w = 0; w < kWorkers; ++w)
      if (auto failed = tools / ("log" + std::to_string(w) + ".failed"); fs::exists(failed)) why += read(failed);
    INFO("a worker's tracker commit failed unexpectedly (exit 10): " << why);
    CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 0));
  }

  // Every story on disk exactly once, and HEAD equals the disk.
  std::map<int, int> copies;
  for (const auto& stage : fs::directory_iterator(root / "work"))
    for (const auto& f : fs::directory_iterator(stage.path())) {
      std::string name = f.path().filename().string();
      if (name.ends_with(".md")) ++copies[std::stoi(name)];
    }
  REQUIRE(copies.size() == static_cast<std::size_t>(kStories));
  for (const auto& [id, n] : copies) {
    INFO("story #" << id);
    CHECK(n == 1);
  }
  std::string status = git(root, {"status", "--porcelain", "--", "work"});
  INFO("git status:\n" << status << git(root, {"diff", "HEAD", "--", "work"}));
  CHECK(status.empty());
  auto fsck = run({"git", "-C", root.string(), "fsck", "--strict", "--no-dangling"});
  INFO(fsck.out << fsck.err);
  CHECK(fsck.code == 0);

  // Every acknowledged change is there: the last value of each worker's own keys,
  // and every link.
  std::map<std::pair<int, std::string>, std::string> expected;
  std::set<std::pair<int, int>> links;
  std::size_t acknowledged = 0;
  for (int w = 0; w < kWorkers; ++w) {
    std::istringstream in(read(tools / ("log" + std::to_string(w))));
    int id = 0;
    std::string key, value;
    while (in >> id >> key >> value) {
      ++acknowledged;
      if (key == "depends_on")
        links.insert({id, std::stoi(value)});
      else
        expected[{id, key}] = value;
    }
  }
  WARN("acknowledged changes: " << acknowledged << " on " << expected.size() << " keys, " << links.size()
                                << " links");
  REQUIRE(acknowledged > 0);
  std::map<int, json> shown;
  for (const auto& s : json::parse(run_tracker(root, {"list", "--json"}).out)) shown[s["id"].get<int>()] = s;
  for (const auto& [where, value] : expected) {
    const json& fields = shown[where.first]["fields"];
    std::string found = fields.contains(where.second) ? fields[where.second].dump() : "(none)";
    if (found == value) continue;
    // Only a lost change pays for its story's history.
    INFO("#" << where.first << " " << where.second << "\n"
              << git(root, {"log", "--format=%h %s", "--", "work/*/" + std::to_string(where.first) + "_*"}));
    CHECK(found == value);
  }
  for (const auto& [id, dep] : links) {
    INFO("#" << id << " depends on #" << dep);
    const json& deps = shown[id]["depends_on"];
    CHECK(std::find(deps.begin(), deps.end(), json(dep)) != deps.end());
  }
  auto check = run_tracker(root, {"check"});
  INFO(check.out << check.err);
  CHECK(check.code == 0);
}
