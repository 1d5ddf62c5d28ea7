// A pager on a terminal, as git has one: the output of log, list, diff, show and board
// goes through `less -FRX` (TRACKER_PAGER, then PAGER), which prints what fits on
// one screen and exits at once.
#pragma once

#include <string>

namespace tracker::cli {

/// Whether stdout was a terminal when the process started (a pager makes it a pipe
/// later; colour and width are decided as for the terminal).
bool stdout_is_terminal();
/// The terminal's width when stdout_is_terminal(), else 0.
std::size_t terminal_width();

/// Runs the pager with stdout going into it, for as long as it lives: the
/// destructor closes the pipe and waits for the pager to quit. Does nothing when
/// stdout is not a terminal, when `disabled`, or when the pager is empty or `cat`.
class Pager {
 public:
  explicit Pager(bool disabled);
  ~Pager();
  Pager(const Pager&) = delete;
  Pager& operator=(const Pager&) = delete;

 private:
  int pid_ = -1;
};

}  // namespace tracker::cli
