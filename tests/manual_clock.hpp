// The tests' clock: it stands still until a test moves it.
#pragma once

#include <tracker/clock.hpp>

namespace tracker {

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
