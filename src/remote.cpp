#include <tracker/error.hpp>
#include "fs_internal.hpp"
#include <tracker/remote.hpp>
#include <tracker/util.hpp>

#include "process.hpp"

#include <unistd.h>
#include <chrono>
#include <cstdio>

namespace tracker {

struct Remote::GitRun {
  int status = 0;
  std::string out, err;
  bool timed_out = false;  ///< killed at remote.timeout
};

namespace {

constexpr const char* kClaimPrefix = "refs/tracker/claims/";
/// Where this clone keeps the last lease it fetched of each story.
constexpr const char* kSeenPrefix = "refs/tracker/remote-claims/";
/// The id counter on the remote, and this clone's copy of the last one fetched.
constexpr const char* kIdsRef = "refs/tracker/ids";
constexpr const char* kSeenIdsRef = "refs/tracker/remote-ids";

/// git's line of complaint, for messages: its first `fatal:` line that says more
/// than "Could not read from remote repository." (which advice such as "and the
/// repository exists." follows), with the next line when it ends in ':' ("fatal:
/// unable to connect to host:" then the errno); else its last line.
std::string last_line(const std::string& text) {
  std::string_view t = trim(text);
  std::vector<std::string> lines = split(std::string(t), '\n');
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (!lines[i].starts_with("fatal: ") || lines[i] == "fatal: Could not read from remote repository.") continue;
    if (lines[i].ends_with(":") && i + 1 < lines.size()) return lines[i] + " " + lines[i + 1];
    return lines[i];
  }
  auto nl = t.rfind('\n');
  return std::string(nl == std::string_view::npos ? t : t.substr(nl + 1));
}

/// Fills in what lease `sha` of story `id` says. A lease whose claim.yml cannot be
/// read counts as held by "unknown" until reclaim or doctor deletes it.
void set_claim(RemoteLease& lease, std::int64_t id, const std::optional<Claim>& read) {
  if (read) {
    lease.claim = *read;
  } else {
    lease.readable = false;
    lease.claim.owner = "unknown";
    lease.claim.expires = INT64_MAX / 2;
  }
  lease.claim.id = id;
  lease.claim.lease = lease.sha;
}

}  // namespace

Remote::Remote(std::filesystem::path work_tree, RemoteSettings settings, std::function<GitRepo&()> repository,
               const Clock& clock)
    : work_tree_(std::move(work_tree)), settings_(std::move(settings)), clock_(&clock), repo_(std::move(repository)) {}

std::string Remote::claim_ref(std::int64_t id) {
  return kClaimPrefix + std::to_string(id);
}

Remote::GitRun Remote::git(std::vector<std::string> args, const std::string& input,
                           std::optional<std::chrono::steady_clock::time_point> deadline) const {
  ProgramResult r = run_git(work_tree_, args, input, {},
                            "the config's remote '" + settings_.name +
                                "' is reached with the git executable, and there is no 'git' on PATH; install git, or "
                                "remove 'remote:' from .tracker/config.yml",
                            deadline);
  if (r.timed_out) r.err += "\nno answer within remote.timeout (" + format_duration(settings_.timeout_seconds) + ")";
  return {r.status, std::move(r.out), std::move(r.err), r.timed_out};
}

std::string Remote::unavailable(const std::string& what, const std::string& err, bool cut_off_push) const {
  return "the remote '" + settings_.name + "' is unavailable (" + what + "): " + last_line(err) +
         (cut_off_push ? "; the push may have landed there or not, and the next sync settles it ("
                       : "; nothing was changed there (") +
         "retried for " + format_duration(settings_.timeout_seconds) + ", remote.timeout); --offline works on this "
         "clone alone";
}

