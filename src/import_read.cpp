// Reading the sources an import takes: beads' issues.jsonl, a Backlog.md tree and
// GitHub's issue JSON, each into SourceRecords. A record that cannot be read is a
// problem with its file and line; the import goes on reading, so that one run
// names every problem, and writes nothing while any is left.
#include <tracker/error.hpp>
#include <tracker/fs.hpp>
#include <tracker/import.hpp>
#include <tracker/util.hpp>

#include "front_matter.hpp"

#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <set>
#include <sstream>

namespace tracker {

using Json = nlohmann::json;

const std::vector<std::pair<std::string, std::string>>& beads_body_sections() {
  static const std::vector<std::pair<std::string, std::string>> sections = {
      {"design", "Design"}, {"acceptance_criteria", "Acceptance Criteria"}, {"notes", "Notes"},
      {"close_reason", "Close Reason"}};
  return sections;
}

ImportFormat parse_import_format(const std::string& word) {
  if (word == "beads") return ImportFormat::beads;
  if (word == "backlog-md" || word == "backlog.md") return ImportFormat::backlog_md;
  if (word == "github") return ImportFormat::github;
  throw UsageError("unknown import format '" + word + "'" +
                   did_you_mean(word, {"beads", "backlog-md", "github"}) + "; formats are: beads, backlog-md, github");
}

std::string import_format_name(ImportFormat format) {
  switch (format) {
    case ImportFormat::beads:
      return "beads";
    case ImportFormat::backlog_md:
      return "backlog-md";
    case ImportFormat::github:
      return "github";
  }
  return "";
}

namespace {

/// A source's time as tracker writes it ("2026-01-02T03:04:05Z"): fractions of a
/// second are dropped, an offset is applied, a date alone is midnight UTC, and
/// Backlog.md's "2025-06-08 14:30" reads as UTC. Text that is no time stays as written.
std::string normalize_time(std::string text) {
  text = std::string(trim(text));
  if (text.empty()) return text;
  std::string t = text;
  if (t.size() == 10) t += "T00:00:00Z";
  if (t.size() > 10 && t[10] == ' ') t[10] = 'T';
  if (auto dot = t.find('.', 11); dot != std::string::npos) {
    auto end = dot + 1;
    while (end < t.size() && t[end] >= '0' && t[end] <= '9') ++end;
    t.erase(dot, end - dot);
  }
  // "2025-06-08T14:30" has no seconds, and no zone.
  if (t.size() == 16) t += ":00";
  if (t.size() == 19) t += "Z";
  if (auto secs = parse_iso8601(t)) return format_iso8601(*secs);
  return text;
}

std::string where(const fs::path& file, std::size_t line) { return file.filename().string() + ":" + std::to_string(line); }

std::string json_string(const Json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return "";
  if (it->is_string()) return it->get<std::string>();
  if (it->is_number()) return it->dump();
  return "";
}

/// The line of byte `offset` of `text`, 1-based.
std::size_t line_at(std::string_view text, std::size_t offset) {
  offset = std::min(offset, text.size());
  return 1 + static_cast<std::size_t>(std::count(text.begin(), text.begin() + static_cast<long>(offset), '\n'));
}

/// A record's parent from a dotted id ("bd-12.3" under "bd-12"), when the source
/// holds that id and names no parent itself.
void imply_parents(std::vector<SourceRecord>& records, bool case_insensitive) {
  auto norm = [&](const std::string& s) { return case_insensitive ? ascii_lower(s) : s; };
  std::set<std::string> ids;
  for (const auto& r : records) ids.insert(norm(r.id));
  for (auto& r : records) {
    if (r.parent) continue;
    auto dot = r.id.rfind('.');
    if (dot == std::string::npos || dot == 0) continue;
    std::string up = r.id.substr(0, dot);
    if (ids.count(norm(up))) r.parent = up;
  }
}

// ---- beads ----------------------------------------------------------------

/// beads' text fields, as the story's body under headings.
std::string beads_body(const Json& j) {
  std::string body = std::string(trim(json_string(j, "description")));
  for (const auto& [key, heading] : beads_body_sections()) {
    std::string text(trim(json_string(j, key.c_str())));
    if (text.empty()) continue;
    if (!body.empty()) body += "\n\n";
    body += "## " + heading + "\n\n" + text;
  }
  return body.empty() ? body : body + "\n";
}

void read_beads_file(const fs::path& file, SourceRead& out) {
  std::string text = read_file(file);
  std::size_t line_no = 0;
  std::set<std::string> seen;
  for (std::string_view line : split(text, '\n')) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (trim(line).empty()) continue;
    std::string at = where(file, line_no);
    Json j;
    try {
      j = Json::parse(line);
    } catch (const Json::parse_error& e) {
      out.problems.push_back(at + ": not a JSON line (" + std::string(e.what()).substr(0, 120) + ")");
      continue;
    }
    if (!j.is_object()) {
      out.problems.push_back(at + ": not a JSON object");
      continue;
    }
    SourceRecord r;
    r.where = at;
    r.id = json_string(j, "id");
    if (r.id.empty()) {
      out.problems.push_back(at + ": no id");
      continue;
    }
    if (!seen.insert(r.id).second) {
      out.problems.push_back(at + ": " + r.id + " is in the file twice");
      continue;
    }
    r.status = json_string(j, "status");
    if (r.status.empty()) r.status = "open";
    if (r.status == "tombstone") {
      out.skipped.push_back(at + ": " + r.id + " is a tombstone (deleted in beads)");
      continue;
    }
    r.name = std::string(trim(json_string(j, "title")));
    if (r.name.empty()) {
      out.problems.push_back(at + ": " + r.id + " has no title");
      continue;
    }
    r.type = json_string(j, "issue_type");
    if (auto p = j.find("priority"); p != j.end() && !p->is_null()) {
      if (!p->is_number_integer() || p->get<std::int64_t>() < 0 || p->get<std::int64_t>() > 4) {
        out.problems.push_back(at + ": " + r.id + "'s priority " + p->dump() + " is not 0 to 4");
        continue;
      }
      r.priority = 4 - p->get<std::int64_t>();  // beads' 0 is the most urgent; tracker's highest is
    }
    if (auto p = j.find("tracker_priority"); p != j.end() && (p->is_number_integer() || p->is_null()))
      r.priority = p->is_null() ? std::nullopt : std::optional<std::int64_t>(p->get<std::int64_t>());
    if (auto s = json_string(j, "tracker_stage"); !s.empty()) r.stage = s;
    if (auto l = j.find("labels"); l != j.end() && l->is_array())
      for (const auto& label : *l)
        if (label.is_string()) r.labels.push_back(label.get<std::string>());
    bool bad = false;
    if (auto d = j.find("dependencies"); d != j.end() && d->is_array()) {
      for (const auto& dep : *d) {
        std::string on = dep.is_object() ? json_string(dep, "depends_on_id") : "";
        if (on.empty()) {
          out.problems.push_back(at + ": " + r.id + " has a dependency with no depends_on_id");
          bad = true;
          break;
        }
        std::string kind = json_string(dep, "type");
        if (kind.empty() || kind == "blocks") {
          r.depends_on.push_back(on);
        } else if (kind == "parent-child") {
          if (r.parent && *r.parent != on) {
            out.problems.push_back(at + ": " + r.id + " has two parents, " + *r.parent + " and " + on);
            bad = true;
            break;
          }
          r.parent = on;
        } else {
          r.related.push_back(on);
        }
      }
    }
    if (bad) continue;
    r.created = normalize_time(json_string(j, "created_at"));
    r.closed = normalize_time(json_string(j, "closed_at"));
    std::string who = json_string(j, "assignee");
    if (who.empty()) who = json_string(j, "owner");
    if (!who.empty()) r.assignees.push_back(who);
    r.body = beads_body(j);
    out.records.push_back(std::move(r));
  }
}

// ---- Backlog.md -----------------------------------------------------------

std::vector<std::string> yaml_strings(const YAML::Node& node) {
  std::vector<std::string> out;
  if (!node || node.IsNull()) return out;
  if (node.IsSequence()) {
    for (const auto& item : node)
      if (item.IsScalar() && !trim(item.Scalar()).empty()) out.push_back(std::string(trim(item.Scalar())));
  } else if (node.IsScalar()) {
    for (const auto& part : split(node.Scalar(), ','))
      if (!trim(part).empty()) out.push_back(std::string(trim(part)));
  }
  return out;
}

std::string yaml_string(const YAML::Node& node) {
  if (!node || !node.IsScalar()) return "";
  return std::string(trim(node.Scalar()));
}

/// "task-24.1 - Fix the thing.md" -> "task-24.1".
std::string id_from_file_name(const std::string& stem) {
  auto sep = stem.find(" - ");
  return sep == std::string::npos ? stem : stem.substr(0, sep);
}

void read_backlog_task(const fs::path& file, const std::string& stage, bool draft, SourceRead& out) {
  std::string text = strip_cr(read_file(file));
  text.erase(0, skip_bom(text));
  std::string at = where(file, 1);
  FrontMatter fm;
  try {
    fm = locate_front_matter(text);
  } catch (const StoryParseError& e) {
    out.problems.push_back(where(file, static_cast<std::size_t>(e.line())) + ": " + e.detail());
    return;
  }
  if (!fm.present) {
    out.problems.push_back(at + ": no front matter (a Backlog.md task begins with '---')");
    return;
  }
  YAML::Node y;
  try {
    y = YAML::Load(text.substr(fm.yaml_begin, fm.yaml_end - fm.yaml_begin));
  } catch (const YAML::Exception& e) {
    out.problems.push_back(where(file, static_cast<std::size_t>(fm.first_yaml_line + std::max(e.mark.line, 0))) +
                           ": the front matter does not parse (" + e.msg + ")");
    return;
  }
  if (!y.IsMap()) {
    out.problems.push_back(at + ": the front matter is not a map of keys");
    return;
  }
  SourceRecord r;
  r.where = at;
  std::string stem = file.stem().string();
  r.id = yaml_string(y["id"]);
  if (r.id.empty()) r.id = id_from_file_name(stem);
  r.name = yaml_string(y["title"]);
  if (r.name.empty()) {
    auto sep = stem.find(" - ");
    r.name = sep == std::string::npos ? "" : stem.substr(sep + 3);
  }
  if (r.name.empty()) {
    out.problems.push_back(at + ": " + r.id + " has no title");
    return;
  }
  r.stage = stage;
  r.status = stage.empty() ? yaml_string(y["status"]) : "";
  if (stage.empty() && r.status.empty()) r.status = "To Do";
  r.labels = yaml_strings(y["labels"]);
  if (draft) r.labels.push_back("draft");
  for (auto who : yaml_strings(y["assignee"])) {
    if (!who.empty() && who.front() == '@') who.erase(0, 1);
    if (!who.empty()) r.assignees.push_back(who);
  }
  r.created = normalize_time(yaml_string(y["created_date"]));
  r.depends_on = yaml_strings(y["dependencies"]);
  if (auto p = yaml_string(y["parent_task_id"]); !p.empty()) r.parent = p;
  if (auto p = yaml_string(y["parent"]); !p.empty() && !r.parent) r.parent = p;
  std::string priority = ascii_lower(yaml_string(y["priority"]));
  if (priority == "high")
    r.priority = 3;
  else if (priority == "medium")
    r.priority = 2;
  else if (priority == "low")
    r.priority = 1;
  else if (!priority.empty()) {
    out.problems.push_back(at + ": " + r.id + "'s priority '" + priority + "' is not high, medium or low");
    return;
  }
  r.milestone = yaml_string(y["milestone"]);
  std::string body = text.substr(fm.body_begin);
  std::size_t start = body.find_first_not_of('\n');
  r.body = start == std::string::npos ? "" : body.substr(start);
  while (r.body.ends_with("\n\n")) r.body.pop_back();
  out.records.push_back(std::move(r));
}

std::vector<fs::path> markdown_files(const fs::path& dir) {
  std::vector<fs::path> files;
  if (!fs::is_directory(dir)) return files;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file() && e.path().extension() == ".md") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  return files;
}

