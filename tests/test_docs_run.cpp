// The docs run as written: the README's tour, and every shell block of docs/*.md
// marked `<!-- runnable -->`, run in a fresh directory with the tracker under
// test first on PATH, on a git whose default branch is `master` and on one whose
// default is `main`. A block that no longer runs is a broken promise to a reader.
#include <catch2/catch.hpp>

#include "helpers.hpp"

#include <fstream>
#include <sstream>

using namespace testing;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

/// The lines of the first ```sh block after the line `after` in `text`.
std::string block_after(const std::string& text, const std::string& after) {
  auto at = text.find(after);
  if (at == std::string::npos) return "";
  auto open = text.find("```sh\n", at);
  if (open == std::string::npos) return "";
  open += 6;
  return text.substr(open, text.find("```", open) - open);
}

/// Every ```sh block of docs/*.md right after a `<!-- runnable -->` line, by file.
std::vector<std::pair<std::string, std::string>> runnable_blocks() {
  std::vector<std::pair<std::string, std::string>> out;
  std::vector<fs::path> docs;
  for (const auto& e : fs::directory_iterator(fs::path(TRACKER_SOURCE_DIR) / "docs"))
    if (e.path().extension() == ".md") docs.push_back(e.path());
  std::sort(docs.begin(), docs.end());
  for (const auto& p : docs) {
    std::string text = slurp(p);
    const std::string mark = "<!-- runnable -->\n```sh\n";
    for (auto at = text.find(mark); at != std::string::npos; at = text.find(mark, at + 1)) {
      auto begin = at + mark.size();
      out.emplace_back(p.filename().string(), text.substr(begin, text.find("```", begin) - begin));
    }
  }
  return out;
}

}  // namespace

TEST_CASE("the README's tour and the runnable blocks of the docs run as written, on master and on main") {
  std::string tour = block_after(slurp(fs::path(TRACKER_SOURCE_DIR) / "README.md"), "## A five-minute tour");
  REQUIRE(tour.find("tracker init") != std::string::npos);
  auto blocks = runnable_blocks();
  REQUIRE(!blocks.empty());
  for (const char* branch : {"master", "main"}) {
    INFO("init.defaultBranch " << branch);
    TempDir home;
    write(home.path() / ".gitconfig", std::string("[user]\n\tname = Reader\n\temail = reader@example.com\n[init]\n\tdefaultBranch = ") +
                                          branch + "\n");
    RunOptions o;
    o.cwd = home.path();
    o.env["HOME"] = home.path().string();
    o.env["GIT_CONFIG_NOSYSTEM"] = "1";
    o.env["PATH"] = fs::path(TRACKER_BIN).parent_path().string() + ":" + std::string(std::getenv("PATH"));
    o.env["TRACKER_OWNER"] = "\x01unset";
    o.env["NO_COLOR"] = "1";
    // The tour, line by line as a reader types it; then each runnable block of the
    // docs in the board the tour made.
    std::string script = "set -eu\nset -x\n" + tour;
    for (const auto& [file, block] : blocks) {
      INFO(file);
      CHECK(!block.empty());
      script += "# " + file + "\n" + block;
    }
    auto r = run({"bash", "-c", script}, o);
    INFO(r.err);
    CHECK(r.code == 0);
    CHECK(r.out.find("no story is ready:\n  #2") != std::string::npos);  // ready --explain says why
    CHECK(git(home.path() / "myrepo", {"branch", "--show-current"}) == std::string(branch) + "\n");
  }
}
