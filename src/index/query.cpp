// Reading the shadow index: lists, lookups by id, issues, dependencies and search.
#include <tracker/util.hpp>

#include "index/fts.hpp"
#include "index/impl.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <map>
#include <set>

namespace tracker {

namespace {

/// A match in a story's name weighs this much more than one in its body (bm25).
constexpr double kNameWeight = 10.0;

/// At most this many words of one query are looked for among the indexed words
/// (each costs a pass over the vocabulary's words, in one scan).
constexpr std::size_t kMaxCorrected = 8;

/// Of the indexed words equally close to a typed one, at most this many are weighed.
constexpr std::size_t kMaxTied = 64;

/// The first string after every string that begins with `prefix` (UTF-8, so its
/// last byte is never 0xFF): the end of its range in the vocabulary.
std::string after_prefix(std::string prefix) {
  prefix.back() = static_cast<char>(static_cast<unsigned char>(prefix.back()) + 1);
  return prefix;
}

/// Replaces each word of `query` (not an excluded one) that begins no indexed word
/// with the indexed word closest to it, within typo_allowance() edits (a prefix
/// counts: `passwrd` is one edit from the start of "passwords"); returns what it
/// replaced. Of equally close words it takes the shortest of those that begin
/// another (it finds them all as a prefix), then the one in most stories. FTS5's
/// own vocabulary (fts5vocab) is the list of indexed words. Words in the letters
/// of scripts written without spaces, and words of fewer than four letters, are
/// left as typed.
std::vector<SearchCorrection> correct_typos(sql::Db& db, SearchQuery& query) {
  struct Wanted {
    std::string typed;
    std::u32string letters;
    std::size_t allowance = 0, edits = 0;
    std::vector<std::string> tied;
  };
  std::vector<Wanted> wanted;
  std::optional<sql::Stmt> in_vocabulary;
  auto vocabulary = [&]() -> sql::Stmt& {
    if (!in_vocabulary) {
      db.exec("CREATE VIRTUAL TABLE IF NOT EXISTS temp.tracker_vocab USING fts5vocab(main, stories_fts, row)");
      in_vocabulary.emplace(db.prepare("SELECT 1 FROM temp.tracker_vocab WHERE term >= ?1 AND term < ?2 LIMIT 1"));
    }
    return *in_vocabulary;
  };
  // Whether a word begins an indexed word: the word itself (FTS5's first hit, no
  // more read), else a longer one. That is the vocabulary's first word in the
  // word's range for ASCII, which the query folds as the index does (one doclist
  // read: a prefix query would merge them all); past ASCII, FTS5's prefix query,
  // which folds the word as it folds the text.
  auto matches_any = db.prepare("SELECT 1 FROM stories_fts WHERE stories_fts MATCH ? LIMIT 1");
  auto begins_a_word = [&](const std::string& token) {
    matches_any.reset();
    matches_any.bind(1, "\"" + token + "\"");
    if (matches_any.step()) return true;
    bool ascii = std::all_of(token.begin(), token.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
    if (!ascii) {
      matches_any.reset();
      matches_any.bind(1, "\"" + token + "\"*");
      return matches_any.step();
    }
    sql::Stmt& q = vocabulary();
    q.reset();
    q.bind(1, token);
    q.bind(2, after_prefix(token));
    return q.step();
  };
  for (const auto& group : query.groups)
    for (const auto& phrase : group)
      for (const auto& token : phrase.tokens) {
        if (wanted.size() == kMaxCorrected) break;
        if (std::any_of(wanted.begin(), wanted.end(), [&](const Wanted& w) { return w.typed == token; })) continue;
        std::u32string letters = code_points(token);
        std::size_t allowance = typo_allowance(letters.size());
        if (allowance == 0 || letters.size() > 64 ||
            std::any_of(letters.begin(), letters.end(), [](char32_t c) { return is_spaceless_letter(c); }))
          continue;
        if (begins_a_word(token)) continue;
        wanted.push_back({token, std::move(letters), allowance, allowance + 1, {}});
      }
  trace("typos: checked");
  if (wanted.empty()) return {};
  vocabulary();
  // fts5vocab reads every doclist of the words it lists, so the whole vocabulary
  // costs as much as the index is big: only the words that begin with the typed
  // word's first letter, or with its second (a letter typed too many at the start,
  // or the first two swapped), are weighed.
  auto weigh = [](Wanted& w, std::string_view term) {
    std::size_t edits = prefix_edits(w.letters, code_points(term), std::min(w.allowance, w.edits));
    if (edits > w.allowance || edits > w.edits) return;
    if (edits < w.edits) {
      w.edits = edits;
      w.tied.clear();
    }
    if (w.tied.size() < kMaxTied) w.tied.emplace_back(term);
  };
  auto terms = db.prepare("SELECT term FROM temp.tracker_vocab WHERE term >= ?1 AND term < ?2");
  std::vector<std::vector<std::string>> starts_of;
  for (auto& w : wanted) {
    std::vector<std::string>& starts = starts_of.emplace_back();
    for (std::size_t i = 0; i < 2 && i < w.letters.size(); ++i) {
      std::string start;
      append_utf8(start, static_cast<unsigned>(w.letters[i]));
      if (std::find(starts.begin(), starts.end(), start) == starts.end()) starts.push_back(start);
    }
    for (const auto& start : starts) {
      terms.reset();
      terms.bind(1, start);
      terms.bind(2, after_prefix(start));
      while (terms.step()) weigh(w, terms.view(0));
    }
  }
  trace("typos: scanned");
  // A word with nothing close among those may have its first letter wrong: one pass
  // over the rest of the vocabulary serves every such word (the whole vocabulary
  // costs what the index is big, 50 ms at 10,000 stories, and only a word that
  // finds nothing else pays it).
  std::vector<std::size_t> unfound;
  for (std::size_t i = 0; i < wanted.size(); ++i)
    if (wanted[i].tied.empty()) unfound.push_back(i);
  if (!unfound.empty()) {
    auto every = db.prepare("SELECT term FROM temp.tracker_vocab");
    while (every.step()) {
      std::string_view term = every.view(0);
      for (std::size_t i : unfound) {
        bool weighed = std::any_of(starts_of[i].begin(), starts_of[i].end(),
                                   [&](const std::string& start) { return term.starts_with(start); });
        if (!weighed) weigh(wanted[i], term);
      }
    }
    trace("typos: whole vocabulary scanned");
  }
  auto docs = db.prepare("SELECT doc FROM temp.tracker_vocab WHERE term = ?");
  std::vector<SearchCorrection> out;
  for (auto& w : wanted) {
    if (w.tied.empty()) continue;
    std::stable_sort(w.tied.begin(), w.tied.end(), [](const auto& a, const auto& b) { return a.size() < b.size(); });
    std::string best;
    std::int64_t best_docs = -1;
    std::vector<std::string> kept;
    for (const auto& t : w.tied) {
      if (std::any_of(kept.begin(), kept.end(), [&](const std::string& k) { return t.starts_with(k); })) continue;
      kept.push_back(t);
      docs.reset();
      docs.bind(1, t);
      std::int64_t n = docs.step() ? docs.int64(0) : 0;
      if (n > best_docs || (n == best_docs && t < best)) {
        best = t;
        best_docs = n;
      }
    }
    for (auto& group : query.groups)
      for (auto& phrase : group)
        for (auto& token : phrase.tokens)
          if (token == w.typed) token = best;
    out.push_back({w.typed, best});
  }
  return out;
}

/// Reads a flat JSON array of strings or integers as this index writes them. Plain
/// elements are split by hand (list reads thousands of rows); anything with an
/// escape goes through the JSON parser.
std::vector<std::string> string_array(const std::string& text) {
  std::vector<std::string> out;
  if (text.size() <= 2) return out;
  if (text.find('\\') != std::string::npos) {
    for (const auto& v : nlohmann::json::parse(text)) out.push_back(v.is_string() ? v.get<std::string>() : v.dump());
    return out;
  }
  std::string_view body(text.data() + 1, text.size() - 2);  // without [ ]
  while (!body.empty()) {
    if (body.front() == '"') {
      auto end = body.find('"', 1);
      out.emplace_back(body.substr(1, end - 1));
      body.remove_prefix(std::min(body.size(), end + 2));  // closing quote and comma
    } else {
      auto comma = body.find(',');
      out.emplace_back(body.substr(0, comma));
      body.remove_prefix(comma == std::string_view::npos ? body.size() : comma + 1);
    }
  }
  return out;
}

Story story_from_row(const sql::Stmt& q, bool summary_only = false) {
  Story s;
  s.id = q.int64(0);
  s.type = q.view(1);
  s.stage = q.view(3);
  s.path = q.view(4);
  s.name = q.view(5);
  if (!q.is_null(6)) s.priority = q.int64(6);
  s.agent = q.view(9);
  s.blocked = q.int64(10) != 0;
  if (!q.is_null(15)) s.parent = q.int64(15);
  s.changed_ns = q.is_null(16) ? 0 : q.int64(16);
  if (summary_only) return s;
  s.slug = q.view(2);
  s.labels = string_array(q.text(7));
  for (const auto& d : string_array(q.text(8))) s.depends_on.push_back(parse_int(d).value_or(0));
  s.retry_count = q.int64(11);
  s.created = q.view(12);
  std::string_view fields = q.view(13);
  if (fields != "{}") {
    const nlohmann::ordered_json object = nlohmann::ordered_json::parse(fields);
    for (auto it = object.begin(); it != object.end(); ++it) s.fields.push_back({it.key(), it.value().dump()});
  }
  std::string_view warnings = q.view(14);
  if (warnings != "[]")
    for (const auto& w : nlohmann::json::parse(warnings))
      s.warnings.push_back({w["line"].get<int>(), w["message"].get<std::string>()});
  return s;
}

}  // namespace

std::vector<Story> ShadowIndex::list(const ListQuery& query) {
  std::vector<Story> out;
  list_each(query, [&](Story&& s) { out.push_back(std::move(s)); });
  return out;
}

void ShadowIndex::list_each(const ListQuery& query, const std::function<void(Story&&)>& visit) {
  impl_->with_recovery([&] {
    std::string sql = std::string("SELECT ") + kStoryColumns + " FROM stories WHERE error IS NULL";
    // Filtering on stage_order lets SQLite range-scan the (stage_order, priority DESC, id)
    // index, which is also the default order, so the common listing needs no sort.
    std::vector<std::int64_t> orders;
    for (const auto& name : query.stages) orders.push_back(impl_->ws.config().stage_order(name));
    if (!orders.empty()) {
      sql += " AND stage_order IN (";
      for (std::size_t i = 0; i < orders.size(); ++i) sql += i ? ",?" : "?";
      sql += ")";
    }
    if (query.type) sql += " AND type=?";
    if (query.agent) sql += " AND agent=?";
    if (query.label) sql += " AND EXISTS (SELECT 1 FROM json_each(stories.labels) WHERE value=?)";
    if (query.blocked_only) sql += " AND blocked=1";
    if (query.parent) sql += " AND parent=" + std::to_string(*query.parent);
    auto id_list = [](const std::vector<std::int64_t>& ids) {
      std::string out;
      for (auto id : ids) out += (out.empty() ? "" : ",") + std::to_string(id);
      return out;
    };
    if (query.only_ids) sql += " AND id IN (" + id_list(*query.only_ids) + ")";
    if (!query.exclude_ids.empty()) sql += " AND id NOT IN (" + id_list(query.exclude_ids) + ")";
    if (query.ready_only) {
      const Config& config = impl_->ws.config();
      std::vector<std::int64_t> ready, done;
      for (const auto& name : config.ready_stages) ready.push_back(config.stage_order(name));
      for (const auto& name : config.done_stages) done.push_back(config.stage_order(name));
      sql += " AND blocked=0 AND stage_order IN (" + id_list(ready) + ")";
      sql +=
          " AND NOT EXISTS (SELECT 1 FROM json_each(stories.depends_on) d WHERE NOT EXISTS"
          " (SELECT 1 FROM stories t WHERE t.id = d.value AND t.error IS NULL AND t.stage_order IN (" +
          id_list(done) + ")))";
      // A parent's work is its children's: it is ready once they are all done.
      sql += " AND NOT EXISTS (SELECT 1 FROM stories c WHERE c.parent = stories.id AND c.error IS NULL"
             " AND c.stage_order NOT IN (" + id_list(done) + "))";
    }
    switch (query.sort) {
      case SortKey::stage:
        sql += " ORDER BY stage_order, priority DESC, id";
        break;
      case SortKey::priority:
        sql += " ORDER BY priority DESC, id";
        break;
      case SortKey::id:
        sql += " ORDER BY id, stage_order";
        break;
      case SortKey::updated:
        sql += " ORDER BY mtime_ns DESC, id";
        break;
    }
    if (query.limit) sql += " LIMIT " + std::to_string(*query.limit);
    auto q = impl_->db->prepare(sql);
    int i = 1;
    for (auto order : orders) q.bind(i++, order);
    if (query.type) q.bind(i++, *query.type);
    if (query.agent) q.bind(i++, *query.agent);
    if (query.label) q.bind(i++, *query.label);
    while (q.step()) visit(story_from_row(q, query.summary_only));
    return 0;
  });
}

Lookup ShadowIndex::lookup(std::int64_t id) {
  return impl_->with_recovery([&] {
    Lookup out;
    auto q = impl_->db->prepare(std::string("SELECT ") + kStoryColumns +
                                ", (SELECT body FROM story_text t WHERE t.rowid = stories.rowid), error, error_line"
                                " FROM stories WHERE id=? ORDER BY stage_order, path");
    q.bind(1, id);
    while (q.step()) {
      constexpr int body = kStoryColumnCount, error = body + 1, error_line = body + 2;
      if (!q.is_null(error)) {
        out.malformed.push_back({q.text(4), static_cast<int>(q.int64(error_line)), q.text(error), true});
        continue;
      }
      Story s = story_from_row(q);
      s.body = q.text(body);
      out.stories.push_back(std::move(s));
    }
    return out;
  });
}

std::vector<StoryIssue> ShadowIndex::issues() {
  return impl_->with_recovery([&] {
    std::vector<StoryIssue> out;
    auto q = impl_->db->prepare(
        "SELECT path, error_line, error, warnings FROM stories WHERE error IS NOT NULL OR warnings != '[]' ORDER BY "
        "path");
    while (q.step()) {
      if (!q.is_null(2)) {
        out.push_back({q.text(0), static_cast<int>(q.int64(1)), q.text(2), true});
        continue;
      }
      for (const auto& w : nlohmann::json::parse(q.text(3)))
        out.push_back({q.text(0), w["line"].get<int>(), w["message"].get<std::string>(), false});
    }
    return out;
  });
}

std::map<std::int64_t, std::vector<std::int64_t>> ShadowIndex::dependencies() {
  return dependency_snapshot().graph;
}

std::map<std::int64_t, std::int64_t> ShadowIndex::parents() {
  return impl_->with_recovery([&] {
    std::map<std::int64_t, std::int64_t> out;
    auto q = impl_->db->prepare("SELECT id, parent FROM stories WHERE parent IS NOT NULL AND error IS NULL");
    while (q.step()) out[q.int64(0)] = q.int64(1);
    return out;
  });
}

std::map<std::int64_t, ChildProgress> ShadowIndex::progress(std::optional<std::int64_t> parent) {
  return impl_->with_recovery([&] {
    std::vector<std::int64_t> done;
    for (const auto& name : impl_->ws.config().done_stages) done.push_back(impl_->ws.config().stage_order(name));
    std::string in;
    for (auto order : done) in += (in.empty() ? "" : ",") + std::to_string(order);
    std::map<std::int64_t, ChildProgress> out;
    std::string which = parent ? "parent = " + std::to_string(*parent) : std::string("parent IS NOT NULL");
    auto q = impl_->db->prepare("SELECT parent, count(*), sum(stage_order IN (" + in + ")) FROM stories WHERE " +
                                which + " AND error IS NULL GROUP BY parent");
    while (q.step()) out[q.int64(0)] = ChildProgress{q.int64(2), q.int64(1)};
    return out;
  });
}

ShadowIndex::DependencySnapshot ShadowIndex::dependency_snapshot() {
  return impl_->with_recovery([&] {
    DependencySnapshot out;
    // One statement, so one snapshot: a story is missing only if no row of it was
    // there when the edges naming it were read.
    std::set<std::int64_t> unsettled, named;
    auto q = impl_->db->prepare("SELECT id, depends_on, error IS NOT NULL OR size = 0 FROM stories");
    while (q.step()) {
      std::int64_t id = q.int64(0);
      out.ids.insert(id);
      if (q.int64(2)) {
        unsettled.insert(id);
        continue;
      }
      std::string deps = q.text(1);
      if (deps == "[]") continue;
      auto& edges = out.graph[id];
      for (const auto& d : string_array(deps))
        if (auto dep = parse_int(d)) {
          edges.push_back(*dep);
          named.insert(*dep);
        }
    }
    out.unsettled.assign(unsettled.begin(), unsettled.end());
    for (auto id : named)
      if (!out.ids.count(id)) out.missing.push_back(id);
    return out;
  });
}

std::int64_t ShadowIndex::max_id() {
  return impl_->with_recovery([&] {
    auto q = impl_->db->prepare("SELECT coalesce(max(id), 0) FROM stories");
    q.step();
    return q.int64(0);
  });
}

SearchResult ShadowIndex::search(const SearchQuery& typed, const std::vector<int>& stage_orders,
                                 std::optional<std::int64_t> limit) {
  return impl_->with_recovery([&] {
    SearchQuery query = typed;
    std::vector<SearchCorrection> corrections = correct_typos(*impl_->db, query);
    trace("search: words looked up");
    static const std::string columns = [] {
      std::string out;
      for (const auto& c : split(kStoryColumns, ','))
        out += (out.empty() ? "stories." : ", stories.") + std::string(trim(c));
      return out;
    }();
    std::string stage_filter;
    for (int order : stage_orders) stage_filter += (stage_filter.empty() ? "" : ",") + std::to_string(order);
    if (!stage_filter.empty()) stage_filter = " AND stories.stage_order IN (" + stage_filter + ")";
    struct Found {
      SearchHit hit;
      std::string body;
      std::int64_t row;
    };
    std::vector<Found> found;
    std::int64_t total = 0;
    auto add_hit = [&](const sql::Stmt& q, double score, std::string body, std::int64_t row) {
      SearchHit hit;
      hit.story = story_from_row(q, true);
      hit.score = -score;  // bm25 is lower for a better match; scores read the other way
      found.push_back({std::move(hit), std::move(body), row});
    };
    // Every match is ranked on its score alone (a few numbers a row to sort), and
    // only the hits given are read whole. The window function counts every match;
    // bm25 cannot be called in the same query level as a window function, hence
    // the innermost subquery.
    auto q = impl_->db->prepare(
        "SELECT " + columns + ", hit.score, hit.row, hit.in_name, hit.total FROM (SELECT *, count(*) OVER () AS total"
        " FROM (SELECT stories.rowid AS row, stories.id AS id, bm25(stories_fts, " + std::to_string(kNameWeight) +
        ", 1.0) AS score, tracker_in_column(stories_fts, 0) AS in_name FROM stories_fts"
        " JOIN stories ON stories.rowid = stories_fts.rowid"
        " WHERE stories_fts MATCH ? AND stories.error IS NULL" +
        stage_filter + ") ORDER BY in_name DESC, score, id" +
        (limit ? " LIMIT " + std::to_string(*limit) : std::string()) +
        ") AS hit JOIN stories ON stories.rowid = hit.row ORDER BY hit.in_name DESC, hit.score, hit.id");
    auto body_of = impl_->db->prepare("SELECT body FROM story_text WHERE rowid = ?");
    const std::string expression = fts5_expression(query);
    q.bind(1, expression);
    while (q.step()) {
      constexpr int score = kStoryColumnCount, row = score + 1, count = score + 3;  // then in_name, the count
      total = q.int64(count);
      body_of.reset();
      body_of.bind(1, q.int64(row));
      add_hit(q, q.real(score), body_of.step() ? body_of.text(0) : std::string(), q.int64(row));
    }
    trace("search: matches ranked");
    // Where FTS5 matched, for the hits given only (reading every match's text is
    // costly): one more run of the query over the hits' rowid range, the matches
    // worked out for the hits' rows alone. (A run per hit would expand every
    // prefix of the query again each time.)
    std::map<std::int64_t, std::pair<std::string, std::string>> matched;
    if (!found.empty()) {
      std::int64_t low = found.front().row, high = low;
      std::string rows;
      for (const auto& f : found) {
        low = std::min(low, f.row);
        high = std::max(high, f.row);
        rows += (rows.empty() ? "" : ",") + std::to_string(f.row);
      }
      auto matches_of = impl_->db->prepare(
          "SELECT rowid, tracker_matches(stories_fts, 0), tracker_matches(stories_fts, 1) FROM stories_fts"
          " WHERE stories_fts MATCH ?1 AND rowid >= ?2 AND rowid <= ?3 AND +rowid IN (" + rows + ")");
      matches_of.bind(1, expression);
      matches_of.bind(2, low);
      matches_of.bind(3, high);
      while (matches_of.step()) matched[matches_of.int64(0)] = {matches_of.text(1), matches_of.text(2)};
    }
    std::vector<SearchHit> hits;
    for (auto& [hit, body, row] : found) {
      std::vector<Match> in_name, in_body;
      if (auto m = matched.find(row); m != matched.end()) {
        in_name = fts::parse_matches(m->second.first);
        in_body = fts::parse_matches(m->second.second);
      }
      hit.name = make_snippet(hit.story.name, in_name, std::string::npos);
      if (hit.name.highlights.empty()) hit.name.text = hit.story.name;
      hit.snippet = make_snippet(body, in_body);
      hits.push_back(std::move(hit));
    }
    return SearchResult{std::move(hits), total, std::move(corrections)};
  });
}

}  // namespace tracker
