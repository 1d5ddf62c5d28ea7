#include <catch2/catch.hpp>

#include "helpers.hpp"
#include <tracker/claims.hpp>

#include <ctime>
#include <signal.h>
#include <unistd.h>

using namespace tracker;
using testing::TempDir;
namespace fs = std::filesystem;

namespace {

std::int64_t now() { return static_cast<std::int64_t>(std::time(nullptr)); }

std::size_t files_in(const fs::path& dir) {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir)) ++n;
  return n;
}

}  // namespace

TEST_CASE("a claim lockfile round-trips") {
  Claim c = ClaimStore::make(42, "coder-1", 900, "backlog", 1234);
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

TEST_CASE("a renewed claim keeps its owner and origin, with a new nonce and expiry") {
  Claim c = ClaimStore::make(5, "a", 60, "qa", 77);
  Claim r = ClaimStore::renewed(c, 3600, std::nullopt);
  CHECK(r.owner == "a");
  CHECK(r.from_stage == "qa");
  CHECK(r.pid == 77);
  CHECK(r.nonce != c.nonce);
  CHECK(r.expires >= c.expires + 3600 - 60);
  CHECK(ClaimStore::renewed(c, 60, 99).pid == 99);
}

TEST_CASE("create is exclusive and leaves only the lock") {
  TempDir dir;
  ClaimStore store(dir / "claims");
  Claim a = ClaimStore::make(7, "a", 60, "backlog", std::nullopt);
  Claim b = ClaimStore::make(7, "b", 60, "backlog", std::nullopt);
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
  Claim a = ClaimStore::make(3, "a", 60, "backlog", std::nullopt);
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
  Claim c = ClaimStore::make(1, "a", 60, "backlog", std::nullopt);
  CHECK(ClaimStore::state(c, now()) == ClaimState::live);
  CHECK(ClaimStore::state(c, now() + 62) == ClaimState::expired);
  CHECK(ClaimStore::expiry_after(1) > now());  // at least a whole second from now

  pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    pause();
    _exit(0);
  }
  Claim with_pid = ClaimStore::make(1, "a", 3600, "backlog", child);
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
      bool won = mine.create(ClaimStore::make(9, "w" + std::to_string(i), 60, "backlog", std::nullopt));
      _exit(won ? 0 : 3);
    }
    pids.push_back(pid);
  }
  int winners = 0;
  for (pid_t pid : pids) winners += testing::wait_for(pid) == 0;
  CHECK(winners == 1);
  CHECK(files_in(store.dir()) == 1);
}
