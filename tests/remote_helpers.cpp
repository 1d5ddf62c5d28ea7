// Helpers of the tests across clones (remote_helpers.hpp).
#include "remote_helpers.hpp"

#include <catch2/catch.hpp>
#include <tracker/util.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <csignal>

#include <nlohmann/json.hpp>

namespace testing {

std::pair<int, int> loopback_socket() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  socklen_t len = sizeof addr;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  return {fd, ntohs(addr.sin_port)};
}

int free_port() {
  auto [fd, port] = loopback_socket();
  ::close(fd);
  return port;
}


SharedRemote::SharedRemote(bool daemon) : daemon_(daemon) {
  git(base_.path(), {"init", "-q", "--bare", "-b", "main", "board.git"});
  if (daemon_) start();
}

SharedRemote::~SharedRemote() { stop(); }

std::string SharedRemote::url() const {
  return daemon_ ? "git://127.0.0.1:" + std::to_string(port_) + "/board.git" : "file://" + bare().string();
}

void SharedRemote::start() {
  port_ = free_port();
  start_on_same_port();
}

void SharedRemote::stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  wait_for(pid_);
  pid_ = -1;
}

void SharedRemote::restart_later() {
  int port = port_;
  stop();
  port_ = port;
}

void SharedRemote::start_on_same_port() {
  pid_ = spawn({"git", "daemon", "--reuseaddr", "--listen=127.0.0.1", "--port=" + std::to_string(port_),
                "--base-path=" + base_.path().string(), "--export-all", "--enable=receive-pack",
                "--informative-errors", base_.path().string()});
  REQUIRE(eventually([&] { return run({"git", "ls-remote", url()}).code == 0; }));
}

void seed(const SharedRemote& remote, int stories, const std::string& timeout) {
  Board board;
  for (int i = 0; i < stories; ++i) board.create({"Story " + std::to_string(i + 1)});
  std::string config = read(board.root() / ".tracker/config.yml");
  write(board.root() / ".tracker/config.yml",
        config + "\nremote:\n  name: origin\n  branch: main\n  timeout: " + timeout + "\n");
  git(board.root(), {"commit", "-qam", "remote"});
  git(board.root(), {"remote", "add", "origin", remote.url()});
  git(board.root(), {"push", "-q", "origin", "HEAD:main"});
}

Clone::Clone(const SharedRemote& remote) { git(dir.path(), {"clone", "-q", remote.url(), "c"}); }

std::set<std::string> remote_claim_refs(const SharedRemote& remote) {
  std::set<std::string> refs;
  for (const auto& line : lines(git(remote.bare(), {"for-each-ref", "--format=%(refname)", "refs/tracker/claims/"})))
    if (!line.empty()) refs.insert(line);
  return refs;
}

std::string claim_owner_on_remote(const SharedRemote& remote, long id) {
  std::string text = git(remote.bare(), {"cat-file", "blob", "refs/tracker/claims/" + std::to_string(id) + ":claim.yml"});
  auto at = text.find("owner: ");
  return text.substr(at + 7, text.find('\n', at) - at - 7);
}


std::multimap<long, std::string> remote_board(const SharedRemote& remote) {
  std::multimap<long, std::string> out;
  for (const auto& path : lines(git(remote.bare(), {"ls-tree", "-r", "--name-only", "main", "work/"}))) {
    auto slash = path.rfind('/');
    if (slash == std::string::npos || !path.ends_with(".md")) continue;
    std::string dir = path.substr(5, slash - 5);
    out.emplace(std::stol(path.substr(slash + 1)), dir);
  }
  return out;
}

std::vector<std::pair<long, std::string>> claims_in_output(const std::string& text) {
  std::vector<std::pair<long, std::string>> out;
  // Split at each object's top-level closing brace.
  std::size_t start = 0;
  while ((start = text.find("{\n", start)) != std::string::npos) {
    std::size_t end = text.find("\n}\n", start);
    REQUIRE(end != std::string::npos);
    nlohmann::json claim = nlohmann::json::parse(text.substr(start, end + 2 - start));
    out.emplace_back(claim["id"].get<long>(), claim["claim"]["owner"].get<std::string>());
    start = end + 3;
  }
  return out;
}

std::string remote_story(const SharedRemote& remote, long id) {
  for (const auto& path : lines(git(remote.bare(), {"ls-tree", "-r", "--name-only", "main", "work/"})))
    if (path.substr(path.rfind('/') + 1).starts_with(std::to_string(id) + "_"))
      return git(remote.bare(), {"cat-file", "blob", "main:" + path});
  return "";
}

std::string take_over_by_hand(const fs::path& by, long id, const std::string& owner) {
  std::string ref = "refs/tracker/claims/" + std::to_string(id);
  git(by, {"fetch", "-q", "origin", "+" + ref + ":refs/tracker/seen"});
  std::string was(tracker::trim(git(by, {"rev-parse", "refs/tracker/seen"})));
  std::string text = git(by, {"cat-file", "blob", "refs/tracker/seen:claim.yml"});
  auto at = text.find("owner: ");
  text.replace(at + 7, text.find('\n', at) - at - 7, owner);
  RunResult blob = run({"git", "hash-object", "-w", "--stdin"}, RunOptions{by, {}, text});
  RunResult tree =
      run({"git", "mktree"}, RunOptions{by, {}, "100644 blob " + std::string(tracker::trim(blob.out)) + "\tclaim.yml\n"});
  std::string sha(tracker::trim(git(by, {"commit-tree", "-p", was, "-m", "taken over", std::string(tracker::trim(tree.out))})));
  git(by, {"push", "-q", "--force", "origin", sha + ":" + ref});
  return sha;
}

RunOptions at_time(const fs::path& cwd, const std::string& when) {
  return RunOptions{cwd, {{"GIT_COMMITTER_DATE", when}, {"GIT_AUTHOR_DATE", when}}, ""};
}


}  // namespace testing
