// The clock, as a seam: the library reads the time only through a Clock, so that
// tests of claim expiry and of the racy-timestamp window can set it.
#pragma once

#include <cstdint>

namespace tracker {

/// Wall-clock time.
class Clock {
 public:
  virtual ~Clock() = default;
  /// Nanoseconds since the Unix epoch.
  virtual std::int64_t now_ns() const = 0;
  /// Whole seconds since the Unix epoch.
  std::int64_t now_seconds() const { return now_ns() / 1'000'000'000; }
};

/// The system's real-time clock.
const Clock& system_clock();

/// A clock that stands still until it is moved, for tests.
class ManualClock : public Clock {
 public:
  explicit ManualClock(std::int64_t start_ns) : now_(start_ns) {}
  std::int64_t now_ns() const override { return now_; }
  void set_ns(std::int64_t ns) { now_ = ns; }
  void advance_seconds(std::int64_t s) { now_ += s * 1'000'000'000; }

 private:
  std::int64_t now_;
};

}  // namespace tracker