Remote::GitRun Remote::talk(const std::vector<std::string>& args, const std::string& what,
                            bool (*accept)(const GitRun&)) const {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(settings_.timeout_seconds);
  std::string answered;  // git's words from the last attempt that ended by itself
  for (int attempt = 1;; ++attempt) {
    GitRun r = git(args, {}, deadline);
    if (r.status == 0 || (accept && accept(r))) return r;
    // An attempt cut off at the deadline says only that; git's own refusal before
    // it ("does not appear to be a git repository") says why.
    if (!r.timed_out) answered = r.err;
    // This clone's own disk failing is a local error, not an unreachable remote:
    // retrying does not help, and exit 7 would send the user to the network.
    // (A line that names the remote is the remote's own trouble.)
    for (const auto& line : split(r.err, '\n')) {
      if (line.find("remote") != std::string::npos) continue;
      for (const char* local : {"No space left on device", "Disk quota exceeded", "Read-only file system",
                                "unable to create temporary file"})
        if (line.find(local) != std::string::npos)
          throw IoError("this clone cannot store what it needs (" + what + "): " + std::string(trim(line)) +
                        "; its disk failed, not the remote '" + settings_.name + "'; nothing was changed there");
    }
    if (std::chrono::steady_clock::now() >= deadline)
      throw RemoteUnavailableError(unavailable(what, r.timed_out && !answered.empty() ? answered : r.err));
    backoff_sleep(attempt);
  }
}

