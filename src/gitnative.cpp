// The native commit writer (see gitnative.hpp). The formats follow git's
// Documentation/gitformat-index.txt, gitformat-pack.txt and git-config.txt:
//  - objects: "<type> <size>\0<data>", SHA-1 named, read loose (zlib deflated) or
//    from a pack found through its .idx (v2), with OFS_DELTA / REF_DELTA chains, and
//    written as one pack (with OFS_DELTA trees) per chain of commits;
//  - refs: a loose file or a packed-refs line, updated under "<ref>.lock" created
//    with O_EXCL and renamed into place, the reflog appended while it is held;
//  - the git index (v2, v3): sorted entries, optional extensions, a SHA-1 trailer.
#include "gitnative.hpp"

#include <tracker/error.hpp>
#include <tracker/fs.hpp>
#include <tracker/util.hpp>

#include <nettle/sha1.h>
#include <libdeflate.h>
#include <zlib.h>

#include <dirent.h>
#include <signal.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <stdexcept>
#include <thread>
#include <unordered_map>

namespace tracker {
namespace {

/// Something the native writer leaves to libgit2.
struct Unsupported {
  std::string why;
};

using Oid = std::array<unsigned char, 20>;

std::string hex(const Oid& oid) {
  static const char* digits = "0123456789abcdef";
  std::string out(40, '0');
  for (std::size_t i = 0; i < 20; ++i) {
    out[2 * i] = digits[oid[i] >> 4];
    out[2 * i + 1] = digits[oid[i] & 15];
  }
  return out;
}

std::optional<Oid> parse_hex(std::string_view text) {
  if (text.size() < 40) return std::nullopt;
  Oid oid{};
  for (std::size_t i = 0; i < 40; ++i) {
    char c = text[i];
    int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (v < 0) return std::nullopt;
    oid[i / 2] = static_cast<unsigned char>(i % 2 ? (oid[i / 2] | v) : v << 4);
  }
  return oid;
}

Oid sha1_of(std::initializer_list<std::string_view> parts) {
  sha1_ctx ctx;
  sha1_init(&ctx);
  for (auto p : parts) sha1_update(&ctx, p.size(), reinterpret_cast<const std::uint8_t*>(p.data()));
  Oid out;
  sha1_digest(&ctx, SHA1_DIGEST_SIZE, out.data());
  return out;
}

std::string_view as_view(const Oid& oid) { return {reinterpret_cast<const char*>(oid.data()), oid.size()}; }

std::uint32_t be32(const unsigned char* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | p[3];
}

void put_be32(std::string& out, std::uint32_t v) {
  char b[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
  out.append(b, 4);
}

// ---------------------------------------------------------------------------------
// git config: the few keys this writer needs, by git's syntax rules.

struct GitConfig {
  std::map<std::string, std::string> values;  ///< "section.key" or "section.sub.key"
  bool includes = false;                      ///< an include or includeIf was seen

  std::string get(const std::string& key, const std::string& fallback = "") const {
    auto it = values.find(key);
    return it == values.end() ? fallback : it->second;
  }
  std::optional<bool> boolean(const std::string& key) const {
    auto it = values.find(key);
    if (it == values.end()) return std::nullopt;
    std::string v = it->second;
    for (auto& c : v) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (v == "true" || v == "yes" || v == "on" || v == "1") return true;
    if (v == "false" || v == "no" || v == "off" || v == "0" || v.empty()) return false;
    return std::nullopt;
  }
};

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

/// Parses one config file into `config`; a missing file is no error. Throws
/// Unsupported for syntax it does not follow (git would, or would not, accept it:
/// libgit2 decides).
void read_config(const fs::path& file, GitConfig& config) {
  auto text = read_file_if_exists(file);
  if (!text) return;
  const std::string& s = *text;
  std::size_t i = 0;
  std::string section;  // "core" or "branch.main" (subsection kept as written)
  auto bad = [&] { throw Unsupported{"cannot read " + file.string()}; };
  auto skip_line = [&] {
    while (i < s.size() && s[i] != '\n') ++i;
  };
  while (i < s.size()) {
    char c = s[i];
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
      ++i;
    } else if (c == '#' || c == ';') {
      skip_line();
    } else if (c == '[') {
      ++i;
      std::string name;
      while (i < s.size() && (std::isalnum(static_cast<unsigned char>(s[i])) || s[i] == '-' || s[i] == '.')) name += s[i++];
      std::string sub;
      while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
      if (i < s.size() && s[i] == '"') {
        ++i;
        while (i < s.size() && s[i] != '"' && s[i] != '\n') {
          if (s[i] == '\\' && i + 1 < s.size()) ++i;
          sub += s[i++];
        }
        if (i >= s.size() || s[i] != '"') bad();
        ++i;
      }
      if (i >= s.size() || s[i] != ']' || name.empty()) bad();
      ++i;
      // [section.sub] is the old spelling of [section "sub"], case-insensitive.
      section = lower(name);
      if (!sub.empty()) section += "." + sub;
      std::string top = section.substr(0, section.find('.'));
      if (top == "include" || top == "includeif") config.includes = true;
    } else if (std::isalpha(static_cast<unsigned char>(c))) {
      std::string key;
      while (i < s.size() && (std::isalnum(static_cast<unsigned char>(s[i])) || s[i] == '-')) key += s[i++];
      while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
      std::string value = "true";  // a bare key is a true boolean
      if (i < s.size() && s[i] == '=') {
        ++i;
        value.clear();
        bool quoted = false;
        std::size_t keep = 0;  // length without trailing unquoted blanks
        while (i < s.size()) {
          char v = s[i];
          if (v == '\n' && !quoted) break;
          if (v == '\r' && i + 1 < s.size() && s[i + 1] == '\n' && !quoted) {
            ++i;
            continue;
          }
          if (!quoted && (v == '#' || v == ';')) {
            skip_line();
            break;
          }
          ++i;
          if (v == '"') {
            quoted = !quoted;
            keep = value.size();
            continue;
          }
          if (v == '\\') {
            if (i >= s.size()) bad();
            char e = s[i++];
            if (e == '\n') continue;  // line continuation
            if (e == 'n') value += '\n';
            else if (e == 't') value += '\t';
            else if (e == 'b') value += '\b';
            else if (e == '"' || e == '\\') value += e;
            else bad();
            keep = value.size();
            continue;
          }
          if ((v == ' ' || v == '\t') && !quoted && value.empty()) continue;  // leading blanks
          value += v;
          if (quoted || (v != ' ' && v != '\t')) keep = value.size();
        }
        if (quoted) bad();
        value.resize(keep);
      }
      if (section.empty()) bad();
      config.values[section + "." + lower(key)] = value;
      skip_line();
    } else {
      bad();
    }
  }
}

/// The config git would see for this repository: system, global, local, worktree.
GitConfig load_config(const GitDirs& dirs) {
  GitConfig config;
  auto env = [](const char* name) -> std::optional<std::string> {
    const char* v = std::getenv(name);
    return v ? std::optional<std::string>(v) : std::nullopt;
  };
  auto env_true = [&](const char* name) {
    auto v = env(name);
    return v && !v->empty() && lower(*v) != "false" && *v != "0";
  };
  if (!env_true("GIT_CONFIG_NOSYSTEM")) read_config(env("GIT_CONFIG_SYSTEM").value_or("/etc/gitconfig"), config);
  if (auto global = env("GIT_CONFIG_GLOBAL")) {
    read_config(*global, config);
  } else {
    auto home = env("HOME");
    auto xdg = env("XDG_CONFIG_HOME");
    if (xdg && !xdg->empty()) read_config(fs::path(*xdg) / "git" / "config", config);
    else if (home) read_config(fs::path(*home) / ".config" / "git" / "config", config);
    if (home) read_config(fs::path(*home) / ".gitconfig", config);
  }
  read_config(dirs.common_dir / "config", config);
  if (config.boolean("extensions.worktreeconfig").value_or(false)) read_config(dirs.git_dir / "config.worktree", config);
  return config;
}

/// Throws Unsupported for a repository format this writer does not handle.
void check_format(const GitConfig& config) {
  if (config.includes) throw Unsupported{"the git config includes other files"};
  auto version = parse_int(config.get("core.repositoryformatversion", "0"));
  if (!version || *version > 1) throw Unsupported{"repository format version " + config.get("core.repositoryformatversion")};
  for (const auto& [key, value] : config.values) {
    if (!key.starts_with("extensions.")) continue;
    std::string name = key.substr(11);
    if (name == "worktreeconfig" || name == "noop" || name == "preciousobjects") continue;
    if (name == "objectformat" && lower(value) == "sha1") continue;
    if (name == "refstorage" && lower(value) == "files") continue;
    throw Unsupported{"the repository uses extensions." + name};
  }
}

// ---------------------------------------------------------------------------------
// Objects

enum class ObjType { none = 0, commit = 1, tree = 2, blob = 3, tag = 4 };

const char* type_name(ObjType t) {
  switch (t) {
    case ObjType::commit: return "commit";
    case ObjType::tree: return "tree";
    case ObjType::blob: return "blob";
    case ObjType::tag: return "tag";
    default: return "?";
  }
}

struct Object {
  ObjType type = ObjType::none;
  std::string data;
};

/// Inflates the zlib stream at the start of `in` (a pack entry's data, with more
/// after it) into exactly `size` bytes, with libdeflate.
std::string inflate_exact(std::string_view in, std::uint64_t size) {
  static thread_local std::unique_ptr<libdeflate_decompressor, void (*)(libdeflate_decompressor*)> decompressor{
      nullptr, libdeflate_free_decompressor};
  if (!decompressor) decompressor.reset(libdeflate_alloc_decompressor());
  if (!decompressor) throw IoError("libdeflate: cannot allocate a decompressor");
  // DEFLATE expands at most 1032:1: a larger size is a corrupt header.
  if (size > in.size() * 1032ull + 64) throw IoError("corrupt pack entry");
  std::string out(static_cast<std::size_t>(size), '\0');
  std::size_t used = 0, n = 0;
  if (libdeflate_zlib_decompress_ex(decompressor.get(), in.data(), in.size(), out.data(), out.size(), &used, &n) !=
          LIBDEFLATE_SUCCESS ||
      n != out.size())
    throw IoError("zlib: corrupt object data");
  return out;
}

/// zlib-format compression of `data` at `level` (0 to 9, as zlib counts; -1 is
/// zlib's default, 6), with libdeflate: any zlib reader inflates it.
std::string deflate_all(std::string_view data, int level) {
  static thread_local std::unique_ptr<libdeflate_compressor, void (*)(libdeflate_compressor*)> compressor{
      nullptr, libdeflate_free_compressor};
  static thread_local int compressor_level = -2;
  int l = level < 0 ? 6 : std::min(level, 9);
  if (!compressor || compressor_level != l) {
    compressor.reset(libdeflate_alloc_compressor(l));
    if (!compressor) throw IoError("libdeflate: cannot allocate a compressor");
    compressor_level = l;
  }
  std::string out;
  out.resize(libdeflate_zlib_compress_bound(compressor.get(), data.size()));
  std::size_t n = libdeflate_zlib_compress(compressor.get(), data.data(), data.size(), out.data(), out.size());
  if (n == 0) throw IoError("libdeflate: compression failed");
  out.resize(n);
  return out;
}

/// A read-only mapping of a whole file.
class Mapping {
public:
  explicit Mapping(const fs::path& file) {
    Fd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
    struct stat st {};
    if (!fd || ::fstat(fd.get(), &st) != 0) throw_errno("cannot open " + file.string());
    size_ = static_cast<std::size_t>(st.st_size);
    if (size_ == 0) return;
    void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd.get(), 0);
    if (p == MAP_FAILED) throw_errno("cannot map " + file.string());
    data_ = static_cast<const unsigned char*>(p);
  }
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  ~Mapping() {
    if (data_) ::munmap(const_cast<unsigned char*>(data_), size_);
  }
  const unsigned char* data() const { return data_; }
  std::size_t size() const { return size_; }

private:
  const unsigned char* data_ = nullptr;
  std::size_t size_ = 0;
};

/// One pack: its .idx (version 2) and, once needed, the .pack.
class Pack {
public:
  /// The pack of `idx_path`; its files are mapped when first needed. Both are
  /// mapped together, so that a pack removed by a repack meanwhile is either read
  /// whole or not at all.
  explicit Pack(fs::path idx_path, bool plain = true) : idx_path_(std::move(idx_path)), plain_(plain) {}

