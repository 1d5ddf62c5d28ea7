// The workspace configuration: .tracker/config.yml
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tracker {

/// One stage of the board: `dir` is "<order>_<name>", e.g. "2_current".
struct Stage {
  std::string name;
  std::string dir;
};

/// What one story file may hold. Past these limits the file is malformed, with a
/// message that names the limit, and every other story is unaffected.
struct StoryLimits {
  std::size_t max_bytes = 1024 * 1024;  ///< the file's size; `limits: {story_bytes: N}` in the config
  std::size_t max_keys = 1000;          ///< keys in the front matter
  std::size_t max_nodes = 10000;        ///< YAML values read, with every alias expanded
  std::size_t max_depth = 64;           ///< lists and mappings nested in one another
};

/// `remote:` in the config: the shared git remote that claims and ids go through
/// (docs/remote.md). Absent: everything stays on this machine.
struct RemoteSettings {
  std::string name = "origin";          ///< a git remote of the repository
  std::string branch = "main";          ///< the board's branch on it
  std::int64_t clock_skew_seconds = 30;  ///< a claim counts as expired only this long after its expiry
  std::int64_t timeout_seconds = 20;    ///< how long a network error is retried before exit 7
  std::int64_t id_block = 1;            ///< ids reserved on the remote at a time by `new`
  bool auto_sync = false;               ///< each command that commits syncs the branch afterwards
  bool operator==(const RemoteSettings&) const = default;
};

/// The parsed .tracker/config.yml.
struct Config {
  std::string stories_dir = "work";
  std::vector<Stage> stages;  ///< in board order
  std::vector<std::string> ready_stages;
  std::vector<std::string> done_stages;
  std::vector<std::string> types = {"story", "bug", "spike", "refactor"};
  std::int64_t claim_ttl_seconds = 15 * 60;
  std::string claim_move_to = "current";
  bool commit = true;         ///< make a git commit for every change
  bool commit_verify = true;  ///< commit.verify: run the pre-commit and commit-msg hooks
  bool watch = false;         ///< index.watch: refreshes ask a background watcher what changed
  StoryLimits story_limits;
  std::optional<RemoteSettings> remote;  ///< remote: claims and ids through a shared git remote

  /// The default board: backlog, current, qa, merge, done, archived.
  static Config defaults();

  /// A config for `init`: the given stage names (in order) under `stories_dir`.
  /// Throws UsageError on a bad stage name.
  static Config for_stages(std::string stories_dir, const std::vector<std::string>& stage_names);

  /// Parses the YAML text of a config file. Throws InvalidDataError "<path>:<line>: ...".
  static Config parse(std::string_view text, const std::string& path_for_errors);

  /// The YAML text of this config, with comments, as `init` writes it.
  std::string render() const;

  /// Ready stages, done stages and the claim target as they are when the config
  /// does not name them: backlog, done and archived, current (or the first, the
  /// last and the second stage).
  void set_default_roles();

  /// The stage named `name_or_dir` ("current" or "2_current"), or nullptr.
  const Stage* find_stage(std::string_view name_or_dir) const;

  /// The stage whose directory holds `path` (workspace-relative, generic) directly:
  /// `work/2_current/7_story_x.md` is in `current`; anything deeper or elsewhere is in none.
  const Stage* stage_of_path(std::string_view path) const;

  /// Like find_stage, but throws UsageError "unknown stage 'x' (did you mean 'y'?)".
  const Stage& stage(std::string_view name_or_dir) const;

  /// Index of the stage in board order, or -1.
  int stage_order(std::string_view name) const;

  bool is_ready_stage(std::string_view name) const;
  bool is_done_stage(std::string_view name) const;
  bool is_known_type(std::string_view type) const;
  std::vector<std::string> stage_names() const;
};

/// Parses a duration: "90s", "15m", "2h", "1d" or a bare number of seconds.
/// Throws UsageError on anything else, and on zero or negative values.
std::int64_t parse_duration(std::string_view text);

/// Why git would refuse `path` (a stories_dir or a stage directory) in a tree, or
/// nullopt when it is fine: an empty, ".", ".." or ".git" component (in any case, and
/// as NTFS and HFS+ spell it: ".git.", ".git ", "git~1"), a backslash, an absolute path.
std::optional<std::string> path_git_refuses(std::string_view path);

/// A stage name: lowercase letters, digits and '-', starting with a letter.
bool valid_stage_name(std::string_view name);

/// Formats seconds as the shortest of "90s", "15m", "2h", "1d".
std::string format_duration(std::int64_t seconds);

}  // namespace tracker
