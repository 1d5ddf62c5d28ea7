#include <tracker/claims.hpp>
#include <tracker/error.hpp>
#include "fs_internal.hpp"
#include <tracker/util.hpp>

#include "limits.hpp"

#include <fcntl.h>
#include <unistd.h>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <memory>

namespace tracker {

namespace {

std::string hex_nonce() {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(random_u64()));
  return buf;
}

/// A unique temp file ".<stem>.<pid>.<hex>.tmp" in `dir` holding `text`, fsynced,
/// held by this process (flock) until it goes, and removed then: one a killed
/// claimer leaves is swept by the next command.
std::unique_ptr<OwnedFile> write_temp(const fs::path& dir, const std::string& stem, const std::string& text) {
  auto temp = std::make_unique<OwnedFile>(dir / (unique_name("." + stem) + ".tmp"), text);
  temp->sync();
  return temp;
}

}  // namespace

std::string format_claim(const Claim& c) {
  std::string out = "id: " + std::to_string(c.id) + "\nowner: " + c.owner + "\nhost: " + c.host +
                    "\ncreated: " + format_iso8601(c.created) + "\nexpires: " + format_iso8601(c.expires) +
                    "\ncreated_unix: " + std::to_string(c.created) + "\nexpires_unix: " + std::to_string(c.expires) +
                    "\nfrom: " + c.from_stage + "\nnonce: " + c.nonce + "\n";
  if (c.pid) out += "pid: " + std::to_string(*c.pid) + "\n";
  if (c.generation) out += "generation: " + std::to_string(c.generation) + "\n";
  if (!c.lease.empty()) out += "lease: " + c.lease + "\n";
  if (!c.lost_to.empty()) out += "lost_to: " + c.lost_to + "\n";
  return out;
}

std::optional<Claim> parse_claim(std::string_view text) {
  Claim c;
  bool has_nonce = false, has_expiry = false;
  for (const auto& line : split(text, '\n')) {
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string key(trim(std::string_view(line).substr(0, colon)));
    std::string value(trim(std::string_view(line).substr(colon + 1)));
    if (key == "id")
      c.id = parse_int(value).value_or(0);
    else if (key == "owner")
      c.owner = value;
    else if (key == "host")
      c.host = value;
    else if (key == "created_unix")
      c.created = parse_int(value).value_or(0);
    else if (key == "expires_unix")
      has_expiry = static_cast<bool>(parse_int(value)), c.expires = parse_int(value).value_or(0);
    else if (key == "from")
      c.from_stage = value;
    else if (key == "nonce")
      has_nonce = !value.empty(), c.nonce = value;
    else if (key == "pid")
      c.pid = parse_int(value);
    else if (key == "generation")
      c.generation = parse_int(value).value_or(0);
    else if (key == "lease")
      c.lease = value;
    else if (key == "lost_to")
      c.lost_to = value;
  }
  if (!has_nonce || !has_expiry || c.owner.empty()) return std::nullopt;
  return c;
}

ClaimStore::ClaimStore(fs::path dir, const Clock& clock) : dir_(std::move(dir)), clock_(&clock) {}

fs::path ClaimStore::lock_path(std::int64_t id) const {
  return dir_ / (std::to_string(id) + ".lock");
}

// Guards live beside the claims directory, which then holds nothing but locks.
fs::path ClaimStore::guard_path(std::int64_t id) const {
  return dir_.parent_path() / "claim-guards" / (std::to_string(id) + ".guard");
}

std::string ClaimStore::this_host() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "localhost";
  return buf;
}

Claim ClaimStore::make(std::int64_t id, const std::string& owner, std::int64_t ttl_seconds,
                       const std::string& from_stage, std::optional<long> pid) const {
  Claim c;
  c.id = id;
  c.owner = owner;
  c.host = this_host();
  c.created = clock_->now_seconds();
  c.expires = expiry_after(ttl_seconds);
  c.from_stage = from_stage;
  c.nonce = hex_nonce();
  c.pid = pid;
  return c;
}

Claim ClaimStore::renewed(const Claim& held, std::int64_t ttl_seconds, std::optional<long> pid) const {
  Claim c = held;
  c.expires = expiry_after(ttl_seconds);
  c.nonce = hex_nonce();
  if (pid) c.pid = pid;
  return c;
}

std::int64_t ClaimStore::expiry_after(std::int64_t ttl_seconds) const {
  std::int64_t now = clock_->now_ns();
  return now / 1'000'000'000 + (now % 1'000'000'000 > 0 ? 1 : 0) + ttl_seconds;
}

std::optional<Claim> ClaimStore::read(std::int64_t id) const {
  auto text = read_file_if_exists(lock_path(id));
  if (!text) return std::nullopt;
  auto claim = parse_claim(*text);
  if (claim) claim->id = id;
  return claim;
}

std::vector<Claim> ClaimStore::all() const {
  std::vector<Claim> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir_, ec)) {
    std::string name = entry.path().filename().string();
    if (name.starts_with('.') || !name.ends_with(".lock")) continue;
    auto id = parse_int(std::string_view(name).substr(0, name.size() - 5));
    if (!id) continue;
    if (auto c = read(*id)) out.push_back(*c);
  }
  return out;
}

ClaimState ClaimStore::state(const Claim& claim, std::int64_t now) {
  if (!claim.lost_to.empty()) return ClaimState::lost;
  if (now >= claim.expires) return ClaimState::expired;
  if (claim.pid && claim.host == this_host() &&
      (*claim.pid < 1 || *claim.pid > kMaxPid ||  // no such process can exist (a pid_t would wrap)
       (::kill(static_cast<pid_t>(*claim.pid), 0) != 0 && errno == ESRCH)))
    return ClaimState::holder_dead;
  return ClaimState::live;
}

bool ClaimStore::create(const Claim& claim) {
  fs::create_directories(dir_);
  auto temp = write_temp(dir_, std::to_string(claim.id), format_claim(claim));
  // link() fails if the lock exists, and the lock appears with its whole content.
  int rc = ::link(temp->path().c_str(), lock_path(claim.id).c_str());
  int saved = errno;
  temp.reset();
  if (rc != 0) {
    if (saved == EEXIST) return false;
    errno = saved;
    throw_errno("cannot create claim " + lock_path(claim.id).string());
  }
  fsync_directory(dir_);
  return true;
}

bool ClaimStore::replace(const Claim& seen, const Claim& updated) {
  ProcessLock guard(guard_path(seen.id), limits::kClaimGuard, "claim #" + std::to_string(seen.id));
  auto current = read(seen.id);
  if (!current || current->nonce != seen.nonce) return false;
  auto temp = write_temp(dir_, std::to_string(seen.id), format_claim(updated));
  if (::rename(temp->path().c_str(), lock_path(seen.id).c_str()) != 0)
    throw_errno("cannot update claim " + lock_path(seen.id).string());
  temp->keep();  // it is the lock now
  fsync_directory(dir_);
  return true;
}

bool ClaimStore::remove(const Claim& seen) {
  ProcessLock guard(guard_path(seen.id), limits::kClaimGuard, "claim #" + std::to_string(seen.id));
  auto current = read(seen.id);
  if (!current || current->nonce != seen.nonce) return false;
  fs::path aside = dir_ / ("." + std::to_string(seen.id) + "." + seen.nonce + ".released");
  if (::rename(lock_path(seen.id).c_str(), aside.c_str()) != 0) {
    if (errno == ENOENT) return false;
    throw_errno("cannot remove claim " + lock_path(seen.id).string());
  }
  ::unlink(aside.c_str());
  fsync_directory(dir_);
  return true;
}

}  // namespace tracker
