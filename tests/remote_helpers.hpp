// Helpers of the tests across clones: a shared bare remote (behind a real
// `git daemon` on 127.0.0.1, or reached as file://), clones of it, and what the
// remote holds.
#pragma once

#include "helpers.hpp"

#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace testing {

/// A port nobody listens on now (the kernel's pick for port 0).
int free_port();
/// A TCP socket bound to a free port of 127.0.0.1, not listening yet: its fd and port.
std::pair<int, int> loopback_socket();

/// A bare repository, served by `git daemon --enable=receive-pack` on 127.0.0.1
/// (or reached as file://), that every clone pushes to.
class SharedRemote {
 public:
  explicit SharedRemote(bool daemon);
  ~SharedRemote();
  SharedRemote(const SharedRemote&) = delete;
  SharedRemote& operator=(const SharedRemote&) = delete;

  std::string url() const;
  fs::path bare() const { return base_ / "board.git"; }
  void start();
  void stop();
  /// Stops the daemon, to start it again later on the same port.
  void restart_later();
  void start_on_same_port();

 private:
  TempDir base_;
  bool daemon_;
  int port_ = 0;
  int pid_ = -1;
};

/// The board every clone starts from: `stories` stories in the backlog, `remote:`
/// in the config (a short timeout, so that a test of an unreachable remote is quick).
void seed(const SharedRemote& remote, int stories, const std::string& timeout = "3s");

/// A clone of the remote in a temp dir.
struct Clone {
  TempDir dir;
  explicit Clone(const SharedRemote& remote);
  fs::path root() const { return dir / "c"; }
};

/// The claim refs on the remote.
std::set<std::string> remote_claim_refs(const SharedRemote& remote);

/// The owner the lease of story `id` on the remote names.
std::string claim_owner_on_remote(const SharedRemote& remote, long id);

/// The stage directory each story file is in on the remote's branch, by id.
std::multimap<long, std::string> remote_board(const SharedRemote& remote);

/// The (id, owner) of each claim in the output of successive `tracker --json claim`
/// runs appended to one file (each printed one JSON object).
std::vector<std::pair<long, std::string>> claims_in_output(const std::string& text);

/// A story file's text on the remote's branch ("" when it has none).
std::string remote_story(const SharedRemote& remote, long id);

/// Another clone's takeover of story `id`'s lease, written by hand in clone `by`: a
/// child of the lease the remote has, whose claim.yml names `owner` (its expiry as it
/// was, so it holds). Returns the new lease commit.
std::string take_over_by_hand(const fs::path& by, long id, const std::string& owner);

/// Options that run a command in `cwd` as if at `when` (author and committer dates).
RunOptions at_time(const fs::path& cwd, const std::string& when);

}  // namespace testing
