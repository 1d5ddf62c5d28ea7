// Full-text search: the query language, ranking, and snippets around the places
// FTS5 matched.
#include <catch2/catch.hpp>

#include "helpers.hpp"

#include <nlohmann/json.hpp>
#include <tracker/error.hpp>
#include <tracker/search.hpp>
#include <tracker/util.hpp>

using namespace testing;
using nlohmann::json;

namespace {

std::string expression(const std::string& query) {
  return tracker::fts5_expression(tracker::parse_search_query(query));
}

std::string marked(const tracker::Snippet& s) {
  std::string out;
  std::size_t at = 0;
  for (const auto& [offset, length] : s.highlights) {
    out += s.text.substr(at, offset - at) + "[" + s.text.substr(offset, length) + "]";
    at = offset + length;
  }
  return out + s.text.substr(at);
}

}  // namespace

TEST_CASE("search queries: words, phrases, prefixes, exclusions and OR become quoted FTS5 expressions") {
  CHECK(expression("login") == "(\"login\"*)");  // a bare word is a prefix
  CHECK(expression("Login Page") == "(\"login\"*) AND (\"page\"*)");
  CHECK(expression("\"add login\" log*") == "(\"add login\") AND (\"log\"*)");
  CHECK(expression("\"add log\"*") == "(\"add log\"*)");
  CHECK(expression("cache -redis -\"old api\"") == "((\"cache\"*)) NOT (\"redis\"* OR \"old api\")");
  CHECK(expression("billing OR webhook cache") == "(\"billing\"* OR \"webhook\"*) AND (\"cache\"*)");
  // Punctuation splits a term into a phrase, as the tokenizer splits the text; FTS5
  // syntax characters are only ever words inside quotes.
  CHECK(expression("e-mail") == "(\"e mail\"*)");
  CHECK(expression("NEAR(x)") == "(\"near x\"*)");
  // AND and NOT, in capitals, are operators: AND is what side by side means, NOT
  // excludes the next term as '-' does. In lower case, or quoted, they are words.
  CHECK(expression("login AND oauth") == "(\"login\"*) AND (\"oauth\"*)");
  CHECK(expression("login NOT oauth") == "((\"login\"*)) NOT (\"oauth\"*)");
  CHECK(expression("NOT AND NEAR(x)") == "((\"near x\"*)) NOT (\"and\"*)");
  CHECK(expression("\"NOT\" and not") == "(\"not\") AND (\"and\"*) AND (\"not\"*)");
  CHECK(expression("or") == "(\"or\"*)");
  CHECK_THROWS_WITH(tracker::parse_search_query("login NOT"), "bad query: NOT must be followed by a term to exclude");
  CHECK_THROWS_WITH(tracker::parse_search_query("login NOT -x"), "bad query: NOT and '-' both exclude; use one");

  for (const char* bad : {"", "   ", "\"open", "lo*g", "*", "-", "- x", "-x", "a OR", "OR a", "a OR OR b", "-a OR b",
                          "a OR -b", "!!!", "\"\"", "a\"b\"", "\"a\"b"}) {
    INFO(bad);
    CHECK_THROWS_AS(tracker::parse_search_query(bad), tracker::UsageError);
  }
  CHECK_THROWS_WITH(tracker::parse_search_query("\"open page"), "bad query: unterminated quote in \"open page");
  CHECK_THROWS_WITH(tracker::parse_search_query("-old"), "bad query: it needs a term that is not excluded with '-'");
}

