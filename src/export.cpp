// Exporting the board: beads JSONL, CSV and a Backlog.md tree, each of which
// `tracker import` reads back to the same board (docs/import.md).
#include <tracker/error.hpp>
#include <tracker/import.hpp>
#include <tracker/util.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>

namespace tracker {

using OJson = nlohmann::ordered_json;

ExportFormat parse_export_format(const std::string& word) {
  if (word == "jsonl" || word == "beads") return ExportFormat::jsonl;
  if (word == "csv") return ExportFormat::csv;
  if (word == "backlog-md" || word == "backlog.md") return ExportFormat::backlog_md;
  throw UsageError("unknown export format '" + word + "'" + did_you_mean(word, {"jsonl", "csv", "backlog-md"}) +
                   "; formats are: jsonl, csv, backlog-md");
}

namespace {

/// A custom key's value as text ("" when absent or not a string).
std::string field_text(const Story& s, const std::string& key) {
  for (const auto& f : s.fields)
    if (f.key == key) {
      auto v = nlohmann::json::parse(f.json, nullptr, false);
      if (v.is_string()) return v.get<std::string>();
      if (v.is_array() && !v.empty() && v.front().is_string()) return v.front().get<std::string>();
      if (v.is_number()) return v.dump();
    }
  return "";
}

std::vector<std::string> field_texts(const Story& s, const std::string& key) {
  std::vector<std::string> out;
  for (const auto& f : s.fields)
    if (f.key == key) {
      auto v = nlohmann::json::parse(f.json, nullptr, false);
      if (v.is_string()) out.push_back(v.get<std::string>());
      if (v.is_array())
        for (const auto& item : v)
          if (item.is_string() || item.is_number()) out.push_back(item.is_string() ? item.get<std::string>() : item.dump());
    }
  return out;
}

/// The id a story had in the source it came from (`source: beads:bd-7` -> "bd-7"),
/// when it came from `prefix`.
std::optional<std::string> source_id(const Story& s, const std::string& prefix) {
  std::string source = field_text(s, "source");
  if (source.starts_with(prefix) && source.size() > prefix.size()) return source.substr(prefix.size());
  return std::nullopt;
}

/// beads' text fields from a body written by the import: the sections it adds,
/// when they close the body in its order; else the whole body is the description.
void split_beads_body(const std::string& body, OJson& out) {
  const auto& sections = beads_body_sections();
  std::string rest = body;
  while (!rest.empty() && rest.back() == '\n') rest.pop_back();
  std::vector<std::pair<std::string, std::string>> found;
  for (auto it = sections.rbegin(); it != sections.rend(); ++it) {
    std::string heading = "## " + it->second + "\n\n";
    auto at = rest.rfind(heading);
    if (at == std::string::npos || (at != 0 && rest.compare(at - 2, 2, "\n\n") != 0)) continue;
    found.emplace_back(it->first, rest.substr(at + heading.size()));
    rest.erase(at >= 2 ? at - 2 : 0);
  }
  out["description"] = rest;
  for (auto it = found.rbegin(); it != found.rend(); ++it) out[it->first] = it->second;
}

std::string csv_cell(const std::string& text) {
  if (text.find_first_of(",\"\r\n") == std::string::npos) return text;
  std::string out = "\"";
  for (char c : text) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string join_ids(const std::vector<std::int64_t>& ids, const std::string& sep) {
  std::vector<std::string> parts;
  for (auto id : ids) parts.push_back(std::to_string(id));
  return join(parts, sep);
}

}  // namespace

std::string export_jsonl(const std::vector<Story>& stories, const std::vector<std::string>& ready_stages,
                         const std::vector<std::string>& done_stages) {
  std::map<std::int64_t, std::string> ids;
  for (const auto& s : stories) ids[s.id] = source_id(s, "beads:").value_or("tr-" + std::to_string(s.id));
  auto id_of = [&](std::int64_t id) {
    auto it = ids.find(id);
    return it == ids.end() ? "tr-" + std::to_string(id) : it->second;
  };
  std::string out;
  for (const auto& s : stories) {
    OJson j;
    j["id"] = ids[s.id];
    j["title"] = s.name;
    split_beads_body(s.body, j);
    bool done = std::find(done_stages.begin(), done_stages.end(), s.stage) != done_stages.end();
    bool ready = std::find(ready_stages.begin(), ready_stages.end(), s.stage) != ready_stages.end();
    j["status"] = done ? "closed" : s.blocked ? "blocked" : ready ? "open" : "in_progress";
    j["priority"] = s.priority ? std::clamp<std::int64_t>(4 - *s.priority, 0, 4) : 2;
    j["issue_type"] = s.type;
    if (!s.labels.empty()) j["labels"] = s.labels;
    if (!s.created.empty()) j["created_at"] = s.created;
    if (auto closed = field_text(s, "closed"); !closed.empty()) j["closed_at"] = closed;
    if (auto who = field_text(s, "assignee"); !who.empty()) j["assignee"] = who;
    OJson deps = OJson::array();
    auto link = [&](std::int64_t to, const char* kind) {
      deps.push_back({{"issue_id", ids[s.id]}, {"depends_on_id", id_of(to)}, {"type", kind}});
    };
    for (auto d : s.depends_on) link(d, "blocks");
    if (s.parent) link(*s.parent, "parent-child");
    for (const auto& r : field_texts(s, "related"))
      if (auto id = parse_int(r)) link(*id, "related");
    if (!deps.empty()) j["dependencies"] = deps;
    // What beads has no place for, so that an import gives the same board back.
    j["tracker_id"] = s.id;
    j["tracker_stage"] = s.stage;
    j["tracker_priority"] = s.priority ? OJson(*s.priority) : OJson(nullptr);
    out += j.dump() + "\n";
  }
  return out;
}

std::string export_csv(const std::vector<Story>& stories) {
  std::string out = "id,type,stage,name,priority,labels,depends_on,parent,agent,blocked,created,source,body\r\n";
  for (const auto& s : stories) {
    std::vector<std::string> cells = {std::to_string(s.id),
                                      s.type,
                                      s.stage,
                                      s.name,
                                      s.priority ? std::to_string(*s.priority) : "",
                                      join(s.labels, ";"),
                                      join_ids(s.depends_on, ";"),
                                      s.parent ? std::to_string(*s.parent) : "",
                                      s.agent,
                                      s.blocked ? "true" : "false",
                                      s.created,
                                      field_text(s, "source"),
                                      s.body};
    for (std::size_t i = 0; i < cells.size(); ++i) out += (i ? "," : "") + csv_cell(cells[i]);
    out += "\r\n";
  }
  return out;
}

std::map<std::string, std::string> export_backlog_md(const std::vector<Story>& stories,
                                                     const std::vector<std::string>& stage_names,
                                                     const std::vector<std::string>& done_stages,
                                                     const std::string& working_stage,
                                                     const std::string& archive_stage) {
  // Statuses: Backlog.md's own words for the first stage, the working stage and
  // the first done stage; every other stage by its name.
  std::map<std::string, std::string> status;
  std::vector<std::string> statuses;
  for (std::size_t i = 0; i < stage_names.size(); ++i) {
    const std::string& name = stage_names[i];
    if (name == archive_stage && name != (done_stages.empty() ? "" : done_stages.front())) continue;
    std::string word = i == 0                                               ? "To Do"
                       : name == working_stage                                  ? "In Progress"
                       : !done_stages.empty() && name == done_stages.front() ? "Done"
                                                                            : name;
    status[name] = word;
    statuses.push_back(word);
  }
  std::map<std::int64_t, std::string> ids;
  for (const auto& s : stories) ids[s.id] = source_id(s, "backlog-md:").value_or("task-" + std::to_string(s.id));
  auto id_of = [&](std::int64_t id) {
    auto it = ids.find(id);
    return it == ids.end() ? "task-" + std::to_string(id) : it->second;
  };
  std::map<std::string, std::string> files;
  files["config.yml"] = "project_name: tracker export\nstatuses: " + yaml_flow_list(statuses) + "\ndefault_status: " +
                        yaml_scalar(statuses.empty() ? "To Do" : statuses.front()) + "\n";
  for (const auto& s : stories) {
    std::string text = "---\nid: " + yaml_scalar(ids[s.id]) + "\ntitle: " + yaml_scalar(s.name) + "\n";
    bool archived = s.stage == archive_stage && status.find(s.stage) == status.end();
    if (!archived) text += "status: " + yaml_scalar(status.count(s.stage) ? status[s.stage] : s.stage) + "\n";
    text += "assignee: " + yaml_flow_list(field_texts(s, "assignee")) + "\n";
    if (!s.created.empty()) {
      std::string created = s.created.substr(0, 16);
      if (created.size() == 16) created[10] = ' ';
      text += "created_date: " + yaml_scalar(created) + "\n";
    }
    text += "labels: " + yaml_flow_list(s.labels) + "\n";
    if (auto m = field_text(s, "milestone"); !m.empty()) text += "milestone: " + yaml_scalar(m) + "\n";
    std::vector<std::string> deps;
    for (auto d : s.depends_on) deps.push_back(id_of(d));
    text += "dependencies: " + yaml_flow_list(deps) + "\n";
    if (s.parent) text += "parent_task_id: " + yaml_scalar(id_of(*s.parent)) + "\n";
    if (s.priority) text += std::string("priority: ") + (*s.priority >= 3 ? "high" : *s.priority == 2 ? "medium" : "low") + "\n";
    text += "---\n";
    if (!s.body.empty()) text += "\n" + s.body + (s.body.back() == '\n' ? "" : "\n");
    // Backlog.md's file name: "<id> - <title>.md", the title made safe for a path.
    std::string title;
    for (char c : s.name) title += (c == '/' || c == '\\' || c == ':' || c == '*' || c == '?' || c == '"' ||
                                    c == '<' || c == '>' || c == '|' || static_cast<unsigned char>(c) < 32)
                                       ? '-'
                                       : c;
    if (title.size() > 80) title.resize(80);
    while (!title.empty() && (static_cast<unsigned char>(title.back()) & 0xC0) == 0x80) title.pop_back();
    if (!title.empty() && static_cast<unsigned char>(title.back()) >= 0xC0) title.pop_back();
    std::string dir = archived ? "archive/tasks/" : "tasks/";
    files[dir + ids[s.id] + " - " + title + ".md"] = text;
  }
  return files;
}

}  // namespace tracker
