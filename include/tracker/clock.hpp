// The clock, as a seam: the library reads the time only through a Clock, so that
// tests of claim expiry and of the racy-timestamp window can set it (the tests'
// ManualClock is in tests/manual_clock.hpp).
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

}  // namespace tracker
