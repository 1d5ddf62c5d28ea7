#include <tracker/error.hpp>
#include "fs_internal.hpp"
#include <tracker/util.hpp>

#include "git/repo.hpp"

#include <fcntl.h>
#include <unistd.h>
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <ctime>

namespace tracker {

using git::api;
using git::check;

void GitRepo::start_loading() {
  git::load_in_background();
}
void GitRepo::finish_loading() {
  git::finish_background_load();
}

namespace {

/// Reads one single-quoted word of GIT_CONFIG_PARAMETERS at `pos` (git's sq_quote:
/// a quote inside is written '\'').
std::optional<std::string> read_quoted(std::string_view text, std::size_t& pos) {
  if (pos >= text.size() || text[pos] != '\'') return std::nullopt;
  std::string out;
  ++pos;
  while (true) {
    if (pos >= text.size()) return std::nullopt;
    char c = text[pos++];
    if (c != '\'') {
      out += c;
      continue;
    }
    // '\'' continues the word with a quote; anything else ends it.
    if (text.compare(pos, 3, "\\''") == 0) {
      out += '\'';
      pos += 3;
      continue;
    }
    return out;
  }
}

/// "Section.Sub.Name" as git keeps it: section and name lowercase, the subsection as given.
std::string canonical_key(std::string key) {
  auto first = key.find('.'), last = key.rfind('.');
  if (first == std::string::npos || first == 0 || last + 1 == key.size())
    throw UsageError("bad config key '" + key + "' in the `git -c` settings (GIT_CONFIG_PARAMETERS)");
  for (std::size_t i = 0; i < first; ++i) key[i] = static_cast<char>(std::tolower(static_cast<unsigned char>(key[i])));
  for (std::size_t i = last + 1; i < key.size(); ++i)
    key[i] = static_cast<char>(std::tolower(static_cast<unsigned char>(key[i])));
  return key;
}

/// A config file holding `params`, in git's syntax.
std::string config_file_text(const std::vector<std::pair<std::string, std::optional<std::string>>>& params) {
  std::string out;
  for (const auto& [key, value] : params) {
    auto first = key.find('.'), last = key.rfind('.');
    out += "[" + key.substr(0, first);
    if (last != first) {
      out += " \"";
      for (char c : key.substr(first + 1, last - first - 1)) {
        if (c == '"' || c == '\\') out += '\\';
        out += c;
      }
      out += "\"";
    }
    out += "]\n\t" + key.substr(last + 1);
    if (value) {
      out += " = \"";
      for (char c : *value) {
        if (c == '"' || c == '\\') out += '\\';
        if (c == '\n')
          out += "\\n";
        else if (c == '\t')
          out += "\\t";
        else
          out += c;
      }
      out += "\"";
    }
    out += "\n";
  }
  return out;
}

}  // namespace

std::vector<std::pair<std::string, std::optional<std::string>>> git_config_parameters() {
  std::vector<std::pair<std::string, std::optional<std::string>>> out;
  if (const char* env = std::getenv("GIT_CONFIG_PARAMETERS")) {
    std::string_view text(env);
    std::size_t pos = 0;
    auto bad = [&] {
      return UsageError("cannot read the `git -c` settings in GIT_CONFIG_PARAMETERS: " + std::string(text));
    };
    while (true) {
      while (pos < text.size() && std::isspace(static_cast<unsigned char>(text[pos]))) ++pos;
      if (pos >= text.size()) break;
      auto key = read_quoted(text, pos);
      if (!key) throw bad();
      if (pos < text.size() && text[pos] == '=') {  // git 2.31+: 'key'='value'
        ++pos;
        auto value = read_quoted(text, pos);
        if (!value) throw bad();
        out.emplace_back(canonical_key(*key), *value);
      } else if (auto eq = key->find('='); eq != std::string::npos) {  // older: 'key=value'
        out.emplace_back(canonical_key(key->substr(0, eq)), key->substr(eq + 1));
      } else {
        out.emplace_back(canonical_key(*key), std::nullopt);
      }
    }
  }
  if (const char* count_text = std::getenv("GIT_CONFIG_COUNT"); count_text && *count_text) {
    auto count = parse_int(count_text);
    if (!count || *count < 0) throw UsageError("bad GIT_CONFIG_COUNT '" + std::string(count_text) + "'");
    for (std::int64_t i = 0; i < *count; ++i) {
      std::string n = std::to_string(i);
      const char* key = std::getenv(("GIT_CONFIG_KEY_" + n).c_str());
      const char* value = std::getenv(("GIT_CONFIG_VALUE_" + n).c_str());
      if (!key || !*key)
        throw UsageError("GIT_CONFIG_COUNT is " + std::string(count_text) + " but GIT_CONFIG_KEY_" + n + " is not set");
      if (!value)
        throw UsageError("GIT_CONFIG_COUNT is " + std::string(count_text) + " but GIT_CONFIG_VALUE_" + n +
                         " is not set");
      out.emplace_back(canonical_key(key), std::string(value));
    }
  }
  return out;
}

std::optional<std::string> GitRepo::Impl::config_string(const char* key) {
  const git::Api& a = api();
  git_config* raw = nullptr;
  check(a.git_repository_config_snapshot(&raw, repo.get()), "git config");
  git::Config config(raw);
  git::Buf buf;
  int rc = a.git_config_get_string_buf(&buf.buf, config.get(), key);
  if (rc == GIT_ENOTFOUND) return std::nullopt;
  check(rc, "git config " + std::string(key));
  return buf.str();
}

std::optional<bool> GitRepo::Impl::config_bool(const char* key) {
  const git::Api& a = api();
  git_config* raw = nullptr;
  check(a.git_repository_config_snapshot(&raw, repo.get()), "git config");
  git::Config config(raw);
  int value = 0;
  int rc = a.git_config_get_bool(&value, config.get(), key);
  if (rc == GIT_ENOTFOUND) return std::nullopt;
  if (rc < 0) throw UsageError("bad boolean value for git config " + std::string(key) + ": " + git::last_error());
  return value != 0;
}

GitRepo::GitRepo(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
GitRepo::GitRepo(GitRepo&&) noexcept = default;
GitRepo& GitRepo::operator=(GitRepo&&) noexcept = default;
GitRepo::~GitRepo() = default;

namespace {

fs::path without_trailing_slash(const char* dir) {
  std::string s = dir;
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  std::error_code ec;
  fs::path p = fs::weakly_canonical(fs::path(s), ec);
  return ec ? fs::path(s) : p;
}

}  // namespace

namespace {

git_odb_backend* loose_backend(GitRepo::Impl& g, bool fsync) {
  const git::Api& a = api();
  int level = 1;
  for (const char* key : {"core.compression", "core.loosecompression"})
    if (auto v = g.config_string(key)) {
      auto n = parse_int(trim(*v));
      if (!n || *n < -1 || *n > 9) throw UsageError("bad git config " + std::string(key) + " '" + *v + "'");
      level = *n == -1 ? 1 : static_cast<int>(*n);
    }
  const char* object_dir = std::getenv("GIT_OBJECT_DIRECTORY");
  fs::path objects = object_dir && *object_dir ? fs::path(object_dir) : g.common_dir / "objects";
  git_odb_backend* loose = nullptr;
  check(a.git_odb_backend_loose(&loose, objects.c_str(), level, fsync ? 1 : 0, 0, 0), "object database");
  return loose;
}

void add_loose_backend(GitRepo::Impl& g) {
  const git::Api& a = api();
  git_odb* raw_odb = nullptr;
  check(a.git_repository_odb(&raw_odb, g.repo.get()), "object database");
  std::unique_ptr<git_odb, git::Deleter<git_odb, &git::Api::git_odb_free>> odb(raw_odb);
  git_odb_backend* loose = loose_backend(g, true);
  if (a.git_odb_add_backend(odb.get(), loose, 3) < 0) {
    loose->free(loose);
    check(-1, "object database");
  }
}

}  // namespace

GitRepo GitRepo::open(const fs::path& path) {
  const git::Api& a = api();
  git_repository* raw = nullptr;
  auto impl = std::make_unique<Impl>();
  const char* git_dir_env = std::getenv("GIT_DIR");
  if (git_dir_env && *git_dir_env) {
    // As git: GIT_DIR names the repository and the work tree is GIT_WORK_TREE, else
    // the current directory. (libgit2 1.5 does not implement GIT_WORK_TREE.)
    check(a.git_repository_open_ext(&raw, git_dir_env, GIT_REPOSITORY_OPEN_NO_SEARCH, nullptr),
          "cannot open the git repository GIT_DIR=" + std::string(git_dir_env));
    impl->repo.reset(raw);
    const char* work_tree_env = std::getenv("GIT_WORK_TREE");
    fs::path work_tree = work_tree_env && *work_tree_env ? fs::absolute(work_tree_env) : fs::current_path();
    // Only when it differs: libgit2 1.5 leaks the path it was given when it is the same.
    const char* current = a.git_repository_workdir(raw);
    if (!current || without_trailing_slash(current) != without_trailing_slash(work_tree.c_str()))
      check(a.git_repository_set_workdir(raw, work_tree.c_str(), 0), "GIT_WORK_TREE=" + work_tree.string());
  } else {
    // GIT_INDEX_FILE, GIT_OBJECT_DIRECTORY and GIT_CEILING_DIRECTORIES as git reads them.
    check(a.git_repository_open_ext(&raw, path.c_str(), GIT_REPOSITORY_OPEN_FROM_ENV, nullptr),
          "cannot open the git repository at " + path.string());
    impl->repo.reset(raw);
  }
  const char* wd = a.git_repository_workdir(raw);
  if (!wd) throw UsageError("the git repository at " + path.string() + " is bare; tracker needs a work tree");
  impl->work_tree = without_trailing_slash(wd);
  impl->git_dir = without_trailing_slash(a.git_repository_path(raw));
  impl->common_dir = without_trailing_slash(a.git_repository_commondir(raw));
  const char* index_env = std::getenv("GIT_INDEX_FILE");
  impl->index_file = index_env && *index_env ? fs::absolute(index_env) : impl->git_dir / "index";

  // New loose objects are compressed as git compresses them: core.loosecompression,
  // else core.compression, else 1 (libgit2's own default, zlib's 6, made a commit
  // of a 6,000-entry stage tree twice as slow). libgit2 writes through the backend
  // of the highest priority; this one is above its default loose (1) and pack (2).
  add_loose_backend(*impl);

  auto params = git_config_parameters();
  if (!params.empty()) {
    std::error_code ec;
    fs::create_directories(impl->temp_dir(), ec);
    impl->config_parameters =
        std::make_unique<OwnedFile>(impl->temp_dir() / unique_name("config-parameters"), config_file_text(params));
    git_config* config = nullptr;
    check(a.git_repository_config(&config, raw), "git config");
    git::Config owned(config);
    check(a.git_config_add_file_ondisk(config, impl->config_parameters->path().c_str(), GIT_CONFIG_LEVEL_APP, raw, 1),
          "the `git -c` settings");
  }
  return GitRepo(std::move(impl));
}

void GitRepo::init(const fs::path& dir) {
  const git::Api& a = api();
  git_repository* raw = nullptr;
  check(a.git_repository_init(&raw, dir.c_str(), 0), "git init " + dir.string());
  a.git_repository_free(raw);
}

fs::path GitRepo::work_tree() const {
  return impl_->work_tree;
}
fs::path GitRepo::git_dir() const {
  return impl_->git_dir;
}

std::string format_commit_message(const CommitRequest& request) {
  std::string message = request.subject + "\n";
  if (!request.trailers.empty()) {
    message += "\n";
    for (const auto& [key, value] : request.trailers) message += key + ": " + value + "\n";
  }
  return message;
}

bool parse_git_date(std::string_view text, std::int64_t* when, int* offset_minutes) {
  text = trim(text);
  *offset_minutes = 0;
  auto parse_zone = [&](std::string_view z) {
    z = trim(z);
    if (z.empty() || z == "Z") return true;
    if (z.size() < 5 || (z[0] != '+' && z[0] != '-')) return false;
    std::string digits;
    for (char c : z.substr(1))
      if (c != ':') digits += c;
    auto hhmm = parse_int(digits);
    if (!hhmm || digits.size() != 4) return false;
    int minutes = static_cast<int>(*hhmm / 100 * 60 + *hhmm % 100);
    *offset_minutes = z[0] == '-' ? -minutes : minutes;
    return true;
  };
  std::string_view num = text;
  if (num.starts_with('@')) num.remove_prefix(1);
  auto space = num.find(' ');
  if (auto secs = parse_int(num.substr(0, space)); secs && (text.starts_with('@') || space != std::string_view::npos)) {
    *when = *secs;
    return parse_zone(space == std::string_view::npos ? "" : num.substr(space + 1));
  }
  std::tm tm{};
  const char* end = strptime(std::string(text).c_str(), "%Y-%m-%d", &tm);
  if (!end || text.size() < 19) return false;
  std::string rest(text.substr(10));
  if (rest[0] != 'T' && rest[0] != ' ') return false;
  if (!strptime(rest.c_str() + 1, "%H:%M:%S", &tm)) return false;
  if (!parse_zone(rest.substr(9))) return false;
  *when = static_cast<std::int64_t>(timegm(&tm)) - *offset_minutes * 60;
  return true;
}

git_tree* TreeEntries::subtree(std::string_view dir) {
  if (dir.empty() || !root_) return root_;
  if (auto it = subtrees_.find(dir); it != subtrees_.end()) return it->second.get();
  const git::Api& a = api();
  git::Tree found;
  auto slash = dir.rfind('/');
  git_tree* parent = subtree(slash == std::string_view::npos ? std::string_view() : dir.substr(0, slash));
  std::string name(slash == std::string_view::npos ? dir : dir.substr(slash + 1));
  if (parent) {
    const git_tree_entry* e = a.git_tree_entry_byname(parent, name.c_str());
    if (e && a.git_tree_entry_type(e) == GIT_OBJECT_TREE) {
      git_tree* t = nullptr;
      if (a.git_tree_lookup(&t, a.git_tree_owner(parent), a.git_tree_entry_id(e)) == 0) found.reset(t);
    }
  }
  return subtrees_.emplace(std::string(dir), std::move(found)).first->second.get();
}

gitindex::Entry TreeEntries::at(std::string_view path) {
  gitindex::Entry out;
  auto slash = path.rfind('/');
  git_tree* tree = subtree(slash == std::string_view::npos ? std::string_view() : path.substr(0, slash));
  if (!tree) return out;
  const git::Api& a = api();
  std::string name(slash == std::string_view::npos ? path : path.substr(slash + 1));
  const git_tree_entry* e = a.git_tree_entry_byname(tree, name.c_str());
  if (!e || a.git_tree_entry_type(e) != GIT_OBJECT_BLOB) return out;
  out.mode = static_cast<std::uint32_t>(a.git_tree_entry_filemode(e));
  a.git_oid_cpy(&out.id, a.git_tree_entry_id(e));
  return out;
}

void check_transient(int rc, const std::string& context) {
  if (rc >= 0) return;
  throw TransientGitError(context + ": " + git::last_error());
}

BatchObjects::BatchObjects(GitRepo::Impl& g) {
  const git::Api& a = api();
  std::string dir = std::getenv("GIT_OBJECT_DIRECTORY") ? std::getenv("GIT_OBJECT_DIRECTORY") : "";
  objects_ = dir.empty() ? g.common_dir / "objects" : fs::path(dir);
  git_repository* raw = nullptr;
  check(a.git_repository_open_ext(&raw, g.common_dir.c_str(), GIT_REPOSITORY_OPEN_NO_SEARCH, nullptr),
        "open " + g.common_dir.string());
  repo_.reset(raw);
  git_odb* odb = nullptr;
  check(a.git_repository_odb(&odb, repo_.get()), "object database");
  odb_.reset(odb);
  git_odb_backend* memory = nullptr;
  check(a.git_mempack_new(&memory), "object database in memory");
  // Above every other backend: writes go to memory (an object already stored is not
  // written again), and the packbuilder reads them back from there.
  if (a.git_odb_add_backend(odb_.get(), memory, 999) < 0) {
    memory->free(memory);
    check(-1, "object database in memory");
  }
}

void BatchObjects::sync() {
  if (ids_.empty()) return;
  const git::Api& a = api();
  git_packbuilder* raw = nullptr;
  check(a.git_packbuilder_new(&raw, repo_.get()), "a pack");
  std::unique_ptr<git_packbuilder, git::Deleter<git_packbuilder, &git::Api::git_packbuilder_free>> pack(raw);
  a.git_packbuilder_set_threads(pack.get(), 1);
  for (const auto& id : ids_) check(a.git_packbuilder_insert(pack.get(), &id, nullptr), "a pack");
  fs::path dir = objects_ / "pack";
  fs::create_directories(dir);
  check_transient(a.git_packbuilder_write(pack.get(), dir.c_str(), 0, nullptr, nullptr), "write a pack in " + dir.string());
  ids_.clear();
}

git_oid write_blob(GitRepo::Impl& g, const std::string& path, const std::string& data, BatchObjects* batch) {
  const git::Api& a = api();
  git_filter_list* raw = nullptr;
  check(a.git_filter_list_load(&raw, g.repo.get(), nullptr, path.c_str(), GIT_FILTER_TO_ODB, GIT_FILTER_DEFAULT),
        "filters for " + path);
  git::FilterList filters(raw);
  git::Buf filtered;
  std::string_view bytes = data;
  if (filters) {
    check(a.git_filter_list_apply_to_buffer(&filtered.buf, filters.get(), data.data(), data.size()), path);
    bytes = std::string_view(filtered.buf.ptr, filtered.buf.size);
  }
  git_oid id;
  if (batch) {
    check_transient(a.git_odb_write(&id, batch->odb(), bytes.data(), bytes.size(), GIT_OBJECT_BLOB), "blob " + path);
    batch->add(id);
  } else
    check_transient(a.git_blob_create_from_buffer(&id, g.repo.get(), bytes.data(), bytes.size()), "blob " + path);
  return id;
}

std::string GitRepo::write_one_file_commit(const std::string& file, const std::string& text,
                                          const std::string& parent, const std::string& name,
                                          const std::string& email, const std::string& message) {
  const git::Api& a = api();
  git_repository* repo = impl_->repo.get();
  git_oid blob_oid, tree_oid, commit_oid;
  check(a.git_blob_create_from_buffer(&blob_oid, repo, text.data(), text.size()), "write " + file);
  git_treebuilder* raw_builder = nullptr;
  check(a.git_treebuilder_new(&raw_builder, repo, nullptr), "a tree for " + file);
  git::TreeBuilder builder(raw_builder);
  check(a.git_treebuilder_insert(nullptr, builder.get(), file.c_str(), &blob_oid, GIT_FILEMODE_BLOB), "a tree for " + file);
  check(a.git_treebuilder_write(&tree_oid, builder.get()), "write a tree for " + file);
  git_tree* raw_tree = nullptr;
  check(a.git_tree_lookup(&raw_tree, repo, &tree_oid), "the tree for " + file);
  git::Tree tree(raw_tree);
  git::Commit parent_commit;
  if (!parent.empty()) {
    git_oid parent_oid;
    check(a.git_oid_fromstr(&parent_oid, parent.c_str()), "parent " + parent);
    git_commit* raw = nullptr;
    check(a.git_commit_lookup(&raw, repo, &parent_oid), "parent " + parent);
    parent_commit.reset(raw);
  }
  git_signature* raw_sig = nullptr;
  check(a.git_signature_now(&raw_sig, name.c_str(), email.c_str()), "signature");
  git::Signature sig(raw_sig);
  const git_commit* parents[] = {parent_commit.get()};
  check(a.git_commit_create(&commit_oid, repo, nullptr, sig.get(), sig.get(), nullptr, message.c_str(), tree.get(),
                            parent_commit ? 1 : 0, parents),
        "write a commit of " + file);
  return git::hex(commit_oid);
}

}  // namespace tracker
