// tracker log: the transitions of one story or of the board, read from git's history.
#include <tracker/fs.hpp>
#include <tracker/git.hpp>
#include <tracker/remote.hpp>
#include "services.hpp"
#include <tracker/util.hpp>

#include "file_tx.hpp"

#include <algorithm>
#include <map>
#include <set>


namespace tracker {

std::vector<LogEntry> History::log(std::optional<std::int64_t> id, std::optional<std::int64_t> limit) {
  if (limit && *limit <= 0) throw UsageError(param_ref("limit") + " must be at least 1");
  std::vector<LogEntry> out;
  auto full = [&] { return limit && static_cast<std::int64_t>(out.size()) >= *limit; };
  Progress walked(s_.progress, "reading history (commits)", 0);
  // A stage's directory as git names it (work-tree relative), for the check that a
  // commit's tree agrees with its trailers.
  GitRepo& repo = s_.git();
  std::map<std::string, std::string> stage_dirs;
  for (const auto& st : s_.ws.config().stages)
    stage_dirs[st.name] = s_.ws.stage_dir(st).lexically_relative(repo.work_tree()).generic_string();
  // Whether the tree of commit `c` changed every stage directory its trailers say
  // it changed: a message can say anything, so a trailer is trusted only when the
  // tree agrees (a plain commit with forged trailers is read from its tree).
  auto tree_agrees = [&](const CommitInfo& c, const std::vector<LogEntry>& entries) {
    std::vector<std::string> dirs;
    for (const auto& e : entries)
      for (const auto* stage : {&e.from, &e.to})
        if (auto it = stage_dirs.find(*stage); it != stage_dirs.end()) dirs.push_back(it->second);
    if (dirs.empty()) return true;
    std::vector<std::string> before = repo.object_ids_at(c.parent, dirs), after = repo.object_ids_at(c.sha, dirs);
    for (std::size_t i = 0; i < dirs.size(); ++i)
      if (before[i] == after[i]) return false;
    return true;
  };
  repo.walk_history([&](const CommitInfo& c) {
    walked.step();
    // A merge brings in commits that are walked on their own: read once, there.
    if (c.parents > 1) return true;
    // The trailers: "Key: value" lines of the message's last paragraph.
    std::multimap<std::string, std::string> trailers;
    std::string_view message = c.message;
    while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.remove_suffix(1);
    auto last = message.rfind("\n\n");
    std::string_view block = last == std::string_view::npos ? std::string_view() : message.substr(last + 2);
    for (const auto& line : split(block, '\n')) {
      auto colon = line.find(": ");
      if (colon != std::string::npos && line.starts_with("Tracker-"))
        trailers.emplace(line.substr(0, colon), std::string(trim(line.substr(colon + 2))));
    }
    auto values = [&](const std::string& key) {
      std::vector<std::string> v;
      for (auto [it, end] = trailers.equal_range(key); it != end; ++it) v.push_back(it->second);
      return v;
    };
    auto one = [&](const std::string& key) {
      auto v = values(key);
      return v.empty() ? std::string() : v.front();
    };
    std::string action = one("Tracker-Action");
    if (action == "init") return true;
    LogEntry base{c.sha, c.time, c.author, action, 0, "", "", one("Tracker-Owner"), ""};
    // An in-place change says what it changed in its subject's last parentheses:
    // "tracker: set #2 (priority 1 -> 3)".
    std::string_view subject = message.substr(0, message.find('\n'));
    std::string detail;
    if (subject.ends_with(")")) {
      // The parenthesis that the last one closes: values may hold their own, "(none)".
      int depth = 0;
      for (std::size_t i = subject.size(); i-- > 0;) {
        if (subject[i] == ')') ++depth;
        if (subject[i] == '(' && --depth == 0) {
          if (i > 0 && subject[i - 1] == ' ') detail = subject.substr(i + 1, subject.size() - i - 2);
          break;
        }
      }
    }
    std::vector<LogEntry> entries;
    // An import names no story in its trailers (it may hold thousands): its tree tells.
    bool trusted = !action.empty() && action != "commit" && action != "import";
    if (trusted) {
      std::vector<std::string> stories = values("Tracker-Story"), froms = values("Tracker-From");
      for (std::size_t i = 0; i < stories.size(); ++i) {
        LogEntry e = base;
        e.id = parse_int(stories[i]).value_or(0);
        e.from = i < froms.size() ? froms[i] : (froms.empty() ? "" : froms.front());
        e.to = one("Tracker-To");
        if (e.to.empty() && action != "delete") e.to = e.from;
        if (e.from == e.to && stories.size() == 1) e.detail = detail;
        entries.push_back(e);
      }
      if (!tree_agrees(c, entries)) {
        entries.clear();
        trusted = false;
      }
    }
    if (!trusted) {
      // A commit made by hand (or by `tracker commit`), or one whose trailers its
      // tree does not bear out: read what its tree changed.
      static const std::map<std::string, std::string> verbs = {
          {"created", "create"}, {"deleted", "delete"}, {"moved", "move"}, {"edited", "edit"}};
      for (const auto& d : board_changes(c.parent, c.sha, nullptr, nullptr, DiffDetail::edits)) {
        LogEntry e = base;
        e.action = verbs.at(d.change);
        e.id = d.id;
        e.from = d.from;
        e.to = d.to;
        if (d.change == "edited") e.detail = join(describe_changes(d.fields, d.body_changed), ", ");
        entries.push_back(e);
      }
    }
    for (auto& e : entries) {
      if (id && e.id != *id) continue;
      out.push_back(std::move(e));
      if (full()) return false;
    }
    return true;
  });
  return out;
}

}  // namespace tracker