void read_backlog_dir(fs::path dir, SourceRead& out) {
  if (fs::is_directory(dir / "backlog")) dir /= "backlog";
  if (!fs::is_directory(dir / "tasks") && !fs::exists(dir / "config.yml"))
    throw UsageError(dir.string() + " is not a Backlog.md directory: it has no tasks/ and no config.yml");
  out.statuses = {"To Do", "In Progress", "Done"};
  if (fs::exists(dir / "config.yml")) {
    fs::path config = dir / "config.yml";
    try {
      YAML::Node y = YAML::Load(strip_cr(read_file(config)));
      if (y.IsMap() && y["statuses"]) {
        auto statuses = yaml_strings(y["statuses"]);
        if (!statuses.empty()) out.statuses = statuses;
      }
    } catch (const YAML::Exception& e) {
      out.problems.push_back(where(config, static_cast<std::size_t>(std::max(e.mark.line, 0) + 1)) +
                             ": does not parse (" + e.msg + ")");
    }
  }
  // A fixed stage: "@done" and "@archive" are resolved against the board's config.
  for (const auto& f : markdown_files(dir / "tasks")) read_backlog_task(f, "", false, out);
  for (const auto& f : markdown_files(dir / "drafts")) read_backlog_task(f, "@ready", true, out);
  for (const auto& f : markdown_files(dir / "completed")) read_backlog_task(f, "@done", false, out);
  for (const auto& f : markdown_files(dir / "archive" / "tasks")) read_backlog_task(f, "@archive", false, out);
  std::map<std::string, std::string> first;
  for (const auto& r : out.records) {
    auto [it, fresh] = first.emplace(ascii_lower(r.id), r.where);
    if (!fresh) out.problems.push_back(r.where + ": " + r.id + " is also in " + it->second);
  }
  imply_parents(out.records, true);
}

