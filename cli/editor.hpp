// Running the user's editor on a file, without a shell.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <tracker/fs.hpp>
#include <tracker/story.hpp>

namespace tracker::cli {

/// A private directory under `<git-dir>/tracker/edit/` for the copy an editor
/// works on, removed when this goes away. It is held (a ProcessLock on `.held`)
/// while the editor is open: `doctor` keeps the text of a copy whose holder died.
class EditScratch {
 public:
  explicit EditScratch(const std::filesystem::path& state_dir);
  ~EditScratch();
  EditScratch(const EditScratch&) = delete;
  EditScratch& operator=(const EditScratch&) = delete;
  std::filesystem::path file(const std::string& name) const { return dir_ / name; }

 private:
  std::filesystem::path dir_;
  std::unique_ptr<ProcessLock> held_;
};

/// `path:line: message` for each problem, one per line.
std::string describe_problems(const std::string& path, const std::vector<StoryProblem>& problems);

/// One answer to a question asked on a terminal: its letter, its word, and what
/// it does ("to edit again").
struct Choice {
  char letter;
  const char* word;
  const char* does;
};

/// Asks `question` on stderr until the answer is a choice's letter or word. Enter
/// picks the first choice, `q` (or `quit`) picks `a`; end of input also gives 'a'.
/// Another answer is told what the choices are, and asked again.
char ask_choice(const std::string& question, const std::vector<Choice>& choices);

/// Splits an editor command into words the way a shell would for simple cases:
/// blanks separate words, '...' and "..." quote, a backslash escapes the next
/// character. Throws UsageError on an unterminated quote or an empty command.
std::vector<std::string> split_command(std::string_view command);

/// $VISUAL, else $EDITOR, else "vi".
std::string editor_command();

/// Runs the editor on `file` and waits for it. Returns its exit status (128 + the
/// signal number when it was killed). Throws IoError when it cannot be started.
int run_editor(const std::string& command, const std::filesystem::path& file);

}  // namespace tracker::cli
