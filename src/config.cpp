#include <tracker/config.hpp>
#include <tracker/error.hpp>
#include <tracker/util.hpp>

#include "limits.hpp"

#include <yaml-cpp/yaml.h>
#include <algorithm>

namespace tracker {

bool valid_stage_name(std::string_view name) {
  if (name.empty() || name.size() > 40) return false;
  if (!(name[0] >= 'a' && name[0] <= 'z')) return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; });
}

std::optional<std::string> path_git_refuses(std::string_view path) {
  if (path.empty()) return "it is empty";
  if (path.starts_with('/')) return "it is an absolute path";
  if (path.find('\\') != std::string_view::npos) return "it holds a backslash";
  for (char c : path)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return "it holds a control character";
  for (const auto& component : split(path, '/')) {
    if (component.empty() || component == "." || component == "..")
      return "it has an empty, '.' or '..' component";
    // git's verify_path: ".git" in any case, with the trailing dots and spaces NTFS
    // drops, and its 8.3 short name (core.protectNTFS is on by default).
    std::string lower = ascii_lower(component);
    std::string_view trimmed = lower;
    while (!trimmed.empty() && (trimmed.back() == '.' || trimmed.back() == ' ')) trimmed.remove_suffix(1);
    if (trimmed == ".git" || trimmed == "git~1") return "git refuses a '" + component + "' component in a path";
  }
  return std::nullopt;
}

