// The Tracker puts its services together (src/services.hpp): each operation of its
// public faces (BoardView, StoryEditor, ClaimDesk, HistoryView, Upkeep) hands the
// call to the service whose concern it is. What a method does is
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

namespace detail {
ServicesOwner::ServicesOwner(std::unique_ptr<Services> services) : services_(std::move(services)) {}
ServicesOwner::~ServicesOwner() = default;
}  // namespace detail

Tracker::Tracker(Workspace ws, CommitOptions commit, const Clock& clock, const Disk& disk)
    : ServicesOwner(std::make_unique<Services>(std::move(ws), commit, clock, disk)),
      BoardView(*services_),
      StoryEditor(*services_),
      ClaimDesk(*services_),
      HistoryView(*services_),
      Upkeep(*services_) {}

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
std::vector<Story> BoardView::list(const ListQuery& query) { return all_.board.list(query); }
void BoardView::list_each(const ListQuery& query, const std::function<void(Story&&)>& visit) {
  all_.board.list_each(query, visit);
}
SearchResult BoardView::search(const std::string& query, const std::vector<std::string>& stages,
                             std::optional<std::int64_t> limit) {
  return all_.board.search(query, stages, limit);
}
std::vector<StoryIssue> BoardView::issues() { return all_.board.issues(); }
Story BoardView::show(std::int64_t id) { return all_.board.show(id); }
std::string BoardView::raw(std::int64_t id) { return all_.board.raw(id); }
std::pair<Story, std::string> BoardView::read_whole(std::int64_t id) { return all_.board.read_whole(id); }
std::vector<Story> BoardView::ready(std::optional<std::int64_t> limit) { return all_.board.ready(limit); }
std::vector<NotReady> BoardView::not_ready(std::size_t limit) {
  all_.session.refresh_all();
  return all_.board.not_ready(limit);
}
BoardStats BoardView::stats() { return all_.board.stats(); }
std::map<std::int64_t, ChildProgress> BoardView::progress() { return all_.board.progress(); }
ChildProgress BoardView::progress(std::int64_t id) { return all_.board.progress(id); }
std::vector<TreeNode> BoardView::tree(std::optional<std::int64_t> root) { return all_.board.tree(root); }

// Changing stories.
const Stage& StoryEditor::check_new(const NewStoryRequest& request) { return all_.transitions.check_new(request); }
NewStoryResult StoryEditor::create(const NewStoryRequest& request) { return all_.transitions.create(request); }
ImportResult StoryEditor::import_stories(const ImportRequest& request) {
  return all_.transitions.import_stories(request);
}
MoveResult StoryEditor::move(const std::vector<std::int64_t>& ids, std::string_view stage, Force force) {
  return all_.transitions.move(ids, stage, force);
}
DeleteResult StoryEditor::remove(const std::vector<std::int64_t>& ids, bool force) {
  return all_.transitions.remove(ids, force);
}
const Stage& StoryEditor::archive_stage() const { return all_.transitions.archive_stage(); }
std::int64_t StoryEditor::id_floor() const { return all_.transitions.id_floor(); }
StoryChange StoryEditor::block(std::int64_t id, const std::optional<std::string>& reason) {
  return all_.transitions.block(id, reason);
}
StoryChange StoryEditor::unblock(std::int64_t id) { return all_.transitions.unblock(id); }
LinkResult StoryEditor::link(std::int64_t id, std::int64_t dependency) { return all_.transitions.link(id, dependency); }
LinkResult StoryEditor::unlink(std::int64_t id, std::int64_t dependency) {
  return all_.transitions.unlink(id, dependency);
}
SetResult StoryEditor::set_fields(std::int64_t id, const std::vector<FieldEdit>& edits, bool keep_file_name, Force force) {
  return all_.transitions.set_fields(id, edits, keep_file_name, force);
}
std::vector<StoryProblem> StoryEditor::validate_edit(std::int64_t id, const std::string& text) {
  return all_.transitions.validate_edit(id, text);
}
EditResult StoryEditor::set_body(std::int64_t id, const std::string& original, const std::string& body) {
  return all_.transitions.apply_edit(id, original, with_body(original, body), false);
}
EditResult StoryEditor::apply_edit(std::int64_t id, const std::string& original, const std::string& edited,
                                   bool keep_file_name) {
  return all_.transitions.apply_edit(id, original, edited, keep_file_name);
}
std::vector<StoryProblem> StoryEditor::validate_new(const std::string& text) {
  return all_.transitions.validate_new(text);
}
fs::path StoryEditor::save_rejected(const std::string& stem, const std::string& text) {
  return all_.transitions.save_rejected(stem, text);
}

// Claims.
ClaimResult ClaimDesk::claim(const ClaimRequest& request) { return all_.claiming.claim(request); }
StoryChange ClaimDesk::release(std::int64_t id, const std::optional<std::string>& owner, Force force) {
  return all_.claiming.release(id, owner, force);
}
StoryChange ClaimDesk::done(std::int64_t id, Force force) { return all_.claiming.done(id, force); }
Claim ClaimDesk::renew(std::int64_t id, const std::optional<std::string>& owner, std::optional<std::int64_t> ttl_seconds) {
  return all_.claiming.renew(id, owner, ttl_seconds);
}
std::vector<StoryChange> ClaimDesk::reclaim(std::optional<std::int64_t> id) { return all_.claiming.reclaim(id); }
std::map<std::int64_t, Claim> ClaimDesk::live_claims() { return all_.claiming.live_claims(); }
std::vector<std::int64_t> ClaimDesk::claimed_ids() { return all_.claiming.claimed_ids(); }
std::optional<Claim> ClaimDesk::lost_claim(std::int64_t id) { return all_.rule.lost_claim(id); }

// History.
std::vector<StoryDiff> HistoryView::working_changes(std::vector<std::string>* ignored, std::vector<std::string>* links) {
  return all_.history.working_changes(ignored, links);
}
std::vector<StoryDiff> HistoryView::board_changes(const std::string& from, const std::optional<std::string>& to,
                                              std::vector<std::string>* ignored, std::vector<std::string>* links,
                                              DiffDetail detail) {
  return all_.history.board_changes(from, to, ignored, links, detail);
}
std::string HistoryView::merge_base(const std::string& a, const std::string& b) {
  return all_.history.merge_base(a, b);
}
std::vector<LogEntry> HistoryView::log(std::optional<std::int64_t> id, std::optional<std::int64_t> limit) {
  return all_.history.log(id, limit);
}
FlowReport HistoryView::flow(const FlowQuery& query) { return all_.history.flow(query); }

// Sync.
SyncResult Tracker::sync() { return services_->syncer.sync(); }
void Tracker::auto_sync() { services_->syncer.auto_sync(); }

// Maintenance.
CheckReport Upkeep::check() { return all_.maintenance.check(); }
CheckReport Upkeep::check_files(const std::vector<std::string>& paths) {
  return all_.maintenance.check_files(paths);
}
std::vector<std::string> Upkeep::changed_story_files() { return all_.maintenance.changed_story_files(); }
DoctorReport Upkeep::doctor(bool dry_run) { return all_.maintenance.doctor(dry_run); }
RenumberResult Upkeep::renumber(std::int64_t id, const std::optional<std::string>& path,
                                 const std::vector<std::int64_t>& refs) {
  return all_.maintenance.renumber(id, path, refs);
}
HandCommitResult Upkeep::commit_hand_edits(const std::optional<std::string>& message,
                                            const std::vector<std::int64_t>& only) {
  return all_.maintenance.commit_hand_edits(message, only);
}

}  // namespace tracker
