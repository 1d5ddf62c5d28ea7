// The shadow index's full-text extensions, registered on every connection: the
// `tracker` tokenizer and the `tracker_matches` auxiliary function.
#include "index/fts.hpp"

#include <tracker/util.hpp>

#include <memory>
#include <string>
#include <vector>

namespace tracker::fts {

namespace {

/// unicode61 as FTS5 has it: its tokenizer's functions and their context.
struct Unicode61 {
  fts5_tokenizer api{};
  void* context = nullptr;
};

/// One `tracker` tokenizer: a unicode61 tokenizer (diacritics kept) inside.
struct Tokenizer {
  const Unicode61* base;
  Fts5Tokenizer* inner;
};

int create(void* context, const char**, int, Fts5Tokenizer** out) {
  const auto* base = static_cast<const Unicode61*>(context);
  const char* args[] = {"remove_diacritics", "0"};
  Fts5Tokenizer* inner = nullptr;
  int rc = base->api.xCreate(base->context, args, 2, &inner);
  if (rc != SQLITE_OK) return rc;
  *out = reinterpret_cast<Fts5Tokenizer*>(new Tokenizer{base, inner});
  return SQLITE_OK;
}

void destroy(Fts5Tokenizer* t) {
  auto* tok = reinterpret_cast<Tokenizer*>(t);
  tok->base->api.xDelete(tok->inner);
  delete tok;
}

using TokenFn = int (*)(void*, int, const char*, int, int, int);

/// What unicode61 gives for one stretch of the text, its offsets moved to the
/// whole text's.
struct Shifted {
  void* context;
  TokenFn token;
  int shift;
};

int shifted(void* p, int flags, const char* token, int n, int start, int end) {
  const auto* s = static_cast<const Shifted*>(p);
  return s->token(s->context, flags, token, n, start + s->shift, end + s->shift);
}

// unicode61's tokens, except that each letter of a script written without spaces
// (Han, kana: is_spaceless_letter) is a token of its own, so that a run of them is
// found from any of its letters and a phrase of them matches consecutive letters.
int tokenize(Fts5Tokenizer* t, void* context, int flags, const char* text, int size, TokenFn token) {
  auto* tok = reinterpret_cast<Tokenizer*>(t);
  std::string_view all(text, static_cast<std::size_t>(size));
  auto stretch = [&](std::size_t from, std::size_t to) {
    if (from >= to) return SQLITE_OK;
    Shifted s{context, token, static_cast<int>(from)};
    return tok->base->api.xTokenize(tok->inner, &s, flags, text + from, static_cast<int>(to - from), shifted);
  };
  std::size_t from = 0;
  for (std::size_t i = 0; i < all.size();) {
    std::size_t begin = i;
    // Such letters take three or four bytes, the first 0xE3 or more.
    if (static_cast<unsigned char>(all[i]) < 0xE3) {
      ++i;
      while (i < all.size() && (static_cast<unsigned char>(all[i]) & 0xC0) == 0x80) ++i;
      continue;
    }
    if (!is_spaceless_letter(next_code_point(all, i))) continue;
    if (int rc = stretch(from, begin)) return rc;
    if (int rc = token(context, 0, text + begin, static_cast<int>(i - begin), static_cast<int>(begin),
                       static_cast<int>(i)))
      return rc;
    from = i;
  }
  return stretch(from, all.size());
}

/// tracker_matches(stories_fts, column): where the query's phrases matched in that
/// column of the current row, as "phrase begin end" triples (byte offsets in the
/// column's text) separated by ';'. FTS5's own instances, so what is highlighted is
/// what matched.
void matches(const Fts5ExtensionApi* api, Fts5Context* fts, sqlite3_context* ctx, int argc, sqlite3_value** argv) {
  if (argc != 1) {
    sqlite3_result_error(ctx, "tracker_matches takes a column number", -1);
    return;
  }
  int column = sqlite3_value_int(argv[0]);
  int count = 0;
  if (int rc = api->xInstCount(fts, &count)) {
    sqlite3_result_error_code(ctx, rc);
    return;
  }
  struct Inst {
    int phrase, first, last;
  };
  std::vector<Inst> found;
  for (int i = 0; i < count; ++i) {
    int phrase = 0, col = 0, offset = 0;
    if (api->xInst(fts, i, &phrase, &col, &offset) != SQLITE_OK || col != column) continue;
    found.push_back({phrase, offset, offset + std::max(1, api->xPhraseSize(fts, phrase)) - 1});
  }
  std::string out;
  if (!found.empty()) {
    const char* text = nullptr;
    int size = 0;
    if (int rc = api->xColumnText(fts, column, &text, &size)) {
      sqlite3_result_error_code(ctx, rc);
      return;
    }
    std::vector<std::pair<int, int>> tokens;  // by position: byte range
    auto add = [](void* p, int flags, const char*, int, int start, int end) {
      if (!(flags & FTS5_TOKEN_COLOCATED)) static_cast<std::vector<std::pair<int, int>>*>(p)->emplace_back(start, end);
      return SQLITE_OK;
    };
    if (text && size > 0) api->xTokenize(fts, text, size, &tokens, add);
    for (const auto& inst : found) {
      if (inst.last >= static_cast<int>(tokens.size())) continue;
      if (!out.empty()) out += ';';
      out += std::to_string(inst.phrase) + ' ' + std::to_string(tokens[static_cast<std::size_t>(inst.first)].first) +
             ' ' + std::to_string(tokens[static_cast<std::size_t>(inst.last)].second);
    }
  }
  sqlite3_result_text64(ctx, out.data(), out.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
}

/// tracker_in_column(stories_fts, column): 1 when one of the query's phrases matched
/// in that column of the current row, else 0; search puts name matches first by it.
void in_column(const Fts5ExtensionApi* api, Fts5Context* fts, sqlite3_context* ctx, int argc, sqlite3_value** argv) {
  if (argc != 1) {
    sqlite3_result_error(ctx, "tracker_in_column takes a column number", -1);
    return;
  }
  int column = sqlite3_value_int(argv[0]), count = 0;
  if (int rc = api->xInstCount(fts, &count)) {
    sqlite3_result_error_code(ctx, rc);
    return;
  }
  for (int i = 0; i < count; ++i) {
    int phrase = 0, col = 0, offset = 0;
    if (api->xInst(fts, i, &phrase, &col, &offset) == SQLITE_OK && col == column) {
      sqlite3_result_int(ctx, 1);
      return;
    }
  }
  sqlite3_result_int(ctx, 0);
}

fts5_api* api_of(sqlite3* db) {
  fts5_api* api = nullptr;
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db, "SELECT fts5(?1)", -1, &stmt, nullptr) != SQLITE_OK) return nullptr;
  sqlite3_bind_pointer(stmt, 1, &api, "fts5_api_ptr", nullptr);
  sqlite3_step(stmt);
  sqlite3_finalize(stmt);
  return api;
}

}  // namespace