const std::map<std::int64_t, std::string>& Remote::claim_refs(bool again) {
  if (refs_ && !again) return *refs_;
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

std::string Remote::fetch_ref(const std::string& ref, const std::string& seen, const std::string& what) {
  auto missing = [](const GitRun& r) { return r.err.find("couldn't find remote ref") != std::string::npos; };
  GitRun f = talk({"fetch", "--quiet", "--no-tags", "--no-write-fetch-head", settings_.name, "+" + ref + ":" + seen}, what,
                  missing);
  if (f.status != 0) {
    git({"update-ref", "-d", seen});
    return "";
  }
  return repo_().resolve(seen + "^{commit}");  // "": deleted meanwhile by a read that found none
}

std::optional<RemoteLease> Remote::read(std::int64_t id) {
  RemoteLease lease;
  lease.sha = fetch_ref(claim_ref(id), kSeenPrefix + std::to_string(id), "reading the claim on #" + std::to_string(id));
  if (lease.sha.empty()) return std::nullopt;
  read_claim(lease, id);
  return lease;
}

std::optional<RemoteLease> Remote::last_seen(std::int64_t id) {
  RemoteLease lease;
  lease.sha = repo_().resolve(std::string(kSeenPrefix) + std::to_string(id));
  if (lease.sha.empty()) return std::nullopt;
  read_claim(lease, id);
  return lease;
}

std::vector<RemoteLease> Remote::read_all() {
  talk({"fetch", "--quiet", "--no-tags", "--no-write-fetch-head", "--prune", settings_.name,
        std::string("+") + kClaimPrefix + "*:" + kSeenPrefix + "*"},
       "reading its claims");
  std::vector<RemoteLease> out;
  for (const auto& [ref, sha] : repo_().refs_under(kSeenPrefix)) {
    auto id = parse_int(std::string_view(ref).substr(std::string_view(kSeenPrefix).size()));
    if (!id || *id <= 0) continue;
    RemoteLease lease;
    lease.sha = sha;
    read_claim(lease, *id);
    out.push_back(std::move(lease));
  }
  return out;
}

void Remote::read_claim(RemoteLease& lease, std::int64_t id) {
  std::optional<std::string> text;
  try {
    text = repo_().content_at(lease.sha, "claim.yml");
  } catch (const Error&) {
    // A lease that is no commit (pushed by hand, say) holds nothing readable.
  }
  set_claim(lease, id, text ? parse_claim(*text) : std::nullopt);
}

bool Remote::expired(const Claim& claim) const {
  return clock_->now_seconds() > claim.expires + settings_.clock_skew_seconds;
}

std::string Remote::write_commit(const std::string& file, const std::string& text, const std::string& parent,
                                 const std::string& author, const std::string& message) {
  // A nonce makes every commit unique: two clones reserving the same ids in the
  // same second would otherwise write the same commit, and the second push would
  // find it there already and report success.
  char nonce[17];
  std::snprintf(nonce, sizeof nonce, "%016llx", static_cast<unsigned long long>(random_u64()));
  std::string full = message + "\n\nNonce: " + nonce + "\n";
  std::string email = "tracker@" + ClaimStore::this_host();
  return repo_().write_one_file_commit(file, text, parent, author, email, full);
}

std::string Remote::write_lease(const Claim& claim, const std::string& parent) {
  Claim stored = claim;
  stored.lease.clear();  // a commit cannot name itself
  return write_commit("claim.yml", format_claim(stored), parent, claim.owner,
                      "tracker: claim #" + std::to_string(claim.id) + " by " + claim.owner + " until " +
                          format_iso8601(claim.expires) + " (lease " + std::to_string(claim.generation) + ")");
}

std::int64_t Remote::reserve_ids(std::int64_t above, std::int64_t count, const std::string& who) {
  for (int attempt = 1;; ++attempt) {
    std::string seen = fetch_ref(kIdsRef, kSeenIdsRef, "reserving an id");
    std::int64_t last = 0;
    if (!seen.empty()) {
      for (const auto& line : split(repo_().content_at(seen, "ids.yml").value_or(""), '\n'))
        if (line.starts_with("last:")) last = parse_int(trim(std::string_view(line).substr(5))).value_or(0);
    } else {
      // No counter on the remote (never made, or deleted): it starts from the
      // highest id the remote's branch has ever held, so no id is given out twice.
      last = highest_id_on_branch();
      if (last > 0 && warn_)
        warn_("the id counter " + std::string(kIdsRef) + " is not on the remote '" + settings_.name +
              "'; it starts again from the highest id its branch has ever held (#" + std::to_string(last) + ")");
    }
    std::int64_t first = std::max(last, above) + 1;
    std::int64_t new_last = first + count - 1;
    std::string sha = write_commit("ids.yml", "last: " + std::to_string(new_last) + "\n", seen, who,
                                   "tracker: ids " + std::to_string(first) + "-" + std::to_string(new_last) + " for " +
                                       who + " on " + ClaimStore::this_host());
    if (push_ref(kIdsRef, sha, seen, "reserving an id") == LeasePush::done) return first;
    if (attempt >= 50) throw ConflictError("the id counter on the remote '" + settings_.name + "' keeps moving; try again");
    backoff_sleep(attempt);
  }
}

std::int64_t Remote::highest_id_on_branch() {
  std::string tip = fetch_board();
  if (tip.empty()) return 0;
  std::int64_t highest = 0;
  auto consider = [&](std::string_view path) {
    auto slash = path.rfind('/');
    std::string_view name = slash == std::string_view::npos ? path : path.substr(slash + 1);
    auto underscore = name.find('_');
    if (underscore == std::string_view::npos || !name.ends_with(".md")) return;
    if (auto id = parse_int(name.substr(0, underscore)); id && *id > highest && *id <= kMaxStoryId) highest = *id;
  };
  // Every path the branch ever held (stories deleted or renumbered since too), and
  // the floor deletions leave in .tracker/id-floor.
  // (As `git log --name-only`: what each commit changed against its parent; a
  // merge's changes are its parents'.)
  GitRepo& repo = repo_();
  for (const auto& c : repo.commits("", tip, false))
    if (c.parents.size() <= 1)
      for (const auto& change : repo.tree_changes(c.parents.empty() ? "" : c.parents.front(), c.sha))
        consider(change.path);
  for (const auto& [path, file] : repo.files_at(tip))
    if (path.ends_with(".tracker/id-floor"))
      if (auto n = parse_int(trim(repo.blob_text(file.id))); n && *n > highest) highest = *n;
  return highest;
}

LeasePush Remote::push_lease(std::int64_t id, const std::string& sha, const std::string& expected) {
  LeasePush result = push_ref(claim_ref(id), sha, expected, "claiming #" + std::to_string(id));
  if (result == LeasePush::done && refs_) {
    if (sha.empty())
      refs_->erase(id);
    else
      (*refs_)[id] = sha;
  }
  return result;
}

LeasePush Remote::push_ref(const std::string& ref, const std::string& sha, const std::string& expected,
                           const std::string& what) {
  return push_refs({{ref, sha, expected}}, what, false)[0] == RefPush::done ? LeasePush::done : LeasePush::lost;
}

std::vector<Remote::RefPush> Remote::push_refs(const std::vector<RefUpdate>& updates, const std::string& what,
                                               bool verify) {
  std::vector<std::string> args = {"push", "--porcelain"};
  // Pre-push hooks are the user's, for their branches: not run for the tool's own
  // claim refs, run for the branch (`sync`), as `git push` would.
  if (!verify) args.push_back("--no-verify");
  if (updates.size() > 1) args.push_back("--atomic");
  for (const auto& u : updates) args.push_back("--force-with-lease=" + u.ref + ":" + u.expected);
  args.push_back(settings_.name);
  for (const auto& u : updates) args.push_back((u.sha.empty() ? "" : u.sha) + ":" + u.ref);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(settings_.timeout_seconds);
  bool broke = false;  // a connection broke: an earlier attempt may have landed
  for (int attempt = 1;; ++attempt) {
    GitRun r = git(args, {}, deadline);
    // A push cut off at remote.timeout may have landed or not: the next sync reads
    // the remote and settles it (a lease that did land expires with its TTL).
    if (r.timed_out) throw RemoteUnavailableError(unavailable(what, r.err, true));
    // --porcelain: "<flag>\t<from>:<to>\t<summary> (<reason>)" per ref; '!' is a refusal.
    std::vector<std::optional<RefPush>> got(updates.size());
    bool any = false;
    for (const auto& line : split(r.out, '\n')) {
      if (line.size() < 2 || line[1] != '\t') continue;
      for (std::size_t i = 0; i < updates.size(); ++i) {
        const std::string& ref = updates[i].ref;
        if (line.find(":" + ref + "\t") == std::string::npos) continue;
        any = true;
        if (line[0] != '!') {
          got[i] = RefPush::done;
          continue;
        }
        if (line.find("atomic push failed") != std::string::npos) {
          got[i] = RefPush::not_tried;
          continue;
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
          std::string hint = ref.starts_with("refs/tracker/")
                                 ? "; the hosting (or a pre-receive hook) must accept refs under refs/tracker/ for "
                                   "claims to work across clones (docs/remote.md, \"Hosting\")"
                                 : "";
          throw IoError("the remote '" + settings_.name + "' refused " + ref + ": " + reason + hint);
        }
        got[i] = RefPush::lost;
      }
    }
    if (any) {
      std::vector<RefPush> out;
      bool all_done = true;
      for (const auto& g : got) {
        out.push_back(g.value_or(RefPush::not_tried));
        all_done = all_done && out.back() == RefPush::done;
      }
      if (!all_done && broke) {
        // Rejected after a broken connection: it may be our own push that landed.
        std::vector<std::string> ls = {"ls-remote", settings_.name};
        for (const auto& u : updates) ls.push_back(u.ref);
        GitRun now = talk(ls, what);
        bool landed = true;
        for (const auto& u : updates) {
          std::string at;
          for (const auto& line : split(now.out, '\n'))
            if (auto tab = line.find('\t'); tab != std::string::npos && line.substr(tab + 1) == u.ref)
              at = line.substr(0, tab);
          landed = landed && at == u.sha;
        }
        if (landed) out.assign(updates.size(), RefPush::done);
      }
      return out;
    }
    // No answer per ref. Every transport failure is git's "fatal: ..."; a push that
    // failed without one was stopped before it was sent, by the pre-push hook. That
    // is a refusal to report, not a network error to retry.
    if (verify && r.status != 0 && r.err.find("fatal:") == std::string::npos) {
      std::vector<std::string> said;
      for (const auto& l : split(r.err, '\n'))
        if (!trim(l).empty() && !l.starts_with("error: failed to push") && !l.starts_with("To ")) said.emplace_back(trim(l));
      throw IoError("the push to '" + settings_.name + "' was refused by the pre-push hook" +
                    (said.empty() ? std::string() : ": " + join(said, " ")) + "; nothing was pushed");
    }
    if (std::chrono::steady_clock::now() >= deadline) throw RemoteUnavailableError(unavailable(what, r.err));
    broke = true;
    backoff_sleep(attempt);
  }
}

std::string Remote::tracking_ref() const {
  return "refs/remotes/" + settings_.name + "/" + settings_.branch;
}

std::string Remote::fetch_board() {
  auto missing = [](const GitRun& r) { return r.err.find("couldn't find remote ref") != std::string::npos; };
  GitRun f = talk({"fetch", "--quiet", "--no-tags", "--no-write-fetch-head", "--prune", settings_.name,
                   "+refs/heads/" + settings_.branch + ":" + tracking_ref(),
                   std::string("+") + kClaimPrefix + "*:" + kSeenPrefix + "*",
                   // The id counter, as a pattern: a remote that has none yet is no error.
                   std::string("+") + kIdsRef + "*:" + kSeenIdsRef + "*"},
                  "fetching " + settings_.branch, missing);
  if (f.status != 0) return "";  // the remote has no such branch yet
  return repo_().resolve(tracking_ref() + "^{commit}");
}

BranchPush Remote::push_branch(const std::string& sha, const std::string& expected,
                               const std::vector<std::pair<std::int64_t, std::string>>& release) {
  std::vector<RefUpdate> updates = {{"refs/heads/" + settings_.branch, sha, expected}};
  for (const auto& [id, lease] : release) updates.push_back({claim_ref(id), "", lease});
  std::vector<RefPush> got = push_refs(updates, "pushing " + settings_.branch, true);
  for (std::size_t i = 1; i < got.size(); ++i)
    if (got[i] == RefPush::lost) return BranchPush::lease_lost;
  if (got[0] != RefPush::done) return BranchPush::moved;
  if (refs_)
    for (const auto& [id, lease] : release) refs_->erase(id);
  git({"update-ref", tracking_ref(), sha});
  return BranchPush::done;
}

StoryFileMerge git_line_merge(std::string_view base, std::string_view ours, std::string_view theirs, Favour favour) {
  std::string dir_template = (std::filesystem::temp_directory_path() / "tracker-merge-XXXXXX").string();
  if (!::mkdtemp(dir_template.data())) throw_errno("cannot create a temp directory for a merge");
  std::filesystem::path dir = dir_template;
  ScopeExit cleanup([&] {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  });
  write_file_atomic(dir / "base", std::string(base));
  write_file_atomic(dir / "ours", std::string(ours));
  write_file_atomic(dir / "theirs", std::string(theirs));
  std::vector<std::string> args = {"merge-file", "-p", "-L", "ours", "-L", "base", "-L", "theirs"};
  if (favour != Favour::none) args.push_back(favour == Favour::ours ? "--ours" : "--theirs");
  for (const char* side : {"ours", "base", "theirs"}) args.push_back((dir / side).string());
  ProgramResult r = run_git({}, args);
  // Its exit status is the number of conflicts (at most 127); more is an error.
  if (r.status < 0 || r.status > 127) throw IoError("git merge-file failed: " + last_line(r.err));
  return {r.out, r.status};
}

void install_merge_driver(const std::filesystem::path& root) {
  for (const auto& [key, value] : std::vector<std::pair<std::string, std::string>>{
           {"merge.tracker.name", "tracker: story files field by field"},
           {"merge.tracker.driver", "tracker merge-file %O %A %B %P %S %X %Y"}}) {
    ProgramResult r = run_git(root, {"config", key, value});
    if (r.status != 0) throw IoError("cannot set " + key + " in the git config: " + last_line(r.err));
  }
}

std::string merge_attributes_line(const std::string& stories_dir) {
  std::string pattern = stories_dir + "/**/*.md";
  // Patterns are separated by white space: one that holds any is written in C-style
  // quotes, which git reads ("my work/**/*.md").
  if (pattern.find_first_of(" \t\"\\") != std::string::npos) {
    std::string quoted = "\"";
    for (char c : pattern) {
      if (c == '"' || c == '\\') quoted += '\\';
      if (c == '\t') {
        quoted += "\\t";
        continue;
      }
      quoted += c;
    }
    pattern = quoted + "\"";
  }
  return pattern + " merge=tracker\n";
}

}  // namespace tracker
