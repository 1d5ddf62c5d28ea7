#include <catch2/catch.hpp>

#include <tracker/config.hpp>
#include <tracker/error.hpp>

using namespace tracker;

TEST_CASE("the default config renders and parses back") {
  Config c = Config::defaults();
  Config back = Config::parse(c.render(), "config.yml");
  REQUIRE(back.stages.size() == 6);
  CHECK(back.stages[1].name == "current");
  CHECK(back.stages[1].dir == "2_current");
  CHECK(back.stories_dir == "work");
  CHECK(back.ready_stages == std::vector<std::string>{"backlog"});
  CHECK(back.done_stages == std::vector<std::string>{"done", "archived"});
  CHECK(back.types == std::vector<std::string>{"story", "bug", "spike", "refactor"});
  CHECK(back.claim_ttl_seconds == 900);
  CHECK(back.claim_move_to == "current");
  CHECK(back.commit);
  CHECK_FALSE(back.watch);
  CHECK(Config::parse("stages: [a]\nindex:\n  watch: true\n", "cfg.yml").watch);
  CHECK_FALSE(Config::parse("stages: [a]\nindex: {watch: no}\n", "cfg.yml").watch);
  CHECK(back.is_ready_stage("backlog"));
  CHECK_FALSE(back.is_ready_stage("current"));
  CHECK(back.is_done_stage("archived"));
  CHECK_FALSE(back.is_done_stage("qa"));
  CHECK(back.stage_order("qa") == 2);
  CHECK(back.stage_order("nope") == -1);
}

TEST_CASE("stages are found by name or directory") {
  Config c = Config::defaults();
  CHECK(c.stage("current").dir == "2_current");
  CHECK(c.stage("2_current").name == "current");
  try {
    c.stage("curent");
    FAIL("no error");
  } catch (const UsageError& e) {
    CHECK(std::string(e.what()).find("did you mean 'current'?") != std::string::npos);
  }
}

TEST_CASE("a huskies-style config") {
  Config c = Config::parse(
      "stories_dir: .huskies/work\n"
      "stages: [backlog, current, qa, merge, done, archived]\n"
      "types: [story, bug, spike, refactor, chore]\n"
      "claim: {ttl: 2h, move_to: current}\n",
      "c.yml");
  CHECK(c.stories_dir == ".huskies/work");
  CHECK(c.stages[5].dir == "6_archived");
  CHECK(c.is_known_type("chore"));
  CHECK(c.claim_ttl_seconds == 7200);
}

static std::string error_of(const std::string& yaml) {
  try {
    Config::parse(yaml, "cfg.yml");
  } catch (const InvalidDataError& e) {
    return e.what();
  }
  return "";
}

TEST_CASE("a bad config is reported with its line") {
  CHECK(error_of("stages: [a, b\n").starts_with("cfg.yml:"));
  CHECK(error_of("stories_dir: work\nstagse: [a]\n") == "cfg.yml:2: unknown key 'stagse' (did you mean 'stages'?)");
  CHECK(error_of("stories_dir: work\n").find("missing 'stages'") != std::string::npos);
  CHECK(error_of("stages:\n  - backlog\n  - Bad Name\n").starts_with("cfg.yml:3: bad stage name"));
  CHECK(error_of("stages: [a, a]\n").find("listed twice") != std::string::npos);
  CHECK(error_of("stages: [a, b]\nready_stages: [c]\n") == "cfg.yml:2: 'ready_stages' names unknown stage 'c'");
  CHECK(error_of("stages: [a, b]\nclaim:\n  ttl: 0\n").starts_with("cfg.yml:3:"));
  CHECK(error_of("stages: [a, b]\nstories_dir: /abs\n").starts_with("cfg.yml:2:"));
  CHECK(error_of("- just\n- a list\n") == "cfg.yml:1: the config must be a mapping of keys to values");
  CHECK(error_of("stages: [a]\ncommit: {enabled: maybe}\n").starts_with("cfg.yml:2:"));
  CHECK(error_of("stages: [a]\nindex: {watch: maybe}\n") == "cfg.yml:2: 'watch' must be true or false");
  CHECK(error_of("stages: [a]\nindex: {wach: true}\n") ==
        "cfg.yml:2: unknown key 'wach' in 'index' (did you mean 'watch'?)");
  CHECK(error_of("stages: [a]\nindex: true\n") == "cfg.yml:2: 'index' must be a mapping");
}