namespace {

bool contains(const std::vector<std::string>& v, std::string_view s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

/// Reports a config problem at the node's line.
[[noreturn]] void fail(const std::string& path, const YAML::Node& node, const std::string& message) {
  int line = node.Mark().line >= 0 ? node.Mark().line + 1 : 1;
  throw InvalidDataError(path + ":" + std::to_string(line) + ": " + message);
}

std::string scalar(const std::string& path, const YAML::Node& node, const std::string& key) {
  if (!node.IsScalar()) fail(path, node, "'" + key + "' must be a string");
  return node.Scalar();
}

bool boolean(const std::string& path, const YAML::Node& node, const std::string& key) {
  const std::string v = scalar(path, node, key);
  if (v == "true" || v == "yes") return true;
  if (v == "false" || v == "no") return false;
  fail(path, node, "'" + key + "' must be true or false");
}

std::vector<std::string> string_list(const std::string& path, const YAML::Node& node, const std::string& key) {
  std::vector<std::string> out;
  if (node.IsScalar()) {
    for (auto& part : split(node.Scalar(), ','))
      if (!trim(part).empty()) out.emplace_back(trim(part));
    return out;
  }
  if (!node.IsSequence()) fail(path, node, "'" + key + "' must be a list");
  for (const auto& item : node) out.push_back(scalar(path, item, key));
  return out;
}

/// `value` as a YAML scalar, quoted only when it must be (a path may hold ": " or " #").
std::string yaml_text(const std::string& value) {
  YAML::Emitter out;
  // Names go inside flow collections (`{name: …, dir: …}`, `[…]`), where , [ ] { }
  // end a plain scalar and yaml-cpp's reader stumbles on others (`?`): the emitter,
  // which does not know that, would leave them bare. Anything beyond the plainest
  // characters is double-quoted; the emitter still quotes words such as `null`.
  bool plain = std::all_of(value.begin(), value.end(), [](char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_' ||
           ch == '-' || ch == '.' || ch == '/';
  });
  if (!plain) out << YAML::DoubleQuoted;
  out << value;
  return out.c_str();
}

void check_known_keys(const std::string& path, const YAML::Node& map, const std::vector<std::string>& known,
                      const std::string& where) {
  for (const auto& kv : map) {
    std::string key = kv.first.Scalar();
    if (!contains(known, key)) fail(path, kv.first, "unknown key '" + key + "'" + where + did_you_mean(key, known));
  }
}

}  // namespace

Config Config::defaults() {
  return for_stages("work", {"backlog", "current", "qa", "merge", "done", "archived"});
}

Config Config::for_stages(std::string stories_dir, const std::vector<std::string>& stage_names) {
  Config c;
  while (stories_dir.size() > 1 && stories_dir.back() == '/') stories_dir.pop_back();
  if (auto why = path_git_refuses(stories_dir))
    throw UsageError("bad stories directory '" + stories_dir + "': " + *why);
  c.stories_dir = std::move(stories_dir);
  if (stage_names.empty()) throw UsageError("at least one stage is needed");
  for (std::size_t i = 0; i < stage_names.size(); ++i) {
    const std::string& name = stage_names[i];
    if (!valid_stage_name(name))
      throw UsageError("bad stage name '" + name + "': use lowercase letters, digits and '-'");
    if (c.find_stage(name)) throw UsageError("stage '" + name + "' is listed twice");
    c.stages.push_back({name, std::to_string(i + 1) + "_" + name});
  }
  c.set_default_roles();
  return c;
}

Config Config::parse(std::string_view text, const std::string& path) {
  std::optional<std::size_t> bad = invalid_utf8_at(text);
  if (!bad && text.find('\0') != std::string_view::npos) bad = text.find('\0');
  if (bad) {
    int line = 1 + static_cast<int>(std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(*bad), '\n'));
    throw InvalidDataError(path + ":" + std::to_string(line) + ": not valid UTF-8 text; save it as UTF-8");
  }
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    throw InvalidDataError(path + ":" + std::to_string(e.mark.line + 1) + ": malformed YAML: " + e.msg);
  }
  if (!root.IsMap()) throw InvalidDataError(path + ":1: the config must be a mapping of keys to values");
  check_known_keys(path, root,
                   {"stories_dir", "stages", "ready_stages", "done_stages", "types", "claim", "commit", "index", "limits", "remote"},
                  "");

  Config c;
  c.ready_stages.clear();
  c.done_stages.clear();
  if (root["stories_dir"]) {
    c.stories_dir = scalar(path, root["stories_dir"], "stories_dir");
    while (c.stories_dir.size() > 1 && c.stories_dir.back() == '/') c.stories_dir.pop_back();
    if (auto why = path_git_refuses(c.stories_dir))
      fail(path, root["stories_dir"], "'stories_dir' must be a relative path inside the workspace that git accepts: " + *why);
  }

  const YAML::Node stages = root["stages"];
  if (!stages) throw InvalidDataError(path + ":1: missing 'stages'");
  if (!stages.IsSequence() || stages.size() == 0) fail(path, stages, "'stages' must be a non-empty list");
  for (const auto& item : stages) {
    Stage s;
    if (item.IsScalar()) {
      s.name = item.Scalar();
    } else if (item.IsMap()) {
      check_known_keys(path, item, {"name", "dir"}, " in a stage");
      if (!item["name"]) fail(path, item, "a stage needs a 'name'");
      s.name = scalar(path, item["name"], "name");
      if (item["dir"]) s.dir = scalar(path, item["dir"], "dir");
    } else {
      fail(path, item, "a stage must be a name or a mapping with 'name' and 'dir'");
    }
    if (!valid_stage_name(s.name))
      fail(path, item, "bad stage name '" + s.name + "': use lowercase letters, digits and '-'");
    if (s.dir.empty()) s.dir = std::to_string(c.stages.size() + 1) + "_" + s.name;
    if (s.dir.find('/') != std::string::npos || s.dir.starts_with('.') || path_git_refuses(s.dir))
      fail(path, item, "stage directory '" + s.dir + "' must be a plain directory name that git accepts");
    if (c.find_stage(s.name) || c.find_stage(s.dir)) fail(path, item, "stage '" + s.name + "' is listed twice");
    c.stages.push_back(s);
  }

  auto stage_list = [&](const char* key, std::vector<std::string>& out) {
    const YAML::Node node = root[key];
    if (!node) return false;
    for (const auto& name : string_list(path, node, key)) {
      const Stage* s = c.find_stage(name);
      if (!s)
        fail(path, node,
             std::string("'") + key + "' names unknown stage '" + name + "'" + did_you_mean(name, c.stage_names()));
      out.push_back(s->name);
    }
    if (out.empty()) fail(path, node, std::string("'") + key + "' must name at least one stage");
    return true;
  };
  c.set_default_roles();
  std::vector<std::string> ready, done;
  if (stage_list("ready_stages", ready)) c.ready_stages = ready;
  if (stage_list("done_stages", done)) c.done_stages = done;

  if (root["types"]) {
    c.types = string_list(path, root["types"], "types");
    if (c.types.empty()) fail(path, root["types"], "'types' must not be empty");
    for (const auto& t : c.types)
      if (!valid_stage_name(t) || t.find('-') != std::string::npos)
        fail(path, root["types"], "bad type '" + t + "': use lowercase letters and digits");
  }

  if (const YAML::Node claim = root["claim"]) {
    if (!claim.IsMap()) fail(path, claim, "'claim' must be a mapping");
    check_known_keys(path, claim, {"ttl", "move_to"}, " in 'claim'");
    if (claim["ttl"]) {
      try {
        c.claim_ttl_seconds = parse_duration(scalar(path, claim["ttl"], "ttl"));
        if (c.claim_ttl_seconds > limits::kMaxClaimTtlSeconds)
          throw UsageError("claim.ttl is at most " + std::to_string(limits::kMaxClaimTtlSeconds / 86400) + "d");
      } catch (const UsageError& e) {
        fail(path, claim["ttl"], e.what());
      }
    }
    if (claim["move_to"]) {
      std::string name = scalar(path, claim["move_to"], "move_to");
      const Stage* s = c.find_stage(name);
      if (!s)
        fail(path, claim["move_to"],
             "'move_to' names unknown stage '" + name + "'" + did_you_mean(name, c.stage_names()));
      c.claim_move_to = s->name;
    }
  }
  if (const YAML::Node commit = root["commit"]) {
    if (!commit.IsMap()) fail(path, commit, "'commit' must be a mapping");
    check_known_keys(path, commit, {"enabled", "verify"}, " in 'commit'");
    if (commit["enabled"]) c.commit = boolean(path, commit["enabled"], "enabled");
    if (commit["verify"]) c.commit_verify = boolean(path, commit["verify"], "verify");
  }
  if (const YAML::Node index = root["index"]) {
    if (!index.IsMap()) fail(path, index, "'index' must be a mapping");
    check_known_keys(path, index, {"watch"}, " in 'index'");
    if (index["watch"]) c.watch = boolean(path, index["watch"], "watch");
  }
  if (const YAML::Node remote = root["remote"]) {
    if (!remote.IsMap()) fail(path, remote, "'remote' must be a mapping, e.g. {name: origin, branch: main}");
    check_known_keys(path, remote, {"name", "branch", "clock_skew", "timeout", "id_block", "auto_sync"}, " in 'remote'");
    RemoteSettings r;
    auto ref_part = [&](const char* key, std::string& out) {
      if (!remote[key]) return;
      out = scalar(path, remote[key], key);
      // Passed to git as words of a refspec: nothing git would read as an option or
      // as refspec syntax.
      bool ok = !out.empty() && out.front() != '-' &&
                out.find_first_of(" \t:^~?*[\\") == std::string::npos && out.find("..") == std::string::npos;
      if (!ok) fail(path, remote[key], "'" + std::string(key) + "' must be a git remote or branch name, not '" + out + "'");
    };
    ref_part("name", r.name);
    ref_part("branch", r.branch);
    auto seconds = [&](const char* key, std::int64_t& out) {
      if (!remote[key]) return;
      try {
        out = parse_duration(scalar(path, remote[key], key));
      } catch (const UsageError& e) {
        fail(path, remote[key], e.what());
      }
    };
    seconds("clock_skew", r.clock_skew_seconds);
    seconds("timeout", r.timeout_seconds);
    if (remote["id_block"]) {
      auto n = parse_int(scalar(path, remote["id_block"], "id_block"));
      if (!n || *n < 1 || *n > 10000) fail(path, remote["id_block"], "'id_block' must be a number of ids from 1 to 10000");
      r.id_block = *n;
    }
    if (remote["auto_sync"]) r.auto_sync = boolean(path, remote["auto_sync"], "auto_sync");
    c.remote = r;
  }
  if (const YAML::Node limits = root["limits"]) {
    if (!limits.IsMap()) fail(path, limits, "'limits' must be a mapping");
    check_known_keys(path, limits, {"story_bytes"}, " in 'limits'");
    if (limits["story_bytes"]) {
      auto n = parse_int(scalar(path, limits["story_bytes"], "story_bytes"));
      if (!n || *n < 1024 || *n > (std::int64_t{1} << 30))
        fail(path, limits["story_bytes"], "'story_bytes' must be a number of bytes from 1024 to 1073741824");
      c.story_limits.max_bytes = static_cast<std::size_t>(*n);
    }
  }
  return c;
}

