#include <tracker/error.hpp>
#include <tracker/util.hpp>
#include <tracker/story.hpp>
#include <tracker/workspace.hpp>

#include "limits.hpp"

#include <sys/stat.h>
#include <cstdlib>

namespace tracker {

namespace {

/// The value of a "key: value" line file such as .git (gitdir: X) or commondir.
std::optional<fs::path> read_pointer_file(const fs::path& file, std::string_view prefix) {
  auto text = read_file_if_exists(file);
  if (!text) return std::nullopt;
  std::string_view t = trim(*text);
  if (!t.starts_with(prefix)) return std::nullopt;
  fs::path target{std::string(trim(t.substr(prefix.size())))};
  if (target.is_relative()) target = file.parent_path() / target;
  return target.lexically_normal();
}

fs::path without_trailing_slash(fs::path p) {
  std::string s = p.string();
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return fs::path(s);
}

/// GIT_WORK_TREE made absolute and canonical, when it is set.
std::optional<fs::path> work_tree_from_env() {
  const char* env = std::getenv("GIT_WORK_TREE");
  if (!env || !*env) return std::nullopt;
  std::error_code ec;
  return without_trailing_slash(fs::weakly_canonical(fs::absolute(env), ec));
}

bool is_proper_ancestor(const fs::path& dir, const fs::path& of) {
  auto d = dir.begin(), o = of.begin();
  for (; d != dir.end(); ++d, ++o)
    if (o == of.end() || *d != *o) return false;
  return o != of.end();
}

/// As git: the deepest directory of GIT_CEILING_DIRECTORIES (absolute paths, ':'
/// between them) that is a proper ancestor of `start`. A search upwards from `start`
/// looks no higher than the directory just below it; a ceiling that is `start`
/// itself stops nothing.
std::optional<fs::path> ceiling_above(const fs::path& start) {
  const char* env = std::getenv("GIT_CEILING_DIRECTORIES");
  if (!env || !*env) return std::nullopt;
  std::optional<fs::path> deepest;
  for (const auto& entry : split(env, ':')) {
    if (entry.empty() || entry.front() != '/') continue;  // git ignores relative entries
    std::error_code ec;
    fs::path dir = without_trailing_slash(fs::weakly_canonical(fs::path(std::string(entry)), ec));
    if (ec || !is_proper_ancestor(dir, start)) continue;
    if (!deepest || is_proper_ancestor(*deepest, dir)) deepest = dir;
  }
  return deepest;
}

/// The next directory up from `cur` for a search that began at `start`, or nullopt
/// at the root or at the ceiling.
class UpwardSearch {
 public:
  explicit UpwardSearch(const fs::path& start) : ceiling_(ceiling_above(start)) {}
  std::optional<fs::path> parent_of(const fs::path& cur) const {
    if (!cur.has_parent_path() || cur.parent_path() == cur) return std::nullopt;
    if (ceiling_ && cur.parent_path() == *ceiling_) return std::nullopt;
    return cur.parent_path();
  }

