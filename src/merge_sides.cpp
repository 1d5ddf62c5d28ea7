// Which stories git handed the merge driver (`tracker merge-file`): git pairs the
// files of a merge by its rename detection, which can pair two similar stories
// with different ids. The driver checks the ids before it merges anything.
#include <tracker/error.hpp>
#include <tracker/git.hpp>
#include <tracker/remote.hpp>
#include <tracker/util.hpp>

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

/// The commit `spec` names, or "" when it names none.
std::string commit_of(GitRepo& repo, const std::string& spec) {
  return repo.resolve(spec + "^{commit}");
}

/// The ids of the story files of commit `rev` whose blob is `blob`.
std::set<std::int64_t> ids_holding(GitRepo& repo, const std::string& rev, const std::string& blob) {
  std::set<std::int64_t> out;
  if (rev.empty() || blob.empty()) return out;
  for (const auto& [path, file] : repo.files_at(rev))
    if (file.id == blob)
      if (auto id = leading_id(path)) out.insert(*id);
  return out;
}

/// The commit a rebase is picking: the last `pick` of rebase-merge/done.
std::string picking(GitRepo& repo) {
  std::ifstream in(repo.git_dir() / "rebase-merge" / "done");
  std::string line, last;
  while (std::getline(in, line))
    if (line.starts_with("pick ") || line.starts_with("p ")) last = line;
  auto words = split(last, ' ');
  return words.size() >= 2 ? commit_of(repo, words[1]) : "";
}

}  // namespace

MergeSides locate_merge_sides(const std::filesystem::path& root, std::string_view base, std::string_view ours,
                              std::string_view theirs) {
  MergeSides sides;
  try {
    GitRepo repo = GitRepo::open(root);
    // Ours is HEAD in a merge, a rebase and a cherry-pick alike.
    std::string head = commit_of(repo, "HEAD");
    // Theirs: `git merge` names the commit it merges in GITHEAD_<sha>; a rebase lists
    // the commit it is picking last in rebase-merge/done, and its base is its parent.
    std::string other, other_base;
    for (char** e = environ; e && *e && other.empty(); ++e) {
      std::string_view var = *e;
      if (var.starts_with("GITHEAD_")) other = commit_of(repo, std::string(var.substr(8, var.find('=') - 8)));
    }
    if (other.empty()) {
      other = picking(repo);
      if (!other.empty()) other_base = commit_of(repo, other + "^");
    }
    if (!other.empty() && other_base.empty() && !head.empty()) {
      try {
        other_base = repo.merge_base(head, other);
      } catch (const UsageError&) {  // no common ancestor: no base to read
      }
    }
    sides.ours = ids_holding(repo, head, GitRepo::blob_id(ours));
    sides.theirs = ids_holding(repo, other, GitRepo::blob_id(theirs));
    sides.base = ids_holding(repo, other_base, GitRepo::blob_id(base));
  } catch (const Error&) {
    // Outside a repository, or one libgit2 cannot read: the driver goes by the
    // labels git passed, as it does for a side it cannot find.
  }
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