std::string Config::render() const {
  std::string out =
      "# tracker configuration. Committed with the board; see `tracker --help`.\n"
      "# Stories live in <stories_dir>/<stage dir>/<id>_<type>_<slug>.md\n"
      "stories_dir: " +
      yaml_text(stories_dir) +
      "\n"
      "\n"
      "# The stages, in board order. A stage is named by `name` on the command line.\n"
      "stages:\n";
  for (const auto& s : stages) out += "  - {name: " + yaml_text(s.name) + ", dir: " + yaml_text(s.dir) + "}\n";
  out += "\n# Stories in a ready stage can be claimed; a done stage satisfies dependencies.\n";
  auto list = [](const std::vector<std::string>& items) {
    std::vector<std::string> quoted;
    for (const auto& item : items) quoted.push_back(yaml_text(item));  // "null" stays a name
    return "[" + join(quoted, ", ") + "]";
  };
  out += "ready_stages: " + list(ready_stages) + "\n";
  out += "done_stages: " + list(done_stages) + "\n";
  out += "\ntypes: " + list(types) + "\n";
  out += "\nclaim:\n  ttl: " + format_duration(claim_ttl_seconds) + "\n  move_to: " + yaml_text(claim_move_to) + "\n";
  out += "\ncommit:\n  enabled: " + std::string(commit ? "true" : "false") + "   # one git commit per change\n";
  if (!commit_verify) out += "  verify: false   # skip the pre-commit and commit-msg hooks\n";
  out += "\nindex:\n  watch: " + std::string(watch ? "true" : "false") +
         "   # a background watcher tells refreshes which files changed\n";
  if (remote) {
    out += "\n# Claims and ids go through this git remote (docs/remote.md).\nremote:\n  name: " + yaml_text(remote->name) +
           "\n  branch: " + yaml_text(remote->branch) + "\n";
    if (remote->clock_skew_seconds != RemoteSettings{}.clock_skew_seconds)
      out += "  clock_skew: " + format_duration(remote->clock_skew_seconds) + "\n";
    if (remote->timeout_seconds != RemoteSettings{}.timeout_seconds)
      out += "  timeout: " + format_duration(remote->timeout_seconds) + "\n";
    if (remote->id_block != RemoteSettings{}.id_block) out += "  id_block: " + std::to_string(remote->id_block) + "\n";
    if (remote->auto_sync) out += "  auto_sync: true   # every change is pushed as it is committed (tracker sync)\n";
  }
  if (story_limits.max_bytes != StoryLimits{}.max_bytes)
    out += "\nlimits:\n  story_bytes: " + std::to_string(story_limits.max_bytes) + "   # the largest story file read\n";
  return out;
}