TEST_CASE("search tokens: ASCII splits and folds, and past ASCII the index tokenizer splits and folds") {
  auto t = tracker::tokenize("Add LOGIN-page, v2 für café");
  std::vector<std::string> words;
  for (const auto& token : t) words.push_back(token.text);
  CHECK(words == std::vector<std::string>{"add", "login", "page", "v2", "für", "café"});
  CHECK(t[1].begin == 4);
  CHECK(t[1].end == 9);

  // Past ASCII a run is passed on as typed, its ASCII letters folded (FTS5 folds the
  // rest and splits it at — and 。, and each Han or kana letter, as it does the
  // text: the search test below); a run of punctuation, symbols or emoji alone is
  // no word.
  t = tracker::tokenize("ÉCOLE—ΣΟΦΙΑ 東京で。ОК — 🙂 。");
  words.clear();
  for (const auto& token : t) words.push_back(token.text);
  CHECK(words == std::vector<std::string>{"École—ΣΟΦΙΑ", "東京で。ОК"});
  CHECK(t[1].begin == 20);
  CHECK(t[1].end == 36);
  CHECK_THROWS_WITH(tracker::parse_search_query("🙂"),
                    "bad query: nothing to search for in 🙂 (terms are letters and digits)");

  // An overlong form is not the character it spells (C0 A2 would be '"', found by
  // fuzz_search): bytes that are not UTF-8 stay bytes, and no quote reaches FTS5.
  t = tracker::tokenize(std::string("x\xC0\xA2y", 4));
  REQUIRE(t.size() == 1);
  CHECK(t[0].text == std::string("x\xC0\xA2y", 4));
  auto q = tracker::parse_search_query(std::string("x\xC0\xA2\xA2", 4));
  CHECK(tracker::fts5_expression(q).find("\"\"") == std::string::npos);
  for (const auto& p : q.phrases())
    for (const auto& token : p.tokens) CHECK(token.find('"') == std::string::npos);
}

/// The matches of phrase `phrase` at each place `what` is in `text`, as FTS5 gives them.
static std::vector<tracker::Match> at(const std::string& text, const std::string& what, int phrase,
                               std::vector<tracker::Match> more = {}) {
  for (auto p = text.find(what); p != std::string::npos; p = text.find(what, p + 1))
    more.push_back({phrase, p, p + what.size()});
  return more;
}

TEST_CASE("search snippets: the best line, cut around the first match, matches marked") {
  // The query `cache "time out"`: phrase 0 is cache, phrase 1 time out.
  std::string body = "First line.\n\nThe cache is cold.\nA cache time out, and the cache again.\n";
  auto matches = at(body, "cache", 0, at(body, "time out", 1));
  CHECK(marked(tracker::make_snippet(body, matches)) == "A [cache] [time out], and the [cache] again.");
  // Nothing matches in the text (the name did): its first line.
  CHECK(marked(tracker::make_snippet("\n  Nothing here.\nMore.\n", {})) == "Nothing here.");
  std::string long_line(150, 'x');
  for (int i = 0; i < 20; ++i) long_line += " word";
  long_line += " cache";
  for (int i = 0; i < 30; ++i) long_line += " tail";
  std::string cut = marked(tracker::make_snippet(long_line, at(long_line, "cache", 0), 60));
  CHECK(cut.starts_with("…"));
  CHECK(cut.ends_with("…"));
  CHECK(cut.find("[cache]") != std::string::npos);
  CHECK(cut.size() < 80);
}

