// Moving a backlog in and out: import from beads, Backlog.md and GitHub Issues,
// export as beads JSONL, CSV or a Backlog.md tree (docs/import.md).
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <tracker/story.hpp>

namespace tracker {

namespace fs = std::filesystem;

enum class ImportFormat { beads, backlog_md, github };

/// "beads", "backlog-md", "github"; UsageError naming the formats for another word.
ImportFormat parse_import_format(const std::string& word);
std::string import_format_name(ImportFormat format);

/// One record of a source, read into tracker's terms but with the source's ids,
/// status and type (the mapping to stages, types and ids comes after every record
/// has been read).
struct SourceRecord {
  std::string id;     ///< the source's id: "bd-kwro", "task-24.1", "42"
  std::string where;  ///< "issues.jsonl:12", for messages
  std::string name;
  std::string status;  ///< as the source wrote it; empty when `stage` decides
  std::string stage;   ///< set when the record's place decides its stage (Backlog.md's completed/)
  std::string type;    ///< as the source wrote it; empty: the board's first type
  std::optional<std::int64_t> priority;  ///< on tracker's scale (higher is more urgent)
  std::vector<std::string> labels;
  std::vector<std::string> depends_on;  ///< source ids
  std::optional<std::string> parent;    ///< a source id
  std::vector<std::string> related;     ///< source ids of other links
  std::string created, closed;          ///< ISO 8601 (UTC), or empty
  std::vector<std::string> assignees;
  std::string milestone;
  std::string author;
  std::string body;
};

/// What a source holds: its records, what was skipped, and the name the source
/// keys carry ("beads", "backlog-md", "github:owner/repo").
struct SourceRead {
  std::string prefix;
  std::vector<SourceRecord> records;
  std::vector<std::string> skipped;  ///< "issues.jsonl:9: bd-x is a tombstone (deleted in beads)"
  std::vector<std::string> problems;  ///< "issues.jsonl:12: not JSON: ..."
  /// The source's own statuses in its order (Backlog.md's config), for the default map.
  std::vector<std::string> statuses;
};

/// Reads `paths` in `format`. Problems with a record are collected, not thrown;
/// a path that cannot be read at all throws IoError / UsageError. `repo`
/// ("owner/name") names a GitHub source when its records do not.
SourceRead read_source(ImportFormat format, const std::vector<fs::path>& paths, const std::string& repo = "");

struct ImportRequest {
  ImportFormat format = ImportFormat::beads;
  std::vector<fs::path> paths;
  std::map<std::string, std::string> status_map;  ///< source status -> stage name
  std::map<std::string, std::string> type_map;    ///< source type -> tracker type
  std::string repo;                               ///< github: owner/name
  bool dry_run = false;
  bool force = false;  ///< changes stories that others hold (their claims end)
};

/// One story an import creates or changes.
struct ImportedStory {
  std::int64_t id = 0;
  std::string source;  ///< "beads:bd-kwro"
  std::string name;
  std::string stage;
  std::string type;
  std::string path;
  std::vector<std::string> changed;  ///< for an update: the keys that changed ("stage", "body", ...)
};

struct ImportResult {
  std::string format;
  std::string source;  ///< what was read: the paths, joined
  std::vector<ImportedStory> created;
  std::vector<ImportedStory> updated;
  std::int64_t unchanged = 0;
  std::vector<std::string> skipped;
  /// Links to ids the source does not hold: kept in the story's `source_links`.
  std::vector<std::string> missing_links;  ///< "beads:bd-a depends on bd-zz, which the source does not hold"
  std::map<std::string, std::string> statuses;  ///< each status met -> its stage
  std::map<std::string, std::string> types;     ///< each type met -> tracker's type
  std::vector<std::string> types_added;         ///< to .tracker/config.yml
  /// What stops the import (a dry run reports them; a real one throws the first).
  std::vector<std::string> problems;
  std::string commit;
  bool dry_run = false;
};

/// beads' text fields after `description`, each a section of the story's body under
/// its heading, in this order: {"design", "Design"}, {"acceptance_criteria", ...}.
/// The import writes them and the export splits them out again.
const std::vector<std::pair<std::string, std::string>>& beads_body_sections();

enum class ExportFormat { jsonl, csv, backlog_md };

/// "jsonl", "csv", "backlog-md"; UsageError otherwise.
ExportFormat parse_export_format(const std::string& word);

/// Beads JSONL, one issue per line (the tracker_* fields give back what beads has
/// no place for); `done_stages` and `ready_stages` decide the statuses.
std::string export_jsonl(const std::vector<Story>& stories, const std::vector<std::string>& ready_stages,
                         const std::vector<std::string>& done_stages);
/// RFC 4180 CSV with a header row.
std::string export_csv(const std::vector<Story>& stories);
/// The files of a Backlog.md tree (paths relative to its `backlog/` directory).
std::map<std::string, std::string> export_backlog_md(const std::vector<Story>& stories,
                                                     const std::vector<std::string>& stage_names,
                                                     const std::vector<std::string>& done_stages,
                                                     const std::string& working_stage,
                                                     const std::string& archive_stage);

}  // namespace tracker