// ---- GitHub ---------------------------------------------------------------

/// "https://github.com/o/r/issues/4", "https://api.github.com/repos/o/r" -> "o/r".
std::string repo_of(const Json& j) {
  for (const char* key : {"repository_url", "html_url", "url"}) {
    std::string url = json_string(j, key);
    for (const char* marker : {"api.github.com/repos/", "github.com/"}) {
      auto at = url.find(marker);
      if (at == std::string::npos) continue;
      auto parts = split(url.substr(at + std::string_view(marker).size()), '/');
      if (parts.size() >= 2 && !parts[0].empty() && !parts[1].empty()) return parts[0] + "/" + parts[1];
    }
  }
  return "";
}

std::string login_of(const Json& j) {
  if (j.is_string()) return j.get<std::string>();
  return j.is_object() ? json_string(j, "login") : "";
}

void read_github_issue(const Json& j, const std::string& at, std::string& repo, SourceRead& out) {
  if (!j.is_object()) {
    out.problems.push_back(at + ": not an issue object");
    return;
  }
  if (j.contains("pull_request")) {
    out.skipped.push_back(at + ": #" + json_string(j, "number") + " is a pull request");
    return;
  }
  auto number = j.find("number");
  if (number == j.end() || !number->is_number_integer()) {
    out.problems.push_back(at + ": an issue with no number");
    return;
  }
  SourceRecord r;
  r.where = at;
  r.id = std::to_string(number->get<std::int64_t>());
  r.name = std::string(trim(json_string(j, "title")));
  if (r.name.empty()) {
    out.problems.push_back(at + ": #" + r.id + " has no title");
    return;
  }
  r.status = ascii_lower(json_string(j, "state"));
  if (r.status.empty()) r.status = "open";
  r.body = json_string(j, "body");
  {
    std::string b = strip_cr(r.body);
    while (!b.empty() && (b.back() == '\n' || b.back() == ' ')) b.pop_back();
    r.body = b.empty() ? b : b + "\n";
  }
  if (auto l = j.find("labels"); l != j.end() && l->is_array())
    for (const auto& label : *l) {
      std::string name = label.is_string() ? label.get<std::string>() : (label.is_object() ? json_string(label, "name") : "");
      if (!name.empty()) r.labels.push_back(name);
    }
  for (const char* key : {"assignees"})
    if (auto a = j.find(key); a != j.end() && a->is_array())
      for (const auto& who : *a)
        if (auto login = login_of(who); !login.empty()) r.assignees.push_back(login);
  r.created = normalize_time(json_string(j, "createdAt").empty() ? json_string(j, "created_at") : json_string(j, "createdAt"));
  r.closed = normalize_time(json_string(j, "closedAt").empty() ? json_string(j, "closed_at") : json_string(j, "closedAt"));
  if (auto m = j.find("milestone"); m != j.end() && m->is_object()) r.milestone = json_string(*m, "title");
  for (const char* key : {"author", "user"})
    if (auto a = j.find(key); a != j.end() && r.author.empty()) r.author = login_of(*a);
  if (repo.empty()) repo = repo_of(j);
  out.records.push_back(std::move(r));
}