  /// No .keep, .promisor, .bitmap, .rev or .mtimes file goes with it.
  bool plain() const { return plain_; }

  /// Maps the .idx and the .pack; false when they are gone (a repack removed them).
  bool open() {
    if (idx_) return true;
    fs::path pack_path = idx_path_;
    pack_path.replace_extension(".pack");
    std::unique_ptr<Mapping> idx, pack;
    try {
      idx = std::make_unique<Mapping>(idx_path_);
      pack = std::make_unique<Mapping>(pack_path);
    } catch (const IoError&) {
      if (::access(idx_path_.c_str(), F_OK) != 0 || ::access(pack_path.c_str(), F_OK) != 0) return false;
      throw;
    }
    const unsigned char* d = idx->data();
    if (idx->size() < 8 + 256 * 4 + 40 || std::memcmp(d, "\377tOc", 4) != 0 || be32(d + 4) != 2)
      throw Unsupported{"pack index " + idx_path_.string() + " is not version 2"};
    count_ = be32(d + 8 + 255 * 4);
    if (idx->size() < 8 + 256 * 4 + std::size_t{count_} * 28 + 40) throw IoError("truncated pack index " + idx_path_.string());
    if (pack->size() < 32 || std::memcmp(pack->data(), "PACK", 4) != 0 || be32(pack->data() + 8) != count_)
      throw IoError("pack " + pack_path.string() + " does not match its index");
    idx_ = std::move(idx);
    pack_ = std::move(pack);
    return true;
  }

  const fs::path& idx_path() const { return idx_path_; }
  std::size_t pack_size() const { return pack_->size(); }

  /// The largest object, as stored (a delta's own size for a delta), from the
  /// entries' headers.
  std::uint64_t largest_entry() const {
    std::uint64_t largest = 0;
    const unsigned char* p = pack_->data();
    for (std::uint32_t n = 0; n < count_; ++n) {
      std::uint64_t i = offset_at(n);
      if (i >= pack_->size()) throw IoError("bad offset in " + idx_path_.string());
      unsigned char c = p[i++];
      std::uint64_t size = c & 15;
      for (int shift = 4; (c & 0x80) && i < pack_->size() && shift < 60; shift += 7) {
        c = p[i++];
        size |= std::uint64_t{c & 0x7fu} << shift;
      }
      largest = std::max(largest, size);
    }
    return largest;
  }
  std::uint32_t count() const { return count_; }
  /// The n-th object of the index (in name order), its CRC-32 and offset.
  Oid oid_at(std::uint32_t n) const {
    Oid oid;
    std::memcpy(oid.data(), idx_->data() + 8 + 256 * 4 + std::size_t{n} * 20, 20);
    return oid;
  }
  std::uint32_t crc_at(std::uint32_t n) const { return be32(idx_->data() + 8 + 256 * 4 + std::size_t{count_} * 20 + std::size_t{n} * 4); }
  /// The entries' bytes: the pack without its 12-byte header and 20-byte trailer.
  std::string_view body() const {
    return {reinterpret_cast<const char*>(pack_->data()) + 12, pack_->size() - 32};
  }

  /// The offset of `oid` in the pack, if it is there.
  std::optional<std::uint64_t> find(const Oid& oid) {
    if (!open()) return std::nullopt;
    const unsigned char* d = idx_->data();
    const unsigned char* fanout = d + 8;
    std::uint32_t lo = oid[0] ? be32(fanout + (oid[0] - 1) * 4) : 0, hi = be32(fanout + oid[0] * 4);
    const unsigned char* names = fanout + 256 * 4;
    while (lo < hi) {
      std::uint32_t mid = lo + (hi - lo) / 2;
      int c = std::memcmp(names + std::size_t{mid} * 20, oid.data(), 20);
      if (c == 0) return offset_at(mid);
      if (c < 0) lo = mid + 1;
      else hi = mid;
    }
    return std::nullopt;
  }

  /// The object at `offset`; `resolve` reads a REF_DELTA base from anywhere.
  template <class Resolve>
  Object read_at(std::uint64_t offset, const Resolve& resolve, int depth = 0) {
    if (depth > 10000) throw IoError("delta chain too long in " + idx_path_.string());
    if (!open()) throw IoError("pack " + idx_path_.string() + " is gone");
    const unsigned char* p = pack_->data();
    std::size_t size = pack_->size();
    if (offset + 32 > size) throw IoError("bad offset in " + idx_path_.string());
    std::size_t i = offset;
    unsigned char c = p[i++];
    int type = (c >> 4) & 7;
    std::uint64_t obj_size = c & 15;
    int shift = 4;
    while (c & 0x80) {
      if (i >= size || shift > 60) throw IoError("bad object header in " + idx_path_.string());
      c = p[i++];
      obj_size |= std::uint64_t{c & 0x7fu} << shift;
      shift += 7;
    }
    auto rest = [&] { return std::string_view(reinterpret_cast<const char*>(p + i), size - i); };
    if (type >= 1 && type <= 4) return {static_cast<ObjType>(type), inflate_exact(rest(), obj_size)};
    Object base;
    if (type == 6) {  // OFS_DELTA
      c = p[i++];
      std::uint64_t back = c & 127;
      while (c & 0x80) {
        c = p[i++];
        back = ((back + 1) << 7) | (c & 127);
      }
      if (back > offset) throw IoError("bad delta offset in " + idx_path_.string());
      base = read_at(offset - back, resolve, depth + 1);
    } else if (type == 7) {  // REF_DELTA
      Oid base_oid;
      std::memcpy(base_oid.data(), p + i, 20);
      i += 20;
      base = resolve(base_oid);
    } else {
      throw IoError("unknown object type in " + idx_path_.string());
    }
    std::string delta = inflate_exact(rest(), obj_size);
    return {base.type, apply_delta(base.data, delta)};
  }

private:
public:
  std::uint64_t offset_at(std::uint32_t n) const {
    const unsigned char* offsets = idx_->data() + 8 + 256 * 4 + std::size_t{count_} * 24;
    std::uint32_t off = be32(offsets + std::size_t{n} * 4);
    if (!(off & 0x80000000u)) return off;
    const unsigned char* large = offsets + std::size_t{count_} * 4 + std::size_t{off & 0x7fffffffu} * 8;
    return (std::uint64_t{be32(large)} << 32) | be32(large + 4);
  }

private:
  static std::string apply_delta(const std::string& base, const std::string& delta) {
    std::size_t i = 0;
    auto varint = [&] {
      std::uint64_t v = 0;
      int shift = 0;
      unsigned char c = 0;
      do {
        if (i >= delta.size()) throw IoError("truncated delta");
        c = static_cast<unsigned char>(delta[i++]);
        v |= std::uint64_t{c & 0x7fu} << shift;
        shift += 7;
      } while (c & 0x80);
      return v;
    };
    if (varint() != base.size()) throw IoError("delta base size mismatch");
    std::string out;
    out.reserve(varint());
    while (i < delta.size()) {
      auto op = static_cast<unsigned char>(delta[i++]);
      if (op & 0x80) {
        std::uint64_t off = 0, len = 0;
        for (int b = 0; b < 4; ++b)
          if (op & (1 << b)) off |= std::uint64_t{static_cast<unsigned char>(delta.at(i++))} << (8 * b);
        for (int b = 0; b < 3; ++b)
          if (op & (0x10 << b)) len |= std::uint64_t{static_cast<unsigned char>(delta.at(i++))} << (8 * b);
        if (len == 0) len = 0x10000;
        if (off + len > base.size()) throw IoError("delta copies past its base");
        out.append(base, off, len);
      } else if (op) {
        if (i + op > delta.size()) throw IoError("truncated delta");
        out.append(delta, i, op);
        i += op;
      } else {
        throw IoError("bad delta opcode");
      }
    }
    return out;
  }