TEST_CASE("search: bm25 with name matches first, phrases, prefixes, exclusions, stages, limit, JSON, bad queries") {
  Board board;
  board.create({"Speed up the cache", "--body", "Nothing else.\n"});                                         // 1
  board.create({"Billing report", "--body", "The report reads the cache twice.\nThen the cache again.\n"});  // 2
  board.create({"Login page", "--body", "Users log in with e-mail; logging is verbose.\n"});                 // 3
  board.create({"Logout", "--body", "A user can log out.\n", "--stage", "current"});                         // 4
  board.create({"Cache stampede", "--body", "Redis falls over when the cache is cold.\n"});                  // 5
  fs::path root = board.root();

  auto ids = [&](const std::vector<std::string>& args, const RunOptions& options = {}) {
    std::vector<std::string> all = {"search", "--json"};
    all.insert(all.end(), args.begin(), args.end());
    auto r = run_tracker(root, all, options);
    INFO(r.err);
    REQUIRE(r.code == 0);
    std::vector<long> out;
    for (const auto& hit : json::parse(r.out)) out.push_back(hit["id"].get<long>());
    return out;
  };
  {
    RunOptions options;
    // A name match ranks above more matches in a body.
    CHECK(ids({"cache"}, options) == std::vector<long>{1, 5, 2});
    CHECK(ids({"cache -redis"}, options) == std::vector<long>{1, 2});
    CHECK(ids({"\"the cache is\""}, options) == std::vector<long>{5});
    CHECK(ids({"log*"}, options) == std::vector<long>{4, 3});
    CHECK(ids({"log"}, options) == std::vector<long>{4, 3});
    CHECK(ids({"logging"}, options) == std::vector<long>{3});
    CHECK(ids({"e-mail"}, options) == std::vector<long>{3});
    CHECK(ids({"billing OR logout"}, options).size() == 2);
    CHECK(ids({"log*", "--stage", "current"}, options) == std::vector<long>{4});
    CHECK(ids({"cache", "--limit", "1"}, options) == std::vector<long>{1});
    CHECK(ids({"nowhere"}, options).empty());
  }

  json hit = json::parse(run_tracker(root, {"search", "--json", "cache twice"}).out).at(0);
  CHECK(hit["id"] == 2);
  CHECK(hit["name"] == "Billing report");
  CHECK(hit["stage"] == "backlog");
  CHECK(hit["path"] == "work/1_backlog/2_story_billing-report.md");
  CHECK(hit["score"].get<double>() > 0);  // higher is better
  json both = json::parse(run_tracker(root, {"search", "--json", "cache"}).out);
  REQUIRE(both.size() >= 2);
  CHECK(both[0]["score"].get<double>() >= both[1]["score"].get<double>());
  CHECK(hit["snippet"] == "The report reads the cache twice.");
  CHECK(hit["highlights"]["snippet"] == json::parse("[[21, 5], [27, 5]]"));
  CHECK(hit["highlights"]["name"] == json::array());

  // Text: the id, stage and name, then the snippet; matches in bold red on colour.
  CHECK(run_tracker(root, {"search", "stampede"}).out ==
        "#5  backlog  Cache stampede\n    Redis falls over when the cache is cold.\n");
  std::string coloured = run_tracker(root, {"--color", "always", "search", "stampede cold"}).out;
  CHECK(coloured.find("Cache \x1b[1;31mstampede\x1b[0m") != std::string::npos);
  CHECK(coloured.find("\x1b[1;31mcold\x1b[0m") != std::string::npos);

  // A query that starts with '-' goes after "--".
  CHECK(ids({"--", "-redis", "cache"}) == std::vector<long>{1, 2});

  // A hand edit is searchable at once.
  write(root / board.path_of(3), read(root / board.path_of(3)) + "Now with passkeys.\n");
  CHECK(ids({"passkeys"}) == std::vector<long>{3});

  // Malformed queries: exit 2, one line, never an SQLite error.
  for (const char* bad : {"\"open", "lo*g", "a OR", "!!!", "-a OR b"}) {
    auto r = run_tracker(root, {"search", "--", bad});
    INFO(bad);
    CHECK(r.code == 2);
    CHECK(r.err.starts_with("tracker: bad query: "));
    CHECK(lines(r.err).size() == 1);
    CHECK(r.out.empty());
  }
  CHECK(run_tracker(root, {"search", "cache", "--stage", "nowhere"}).code == 2);
  CHECK(run_tracker(root, {"search", "cache", "--limit", "0"}).code == 2);
  CHECK(run_tracker(root, {"search"}).code == 2);
}

TEST_CASE("search shows the best 20 matches unless told otherwise, and says how many there are") {
  Board board;
  for (int i = 1; i <= 25; ++i) board.create({"Widget " + std::to_string(i)});
  fs::path root = board.root();
  {
    RunOptions options;
    auto r = run_tracker(root, {"search", "widget"}, options);
    CHECK(r.code == 0);
    CHECK(lines(r.out).size() == 20);
    CHECK(r.err == "tracker: the best 20 of 25 matches (--limit N or --all for more)\n");
    r = run_tracker(root, {"search", "widget", "--all"}, options);
    CHECK(lines(r.out).size() == 25);
    CHECK(r.err.empty());
    CHECK(json::parse(run_tracker(root, {"search", "--json", "widget", "--limit", "3"}, options).out).size() == 3);
  }
  CHECK(run_tracker(root, {"search", "widget", "--all", "--limit", "3"}).code == 2);
}