 private:
  std::optional<fs::path> ceiling_;
};

}  // namespace

std::optional<GitDirs> find_git_dirs(const fs::path& dir) {
  std::error_code ec;
  if (const char* git_dir_env = std::getenv("GIT_DIR"); git_dir_env && *git_dir_env) {
    // As git: GIT_DIR names the repository, and the work tree is GIT_WORK_TREE, else
    // the current directory.
    fs::path git_dir = without_trailing_slash(fs::weakly_canonical(fs::absolute(git_dir_env), ec));
    GitDirs dirs{work_tree_from_env().value_or(without_trailing_slash(fs::current_path())), git_dir, git_dir};
    if (auto common = read_pointer_file(git_dir / "commondir", "")) dirs.common_dir = without_trailing_slash(*common);
    return dirs;
  }
  fs::path cur = fs::weakly_canonical(fs::absolute(dir), ec);
  if (ec) cur = fs::absolute(dir);
  const UpwardSearch search(cur);
  while (true) {
    fs::path dot_git = cur / ".git";
    std::error_code sec;
    auto status = fs::status(dot_git, sec);
    if (fs::is_directory(status)) {
      GitDirs dirs{cur, dot_git, dot_git};
      if (auto common = read_pointer_file(dot_git / "commondir", "")) dirs.common_dir = *common;
      return dirs;
    }
    if (fs::is_regular_file(status)) {
      auto git_dir = read_pointer_file(dot_git, "gitdir:");
      if (!git_dir) throw IoError(dot_git.string() + ": not a valid gitdir file");
      GitDirs dirs{cur, without_trailing_slash(*git_dir), without_trailing_slash(*git_dir)};
      if (auto common = read_pointer_file(dirs.git_dir / "commondir", ""))
        dirs.common_dir = without_trailing_slash(*common);
      return dirs;
    }
    auto up = search.parent_of(cur);
    if (!up) return std::nullopt;
    cur = *up;
  }
}

Workspace Workspace::discover(const fs::path& start) {
  std::error_code ec;
  fs::path cur = fs::weakly_canonical(fs::absolute(start), ec);
  if (ec || !fs::is_directory(cur)) throw UsageError("cannot use '" + start.string() + "': not a directory");
  // As git: with GIT_DIR and GIT_WORK_TREE both set, the work tree is the one they
  // name from any directory; from outside it, the search starts at its top.
  const char* git_dir_env = std::getenv("GIT_DIR");
  if (auto tree = work_tree_from_env(); tree && git_dir_env && *git_dir_env)
    if (*tree != cur && !is_proper_ancestor(*tree, cur)) cur = *tree;
  fs::path origin = cur;
  const UpwardSearch search(cur);
  while (true) {
    if (fs::exists(config_path_for(cur), ec)) return open(cur);
    auto up = search.parent_of(cur);
    if (!up) break;
    cur = *up;
  }
  throw UsageError("not a tracker workspace: no .tracker/config.yml in " + origin.string() +
                   " or any parent; run 'tracker init' to create one, or use -C <dir>");
}

Workspace Workspace::open(const fs::path& root_in) {
  std::error_code ec;
  fs::path root = fs::weakly_canonical(fs::absolute(root_in), ec);
  if (ec) root = fs::absolute(root_in);
  fs::path config_file = config_path_for(root);
  auto text = read_file_if_exists(config_file);
  if (!text) throw UsageError("not a tracker workspace: " + config_file.string() + " is missing; run 'tracker init'");
  Config config = Config::parse(*text, config_file.string());
  auto dirs = find_git_dirs(root);
  if (!dirs)
    throw UsageError("the workspace " + root.string() + " is not inside a git work tree; run 'git init' there");
  return Workspace(root, std::move(config), dirs->git_dir, dirs->common_dir);
}

std::string Workspace::relative(const fs::path& path) const {
  return path.lexically_relative(root_).generic_string();
}

IdAllocation::IdAllocation(const Workspace& ws)
    : dir_(ws.shared_state_dir()), lock_(ws.shared_state_dir() / "ids.lock", limits::kIdAllocation, "id allocation") {}

static fs::path key_file(const fs::path& dir, const std::string& key) {
  // Keys are hex-encoded so any string is a safe file name; long keys are cut and
  // the full key is kept in the file to tell them apart.
  static const char* hex = "0123456789abcdef";
  std::string name;
  for (unsigned char c : key.substr(0, 100)) {
    name += hex[c >> 4];
    name += hex[c & 15];
  }
  return dir / "keys" / name;
}

std::optional<std::int64_t> IdAllocation::find_key(const std::string& key) const {
  for (int probe = 0;; ++probe) {
    fs::path file = key_file(dir_, key);
    if (probe) file += "." + std::to_string(probe);
    auto text = read_file_if_exists(file);
    if (!text) return std::nullopt;
    auto nl = text->find('\n');
    if (nl != std::string::npos && text->substr(nl + 1) == key) return parse_int(trim(text->substr(0, nl)));
  }
}

void IdAllocation::record_key(const std::string& key, std::int64_t id) {
  fs::create_directories(dir_ / "keys");
  for (int probe = 0;; ++probe) {
    fs::path file = key_file(dir_, key);
    if (probe) file += "." + std::to_string(probe);
    if (fs::exists(file)) continue;
    write_file_atomic(file, std::to_string(id) + "\n" + key);
    return;
  }
}

void IdAllocation::release(std::int64_t id) { release_many(id, 1); }

std::optional<std::string> Workspace::symlink_to_stage(const Stage& stage) const {
  fs::path at = root_;
  std::string rel;
  auto is_link = [&](const std::string& component) {
    at /= component;
    rel += (rel.empty() ? "" : "/") + component;
    struct stat st {};
    return ::lstat(at.c_str(), &st) == 0 && S_ISLNK(st.st_mode);
  };
  for (const auto& component : split(config_.stories_dir, '/'))
    if (is_link(component)) return rel;
  if (is_link(stage.dir)) return rel;
  return std::nullopt;
}

fs::path Workspace::real_stage_dir(const Stage& stage) const {
  if (auto link = symlink_to_stage(stage))
    throw InvalidDataError(*link + " is a symbolic link, and tracker never writes through one; make it a directory");
  return stage_dir(stage);
}

/// The id in `<dir>/last-id`, 0 for none.
static std::int64_t last_id_in(const fs::path& dir) {
  auto text = read_file_if_exists(dir / "last-id");
  return text ? parse_int(trim(*text)).value_or(0) : 0;
}

std::int64_t IdAllocation::peek_last(const Workspace& ws) { return last_id_in(ws.shared_state_dir()); }

std::int64_t IdAllocation::last() const { return last_id_in(dir_); }

std::int64_t IdAllocation::reserve(std::int64_t highest_seen) { return reserve_many(highest_seen, 1); }

void IdAllocation::release_many(std::int64_t first, std::int64_t count) {
  fs::path mark = dir_ / "last-id";
  auto text = read_file_if_exists(mark);
  if (!text || parse_int(trim(*text)) != first + count - 1) return;
  write_file_atomic(mark, std::to_string(first - 1) + "\n");
}

std::int64_t IdAllocation::reserve_many(std::int64_t highest_seen, std::int64_t count) {
  fs::path mark = dir_ / "last-id";
  std::int64_t last = 0;
  if (auto text = read_file_if_exists(mark)) last = parse_int(trim(*text)).value_or(0);
  std::int64_t highest = std::max(last, highest_seen);
  if (highest > kMaxStoryId - count)
    throw InvalidDataError("no story id is left: the highest in use is " + std::to_string(highest) +
                           " and ids end at " + std::to_string(kMaxStoryId) + " (is " + mark.string() +
                           " damaged? it holds the last id given out)");
  std::int64_t id = highest + 1;
  write_file_atomic(mark, std::to_string(id + count - 1) + "\n");
  return id;
}

}  // namespace tracker