void read_github_file(const fs::path& file, std::string& repo, SourceRead& out) {
  std::string text = read_file(file);
  std::istringstream in(text);
  std::set<std::string> seen;
  // One array (gh issue list), several one after another (gh api --paginate), or
  // one issue per line.
  while (true) {
    in >> std::ws;
    if (in.peek() == std::char_traits<char>::eof()) break;
    auto start = static_cast<std::size_t>(in.tellg());
    Json j;
    try {
      in >> j;
    } catch (const Json::parse_error& e) {
      out.problems.push_back(where(file, line_at(text, start + (e.byte > 0 ? e.byte - 1 : 0))) + ": not JSON (" +
                             std::string(e.what()).substr(0, 120) + ")");
      return;
    }
    auto issue_line = [&](const Json& issue) {
      // The line of the issue's number, as the text gives it.
      auto n = issue.is_object() ? json_string(issue, "number") : "";
      auto at = n.empty() ? std::string::npos : text.find("\"number\"", start);
      while (at != std::string::npos) {
        auto colon = text.find_first_not_of(" \t\r\n:", at + 8);
        if (colon != std::string::npos && text.compare(colon, n.size(), n) == 0) break;
        at = text.find("\"number\"", at + 8);
      }
      return where(file, line_at(text, at == std::string::npos ? start : at));
    };
    std::vector<Json> issues;
    if (j.is_array())
      issues.assign(j.begin(), j.end());
    else
      issues.push_back(std::move(j));
    for (const auto& issue : issues) {
      std::string at = issue_line(issue);
      std::size_t before = out.records.size();
      read_github_issue(issue, at, repo, out);
      if (out.records.size() > before && !seen.insert(out.records.back().id).second) {
        out.problems.push_back(at + ": #" + out.records.back().id + " is in the input twice");
        out.records.pop_back();
      }
    }
  }
}

}  // namespace