  fs::path idx_path_;
  bool plain_ = true;
  std::unique_ptr<Mapping> idx_, pack_;
  std::uint32_t count_ = 0;
};

struct OidHash {
  std::size_t operator()(const Oid& oid) const {
    std::size_t h;
    std::memcpy(&h, oid.data(), sizeof h);
    return h;
  }
};

void put_varint(std::string& out, std::uint64_t v) {  // a delta's sizes: 7 bits a byte, low first
  while (v >= 0x80) {
    out += static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  out += static_cast<char>(v);
}

/// A git delta that turns `base` into `target`: the common prefix and suffix are
/// copied from the base, the rest inserted. A commit changes a stage tree in one
/// place or two, so that is most of it.
std::string make_delta(std::string_view base, std::string_view target) {
  std::size_t n = std::min(base.size(), target.size());
  std::size_t prefix = static_cast<std::size_t>(std::mismatch(base.begin(), base.begin() + n, target.begin()).first - base.begin());
  std::size_t suffix = 0;
  while (suffix < n - prefix && base[base.size() - 1 - suffix] == target[target.size() - 1 - suffix]) ++suffix;
  std::string d;
  put_varint(d, base.size());
  put_varint(d, target.size());
  auto copy = [&](std::uint64_t off, std::uint64_t len) {
    while (len) {
      std::uint64_t piece = std::min<std::uint64_t>(len, 0xffffff);
      char op = static_cast<char>(0x80);
      std::string args;
      for (int b = 0; b < 4; ++b)
        if (auto byte = static_cast<unsigned char>(off >> (8 * b))) {
          op = static_cast<char>(op | (1 << b));
          args += static_cast<char>(byte);
        }
      for (int b = 0; b < 3; ++b)
        if (auto byte = static_cast<unsigned char>(piece >> (8 * b))) {
          op = static_cast<char>(op | (0x10 << b));
          args += static_cast<char>(byte);
        }
      d += op;
      d += args;
      off += piece;
      len -= piece;
    }
  };
  copy(0, prefix);
  for (std::string_view middle = target.substr(prefix, target.size() - prefix - suffix); !middle.empty();) {
    std::size_t piece = std::min<std::size_t>(middle.size(), 127);
    d += static_cast<char>(piece);
    d.append(middle.substr(0, piece));
    middle.remove_prefix(piece);
  }
  copy(base.size() - suffix, suffix);
  return d;
}

/// A pack being built in memory: the objects of one chain of commits, written as
/// one .pack and .idx (gitformat-pack.txt) instead of a loose file each. A tree
/// whose previous version is in the same pack is stored as a delta against it.
class PackBuilder {
public:
  PackBuilder() = default;

  /// Starts from every entry of `old` (an open pack, which must outlive this), at
  /// the same offsets: the new pack replaces it, and its objects are bases for
  /// deltas. Its bytes are not copied until write().
  explicit PackBuilder(const Pack& old) : old_(old.body()) {
    entries_.reserve(old.count() + 64);
    for (std::uint32_t n = 0; n < old.count(); ++n) {
      Oid oid = old.oid_at(n);
      index_.emplace(oid, entries_.size());
      entries_.push_back({oid, old.offset_at(n), old.crc_at(n)});
    }
  }

  bool has(const Oid& oid) const { return index_.count(oid) != 0; }
  std::optional<std::uint64_t> offset_of(const Oid& oid) const {
    auto it = index_.find(oid);
    if (it == index_.end()) return std::nullopt;
    return entries_[it->second].offset;
  }
  /// Whether anything was added to what the pack started from.
  bool changed() const { return !buf_.empty(); }

  /// How many deltas lie under the object at `offset` (0 for a whole object).
  int depth_at(std::uint64_t offset) const {
    int depth = 0;
    for (;;) {
      std::uint64_t i = offset;
      unsigned char c = byte_at(i++);
      int type = (c >> 4) & 7;
      while (c & 0x80) c = byte_at(i++);
      if (type != 6) return depth;
      c = byte_at(i++);
      std::uint64_t back = c & 127;
      while (c & 0x80) {
        c = byte_at(i++);
        back = ((back + 1) << 7) | (c & 127);
      }
      if (back == 0 || back > offset) throw IoError("bad delta offset in a pack");
      offset -= back;
      ++depth;
    }
  }

  void add(const Oid& oid, ObjType type, std::string_view data, int level) {
    std::uint64_t start = begin(oid, static_cast<int>(type), data.size());
    finish(start, deflate_all(data, level));
  }

  void add_delta(const Oid& oid, std::uint64_t base_offset, std::string_view delta, int level) {
    std::uint64_t start = begin(oid, 6, delta.size());
    std::uint64_t back = start - base_offset;  // OFS_DELTA: the base's distance back
    char b[16];
    std::size_t pos = sizeof b - 1;
    b[pos] = static_cast<char>(back & 127);
    while (back >>= 7) b[--pos] = static_cast<char>(128 | (--back & 127));
    buf_.append(b + pos, sizeof b - pos);
    finish(start, deflate_all(delta, level));
  }

  /// Writes pack-<sum>.pack, then its .idx (readers look for the .idx), into
  /// `pack_dir`.
  void write(const fs::path& pack_dir) {
    auto count = static_cast<std::uint32_t>(entries_.size());
    std::string header("PACK\0\0\0\2", 8);
    put_be32(header, count);
    Oid sum = sha1_of({header, old_, buf_});

    std::sort(entries_.begin(), entries_.end(), [](const Entry& a, const Entry& b) { return a.oid < b.oid; });
    std::string idx("\377tOc\0\0\0\2", 8);
    std::array<std::uint32_t, 256> fanout{};
    for (const auto& e : entries_) ++fanout[e.oid[0]];
    std::uint32_t running = 0;
    for (auto n : fanout) put_be32(idx, running += n);
    for (const auto& e : entries_) idx += as_view(e.oid);
    for (const auto& e : entries_) put_be32(idx, e.crc);
    std::string large;
    for (const auto& e : entries_) {
      if (e.offset < 0x80000000u) {
        put_be32(idx, static_cast<std::uint32_t>(e.offset));
      } else {
        put_be32(idx, 0x80000000u | static_cast<std::uint32_t>(large.size() / 8));
        put_be32(large, static_cast<std::uint32_t>(e.offset >> 32));
        put_be32(large, static_cast<std::uint32_t>(e.offset));
      }
    }
    idx += large;
    idx += as_view(sum);
    idx += as_view(sha1_of({idx}));

    std::error_code ec;
    fs::create_directories(pack_dir, ec);
    std::string name = "pack-" + hex(sum);
    AtomicFile pack(pack_dir / (name + ".pack"), false);
    for (std::string_view part : {std::string_view(header), old_, std::string_view(buf_), as_view(sum)}) pack.write(part);
    pack.commit();
    write_file_atomic(pack_dir / (name + ".idx"), idx, false);
  }

private:
  unsigned char byte_at(std::uint64_t offset) const {
    if (offset >= 12 && offset - 12 < old_.size()) return static_cast<unsigned char>(old_[offset - 12]);
    std::uint64_t at = offset - 12 - old_.size();
    if (offset < 12 + old_.size() || at >= buf_.size()) throw IoError("bad offset in a pack");
    return static_cast<unsigned char>(buf_[at]);
  }
  std::uint64_t begin(const Oid& oid, int type, std::uint64_t size) {
    std::uint64_t start = 12 + old_.size() + buf_.size();
    unsigned char c = static_cast<unsigned char>((type << 4) | (size & 15));
    size >>= 4;
    while (size) {
      buf_ += static_cast<char>(c | 0x80);
      c = size & 0x7f;
      size >>= 7;
    }
    buf_ += static_cast<char>(c);
    index_.emplace(oid, entries_.size());
    entries_.push_back({oid, start, 0});
    return start;
  }
  void finish(std::uint64_t start, const std::string& compressed) {
    buf_ += compressed;
    std::size_t at = start - 12 - old_.size();
    entries_.back().crc =
        static_cast<std::uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(buf_.data() + at), static_cast<uInt>(buf_.size() - at)));
  }

  struct Entry {
    Oid oid;
    std::uint64_t offset;
    std::uint32_t crc;
  };
  std::string_view old_;  ///< the entries of the pack this one replaces
  std::string buf_;       ///< the entries added, which follow them
  std::vector<Entry> entries_;
  std::unordered_map<Oid, std::size_t, OidHash> index_;
};

/// The object database: loose objects and packs, in the repository and its alternates.
class ObjectStore {
public:
  ObjectStore(const fs::path& objects_dir, int level) : level_(level) {
    dirs_.push_back(objects_dir);
    if (auto alternates = read_file_if_exists(objects_dir / "info" / "alternates")) {
      for (const auto& line : split(*alternates, '\n')) {
        std::string_view l = trim(line);
        if (l.empty() || l.front() == '#') continue;
        if (l.front() == '"') throw Unsupported{"quoted path in objects/info/alternates"};
        fs::path p(l);
        dirs_.push_back(p.is_relative() ? objects_dir / p : p);
      }
    }
  }

  Object read(const Oid& oid) {
    if (auto o = read_loose(oid)) return std::move(*o);
    for (int pass = 0; pass < 2; ++pass) {
      if (pass == 1 || !packs_loaded_) load_packs();  // a repack may have moved it
      for (auto& pack : packs_)
        if (auto off = pack->find(oid)) return pack->read_at(*off, [&](const Oid& base) { return read(base); });
      if (auto o = read_loose(oid)) return std::move(*o);
    }
    throw IoError("git object " + hex(oid) + " is missing");
  }

  /// A tree's raw entries. Trees this process read or wrote are kept, so that a chain
  /// of commits edits the same big stage tree without reading it back each time.
  std::string_view read_tree(const Oid& oid) {
    auto it = trees_.find(oid);
    if (it == trees_.end()) it = trees_.emplace(oid, CachedTree{read_typed(oid, ObjType::tree).data, 0}).first;
    return std::string_view(it->second.buf).substr(it->second.at);
  }

  Object read_typed(const Oid& oid, ObjType type) {
    Object o = read(oid);
    if (o.type != type) throw IoError("git object " + hex(oid) + " is a " + type_name(o.type) + ", not a " + type_name(type));
    return o;
  }

