// The Tracker puts its services together (src/services.hpp): each public method
// hands the call to the service whose concern it is. What a method does is
// documented in include/tracker/tracker.hpp; how, in the service's file.
#include <tracker/tracker.hpp>

#include "services.hpp"

namespace tracker {

BoardReader::BoardReader(Services& all) : all_(all), s_(all.session) {}
ClaimRule::ClaimRule(Services& all) : all_(all), s_(all.session) {}
Transitions::Transitions(Services& all) : all_(all), s_(all.session) {}
Claims::Claims(Services& all) : all_(all), s_(all.session) {}
History::History(Services& all) : all_(all), s_(all.session) {}
Syncer::Syncer(Services& all) : all_(all), s_(all.session) {}
Maintenance::Maintenance(Services& all) : all_(all), s_(all.session) {}

Tracker::Tracker(Workspace ws, CommitOptions commit, const Clock& clock, const Disk& disk)
    : services_(std::make_unique<Services>(std::move(ws), commit, clock, disk)) {}

Tracker::~Tracker() = default;

// The session: who acts, where warnings go, what the index and the options are.
const Workspace& Tracker::workspace() const { return services_->session.ws; }
void Tracker::set_identity(std::string who) { services_->session.acting_as = std::move(who); }
const std::string& Tracker::identity() { return services_->session.identity(); }
void Tracker::on_warning(std::function<void(const std::string&)> sink) { services_->session.warn_sink = std::move(sink); }
const std::vector<std::string>& Tracker::warnings() const { return services_->session.warnings; }
ShadowIndex& Tracker::index() { return services_->session.index(); }
bool Tracker::watcher_missing() const { return services_->session.shadow->watcher_missing(); }
void Tracker::set_progress(ProgressSink* sink) { services_->session.progress = sink; }
void Tracker::set_offline(bool offline) { services_->session.offline = offline; }

// Reading the board.
std::vector<Story> Tracker::list(const ListQuery& query) { return services_->board.list(query); }
void Tracker::list_each(const ListQuery& query, const std::function<void(Story&&)>& visit) {
  services_->board.list_each(query, visit);
}
SearchResult Tracker::search(const std::string& query, const std::vector<std::string>& stages,
                             std::optional<std::int64_t> limit) {
  return services_->board.search(query, stages, limit);
}
std::vector<StoryIssue> Tracker::issues() { return services_->board.issues(); }
Story Tracker::show(std::int64_t id) { return services_->board.show(id); }
std::string Tracker::raw(std::int64_t id) { return services_->board.raw(id); }
std::pair<Story, std::string> Tracker::read_whole(std::int64_t id) { return services_->board.read_whole(id); }
std::vector<Story> Tracker::ready(std::optional<std::int64_t> limit) { return services_->board.ready(limit); }
BoardStats Tracker::stats() { return services_->board.stats(); }

// Changing stories.
const Stage& Tracker::check_new(const NewStoryRequest& request) { return services_->transitions.check_new(request); }
NewStoryResult Tracker::create(const NewStoryRequest& request) { return services_->transitions.create(request); }
MoveResult Tracker::move(const std::vector<std::int64_t>& ids, std::string_view stage, Force force) {
  return services_->transitions.move(ids, stage, force);
}
DeleteResult Tracker::remove(const std::vector<std::int64_t>& ids, bool force) {
  return services_->transitions.remove(ids, force);
}
const Stage& Tracker::archive_stage() const { return services_->transitions.archive_stage(); }
std::int64_t Tracker::id_floor() const { return services_->transitions.id_floor(); }
StoryChange Tracker::block(std::int64_t id, const std::optional<std::string>& reason) {
  return services_->transitions.block(id, reason);
}
StoryChange Tracker::unblock(std::int64_t id) { return services_->transitions.unblock(id); }
LinkResult Tracker::link(std::int64_t id, std::int64_t dependency) { return services_->transitions.link(id, dependency); }
LinkResult Tracker::unlink(std::int64_t id, std::int64_t dependency) {
  return services_->transitions.unlink(id, dependency);
}
SetResult Tracker::set_fields(std::int64_t id, const std::vector<FieldEdit>& edits, bool keep_file_name, Force force) {
  return services_->transitions.set_fields(id, edits, keep_file_name, force);
}
std::vector<StoryProblem> Tracker::validate_edit(std::int64_t id, const std::string& text) {
  return services_->transitions.validate_edit(id, text);
}
EditResult Tracker::apply_edit(std::int64_t id, const std::string& original, const std::string& edited) {
  return services_->transitions.apply_edit(id, original, edited);
}
std::vector<StoryProblem> Tracker::validate_new(const std::string& text) {
  return services_->transitions.validate_new(text);
}
fs::path Tracker::save_rejected(const std::string& stem, const std::string& text) {
  return services_->transitions.save_rejected(stem, text);
}

// Claims.
ClaimResult Tracker::claim(const ClaimRequest& request) { return services_->claiming.claim(request); }
StoryChange Tracker::release(std::int64_t id, const std::optional<std::string>& owner, Force force) {
  return services_->claiming.release(id, owner, force);
}
StoryChange Tracker::done(std::int64_t id, Force force) { return services_->claiming.done(id, force); }
Claim Tracker::renew(std::int64_t id, const std::optional<std::string>& owner, std::optional<std::int64_t> ttl_seconds) {
  return services_->claiming.renew(id, owner, ttl_seconds);
}
std::vector<StoryChange> Tracker::reclaim(std::optional<std::int64_t> id) { return services_->claiming.reclaim(id); }
std::map<std::int64_t, Claim> Tracker::live_claims() { return services_->claiming.live_claims(); }
std::vector<std::int64_t> Tracker::claimed_ids() { return services_->claiming.claimed_ids(); }
std::optional<Claim> Tracker::lost_claim(std::int64_t id) { return services_->rule.lost_claim(id); }

// History.
std::vector<StoryDiff> Tracker::working_changes(std::vector<std::string>* ignored, std::vector<std::string>* links) {
  return services_->history.working_changes(ignored, links);
}
std::vector<StoryDiff> Tracker::board_changes(const std::string& from, const std::optional<std::string>& to,
                                              std::vector<std::string>* ignored, std::vector<std::string>* links,
                                              DiffDetail detail) {
  return services_->history.board_changes(from, to, ignored, links, detail);
}
std::string Tracker::merge_base(const std::string& a, const std::string& b) {
  return services_->history.merge_base(a, b);
}
std::vector<LogEntry> Tracker::log(std::optional<std::int64_t> id, std::optional<std::int64_t> limit) {
  return services_->history.log(id, limit);
}
FlowReport Tracker::flow(const FlowQuery& query) { return services_->history.flow(query); }

// Sync.
SyncResult Tracker::sync() { return services_->syncer.sync(); }
void Tracker::auto_sync() { services_->syncer.auto_sync(); }

// Maintenance.
CheckReport Tracker::check() { return services_->maintenance.check(); }
CheckReport Tracker::check_files(const std::vector<std::string>& paths) {
  return services_->maintenance.check_files(paths);
}
std::vector<std::string> Tracker::changed_story_files() { return services_->maintenance.changed_story_files(); }
DoctorReport Tracker::doctor(bool dry_run) { return services_->maintenance.doctor(dry_run); }
RenumberResult Tracker::renumber(std::int64_t id, const std::optional<std::string>& path,
                                 const std::vector<std::int64_t>& refs) {
  return services_->maintenance.renumber(id, path, refs);
}
HandCommitResult Tracker::commit_hand_edits(const std::optional<std::string>& message,
                                            const std::vector<std::int64_t>& only) {
  return services_->maintenance.commit_hand_edits(message, only);
}

}  // namespace tracker