SourceRead read_source(ImportFormat format, const std::vector<fs::path>& paths, const std::string& repo_given) {
  SourceRead out;
  if (paths.empty()) throw UsageError("import needs a path to read");
  for (const auto& p : paths)
    if (!fs::exists(p)) throw UsageError("no such file or directory: " + p.string());
  switch (format) {
    case ImportFormat::beads:
      out.prefix = "beads:";
      for (auto p : paths) {
        if (fs::is_directory(p)) {
          if (fs::exists(p / ".beads" / "issues.jsonl")) p = p / ".beads";
          p /= "issues.jsonl";
          if (!fs::exists(p)) throw UsageError("no issues.jsonl in " + p.parent_path().string());
        }
        read_beads_file(p, out);
      }
      imply_parents(out.records, false);
      break;
    case ImportFormat::backlog_md:
      out.prefix = "backlog-md:";
      for (const auto& p : paths) {
        if (!fs::is_directory(p)) throw UsageError(p.string() + " is not a directory: backlog-md reads a backlog/ directory");
        read_backlog_dir(p, out);
      }
      break;
    case ImportFormat::github: {
      std::string repo = repo_given;
      for (const auto& p : paths) {
        if (fs::is_directory(p)) throw UsageError(p.string() + " is a directory: github reads a JSON file");
        read_github_file(p, repo, out);
      }
      out.prefix = "github:" + repo + "#";
      break;
    }
  }
  return out;
}

}  // namespace tracker