  /// Stores an object as a loose file unless it exists; returns its name.
  Oid write(ObjType type, std::string_view data) {
    std::string object = std::string(type_name(type)) + " " + std::to_string(data.size());
    object += '\0';
    object += data;
    return write_object(object);
  }

  /// Stores a tree, and keeps its entries for read_tree(). `buf` holds the entries
  /// from `at` on, with room before them for the object header (kTreeHeaderRoom), so
  /// that the whole object is hashed and compressed without another copy. `base` is
  /// the tree it was made from: in a pack, a delta against it when it is there too.
  Oid write_tree(std::string buf, std::size_t at, const Oid* base = nullptr) {
    std::string header = "tree " + std::to_string(buf.size() - at);
    header += '\0';
    if (header.size() > at) throw IoError("tree header does not fit");
    std::memcpy(buf.data() + at - header.size(), header.data(), header.size());
    std::string_view object = std::string_view(buf).substr(at - header.size());
    std::optional<std::uint64_t> base_offset = pack_ && base ? pack_->offset_of(*base) : std::nullopt;
    auto base_tree = base_offset ? trees_.find(*base) : trees_.end();
    Oid oid;
    if (base_tree != trees_.end()) {
      oid = sha1_of({object});
      std::string_view entries = std::string_view(buf).substr(at);
      std::string delta = make_delta(std::string_view(base_tree->second.buf).substr(base_tree->second.at), entries);
      if (pack_->has(oid)) {
      } else if (delta.size() < entries.size() / 2 && pack_->depth_at(*base_offset) < kMaxDeltaDepth) {
        pack_->add_delta(oid, *base_offset, delta, level_);
      } else {
        pack_->add(oid, ObjType::tree, entries, level_);
      }
    } else {
      oid = write_object(object);
    }
    trees_.try_emplace(oid, CachedTree{std::move(buf), at});
    return oid;
  }

  /// Deltas on deltas, at most: reading a tree applies each of them to a copy of
  /// it, and a whole one every so often costs one compression.
  static constexpr int kMaxDeltaDepth = 16;

  /// From here on, objects go into a pack built in memory (PackBuilder) rather than
  /// loose files, until finish_pack() writes it or discard_pack() drops it.
  ///
  /// A chain's objects are small next to the stage trees they change, and those are
  /// deltas when their last version is in the same pack. So the newest pack, when
  /// it is small, is carried over whole into the new one, which then replaces it:
  /// the first trees of the chain are deltas too, and the packs do not pile up.
  /// "Small" is at most four times its largest object (and 1 MiB at least): copying
  /// and hashing it again costs about what compressing that object whole would.
  void begin_pack() {
    pack_.reset();
    replaces_.reset();
    if (!packs_loaded_) load_packs();
    for (auto& pack : packs_) {
      if (pack->idx_path().parent_path() != dirs_.front() / "pack") continue;
      if (!pack->plain() || !pack->open()) break;  // the newest pack only, and only a plain one
      if (pack->pack_size() <= std::max<std::uint64_t>(1 << 20, 4 * pack->largest_entry())) {
        pack_.emplace(*pack);
        replaces_ = pack;  // kept alive even if a later miss reloads the pack list
      }
      break;
    }
    if (!pack_) pack_.emplace();
  }
  void discard_pack() {
    pack_.reset();
    replaces_.reset();
  }
  void finish_pack() {
    if (pack_ && pack_->changed()) {
      pack_->write(dirs_.front() / "pack");
      if (replaces_) {  // its objects are all in the new pack: the index first, as git does
        fs::path idx = replaces_->idx_path(), old = idx;
        old.replace_extension(".pack");
        ::unlink(idx.c_str());
        ::unlink(old.c_str());
      }
    }
    pack_.reset();
    replaces_.reset();
  }

  /// Stores "<type> <size>\0<data>" in the pack being built, unless it is there
  /// already; returns its name. Objects elsewhere are not looked for: a copy of an
  /// object that is also in another pack or loose is harmless (git's gc drops it).
  Oid write_object(std::string_view object) {
    if (!pack_) throw std::logic_error("an object written outside begin_pack() and finish_pack()");
    Oid oid = sha1_of({object});
    if (!pack_->has(oid)) {
      auto nul = object.find('\0');
      std::string_view type = object.substr(0, object.find(' '));
      pack_->add(oid,
                 type == "commit" ? ObjType::commit : type == "tree" ? ObjType::tree : type == "blob" ? ObjType::blob : ObjType::tag,
                 object.substr(nul + 1), level_);
    }
    return oid;
  }

private:
  std::optional<Object> read_loose(const Oid& oid) {
    std::string h = hex(oid);
    for (const auto& d : dirs_) {
      fs::path file = d / h.substr(0, 2) / h.substr(2);
      if (::access(file.c_str(), F_OK) != 0) continue;
      try {
        Mapping raw(file);  // mapped, not read: no copy, and page-cache pages come in 64 KiB at a time
        return inflate_loose(std::string_view(reinterpret_cast<const char*>(raw.data()), raw.size()), h);
      } catch (const IoError&) {
        if (::access(file.c_str(), F_OK) == 0) throw;  // corrupt, not just packed and pruned meanwhile
      }
    }
    return std::nullopt;
  }

  /// A loose object's "<type> <size>\0<data>": the header first, so that the data
  /// is inflated straight into a buffer of its exact size.
  static Object inflate_loose(std::string_view raw, const std::string& h) {
    z_stream z{};
    if (inflateInit(&z) != Z_OK) throw IoError("zlib: inflateInit failed");
    struct End {
      z_stream* z;
      ~End() { inflateEnd(z); }
    } end{&z};
    char head[64];
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(raw.data()));
    z.avail_in = static_cast<uInt>(raw.size());
    z.next_out = reinterpret_cast<Bytef*>(head);
    z.avail_out = sizeof head;
    int rc = inflate(&z, Z_SYNC_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) throw IoError("corrupt object " + h);
    std::string_view got(head, z.total_out);
    auto space = got.find(' ');
    auto nul = got.find('\0');
    if (space == std::string_view::npos || nul == std::string_view::npos || space > nul) throw IoError("corrupt object " + h);
    std::string_view type = got.substr(0, space);
    auto size = parse_int(got.substr(space + 1, nul - space - 1));
    // DEFLATE expands at most 1032:1: a larger size is a corrupt header.
    if (!size || *size < 0 || static_cast<std::uint64_t>(*size) > raw.size() * 1032ull + 64) throw IoError("corrupt object " + h);
    Object o;
    o.type = type == "commit" ? ObjType::commit : type == "tree" ? ObjType::tree : type == "blob" ? ObjType::blob
           : type == "tag"    ? ObjType::tag
                              : ObjType::none;
    // The whole stream again, with libdeflate (twice zlib's speed), into a buffer of
    // the size the header gave.
    static thread_local std::unique_ptr<libdeflate_decompressor, void (*)(libdeflate_decompressor*)> decompressor{
        nullptr, libdeflate_free_decompressor};
    if (!decompressor) decompressor.reset(libdeflate_alloc_decompressor());
    if (!decompressor) throw IoError("libdeflate: cannot allocate a decompressor");
    o.data.resize(nul + 1 + static_cast<std::size_t>(*size));
    std::size_t n = 0;
    if (libdeflate_zlib_decompress(decompressor.get(), raw.data(), raw.size(), o.data.data(), o.data.size(), &n) !=
            LIBDEFLATE_SUCCESS ||
        n != o.data.size())
      throw IoError("corrupt object " + h);
    o.data.erase(0, nul + 1);
    return o;
  }

  void load_packs() {
    packs_.clear();
    for (const auto& d : dirs_) {
      fs::path pack_dir = d / "pack";
      DIR* dir = ::opendir(pack_dir.c_str());
      if (!dir) continue;
      std::vector<std::pair<std::int64_t, std::string>> found;  // (mtime, .idx name)
      std::set<std::string> names;
      while (dirent* e = ::readdir(dir)) {
        std::string_view n = e->d_name;
        names.emplace(n);
        if (n.size() <= 4 || !n.ends_with(".idx")) continue;
        fs::path pack = pack_dir / n;
        pack.replace_extension(".pack");
        struct stat st {};
        if (::stat(pack.c_str(), &st) != 0) continue;  // a pack being written or removed
        found.emplace_back(std::int64_t{st.st_mtim.tv_sec} * 1'000'000'000 + st.st_mtim.tv_nsec, std::string(n));
      }
      ::closedir(dir);
      // Newest first: a commit's parent is most likely in the last pack written. A
      // pack's index is mapped only when it is searched.
      std::sort(found.begin(), found.end(), std::greater<>());
      for (const auto& [mtime, n] : found) {
        // A pack with a .keep, .promisor, .bitmap, .rev or .mtimes file is git's to
        // manage: never replaced by a tracker pack.
        std::string stem = n.substr(0, n.size() - 4);
        bool plain = true;
        for (const char* ext : {".keep", ".promisor", ".bitmap", ".rev", ".mtimes"})
          if (names.count(stem + ext)) plain = false;
        packs_.push_back(std::make_shared<Pack>(pack_dir / n, plain));
      }
    }
    packs_loaded_ = true;
  }

  std::vector<fs::path> dirs_;
  std::vector<std::shared_ptr<Pack>> packs_;
  bool packs_loaded_ = false;
  std::optional<PackBuilder> pack_;
  std::shared_ptr<Pack> replaces_;  ///< the pack pack_ started from (its bytes are in pack_)
  int level_;
  struct CachedTree {
    std::string buf;
    std::size_t at = 0;  // where the entries begin
  };
  std::unordered_map<Oid, CachedTree, OidHash> trees_;
};

// ---------------------------------------------------------------------------------
// Trees

/// One path of a commit: the blob to record, or a deletion.
struct Change {
  std::string path;
  bool deleted = false;
  Oid blob{};
  std::optional<std::string> data;  ///< the blob's bytes, until the chain's pack holds them
  bool executable = false;
  struct stat st {};
};

