// Which stories git handed the merge driver (`tracker merge-file`): git pairs the
// files of a merge by its rename detection, which can pair two similar stories
// with different ids. The driver checks the ids before it merges anything.
#include <tracker/remote.hpp>
#include <tracker/util.hpp>

#include "process.hpp"

#include <cstdlib>
#include <fstream>

extern char** environ;

namespace tracker {

namespace {

/// The id a story file name starts with (`42_story_x.md` -> 42).
std::optional<std::int64_t> leading_id(std::string_view path) {
  auto slash = path.rfind('/');
  std::string_view name = slash == std::string_view::npos ? path : path.substr(slash + 1);
  auto underscore = name.find('_');
  if (underscore == std::string_view::npos || !name.ends_with(".md")) return std::nullopt;
  return parse_int(name.substr(0, underscore));
}

std::string rev_of(const std::filesystem::path& root, const std::string& spec) {
  ProgramResult r = run_git(root, {"rev-parse", "--verify", "--quiet", spec + "^{commit}"});
  return r.status == 0 ? std::string(trim(r.out)) : "";
}

/// The ids of the story files of commit `rev` whose blob is `blob`.
std::set<std::int64_t> ids_holding(const std::filesystem::path& root, const std::string& rev, const std::string& blob) {
  std::set<std::int64_t> out;
  if (rev.empty() || blob.empty()) return out;
  ProgramResult r = run_git(root, {"ls-tree", "-r", "-z", rev});
  if (r.status != 0) return out;
  for (const auto& item : split(r.out, '\0')) {
    auto tab = item.find('\t');
    if (tab == std::string::npos) continue;
    auto f = split(item.substr(0, tab), ' ');
    if (f.size() < 3 || f[2] != blob) continue;
    if (auto id = leading_id(item.substr(tab + 1))) out.insert(*id);
  }
  return out;
}

}  // namespace

MergeSides locate_merge_sides(const std::filesystem::path& root, std::string_view base, std::string_view ours,
                              std::string_view theirs) {
  MergeSides sides;
  auto hash = [&](std::string_view text) {
    ProgramResult r = run_git(root, {"hash-object", "--no-filters", "--stdin"}, std::string(text));
    return r.status == 0 ? std::string(trim(r.out)) : "";
  };
  // Ours is HEAD in a merge, a rebase and a cherry-pick alike.
  std::string head = rev_of(root, "HEAD");
  // Theirs: `git merge` names the commit it merges in GITHEAD_<sha>; a rebase lists
  // the commit it is picking last in rebase-merge/done.
  std::string other, other_base;
  for (char** e = environ; e && *e; ++e) {
    std::string_view var = *e;
    if (var.starts_with("GITHEAD_")) {
      other = rev_of(root, std::string(var.substr(8, var.find('=') - 8)));
      if (!other.empty()) break;
    }
  }
  if (other.empty()) {
    ProgramResult dir = run_git(root, {"rev-parse", "--git-path", "rebase-merge/done"});
    if (dir.status == 0) {
      std::filesystem::path done = std::filesystem::path(std::string(trim(dir.out)));
      if (done.is_relative()) done = root / done;
      std::ifstream in(done);
      std::string line, last;
      while (std::getline(in, line))
        if (line.starts_with("pick ") || line.starts_with("p ")) last = line;
      auto words = split(last, ' ');
      if (words.size() >= 2) {
        other = rev_of(root, words[1]);
        if (!other.empty()) other_base = rev_of(root, other + "^");
      }
    }
  }
  if (!other.empty() && other_base.empty() && !head.empty()) {
    ProgramResult mb = run_git(root, {"merge-base", head, other});
    if (mb.status == 0) other_base = std::string(trim(mb.out));
  }
  sides.ours = ids_holding(root, head, hash(ours));
  sides.theirs = ids_holding(root, other, hash(theirs));
  sides.base = ids_holding(root, other_base, hash(base));
  return sides;
}

std::optional<std::string> merge_sides_mismatch(const MergeSides& sides, std::optional<std::int64_t> result_id) {
  std::vector<std::pair<std::string, std::set<std::int64_t>>> known;
  if (result_id) known.push_back({"the merged path", {*result_id}});
  if (!sides.base.empty()) known.push_back({"base", sides.base});
  if (!sides.ours.empty()) known.push_back({"ours", sides.ours});
  if (!sides.theirs.empty()) known.push_back({"theirs", sides.theirs});
  if (known.size() < 2) return std::nullopt;
  std::set<std::int64_t> common = known.front().second;
  for (const auto& [side, ids] : known) {
    std::set<std::int64_t> both;
    for (auto id : ids)
      if (common.count(id)) both.insert(id);
    common = both;
  }
  if (!common.empty()) return std::nullopt;
  std::vector<std::string> parts;
  for (const auto& [side, ids] : known) {
    std::vector<std::string> tags;
    for (auto id : ids) tags.push_back("#" + std::to_string(id));
    parts.push_back(side + " " + join(tags, "/"));
  }
  return "git paired different stories (" + join(parts, ", ") + ")";
}

std::string normalize_line_endings(std::string text, const std::vector<std::string_view>& sides) {
  auto crlf = [](std::string_view t) {
    std::size_t lf = 0, cr = 0;
    for (std::size_t i = 0; i < t.size(); ++i)
      if (t[i] == '\n') (i > 0 && t[i - 1] == '\r' ? cr : lf)++;
    return cr > lf;
  };
  std::size_t votes = 0, seen = 0;
  for (auto s : sides) {
    if (s.find('\n') == std::string_view::npos) continue;
    ++seen;
    votes += crlf(s) ? 1 : 0;
  }
  if (seen == 0) return text;
  bool want_crlf = votes * 2 > seen;
  std::string out;
  out.reserve(text.size() + text.size() / 16);
  for (std::size_t i = 0; i < text.size(); ++i) {
    char ch = text[i];
    if (ch == '\r' && i + 1 < text.size() && text[i + 1] == '\n') continue;  // the \n writes it
    if (ch == '\n') {
      if (want_crlf) out += '\r';
      out += '\n';
      continue;
    }
    out += ch;
  }
  return out;
}

}  // namespace tracker