TEST_CASE("search folds case for all of Unicode, and finds Chinese and Japanese words inside runs without spaces") {
  Board board;
  fs::path root = board.root();
  board.create({"Café au lait"});                          // 1
  board.create({"ÜBER ÉCOLE"});                           // 2
  board.create({"Правка ошибки"});                         // 3
  board.create({"日本語のタイトル", "--body", "東京で会議。Réunion — meeting notes"});  // 4
  board.create({"语言模型的评测"});                         // 5
  auto ids = [&](const std::string& q) {
    auto r = run_tracker(root, {"search", "--json", q});
    INFO(r.err);
    REQUIRE(r.code == 0);
    std::vector<long> out;
    for (const auto& h : json::parse(r.out)) out.push_back(h["id"].get<long>());
    return out;
  };
  CHECK(ids("CAFÉ") == std::vector<long>{1});
  CHECK(ids("café") == std::vector<long>{1});
  CHECK(ids("über école") == std::vector<long>{2});
  CHECK(ids("ПРАВКА") == std::vector<long>{3});
  board.create({"ԱՐԱՐԱՏ ԼԵՌ"});                            // 6: Armenian capitals
  CHECK(ids("արարատ") == std::vector<long>{6});
  CHECK(ids("ԼԵՌ") == std::vector<long>{6});
  json armenian = json::parse(run_tracker(root, {"search", "--json", "լեռ"}).out).at(0);
  CHECK(armenian["highlights"]["name"] == json::parse("[[13, 6]]"));
  // Diacritics are kept: cafe is another word, found as a word one edit away.
  auto cafe = run_tracker(root, {"search", "--json", "cafe"});
  CHECK(json::parse(cafe.out).size() == 1);
  CHECK(cafe.err == "tracker: no word begins with 'cafe'; searched for 'café' instead\n");
  // Han and kana letters are words of their own, so a run is found anywhere in a
  // longer run, in order; a prefix works too; out of order is no match.
  CHECK(ids("日本語") == std::vector<long>{4});
  CHECK(ids("タイトル") == std::vector<long>{4});
  CHECK(ids("語の") == std::vector<long>{4});
  CHECK(ids("会議") == std::vector<long>{4});
  CHECK(ids("日本*") == std::vector<long>{4});
  CHECK(ids("模型") == std::vector<long>{5});
  CHECK(ids("型模").empty());
  CHECK(ids("本日").empty());
  CHECK(ids("会議 -タイトル").empty());
  std::vector<long> either = ids("评测 OR 会議");
  std::sort(either.begin(), either.end());
  CHECK(either == std::vector<long>{4, 5});
  // Punctuation past ASCII splits words, as the index's tokenizer has it; the
  // highlight finds the word after "。" too.
  CHECK(ids("RÉUNION meeting") == std::vector<long>{4});
  json after = json::parse(run_tracker(root, {"search", "--json", "réunion"}).out).at(0);
  CHECK(after["highlights"]["snippet"] == json::parse("[[18, 8]]"));
  // The highlight is the matched letters, as byte offsets in the text.
  json cjk = json::parse(run_tracker(root, {"search", "--json", "会議"}).out).at(0);
  CHECK(cjk["snippet"] == "東京で会議。Réunion — meeting notes");
  CHECK(cjk["highlights"]["snippet"] == json::parse("[[9, 6]]"));
  json title = json::parse(run_tracker(root, {"search", "--json", "タイトル"}).out).at(0);
  CHECK(title["highlights"]["name"] == json::parse("[[12, 12]]"));
  // The highlight finds the match whatever its case.
  json hit = json::parse(run_tracker(root, {"search", "--json", "CAFÉ"}).out).at(0);
  CHECK(hit["highlights"]["name"] == json::parse("[[0, 5]]"));
}

TEST_CASE("search edits: a typed word against the start of an indexed one, within one or two edits") {
  auto edits = [](const std::string& typed, const std::string& word, std::size_t limit = 2) {
    return tracker::prefix_edits(tracker::code_points(typed), tracker::code_points(word), limit);
  };
  CHECK(edits("passw", "password") == 0);
  CHECK(edits("pasword", "password") == 1);   // a letter left out
  CHECK(edits("passwrod", "password") == 1);  // two neighbours swapped
  CHECK(edits("paxsword", "password") == 1);  // one replaced
  CHECK(edits("passsword", "password") == 1);  // one too many
  CHECK(edits("paswrd", "password") == 2);
  CHECK(edits("pswrd", "password") == 3);  // past two: three
  CHECK(edits("xyzzy", "password") == 3);  // past the limit: limit + 1
  CHECK(edits("xyzzy", "password", 1) == 2);
  CHECK(edits("über", "uber") == 1);  // code points, not bytes
  CHECK(edits("", "anything") == 0);
  CHECK(tracker::typo_allowance(3) == 0);
  CHECK(tracker::typo_allowance(4) == 1);
  CHECK(tracker::typo_allowance(6) == 1);
  CHECK(tracker::typo_allowance(7) == 2);
}