/// git's tree order: names compare bytewise, a directory as if it ended in '/'.
bool tree_less(std::string_view a, bool a_dir, std::string_view b, bool b_dir) {
  std::size_t n = std::min(a.size(), b.size());
  int c = std::memcmp(a.data(), b.data(), n);
  if (c != 0) return c < 0;
  unsigned char ca = a.size() > n ? static_cast<unsigned char>(a[n]) : a_dir ? '/' : 0;
  unsigned char cb = b.size() > n ? static_cast<unsigned char>(b[n]) : b_dir ? '/' : 0;
  return ca < cb;
}

enum class TreeResult { unchanged, empty, written };

/// Applies `changes` (paths relative to this tree) to the tree `base` (null when
/// there is none), like build_tree() in git.cpp. The raw entries are spliced: runs
/// of untouched entries are copied as they are, and a 6,000-entry stage tree costs
/// two passes over its bytes.
TreeResult edit_tree(ObjectStore& store, const Oid* base, const std::vector<std::pair<std::string, const Change*>>& changes,
                     Oid* out) {
  std::string_view data = base ? store.read_tree(*base) : std::string_view();
  std::map<std::string, std::vector<std::pair<std::string, const Change*>>> subdirs;
  std::vector<std::pair<std::string, const Change*>> leaves;
  for (const auto& [path, change] : changes) {
    auto slash = path.find('/');
    if (slash == std::string::npos) leaves.emplace_back(path, change);
    else subdirs[path.substr(0, slash)].emplace_back(path.substr(slash + 1), change);
  }
  struct Entry {
    std::string_view mode, name;
    Oid oid{};
    std::size_t end = 0;  // offset just past the entry
    bool is_dir() const { return mode == "40000"; }
  };
  auto entry_at = [&](std::size_t i) {
    auto space = data.find(' ', i);
    auto nul = space == std::string_view::npos ? space : data.find('\0', space);
    if (nul == std::string_view::npos || nul + 21 > data.size()) throw IoError("corrupt tree object");
    Entry e{data.substr(i, space - i), data.substr(space + 1, nul - space - 1), {}, nul + 21};
    std::memcpy(e.oid.data(), data.data() + nul + 1, 20);
    return e;
  };
  // The present entries of the names we change (first pass).
  std::map<std::string, Entry, std::less<>> present;
  for (const auto& [name, c] : leaves) present.emplace(name, Entry{});
  for (const auto& [name, sub] : subdirs) present.emplace(name, Entry{});
  for (std::size_t i = 0; i < data.size();) {
    Entry e = entry_at(i);
    if (auto it = present.find(e.name); it != present.end()) it->second = e;
    i = e.end;
  }
  auto found = [&](const std::string& name) -> const Entry* {
    const Entry& e = present.at(name);
    return e.end ? &e : nullptr;
  };

  struct Add {
    std::string name;
    bool dir = false;
    std::string bytes;  // "<mode> <name>\0<oid>"
  };
  std::vector<Add> adds;
  std::set<std::string, std::less<>> drops;  // names whose present entry goes
  auto add = [&](const std::string& name, std::string_view mode, const Oid& oid) {
    Add a{name, mode == "40000", std::string(mode)};
    a.bytes += ' ';
    a.bytes += name;
    a.bytes += '\0';
    a.bytes += as_view(oid);
    adds.push_back(std::move(a));
    drops.insert(name);
  };
  for (const auto& [name, c] : leaves) {
    const Entry* e = found(name);
    if (c->deleted) {
      if (e) drops.insert(name);
      continue;
    }
    std::string_view mode = c->executable ? "100755" : "100644";
    if (e && e->mode == mode && e->oid == c->blob) continue;
    add(name, mode, c->blob);
  }
  for (const auto& [name, sub] : subdirs) {
    const Entry* e = found(name);
    std::optional<Oid> sub_base;
    if (e && e->is_dir()) sub_base = e->oid;
    Oid sub_oid{};
    TreeResult r = edit_tree(store, sub_base ? &*sub_base : nullptr, sub, &sub_oid);
    if (r == TreeResult::unchanged) continue;
    if (r == TreeResult::written) add(name, "40000", sub_oid);
    else if (e) drops.insert(name);
  }
  if (drops.empty()) return TreeResult::unchanged;

  // Second pass: copy runs of untouched entries, leave out the dropped ones, and put
  // each new entry in git's order.
  std::sort(adds.begin(), adds.end(), [](const Add& x, const Add& y) { return tree_less(x.name, x.dir, y.name, y.dir); });
  constexpr std::size_t kHeaderRoom = 32;  // "tree <size>\0" goes in front (ObjectStore::write_tree)
  std::string tree(kHeaderRoom, '\0');
  std::size_t extra = 0;
  for (const auto& a : adds) extra += a.bytes.size();
  tree.reserve(kHeaderRoom + data.size() + extra);
  std::size_t run = 0, next_add = 0;
  for (std::size_t i = 0; i < data.size();) {
    Entry e = entry_at(i);
    bool dir = e.is_dir();
    while (next_add < adds.size() && tree_less(adds[next_add].name, adds[next_add].dir, e.name, dir)) {
      tree.append(data.substr(run, i - run));
      tree += adds[next_add++].bytes;
      run = i;
    }
    if (drops.count(e.name)) {
      tree.append(data.substr(run, i - run));
      run = e.end;
    }
    i = e.end;
  }
  tree.append(data.substr(run));
  for (; next_add < adds.size(); ++next_add) tree += adds[next_add].bytes;
  if (tree.size() == kHeaderRoom) return TreeResult::empty;
  *out = store.write_tree(std::move(tree), kHeaderRoom, base);
  return TreeResult::written;
}

// ---------------------------------------------------------------------------------
// Identity, as GitRepo's make_signature() and libgit2's git_signature_new() make it.

struct Signature {
  std::string name, email;
  std::int64_t when = 0;
  int offset_minutes = 0;

  std::string format() const {
    int m = std::min(offset_minutes < 0 ? -offset_minutes : offset_minutes, 99 * 60 + 59);
    char zone[16];
    std::snprintf(zone, sizeof zone, "%c%02d%02d", offset_minutes < 0 ? '-' : '+', m / 60, m % 60);
    return name + " <" + email + "> " + std::to_string(when) + " " + zone;
  }
};

std::string trim_git_space(std::string_view s) {
  auto space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'; };
  while (!s.empty() && space(s.front())) s.remove_prefix(1);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  return std::string(s);
}

Signature make_signature(const GitConfig& config, const std::string& role) {
  auto env = [](const std::string& name) -> std::string {
    const char* v = std::getenv(name.c_str());
    return v ? v : "";
  };
  std::string name = env("GIT_" + role + "_NAME");
  if (name.empty()) name = config.get("user.name");
  std::string email = env("GIT_" + role + "_EMAIL");
  if (email.empty()) email = config.get("user.email");
  if (email.empty()) email = env("EMAIL");
  if (name.empty() || email.empty())
    throw IoError("cannot commit: no git identity; run 'git config user.name \"Your Name\"' and "
                  "'git config user.email you@example.com' (or set GIT_AUTHOR_NAME/GIT_AUTHOR_EMAIL), or pass --no-commit");
  auto angle = [](const std::string& s) { return s.find_first_of("<>") != std::string::npos; };
  if (angle(name) || angle(email)) throw IoError("signature: Neither `name` nor `email` should contain angle brackets chars.");
  Signature sig;
  sig.name = trim_git_space(name);
  sig.email = trim_git_space(email);
  if (sig.name.empty() || sig.email.empty()) throw IoError("signature: Signature cannot have an empty name or email");
  std::string date = env("GIT_" + role + "_DATE");
  if (date.empty()) {
    std::time_t now = std::time(nullptr);
    std::tm tm{};
    localtime_r(&now, &tm);
    sig.when = now;
    sig.offset_minutes = static_cast<int>(tm.tm_gmtoff / 60);
  } else {
    std::int64_t when = 0;
    if (!parse_git_date(date, &when, &sig.offset_minutes))
      throw UsageError("cannot parse GIT_" + role + "_DATE '" + date + "'");
    sig.when = when;
  }
  return sig;
}

// ---------------------------------------------------------------------------------
// Refs


/// HEAD: the branch it names (ref_name, with `file` under the common dir) or, when
/// detached, HEAD itself in the worktree's git dir.
struct HeadRef {
  std::string ref_name;  ///< "refs/heads/main", or "HEAD" when detached
  fs::path file;
  fs::path log;  ///< its reflog
  bool symbolic = true;
};

HeadRef resolve_head(const GitDirs& dirs) {
  auto text = read_file_if_exists(dirs.git_dir / "HEAD");
  if (!text) throw IoError("cannot read " + (dirs.git_dir / "HEAD").string());
  std::string_view t = trim(*text);
  if (t.starts_with("ref:")) {
    std::string name(trim(t.substr(4)));
    if (!name.starts_with("refs/") || name.find("..") != std::string::npos) throw Unsupported{"HEAD points to " + name};
    // Per-worktree refs live in the worktree's git dir.
    const fs::path& base = name.starts_with("refs/worktree/") || name.starts_with("refs/bisect/") ? dirs.git_dir : dirs.common_dir;
    return {name, base / name, base / "logs" / name, true};
  }
  if (!parse_hex(t)) throw IoError("cannot read HEAD: " + std::string(t.substr(0, 60)));
  return {"HEAD", dirs.git_dir / "HEAD", dirs.git_dir / "logs" / "HEAD", false};
}

/// The value of a ref: its loose file, else its packed-refs line; nullopt when it
/// does not exist (an unborn branch).
std::optional<Oid> read_ref(const GitDirs& dirs, const HeadRef& ref) {
  if (auto text = read_file_if_exists(ref.file)) {
    std::string_view t = trim(*text);
    if (t.starts_with("ref:")) throw Unsupported{ref.ref_name + " is a symbolic ref"};
    auto oid = parse_hex(t);
    if (!oid) throw IoError("cannot read " + ref.ref_name + ": " + std::string(t.substr(0, 60)));
    return oid;
  }
  if (!ref.symbolic) return std::nullopt;
  auto packed = read_file_if_exists(dirs.common_dir / "packed-refs");
  if (!packed) return std::nullopt;
  for (const auto& line : split(*packed, '\n')) {
    if (line.size() < 42 || line[0] == '#' || line[0] == '^') continue;
    if (std::string_view(line).substr(41) == ref.ref_name) return parse_hex(line);
  }
  return std::nullopt;
}