TEST_CASE("for_stages picks sensible ready, done and claim stages") {
  Config c = Config::for_stages("tasks", {"todo", "doing", "review", "shipped"});
  CHECK(c.ready_stages == std::vector<std::string>{"todo"});
  CHECK(c.done_stages == std::vector<std::string>{"shipped"});
  CHECK(c.claim_move_to == "doing");
  CHECK(c.stages[3].dir == "4_shipped");
  CHECK_THROWS_AS(Config::for_stages("w", {"ok", "Not OK"}), UsageError);
  CHECK_THROWS_AS(Config::for_stages("w", {}), UsageError);
}

TEST_CASE("config cases found by fuzzing: roles by stage name, names YAML reads as null, bad text") {
  // A stage whose directory is called "current" is not the stage "current".
  Config c = Config::parse(
      "stages:\n  - {name: todo, dir: current}\n  - {name: qa, dir: 2_qa}\n  - {name: shipped, dir: 3_shipped}\n",
      "c.yml");
  CHECK(c.claim_move_to == "qa");
  CHECK(c.ready_stages == std::vector<std::string>{"todo"});
  // A type named "null" renders quoted, and the rendered config reads the same.
  c = Config::parse("stages: [a, b]\ntypes: [story, 'null']\n", "c.yml");
  Config again = Config::parse(c.render(), "rendered.yml");
  CHECK(again.types == c.types);
  c = Config::parse("stories_dir: 'board: items #1'\nstages: [a]\n", "c.yml");
  CHECK(Config::parse(c.render(), "rendered.yml").stories_dir == "board: items #1");
  // A directory holding a flow indicator ({ } [ ] ,) renders quoted inside `{name: …, dir: …}`.
  c = Config::parse("stages:\n  - {name: a, dir: 'x g;{;y'}\n  - {name: b, dir: 'p, q]'}\n", "c.yml");
  again = Config::parse(c.render(), "rendered.yml");
  CHECK(again.stages[0].dir == "x g;{;y");
  CHECK(again.stages[1].dir == "p, q]");
  // yaml-cpp's reader refuses a bare `?` inside a flow mapping (found by fuzz_config):
  // anything but the plainest characters renders double-quoted.
  c = Config::parse("stages:\n  - {name: a, dir: 'x g;;9?Jy'}\n  - {name: b, dir: 'p: \"q\" & *r !s'}\n", "c.yml");
  again = Config::parse(c.render(), "rendered.yml");
  CHECK(again.stages[0].dir == "x g;;9?Jy");
  CHECK(again.stages[1].dir == "p: \"q\" & *r !s");
  auto refused = [](const std::string& text) {
    try {
      Config::parse(text, "c.yml");
    } catch (const InvalidDataError& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  CHECK(refused("stages: [a, b]\nready_stages: []\n") == "c.yml:2: 'ready_stages' must name at least one stage");
  CHECK(refused("stories_dir: caf\xe9\nstages: [a]\n") == "c.yml:1: not valid UTF-8 text; save it as UTF-8");
  CHECK(refused(std::string("stages: [a]\nx: \0\n", 16)) == "c.yml:2: not valid UTF-8 text; save it as UTF-8");
  CHECK(refused("stories_dir: .Git/board\nstages: [a]\n").find("git refuses a '.Git' component") != std::string::npos);
  CHECK(refused("stories_dir: \"a\\tb\"\nstages: [a]\n").find("control character") != std::string::npos);
}
