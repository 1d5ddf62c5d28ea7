#include <tracker/progress.hpp>

namespace tracker {

void TerminalProgress::update(std::string_view what, std::size_t done, std::size_t total) {
  std::int64_t now = clock_.now_ns();
  if (now - start_ns_ < delay_ns_) return;
  if (shown_ && now - last_ns_ < 100'000'000) return;
  last_ns_ = now;
  shown_ = true;
  out_ << "\r\033[K" << what << ": " << done;
  if (total > 0) out_ << "/" << total;
  out_ << std::flush;
}

void TerminalProgress::finish() {
  if (!shown_) return;
  out_ << "\r\033[K" << std::flush;
  shown_ = false;
}

}  // namespace tracker