void append_file(const fs::path& file, const std::string& text) {
  std::error_code ec;
  fs::create_directories(file.parent_path(), ec);
  Fd fd(::open(file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0666));
  if (!fd) throw_errno("cannot write " + file.string());
  write_all(fd.get(), text, file.string());
}


/// A git lock file ("<file>.lock", created exclusively); removed unless committed.
class GitLockFile {
public:
  /// nullopt-like: `held()` is false when someone else holds it.
  explicit GitLockFile(fs::path target) : target_(std::move(target)), lock_(target_.string() + ".lock") {
    std::error_code ec;
    fs::create_directories(lock_.parent_path(), ec);
    fd_ = Fd(::open(lock_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666));
    if (!fd_ && errno != EEXIST) throw_errno("cannot create " + lock_.string());
  }
  GitLockFile(const GitLockFile&) = delete;
  GitLockFile& operator=(const GitLockFile&) = delete;
  ~GitLockFile() {
    if (fd_ && !committed_) ::unlink(lock_.c_str());
  }
  bool held() const { return static_cast<bool>(fd_); }
  void write(std::string_view data) { write_all(fd_.get(), data, lock_.string()); }
  void commit() {
    if (::close(fd_.release()) != 0) throw_errno("cannot write " + lock_.string());
    if (::rename(lock_.c_str(), target_.c_str()) != 0) {
      int saved = errno;
      ::unlink(lock_.c_str());
      errno = saved;
      throw_errno("cannot rename " + lock_.string());
    }
    committed_ = true;
  }

private:
  fs::path target_, lock_;
  Fd fd_;
  bool committed_ = false;
};

// ---------------------------------------------------------------------------------
// The git index

/// Writes what it is given to a lock file in 64 KiB pieces, hashing it on the way:
/// the git index is streamed out without a copy of it in memory.
class HashedWriter {
public:
  explicit HashedWriter(GitLockFile& out) : out_(out) {
    sha1_init(&ctx_);
    buf_.reserve(kChunk);
  }
  void put(std::string_view data) {
    sha1_update(&ctx_, data.size(), reinterpret_cast<const std::uint8_t*>(data.data()));
    if (buf_.size() + data.size() > kChunk) flush();
    if (data.size() >= kChunk) out_.write(data);
    else buf_ += data;
  }
  /// Appends the SHA-1 of everything put, and writes out the rest.
  void finish() {
    Oid sum;
    sha1_digest(&ctx_, SHA1_DIGEST_SIZE, sum.data());
    buf_ += as_view(sum);
    flush();
  }

private:
  static constexpr std::size_t kChunk = 64 * 1024;
  void flush() {
    if (!buf_.empty()) out_.write(buf_);
    buf_.clear();
  }
  GitLockFile& out_;
  sha1_ctx ctx_;
  std::string buf_;
};

/// The cache tree (TREE extension data) with every directory above a changed path
/// marked invalid.
std::string invalidate_cache_tree(std::string_view data, const std::vector<std::string_view>& changed_paths) {
  std::string tree;
  std::size_t i = 0;
  std::function<void(const std::string&)> node = [&](const std::string& prefix) {
    std::size_t nul = data.find('\0', i);
    if (nul == std::string_view::npos) throw IoError("the git index is corrupt (TREE)");
    std::string name(data.substr(i, nul - i));
    std::size_t nl = data.find('\n', nul);
    if (nl == std::string_view::npos) throw IoError("the git index is corrupt (TREE)");
    std::string counts(data.substr(nul + 1, nl - nul - 1));
    auto space = counts.find(' ');
    auto entry_count = parse_int(counts.substr(0, space));
    auto subtrees = space == std::string::npos ? std::nullopt : parse_int(counts.substr(space + 1));
    if (!entry_count || !subtrees || *subtrees < 0) throw IoError("the git index is corrupt (TREE)");
    i = nl + 1;
    std::string path = prefix.empty() && name.empty() ? "" : prefix + name + "/";
    bool invalid = *entry_count < 0 ||
                   std::any_of(changed_paths.begin(), changed_paths.end(), [&](std::string_view p) { return p.starts_with(path); });
    tree += name;
    tree += '\0';
    tree += (invalid ? "-1" : std::to_string(*entry_count)) + " " + std::to_string(*subtrees) + "\n";
    if (*entry_count >= 0) {
      if (i + 20 > data.size()) throw IoError("the git index is corrupt (TREE)");
      if (!invalid) tree += data.substr(i, 20);
      i += 20;
    }
    for (std::int64_t k = 0; k < *subtrees; ++k) node(path);
  };
  if (!data.empty()) node("");
  return tree;
}

/// The bytes of a stage-0 index entry for a changed file.
std::string index_entry(const Change& c) {
  std::string e;
  auto put32 = [&](auto v) { put_be32(e, static_cast<std::uint32_t>(v)); };
  put32(c.st.st_ctim.tv_sec);
  put32(c.st.st_ctim.tv_nsec);
  put32(c.st.st_mtim.tv_sec);
  put32(c.st.st_mtim.tv_nsec);
  put32(c.st.st_dev);
  put32(c.st.st_ino);
  put32(c.executable ? 0100755 : 0100644);
  put32(c.st.st_uid);
  put32(c.st.st_gid);
  put32(c.st.st_size);
  e += as_view(c.blob);
  std::size_t len = std::min<std::size_t>(c.path.size(), 0xfff);
  e += static_cast<char>(len >> 8);
  e += static_cast<char>(len & 0xff);
  e += c.path;
  e.append(8 - (e.size() % 8), '\0');  // at least one NUL
  return e;
}

/// Applies `changes` (one per path) to the git index `old`, writing the result to
/// `out`: their entries are replaced (conflict stages too) by stage-0 entries with
/// the files' stat data, or removed for deletions; the cache-tree (TREE) entries
/// above them are invalidated, REUC is kept, and other optional extensions (caches
/// git rebuilds) are dropped. Runs of untouched entries go out as they are.
void splice_index(std::string_view old, const std::vector<Change>& changes, HashedWriter& out) {
  std::uint32_t version = 2, count = 0;
  std::size_t entries_end = 12;
  const auto* d = reinterpret_cast<const unsigned char*>(old.data());
  std::vector<std::string_view> changed_paths;
  for (const auto& c : changes) changed_paths.push_back(c.path);
  std::sort(changed_paths.begin(), changed_paths.end());
  auto changed = [&](std::string_view path) { return std::binary_search(changed_paths.begin(), changed_paths.end(), path); };
  // The entry at `i`: its path and where the next one starts.
  std::string_view body;
  auto entry_at = [&](std::size_t i) -> std::pair<std::string_view, std::size_t> {
    if (i + 62 > body.size()) throw IoError("the git index is corrupt (truncated entry)");
    std::uint16_t flags = static_cast<std::uint16_t>((d[i + 60] << 8) | d[i + 61]);
    if (flags & 0x4000 && version < 3) throw IoError("the git index is corrupt (extended flags in version 2)");
    std::size_t path_at = i + 62 + ((flags & 0x4000) ? 2 : 0);
    std::size_t nul = body.find('\0', path_at);
    if (nul == std::string_view::npos) throw IoError("the git index is corrupt (unterminated path)");
    std::size_t end = i + ((nul - i + 8) & ~std::size_t{7});
    if (end > body.size()) throw IoError("the git index is corrupt (truncated entry)");
    return {body.substr(path_at, nul - path_at), end};
  };
  // First pass: the version, how many entries stay, where the extensions begin.
  std::uint32_t removed = 0;
  if (!old.empty()) {
    if (old.size() < 12 + 20 || std::memcmp(d, "DIRC", 4) != 0) throw IoError("the git index is corrupt (no DIRC header)");
    version = be32(d + 4);
    if (version != 2 && version != 3) throw Unsupported{"git index version " + std::to_string(version)};
    // Like git, which checks the trailing checksum only in `git fsck`.
    body = old.substr(0, old.size() - 20);
    count = be32(d + 8);
    for (std::uint32_t n = 0; n < count; ++n) {
      auto [path, end] = entry_at(entries_end);
      removed += changed(path);
      entries_end = end;
    }
  }
  std::vector<std::string_view> extensions;  // whole extensions kept (TREE, REUC)
  for (std::size_t i = entries_end; i < body.size();) {
    if (i + 8 > body.size()) throw IoError("the git index is corrupt (truncated extension)");
    std::string_view sig = body.substr(i, 4);
    std::size_t len = be32(d + i + 4);
    if (i + 8 + len > body.size()) throw IoError("the git index is corrupt (truncated extension)");
    if (sig[0] < 'A' || sig[0] > 'Z') throw Unsupported{"git index extension '" + std::string(sig) + "'"};
    if (sig == "TREE" || sig == "REUC") extensions.push_back(body.substr(i, 8 + len));
    i += 8 + len;
  }

  std::vector<std::pair<std::string_view, std::string>> fresh;  // path, entry bytes: sorted
  for (const auto& c : changes)
    if (!c.deleted) fresh.emplace_back(c.path, index_entry(c));
  std::sort(fresh.begin(), fresh.end(), [](const auto& x, const auto& y) { return x.first < y.first; });

  std::string header = "DIRC";
  put_be32(header, version);
  put_be32(header, static_cast<std::uint32_t>(count - removed + fresh.size()));
  out.put(header);
  // Second pass: merge, copying runs of untouched entries whole.
  std::size_t run = 12, next = 0;
  for (std::size_t i = 12; i < entries_end;) {
    auto [path, end] = entry_at(i);
    while (next < fresh.size() && fresh[next].first < path) {
      out.put(body.substr(run, i - run));
      out.put(fresh[next++].second);
      run = i;
    }
    if (changed(path)) {
      out.put(body.substr(run, i - run));
      run = end;
    }
    i = end;
  }
  if (entries_end > run) out.put(body.substr(run, entries_end - run));
  for (; next < fresh.size(); ++next) out.put(fresh[next].second);
  for (std::string_view ext : extensions) {
    if (ext.substr(0, 4) != "TREE") {
      out.put(ext);
      continue;
    }
    std::string tree = invalidate_cache_tree(ext.substr(8), changed_paths);
    std::string head = "TREE";
    put_be32(head, static_cast<std::uint32_t>(tree.size()));
    out.put(head);
    out.put(tree);
  }
  out.finish();
}