void Config::set_default_roles() {
  // By stage name only: a stage whose directory is called "current" is not the
  // stage "current".
  auto named = [&](std::string_view name) {
    return std::any_of(stages.begin(), stages.end(), [&](const Stage& s) { return s.name == name; });
  };
  ready_stages = {named("backlog") ? "backlog" : stages.front().name};
  done_stages.clear();
  for (const char* done : {"done", "archived"})
    if (named(done)) done_stages.push_back(done);
  if (done_stages.empty()) done_stages.push_back(stages.back().name);
  // A claim moves work on to the first stage after the ready one that is not a done
  // stage; with none (todo, done), a claimed story stays where it is.
  claim_move_to = ready_stages.front();
  if (named("current")) {
    claim_move_to = "current";
  } else {
    bool after_ready = false;
    for (const auto& s : stages) {
      if (after_ready && std::find(done_stages.begin(), done_stages.end(), s.name) == done_stages.end()) {
        claim_move_to = s.name;
        break;
      }
      after_ready = after_ready || s.name == ready_stages.front();
    }
  }
}

const Stage* Config::find_stage(std::string_view name_or_dir) const {
  for (const auto& s : stages)
    if (s.name == name_or_dir || s.dir == name_or_dir) return &s;
  return nullptr;
}

const Stage* Config::stage_of_path(std::string_view path) const {
  if (!path.starts_with(stories_dir) || path.size() <= stories_dir.size() || path[stories_dir.size()] != '/')
    return nullptr;
  std::string_view rest = path.substr(stories_dir.size() + 1);
  auto slash = rest.find('/');
  if (slash == std::string_view::npos || rest.find('/', slash + 1) != std::string_view::npos) return nullptr;
  for (const auto& s : stages)
    if (s.dir == rest.substr(0, slash)) return &s;
  return nullptr;
}

