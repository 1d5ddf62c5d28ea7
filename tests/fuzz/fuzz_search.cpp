// The search query parser. For any input: parsing never crashes and either refuses
// the query (UsageError) or gives one whose FTS5 expression quotes every token;
// tokenizing and snippets of the input as a body never crash.
#include <tracker/error.hpp>
#include <tracker/search.hpp>

#include <cstdint>
#include <cstdlib>
#include <string>

using namespace tracker;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  std::vector<Token> tokens = tokenize(text);
  for (const auto& t : tokens)
    if (t.begin >= t.end || t.end > text.size()) std::abort();
  SearchQuery q;
  try {
    q = parse_search_query(text);
  } catch (const UsageError&) {
    return 0;
  }
  if (q.groups.empty()) std::abort();  // a query of exclusions only is refused
  std::string expression = fts5_expression(q);
  for (const auto& phrase : q.phrases()) {
    if (phrase.tokens.empty()) std::abort();
    for (const auto& token : phrase.tokens)
      if (token.empty() || token.find('"') != std::string::npos) std::abort();
  }
  // Every token a match, of phrases in turn: the snippet stays inside the text.
  std::vector<Match> matches;
  for (std::size_t i = 0; i < tokens.size(); ++i)
    matches.push_back({static_cast<int>(i % 3), tokens[i].begin, tokens[i].end});
  Snippet s = make_snippet(text, matches);
  for (const auto& [offset, length] : s.highlights)
    if (offset + length > s.text.size()) std::abort();
  return 0;
}