int register_extensions(sqlite3* db) {
  fts5_api* api = api_of(db);
  if (!api || api->iVersion < 2) return SQLITE_ERROR;
  auto base = std::make_unique<Unicode61>();
  if (int rc = api->xFindTokenizer(api, "unicode61", &base->context, &base->api)) return rc;
  fts5_tokenizer tokenizer{create, destroy, tokenize};
  Unicode61* context = base.release();
  if (int rc = api->xCreateTokenizer(api, "tracker", context, &tokenizer,
                                     [](void* p) { delete static_cast<Unicode61*>(p); })) {
    return rc;  // out of memory only; the context is lost with the connection's failure
  }
  if (int rc = api->xCreateFunction(api, "tracker_matches", nullptr, matches, nullptr)) return rc;
  return api->xCreateFunction(api, "tracker_in_column", nullptr, in_column, nullptr);
}

std::vector<Match> parse_matches(std::string_view text) {
  std::vector<Match> out;
  for (const auto& item : split(std::string(text), ';')) {
    auto f = split(item, ' ');
    if (f.size() != 3) continue;
    auto phrase = parse_int(f[0]), begin = parse_int(f[1]), end = parse_int(f[2]);
    if (!phrase || !begin || !end || *begin < 0 || *end < *begin) continue;
    out.push_back({static_cast<int>(*phrase), static_cast<std::size_t>(*begin), static_cast<std::size_t>(*end)});
  }
  return out;
}

}  // namespace tracker::fts
