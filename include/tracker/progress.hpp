// Progress of long operations: a story-by-story loop counts its steps into a
// Progress, and a ProgressSink decides what to show. The CLI's sink is a progress
// line on a terminal's stderr that appears once an operation has run about a second.
#pragma once

#include <cstddef>
#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>

#include <tracker/clock.hpp>

namespace tracker {

/// Receives how far an operation got.
class ProgressSink {
 public:
  virtual ~ProgressSink() = default;
  /// `done` of `total` steps of `what` (`total` 0: not known in advance).
  virtual void update(std::string_view what, std::size_t done, std::size_t total) = 0;
  /// The operation ended (or failed).
  virtual void finish() = 0;
};

/// Counts the steps of one operation into a sink (which may be null): every 256th
/// step is reported, and the end, when the Progress goes out of scope.
class Progress {
 public:
  Progress(ProgressSink* sink, std::string what, std::size_t total)
      : sink_(sink), what_(std::move(what)), total_(total) {}
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;
  ~Progress() {
    if (sink_ && done_ >= kEvery) sink_->finish();
  }
  void step() {
    if (sink_ && ++done_ % kEvery == 0) sink_->update(what_, done_, total_);
  }

 private:
  static constexpr std::size_t kEvery = 256;
  ProgressSink* sink_;
  std::string what_;
  std::size_t total_;
  std::size_t done_ = 0;
};

/// A progress line on a terminal: nothing for the first `delay_ns` after it is
/// made, then "\r<what>: <done>/<total>" redrawn at most every 100 ms, and erased
/// by finish(). It writes nothing when the operation is quicker than the delay.
class TerminalProgress : public ProgressSink {
 public:
  TerminalProgress(std::ostream& out, const Clock& clock, std::int64_t delay_ns)
      : out_(out), clock_(clock), start_ns_(clock.now_ns()), delay_ns_(delay_ns) {}
  void update(std::string_view what, std::size_t done, std::size_t total) override;
  void finish() override;

 private:
  std::ostream& out_;
  const Clock& clock_;
  std::int64_t start_ns_, delay_ns_;
  std::int64_t last_ns_ = 0;
  bool shown_ = false;
};

}  // namespace tracker
