#include <catch2/catch.hpp>

#include <tracker/claims.hpp>
#include "manual_clock.hpp"
#include "helpers.hpp"

#include <signal.h>
#include <unistd.h>
#include <ctime>

using namespace tracker;
using testing::TempDir;
namespace fs = std::filesystem;

namespace {

constexpr std::int64_t kStart = 1'800'000'000;  // a fixed "now", in unix seconds

std::size_t files_in(const fs::path& dir) {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir)) ++n;
  return n;
}

}  // namespace

TEST_CASE("a claim lockfile round-trips") {
  TempDir dir;
  ClaimStore store(dir / "claims");
  Claim c = store.make(42, "coder-1", 900, "backlog", 1234);
  auto back = parse_claim(format_claim(c));
  REQUIRE(back);
  CHECK(back->owner == "coder-1");
  CHECK(back->host == ClaimStore::this_host());
  CHECK(back->expires >= c.created + 900);
  CHECK(back->expires <= c.created + 901);
  CHECK(back->from_stage == "backlog");
  CHECK(back->nonce == c.nonce);
  CHECK(back->pid == 1234);
  CHECK(format_claim(c).find("expires: ") != std::string::npos);
  CHECK_FALSE(parse_claim("garbage"));
  CHECK_FALSE(parse_claim("owner: x\n"));  // no nonce or expiry: not a whole lock
}

TEST_CASE("a renewed claim keeps its owner and origin, with a new nonce and an expiry from the renewal") {
  TempDir dir;
  ManualClock clock(kStart * 1'000'000'000);
  ClaimStore store(dir / "claims", clock);
  Claim c = store.make(5, "a", 60, "qa", 77);
  CHECK(c.created == kStart);
  CHECK(c.expires == kStart + 60);
  clock.advance_seconds(30);
  Claim r = store.renewed(c, 3600, std::nullopt);
  CHECK(r.owner == "a");
  CHECK(r.from_stage == "qa");
  CHECK(r.pid == 77);
  CHECK(r.nonce != c.nonce);
  CHECK(r.created == kStart);
  CHECK(r.expires == kStart + 30 + 3600);
  CHECK(store.renewed(c, 60, 99).pid == 99);
}

TEST_CASE("create is exclusive and leaves only the lock") {
  TempDir dir;
  ClaimStore store(dir / "claims");
  Claim a = store.make(7, "a", 60, "backlog", std::nullopt);
  Claim b = store.make(7, "b", 60, "backlog", std::nullopt);
  CHECK(store.create(a));
  CHECK_FALSE(store.create(b));
  auto held = store.read(7);
  REQUIRE(held);
  CHECK(held->owner == "a");
  CHECK(files_in(store.dir()) == 1);
  CHECK(store.all().size() == 1);
  CHECK_FALSE(store.read(8));
}

TEST_CASE("remove and replace act only on the claim that was read") {
  TempDir dir;
  ClaimStore store(dir / "claims");
  Claim a = store.make(3, "a", 60, "backlog", std::nullopt);
  REQUIRE(store.create(a));
  Claim impostor = a;
  impostor.nonce = "0000000000000000";
  CHECK_FALSE(store.remove(impostor));
  CHECK_FALSE(store.replace(impostor, impostor));
  Claim renewed = a;
  renewed.expires += 600;
  renewed.nonce = "1111111111111111";
  CHECK(store.replace(a, renewed));
  CHECK(store.read(3)->expires == a.expires + 600);
  CHECK_FALSE(store.remove(a));  // the nonce changed with the renewal
  CHECK(store.remove(renewed));
  CHECK_FALSE(store.read(3));
  CHECK(files_in(store.dir()) == 0);
}

TEST_CASE("a claim ends when its TTL passes or its holder process dies") {
  TempDir dir;
  ManualClock clock(kStart * 1'000'000'000 + 250'000'000);  // a quarter second past kStart
  ClaimStore store(dir / "claims", clock);
  Claim c = store.make(1, "a", 60, "backlog", std::nullopt);
  // Rounded up to a whole second, so that the claim never lasts less than its TTL.
  CHECK(c.expires == kStart + 1 + 60);
  CHECK(store.state(c) == ClaimState::live);
  clock.advance_seconds(60);
  CHECK(store.state(c) == ClaimState::live);
  clock.set_ns((kStart + 61) * 1'000'000'000);
  CHECK(store.state(c) == ClaimState::expired);
  auto now = [&] { return clock.now_seconds(); };

  pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    pause();
    _exit(0);
  }
  Claim with_pid = store.make(1, "a", 3600, "backlog", child);
  CHECK(ClaimStore::state(with_pid, now()) == ClaimState::live);
  kill(child, SIGKILL);
  testing::wait_for(child);
  CHECK(ClaimStore::state(with_pid, now()) == ClaimState::holder_dead);
  with_pid.host = "some-other-host";  // a pid on another machine cannot be checked from here
  CHECK(ClaimStore::state(with_pid, now()) == ClaimState::live);
}

TEST_CASE("many processes creating one claim: exactly one wins", "[stress]") {
  TempDir dir;
  ClaimStore store(dir / "claims");
  std::vector<pid_t> pids;
  for (int i = 0; i < 30; ++i) {
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      ClaimStore mine(dir / "claims");
      bool won = mine.create(mine.make(9, "w" + std::to_string(i), 60, "backlog", std::nullopt));
      _exit(won ? 0 : 3);
    }
    pids.push_back(pid);
  }
  int winners = 0;
  for (pid_t pid : pids) winners += testing::wait_for(pid) == 0;
  CHECK(winners == 1);
  CHECK(files_in(store.dir()) == 1);
}