TEST_CASE("search finds what people type: prefixes, a typo one or two edits off, name matches first, a word for no match") {
  Board board;
  fs::path root = board.root();
  board.create({"Password reset by email"});                                                  // 1
  board.create({"Session timeout", "--body", "After the password changes, sessions end.\n"});  // 2
  std::string many;
  for (int i = 0; i < 40; ++i) many += "password ";
  board.create({"Audit notes", "--body", many + "\n"});  // 3: many body matches
  board.create({"Passport scan"});                       // 4
  auto search = [&](const std::vector<std::string>& args) {
    std::vector<std::string> all = {"search", "--json"};
    all.insert(all.end(), args.begin(), args.end());
    auto r = run_tracker(root, all);
    INFO(r.err);
    REQUIRE(r.code == 0);
    std::vector<long> ids;
    for (const auto& hit : json::parse(r.out)) ids.push_back(hit["id"].get<long>());
    return std::make_pair(ids, r.err);
  };

  // Every bare word is a prefix; a quoted one is exact.
  auto [found, err] = search({"passw"});
  CHECK(found.front() == 1);
  CHECK(found.size() == 3);
  CHECK(err.empty());
  CHECK(search({"pass"}).first.size() == 4);
  CHECK(search({"\"pass\""}).first.empty());
  CHECK(search({"pass", "-passport"}).first.size() == 3);
  CHECK(search({"reset emai"}).first == std::vector<long>{1});

  // A name match ranks above any number of body matches.
  CHECK(search({"password"}).first == std::vector<long>{1, 3, 2});

  // A word that begins no indexed word is searched as the closest indexed word,
  // and stderr says which.
  std::tie(found, err) = search({"pasword"});
  CHECK(found == std::vector<long>{1, 3, 2});
  CHECK(err == "tracker: no word begins with 'pasword'; searched for 'password' instead\n");
  std::tie(found, err) = search({"paswrod reset"});
  CHECK(found == std::vector<long>{1});
  CHECK(err == "tracker: no word begins with 'paswrod'; searched for 'password' instead\n");
  CHECK(search({"timout"}).first == std::vector<long>{2});
  // Two edits for a long word, one for a short one, none below four letters.
  CHECK(search({"pssword"}).first.size() == 3);
  CHECK(search({"sesion"}).first == std::vector<long>{2});
  CHECK(search({"emial"}).first == std::vector<long>{1});
  CHECK(search({"ses"}).first == std::vector<long>{2});  // a prefix, no edit
  CHECK(search({"sxs"}).first.empty());
  // A wrong first letter, or the first one left out: nothing close begins with the
  // letters typed, so the rest of the vocabulary is read.
  std::tie(found, err) = search({"rassword"});
  CHECK(found.size() == 3);
  CHECK(err == "tracker: no word begins with 'rassword'; searched for 'password' instead\n");
  std::tie(found, err) = search({"assword"});
  CHECK(found.size() == 3);
  CHECK(err == "tracker: no word begins with 'assword'; searched for 'password' instead\n");
  // An excluded word is never replaced; a word that matches stays as typed.
  CHECK(search({"reset -pasword"}).first == std::vector<long>{1});

  // No match: a word on stderr, exit 0, nothing (or []) on stdout.
  auto r = run_tracker(root, {"search", "xyzzy"});
  CHECK(r.code == 0);
  CHECK(r.out.empty());
  CHECK(r.err == "tracker: no story matches 'xyzzy'\n");
  r = run_tracker(root, {"search", "--json", "xyzzy quux"});
  CHECK(r.code == 0);
  CHECK(r.out == "[]\n");
  CHECK(r.err == "tracker: no story matches 'xyzzy quux'\n");

  // The text output pads ids and stages into columns.
  board.create({"Password policy", "--stage", "current"});  // 5
  for (int i = 6; i <= 10; ++i) board.create({"Filler " + std::to_string(i)});
  board.create({"Password rules"});  // 11
  r = run_tracker(root, {"search", "password", "policy", "OR", "rules"});
  CHECK(r.out == "#5   current  Password policy\n#11  backlog  Password rules\n");
}