/// `commit_turn` (the branch's turn, held since the ref moved) is let go once the git
/// index's turn is ours: commits reach the git index in the order they were made,
/// while the next commit is already being built.
void update_index(const GitDirs& dirs, const std::vector<Change>& changes, const std::string& sha,
                  std::optional<ProcessLock>& commit_turn) {
  // Our own writers take turns on a flock; git itself is kept out by index.lock.
  ProcessLock turn(dirs.git_dir / "tracker" / "git-index.lock", std::chrono::seconds(30), "the git index");
  commit_turn.reset();
  fs::path index_file = dirs.git_dir / "index";
  for (int attempt = 1;; ++attempt) {
    GitLockFile lock(index_file);
    if (!lock.held()) {
      if (attempt < 200) {
        backoff_sleep(attempt);
        continue;
      }
      throw ConflictError("committed " + sha.substr(0, 12) +
                          ", but the git index stays locked (index.lock); run 'git status' to check it");
    }
    HashedWriter out(lock);
    struct stat st {};
    if (::stat(index_file.c_str(), &st) == 0) {
      Mapping old(index_file);  // mapped, not read: the kernel maps page-cache pages in 64 KiB at a time
      splice_index(std::string_view(reinterpret_cast<const char*>(old.data()), old.size()), changes, out);
    } else {
      splice_index({}, changes, out);
    }
    lock.commit();
    return;
  }
}

/// Reads a file for a commit: its stat data (taken before reading) and its blob,
/// named but not yet written (the commit's pack will hold it).
Change read_change(const fs::path& work_tree, const std::string& path) {
  Change c;
  c.path = path;
  std::optional<FileSnapshot> file;
  try {
    file = read_snapshot(work_tree / path, path);
  } catch (const IoError&) {
    struct stat st {};
    if (::lstat((work_tree / path).c_str(), &st) == 0 && S_ISLNK(st.st_mode)) throw Unsupported{path + " is a symbolic link"};
    throw;
  }
  if (!file) {
    c.deleted = true;
    return c;
  }
  c.st = file->st;
  if (!S_ISREG(c.st.st_mode)) throw Unsupported{path + " is not a regular file"};
  c.executable = (c.st.st_mode & S_IXUSR) != 0;
  std::string header = "blob " + std::to_string(file->data.size());
  header += '\0';
  c.blob = sha1_of({header, file->data});
  c.data = std::move(file->data);
  return c;
}

int pack_compression(const GitConfig& config) {
  // git's keys: pack.compression, else core.compression. Unset, best speed (git's
  // default for packs is zlib's 6, at three times the cost; any level reads alike).
  for (const char* key : {"pack.compression", "core.compression"}) {
    if (auto v = parse_int(config.get(key, "x")); v && *v >= -1 && *v <= 9) return static_cast<int>(*v);
  }
  return Z_BEST_SPEED;
}

/// The config, after checking that this writer handles the repository (Unsupported
/// otherwise): its format, and the version in the git index header.
GitConfig supported_config(const GitDirs& dirs) {
  if (const char* forced = std::getenv("TRACKER_LIBGIT2"); forced && *forced && std::string_view(forced) != "0")
    throw Unsupported{"TRACKER_LIBGIT2 is set"};
  GitConfig config = load_config(dirs);
  check_format(config);
  Fd fd(::open((dirs.git_dir / "index").c_str(), O_RDONLY | O_CLOEXEC));
  unsigned char header[8];
  if (fd && ::read(fd.get(), header, 8) == 8 && std::memcmp(header, "DIRC", 4) == 0) {
    std::uint32_t version = be32(header + 4);
    if (version != 2 && version != 3) throw Unsupported{"git index version " + std::to_string(version)};
  }
  return config;
}

}  // namespace

std::string native_commit_unsupported(const GitDirs& dirs) {
  try {
    supported_config(dirs);
    return "";
  } catch (const Unsupported& u) {
    return u.why;
  }
}

namespace {

// ---------------------------------------------------------------------------------
// Group commit. A process that is about to commit first queues its commit (author,
// committer, message and the changed paths' blobs and stat data) as a file in
// <git-dir>/tracker/commit-queue, then waits for the branch's turn. Whoever holds
// the turn commits every queued commit of its worktree as a chain, one commit each,
// moves the branch once and updates the git index once. A process that finds its
// own request gone when its turn comes reads the commit made for it, and waits for
// the git index's turn, so that it returns only after its paths are in the git
// index too. The answer is appended to the request ("\nanswer <sha>\n"), which is
// then renamed to `.sha`: no file is made or removed for it.

struct Queued {
  fs::path file;  ///< <queue>/<stamp>-<pid>-<random>.req
  std::string author, committer, subject, message;
  std::vector<Change> changes;
};

std::string serialize(const Queued& q) {
  std::string out = "tracker-commit 2\n";
  out += "author " + q.author + "\ncommitter " + q.committer + "\nsubject " + q.subject + "\n";
  for (const auto& c : q.changes) {
    char line[512];
    std::snprintf(line, sizeof line, "change %d %d %s %lld %lld %lld %lld %llu %llu %u %u %lld %zu ", c.deleted ? 1 : 0,
                  c.executable ? 1 : 0, hex(c.blob).c_str(), static_cast<long long>(c.st.st_ctim.tv_sec),
                  static_cast<long long>(c.st.st_ctim.tv_nsec), static_cast<long long>(c.st.st_mtim.tv_sec),
                  static_cast<long long>(c.st.st_mtim.tv_nsec), static_cast<unsigned long long>(c.st.st_dev),
                  static_cast<unsigned long long>(c.st.st_ino), static_cast<unsigned>(c.st.st_uid),
                  static_cast<unsigned>(c.st.st_gid), static_cast<long long>(c.st.st_size), c.path.size());
    out += line;
    out += c.path;
    out += '\n';
    if (c.data) out += "data " + std::to_string(c.data->size()) + "\n" + *c.data + "\n";
  }
  out += "message " + std::to_string(q.message.size()) + "\n" + q.message;
  return out;
}

/// The request in `text`, or nullopt when it is not one.
std::optional<Queued> parse_queued(const fs::path& file, std::string_view text) {
  Queued q;
  q.file = file;
  auto take_line = [&](std::string_view prefix) -> std::optional<std::string_view> {
    auto nl = text.find('\n');
    if (nl == std::string_view::npos || !text.starts_with(prefix)) return std::nullopt;
    std::string_view value = text.substr(prefix.size(), nl - prefix.size());
    text.remove_prefix(nl + 1);
    return value;
  };
  // Version 1 (an older tracker's) named blobs it had written loose; version 2
  // carries each blob's bytes ("data <length>" after its change line).
  bool v1 = text.starts_with("tracker-commit 1\n");
  if (!take_line(v1 ? "tracker-commit 1" : "tracker-commit 2")) return std::nullopt;
  auto author = take_line("author "), committer = take_line("committer "), subject = take_line("subject ");
  if (!author || !committer || !subject) return std::nullopt;
  q.author = *author;
  q.committer = *committer;
  q.subject = *subject;
  while (text.starts_with("change ")) {
    Change c;
    int deleted = 0, executable = 0, used = 0;
    char blob[41] = {};
    long long ctime_s = 0, ctime_ns = 0, mtime_s = 0, mtime_ns = 0, size = 0;
    unsigned long long dev = 0, ino = 0;
    unsigned uid = 0, gid = 0;
    std::size_t path_len = 0;
    std::string head(text.substr(0, std::min<std::size_t>(text.size(), 400)));
    if (std::sscanf(head.c_str(), "change %d %d %40s %lld %lld %lld %lld %llu %llu %u %u %lld %zu %n", &deleted, &executable,
                    blob, &ctime_s, &ctime_ns, &mtime_s, &mtime_ns, &dev, &ino, &uid, &gid, &size, &path_len, &used) != 13 ||
        used == 0 || text.size() < static_cast<std::size_t>(used) + path_len + 1 || text[used + path_len] != '\n')
      return std::nullopt;
    auto oid = parse_hex(blob);
    if (!oid) return std::nullopt;
    c.deleted = deleted != 0;
    c.executable = executable != 0;
    c.blob = *oid;
    c.st.st_ctim.tv_sec = static_cast<time_t>(ctime_s);
    c.st.st_ctim.tv_nsec = static_cast<long>(ctime_ns);
    c.st.st_mtim.tv_sec = static_cast<time_t>(mtime_s);
    c.st.st_mtim.tv_nsec = static_cast<long>(mtime_ns);
    c.st.st_dev = static_cast<dev_t>(dev);
    c.st.st_ino = static_cast<ino_t>(ino);
    c.st.st_uid = uid;
    c.st.st_gid = gid;
    c.st.st_size = static_cast<off_t>(size);
    c.path = std::string(text.substr(static_cast<std::size_t>(used), path_len));
    text.remove_prefix(static_cast<std::size_t>(used) + path_len + 1);
    if (!v1 && text.starts_with("data ")) {
      auto length = take_line("data ");
      auto n = length ? parse_int(*length) : std::nullopt;
      if (!n || *n < 0 || text.size() < static_cast<std::size_t>(*n) + 1 || text[static_cast<std::size_t>(*n)] != '\n')
        return std::nullopt;
      c.data = std::string(text.substr(0, static_cast<std::size_t>(*n)));
      text.remove_prefix(static_cast<std::size_t>(*n) + 1);
    }
    q.changes.push_back(std::move(c));
  }
  auto length = take_line("message ");
  if (!length) return std::nullopt;
  auto n = parse_int(*length);
  if (!n || static_cast<std::size_t>(*n) != text.size()) return std::nullopt;
  q.message = std::string(text);
  return q;
}

fs::path done_file(const fs::path& request) {
  fs::path done = request;
  done.replace_extension(".sha");
  return done;
}

constexpr std::string_view kAnswer = "\nanswer ";

/// The commit an answered request names ("" when it changed nothing), or nullopt
/// when `text` holds no answer.
std::optional<std::string> answer_in(std::string_view text) {
  auto at = text.rfind(kAnswer);
  if (at == std::string_view::npos) return std::nullopt;
  std::string_view sha = trim(text.substr(at + kAnswer.size()));
  if (!sha.empty() && !parse_hex(sha)) return std::nullopt;
  return std::string(sha);
}

/// Answers a request with its commit: appended to it, then renamed to `.sha`. A
/// request its owner withdrew meanwhile (it gave up waiting) is left alone.
void answer(const fs::path& request, const std::string& sha) {
  Fd fd(::open(request.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT) return;
    throw_errno("cannot answer " + request.string());
  }
  write_all(fd.get(), std::string(kAnswer) + sha + "\n", request.string());
  if (::rename(request.c_str(), done_file(request).c_str()) != 0 && errno != ENOENT)
    throw_errno("cannot answer " + request.string());
}

/// Queues `q` (as a file that appears whole) and returns its path.
fs::path enqueue(const fs::path& queue, Queued& q) {
  std::error_code ec;
  fs::create_directories(queue, ec);
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);  // one clock for every process: names sort in queueing order
  char name[96];
  std::snprintf(name, sizeof name, "%020lld-%d-%016llx.req",
                static_cast<long long>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec, static_cast<int>(::getpid()),
                static_cast<unsigned long long>(random_u64()));
  q.file = queue / name;
  write_file_atomic(q.file, serialize(q), false);
  return q.file;
}