const Stage& Config::stage(std::string_view name_or_dir) const {
  if (const Stage* s = find_stage(name_or_dir)) return *s;
  throw UsageError("unknown stage '" + std::string(name_or_dir) + "'" + did_you_mean(name_or_dir, stage_names()) +
                   "; stages are: " + join(stage_names(), ", "));
}

int Config::stage_order(std::string_view name) const {
  for (std::size_t i = 0; i < stages.size(); ++i)
    if (stages[i].name == name) return static_cast<int>(i);
  return -1;
}

bool Config::is_ready_stage(std::string_view name) const {
  return contains(ready_stages, name);
}
bool Config::is_done_stage(std::string_view name) const {
  return contains(done_stages, name);
}
bool Config::is_known_type(std::string_view type) const {
  return contains(types, type);
}

std::vector<std::string> Config::stage_names() const {
  std::vector<std::string> out;
  for (const auto& s : stages) out.push_back(s.name);
  return out;
}

std::int64_t parse_duration(std::string_view text) {
  std::string_view t = trim(text);
  std::int64_t unit = 1;
  if (!t.empty()) {
    switch (t.back()) {
      case 's':
        unit = 1;
        t.remove_suffix(1);
        break;
      case 'm':
        unit = 60;
        t.remove_suffix(1);
        break;
      case 'h':
        unit = 3600;
        t.remove_suffix(1);
        break;
      case 'd':
        unit = 86400;
        t.remove_suffix(1);
        break;
      default:
        break;
    }
  }
  auto n = parse_int(t);
  if (!n) throw UsageError("bad duration '" + std::string(text) + "': use e.g. 90s, 15m, 2h or a number of seconds");
  if (*n <= 0) throw UsageError("duration '" + std::string(text) + "' must be positive");
  if (*n > INT64_MAX / unit) throw UsageError("duration '" + std::string(text) + "' is too long");
  return *n * unit;
}

std::string format_duration(std::int64_t seconds) {
  if (seconds % 86400 == 0) return std::to_string(seconds / 86400) + "d";
  if (seconds % 3600 == 0) return std::to_string(seconds / 3600) + "h";
  if (seconds % 60 == 0) return std::to_string(seconds / 60) + "m";
  return std::to_string(seconds) + "s";
}

}  // namespace tracker
