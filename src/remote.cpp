#include <tracker/error.hpp>
#include <tracker/fs.hpp>
#include <tracker/remote.hpp>
#include <tracker/util.hpp>

#include "process.hpp"

#include <chrono>

namespace tracker {

struct Remote::GitRun {
  int status = 0;
  std::string out, err;
};

namespace {

constexpr const char* kClaimPrefix = "refs/tracker/claims/";
/// Where this clone keeps the last lease it fetched of each story.
constexpr const char* kSeenPrefix = "refs/tracker/remote-claims/";

/// git's last line of complaint, for messages: "fatal: unable to connect to ...".
std::string last_line(const std::string& text) {
  std::string_view t = trim(text);
  auto nl = t.rfind('\n');
  return std::string(nl == std::string_view::npos ? t : t.substr(nl + 1));
}

}  // namespace

Remote::Remote(std::filesystem::path work_tree, RemoteSettings settings, const Clock& clock)
    : work_tree_(std::move(work_tree)), settings_(std::move(settings)), clock_(&clock) {}

std::string Remote::claim_ref(std::int64_t id) {
  return kClaimPrefix + std::to_string(id);
}

Remote::GitRun Remote::git(std::vector<std::string> args, const std::string& input) const {
  ProgramRun run;
  run.argv = {"git"};
  run.argv.insert(run.argv.end(), args.begin(), args.end());
  run.cwd = work_tree_;
  run.input = input;
  run.capture_stderr = true;
  // Never a prompt for a password in the middle of a claim: a credential helper or
  // an ssh agent answers, or the remote is unavailable.
  run.env["GIT_TERMINAL_PROMPT"] = "0";
  run.env["GIT_ASKPASS"] = std::nullopt;
  run.env["SSH_ASKPASS"] = std::nullopt;
  ProgramResult r;
  try {
    r = run_program(run, "git");
  } catch (const IoError&) {
    throw IoError("the config's remote '" + settings_.name +
                  "' is reached with the git executable, and there is no 'git' on PATH; install git, or remove "
                  "'remote:' from .tracker/config.yml");
  }
  return {r.status, std::move(r.out), std::move(r.err)};
}

Remote::GitRun Remote::talk(const std::vector<std::string>& args, const std::string& what,
                            bool (*accept)(const GitRun&)) const {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(settings_.timeout_seconds);
  for (int attempt = 1;; ++attempt) {
    GitRun r = git(args);
    if (r.status == 0 || (accept && accept(r))) return r;
    if (std::chrono::steady_clock::now() >= deadline)
      throw RemoteUnavailableError("the remote '" + settings_.name + "' is unavailable (" + what + "): " +
                                   last_line(r.err) + "; nothing was changed there (retried for " +
                                   format_duration(settings_.timeout_seconds) + ", remote.timeout)");
    backoff_sleep(attempt);
  }
}

const std::map<std::int64_t, std::string>& Remote::claim_refs() {
  if (refs_) return *refs_;
  GitRun r = talk({"ls-remote", "--refs", settings_.name, std::string(kClaimPrefix) + "*"}, "listing its claims");
  std::map<std::int64_t, std::string> out;
  for (const auto& line : split(r.out, '\n')) {
    auto tab = line.find('\t');
    if (tab == std::string::npos) continue;
    std::string_view ref = std::string_view(line).substr(tab + 1);
    if (!ref.starts_with(kClaimPrefix)) continue;
    if (auto id = parse_int(ref.substr(std::string_view(kClaimPrefix).size())); id && *id > 0)
      out[*id] = line.substr(0, tab);
  }
  refs_ = std::move(out);
  return *refs_;
}

std::optional<RemoteLease> Remote::read(std::int64_t id) {
  const std::string seen = kSeenPrefix + std::to_string(id);
  auto missing = [](const GitRun& r) { return r.err.find("couldn't find remote ref") != std::string::npos; };
  GitRun f = talk({"fetch", "--quiet", "--no-tags", "--no-write-fetch-head", settings_.name,
                   "+" + claim_ref(id) + ":" + seen},
                  "reading the claim on #" + std::to_string(id), missing);
  if (f.status != 0) {
    git({"update-ref", "-d", seen});
    return std::nullopt;
  }
  GitRun sha = git({"rev-parse", "--verify", "--quiet", seen + "^{commit}"});
  if (sha.status != 0) return std::nullopt;  // deleted meanwhile by a concurrent read that found none
  RemoteLease lease;
  lease.sha = std::string(trim(sha.out));
  GitRun text = git({"cat-file", "blob", lease.sha + ":claim.yml"});
  std::optional<Claim> c = text.status == 0 ? parse_claim(text.out) : std::nullopt;
  if (c) {
    lease.claim = *c;
  } else {
    lease.claim.owner = "unknown";
    lease.claim.expires = INT64_MAX / 2;
  }
  lease.claim.id = id;
  lease.claim.lease = lease.sha;
  return lease;
}

bool Remote::expired(const Claim& claim) const {
  return clock_->now_seconds() > claim.expires + settings_.clock_skew_seconds;
}

std::string Remote::write_lease(const Claim& claim, const std::string& parent) {
  Claim stored = claim;
  stored.lease.clear();  // a commit cannot name itself
  GitRun blob = git({"hash-object", "-w", "--stdin"}, format_claim(stored));
  if (blob.status != 0) throw IoError("cannot write a claim object: " + last_line(blob.err));
  GitRun tree = git({"mktree"}, "100644 blob " + std::string(trim(blob.out)) + "\tclaim.yml\n");
  if (tree.status != 0) throw IoError("cannot write a claim tree: " + last_line(tree.err));
  std::vector<std::string> args = {"-c", "user.name=" + claim.owner, "-c", "user.email=tracker@" + claim.host,
                                   "commit-tree", "--no-gpg-sign", std::string(trim(tree.out))};
  if (!parent.empty()) {
    args.push_back("-p");
    args.push_back(parent);
  }
  args.push_back("-m");
  args.push_back("tracker: claim #" + std::to_string(claim.id) + " by " + claim.owner + " until " +
                 format_iso8601(claim.expires) + " (lease " + std::to_string(claim.generation) + ")");
  GitRun commit = git(args);
  if (commit.status != 0) throw IoError("cannot write a claim commit: " + last_line(commit.err));
  return std::string(trim(commit.out));
}

LeasePush Remote::push_lease(std::int64_t id, const std::string& sha, const std::string& expected) {
  const std::string ref = claim_ref(id);
  const std::vector<std::string> args = {"push", "--porcelain", "--no-verify", "--force-with-lease=" + ref + ":" + expected,
                                         settings_.name, sha + ":" + ref};
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(settings_.timeout_seconds);
  bool broke = false;  // a connection broke: an earlier attempt may have landed
  for (int attempt = 1;; ++attempt) {
    GitRun r = git(args);
    // --porcelain: "<flag>\t<from>:<to>\t<summary> (<reason>)" per ref; '!' is a refusal.
    for (const auto& line : split(r.out, '\n')) {
      if (line.size() < 2 || line[1] != '\t' || line.find(":" + ref + "\t") == std::string::npos) continue;
      if (line[0] != '!') {
        if (refs_) {
          if (sha.empty())
            refs_->erase(id);
          else
            (*refs_)[id] = sha;
        }
        return LeasePush::done;
      }
      // The remote's own compare-and-swap lost to a concurrent push (git's ref lock or
      // old-value check): as much a lost race as a refused lease.
      bool raced = line.find("failed to update ref") != std::string::npos ||
                   line.find("failed to lock") != std::string::npos ||
                   line.find("cannot lock ref") != std::string::npos ||
                   line.find("incorrect old value") != std::string::npos;
      if (line.find("[remote rejected]") != std::string::npos && !raced) {
        // "[remote rejected] (pre-receive hook declined)", and what the hook said.
        std::string reason = line.substr(line.rfind('\t') + 1);
        if (auto open = reason.find('('); open != std::string::npos && reason.back() == ')')
          reason = reason.substr(open + 1, reason.size() - open - 2);
        std::vector<std::string> said;
        for (const auto& l : split(r.err, '\n'))
          if (l.starts_with("remote: ") && !trim(l.substr(8)).empty()) said.emplace_back(trim(l.substr(8)));
        if (!said.empty()) reason += " (\"" + join(said, " ") + "\")";
        throw IoError("the remote '" + settings_.name + "' refused " + ref + ": " + reason +
                      "; the hosting (or a pre-receive hook) must accept refs under refs/tracker/ for claims to "
                      "work across clones (docs/remote.md, \"Hosting\")");
      }
      if (broke) {
        // Rejected after a broken connection: it may be our own push that landed.
        GitRun now = talk({"ls-remote", settings_.name, ref}, "checking the claim on #" + std::to_string(id));
        std::string at = now.out.empty() ? "" : now.out.substr(0, now.out.find('\t'));
        if (at == sha) return LeasePush::done;
      }
      return LeasePush::lost;
    }
    if (std::chrono::steady_clock::now() >= deadline)
      throw RemoteUnavailableError("the remote '" + settings_.name + "' is unavailable (claiming #" + std::to_string(id) +
                                   "): " + last_line(r.err) + "; nothing was changed there (retried for " +
                                   format_duration(settings_.timeout_seconds) + ", remote.timeout)");
    broke = true;
    backoff_sleep(attempt);
  }
}

}  // namespace tracker