/// Every request queued in this worktree, oldest first. Requests of processes that
/// died are dropped, not committed: their owner can no longer vouch for the files.
/// Answers nobody collected for an hour are removed.
std::vector<Queued> load_queue(const fs::path& queue) {
  std::vector<std::string> names;
  if (DIR* dir = ::opendir(queue.c_str())) {
    while (dirent* e = ::readdir(dir)) names.emplace_back(e->d_name);
    ::closedir(dir);
  }
  std::sort(names.begin(), names.end());
  std::vector<Queued> out;
  auto now = std::chrono::system_clock::now();
  for (const auto& name : names) {
    fs::path file = queue / name;
    if (name.ends_with(".sha")) {
      struct stat st {};
      if (::stat(file.c_str(), &st) == 0 && now - std::chrono::system_clock::from_time_t(st.st_mtime) > std::chrono::hours(1))
        ::unlink(file.c_str());
      continue;
    }
    if (!name.ends_with(".req")) continue;
    auto first_dash = name.find('-');
    auto pid = first_dash == std::string::npos ? std::nullopt : parse_int(name.substr(first_dash + 1, name.find('-', first_dash + 1) - first_dash - 1));
    if (!pid || (::kill(static_cast<pid_t>(*pid), 0) != 0 && errno == ESRCH)) {
      ::unlink(file.c_str());
      continue;
    }
    auto text = read_file_if_exists(file);
    if (!text) continue;
    auto q = parse_queued(file, *text);
    if (!q && answer_in(*text)) {  // answered by a leader that died before renaming it
      ::rename(file.c_str(), done_file(file).c_str());
      continue;
    }
    if (!q) {
      ::rename(file.c_str(), (file.string() + ".bad").c_str());  // kept for a post-mortem, never retried
      continue;
    }
    out.push_back(std::move(*q));
  }
  return out;
}

/// The branch's turn is ours: commits `batch` as a chain on HEAD and moves the
/// branch once (compare-and-swap, redone on a moved HEAD). Returns each request's
/// commit ("" when it changed nothing).
std::vector<std::string> commit_chain(const GitDirs& dirs, ObjectStore& store, bool log_updates,
                                      const std::vector<Queued>& batch, int* attempts) {
  constexpr int kMaxAttempts = 200;
  for (*attempts = 1;; ++*attempts) {
    if (*attempts > kMaxAttempts)
      throw ConflictError("HEAD kept moving under us after " + std::to_string(kMaxAttempts) + " attempts; try again");
    HeadRef head = resolve_head(dirs);
    const std::optional<Oid> parent = read_ref(dirs, head);
    std::optional<Oid> tip = parent, tip_tree;
    if (parent) {
      Object commit = store.read_typed(*parent, ObjType::commit);
      if (!commit.data.starts_with("tree ")) throw IoError("corrupt commit " + hex(*parent));
      tip_tree = parse_hex(std::string_view(commit.data).substr(5));
      if (!tip_tree) throw IoError("corrupt commit " + hex(*parent));
    }
    trace("native commit: head read");
    store.begin_pack();  // the chain's trees and commits: one pack, not a loose file each
    std::vector<std::string> shas;
    std::string reflog;
    for (const auto& q : batch) {
      std::vector<std::pair<std::string, const Change*>> edits;
      for (const auto& c : q.changes) {
        edits.emplace_back(c.path, &c);
        if (c.data && store.write(ObjType::blob, *c.data) != c.blob) throw IoError("the blob of " + c.path + " does not match its name");
      }
      Oid tree{};
      TreeResult built = edit_tree(store, tip_tree ? &*tip_tree : nullptr, edits, &tree);
      if (built == TreeResult::unchanged && tip_tree) {  // nothing to commit
        shas.emplace_back();
        continue;
      }
      if (built != TreeResult::written) tree = store.write(ObjType::tree, "");
      std::string body = "tree " + hex(tree) + "\n";
      if (tip) body += "parent " + hex(*tip) + "\n";
      body += "author " + q.author + "\ncommitter " + q.committer + "\n\n" + q.message;
      Oid commit = store.write(ObjType::commit, body);
      // The reflog, as libgit2 writes it: one line per commit.
      reflog += (tip ? hex(*tip) : std::string(40, '0')) + " " + hex(commit) + " " + q.committer + "\tcommit: " + q.subject + "\n";
      tip = commit;
      tip_tree = tree;
      shas.push_back(hex(commit));
    }
    trace("native commit: trees written");
    if (tip == parent) {  // nothing changed at all
      store.discard_pack();
      return shas;
    }

    GitLockFile lock(head.file);
    if (!lock.held() || read_ref(dirs, head) != parent) {  // lost the race: redo on top of the new HEAD
      store.discard_pack();
      backoff_sleep(*attempts);
      continue;
    }
    store.finish_pack();  // the objects are in place before the branch names them
    trace("native commit: pack written");
    lock.write(hex(*tip) + "\n");
    // The ref's reflog, and HEAD's when HEAD names it.
    struct stat st {};
    if (log_updates || ::stat(head.log.c_str(), &st) == 0) append_file(head.log, reflog);
    fs::path head_log = dirs.git_dir / "logs" / "HEAD";
    if (head.symbolic && (log_updates || ::stat(head_log.c_str(), &st) == 0)) append_file(head_log, reflog);
    lock.commit();
    return shas;
  }
}

}  // namespace

std::optional<CommitResult> native_commit_paths(const GitDirs& dirs, const CommitRequest& request) {
  try {
    GitConfig config = supported_config(dirs);
    ObjectStore store(dirs.common_dir / "objects", pack_compression(config));
    Queued mine;
    for (const auto& path : request.paths) mine.changes.push_back(read_change(dirs.work_tree, path));
    mine.author = make_signature(config, "AUTHOR").format();
    mine.committer = make_signature(config, "COMMITTER").format();
    mine.subject = request.subject.substr(0, request.subject.find('\n'));  // the reflog's one line, as git writes it
    mine.message = format_commit_message(request);
    bool log_updates = config.boolean("core.logallrefupdates").value_or(!config.boolean("core.bare").value_or(false));
    trace("native commit: files read");

    const fs::path queue = dirs.git_dir / "tracker" / "commit-queue";
    const fs::path request_file = enqueue(queue, mine);
    const fs::path answer_file = done_file(request_file);
    // Until it is committed, a failure takes our request back out of the queue.
    struct Withdraw {
      fs::path file;
      bool active = true;
      ~Withdraw() {
        if (active) ::unlink(file.c_str());
      }
    } withdraw{request_file};

    CommitResult result;
    // Tracker processes take turns (see GitRepo::commit_paths); the ref's lock file
    // and the compare-and-swap keep git itself out.
    std::optional<ProcessLock> turn;
    turn.emplace(dirs.common_dir / "tracker" / "commit.lock", std::chrono::seconds(60), "the branch");
    struct stat st {};
    if (::stat(request_file.c_str(), &st) != 0) {
      // The previous holder committed it for us. Its git index update is over once
      // we have had the git index's turn.
      withdraw.active = false;
      turn.reset();
      { ProcessLock index_turn(dirs.git_dir / "tracker" / "git-index.lock", std::chrono::seconds(30), "the git index"); }
      auto text = read_file_if_exists(answer_file);
      ::unlink(answer_file.c_str());
      std::optional<std::string> sha = text ? answer_in(*text) : std::nullopt;
      if (!sha) throw IoError("the commit queued as " + request_file.string() + " was neither made nor refused");
      result.sha = *sha;
      trace("commit: committed by another process");
      return result;
    }

    std::vector<Queued> batch = load_queue(queue);
    auto ours = std::find_if(batch.begin(), batch.end(), [&](const Queued& q) { return q.file == request_file; });
    if (ours == batch.end()) throw IoError("the commit queued as " + request_file.string() + " is unreadable");
    std::vector<std::string> shas = commit_chain(dirs, store, log_updates, batch, &result.attempts);
    trace("commit: ref updated");
    // Answer the others, then let their requests go.
    std::map<std::string, Change> last;  // each path's last change in the chain
    for (std::size_t i = 0; i < batch.size(); ++i) {
      if (batch[i].file == request_file) {
        result.sha = shas[i];
        ::unlink(batch[i].file.c_str());
      } else {
        answer(batch[i].file, shas[i]);
      }
      for (const auto& c : batch[i].changes) last[c.path] = c;
    }
    withdraw.active = false;
    std::vector<Change> changes;
    for (auto& [path, c] : last) changes.push_back(std::move(c));
    update_index(dirs, changes, result.sha, turn);
    trace("commit: git index written");
    return result;
  } catch (const Unsupported&) {
    return std::nullopt;
  }
}

}  // namespace tracker
