#include "editor.hpp"

#include <tracker/error.hpp>
#include <tracker/util.hpp>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <iostream>

namespace tracker::cli {

EditScratch::EditScratch(const std::filesystem::path& state_dir) {
  std::filesystem::path parent = state_dir / "edit";
  std::filesystem::create_directories(parent);
  std::string tmpl = (parent / "XXXXXX").string();
  if (!::mkdtemp(tmpl.data())) throw IoError("cannot create a directory in " + parent.string());
  dir_ = tmpl;
  held_ = std::make_unique<ProcessLock>(dir_ / ".held", std::chrono::milliseconds(0), "the edit");
}

EditScratch::~EditScratch() {
  held_.reset();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

std::string describe_problems(const std::string& path, const std::vector<StoryProblem>& problems) {
  std::string out;
  for (const auto& p : problems)
    out +=
        (out.empty() ? "" : "\n") + path + (p.line ? ":" + std::to_string(p.line) : std::string()) + ": " + p.message;
  return out;
}

char ask_choice(const std::string& question, const std::vector<Choice>& choices) {
  bool can_abort = false;
  std::string help;
  for (std::size_t i = 0; i < choices.size(); ++i) {
    const Choice& c = choices[i];
    can_abort = can_abort || c.letter == 'a';
    help += (i == 0 ? "" : ", ") + std::string(1, c.letter) +
            (i == 0 ? " (or Enter)" : c.letter == 'a' ? " or q" : "") + " " + c.does;
  }
  while (true) {
    std::cerr << question << " " << std::flush;
    std::string answer;
    if (!std::getline(std::cin, answer)) return 'a';
    std::string_view a = trim(answer);
    if (a.empty()) return choices.front().letter;
    if (can_abort && (a == "q" || a == "quit")) return 'a';
    for (const Choice& c : choices)
      if (a == std::string_view(&c.letter, 1) || a == c.word) return c.letter;
    std::cerr << "'" << a << "' is not a choice: answer " << help << "\n";
  }
}

std::vector<std::string> split_command(std::string_view command) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;
  char quote = 0;
  for (std::size_t i = 0; i < command.size(); ++i) {
    char c = command[i];
    if (quote) {
      if (c == quote)
        quote = 0;
      else if (c == '\\' && quote == '"' && i + 1 < command.size())
        word += command[++i];
      else
        word += c;
    } else if (c == '\'' || c == '"') {
      quote = c;
      in_word = true;
    } else if (c == '\\' && i + 1 < command.size()) {
      word += command[++i];
      in_word = true;
    } else if (c == ' ' || c == '\t' || c == '\n') {
      if (in_word) words.push_back(std::move(word));
      word.clear();
      in_word = false;
    } else {
      word += c;
      in_word = true;
    }
  }
  if (quote) throw UsageError("the editor command has an unterminated quote: " + std::string(command));
  if (in_word) words.push_back(std::move(word));
  if (words.empty()) throw UsageError("the editor command is empty; set VISUAL or EDITOR");
  return words;
}

std::string editor_command() {
  for (const char* name : {"VISUAL", "EDITOR"})
    if (const char* value = std::getenv(name); value && *value) return value;
  return "vi";
}

int run_editor(const std::string& command, const std::filesystem::path& file) {
  std::vector<std::string> words = split_command(command);
  words.push_back(file.string());
  std::vector<char*> argv;
  for (auto& w : words) argv.push_back(w.data());
  argv.push_back(nullptr);
  // Like git, let a Ctrl-C reach the editor alone while it runs.
  struct sigaction ignore {
  }, old_int{}, old_quit{};
  ignore.sa_handler = SIG_IGN;
  sigaction(SIGINT, &ignore, &old_int);
  sigaction(SIGQUIT, &ignore, &old_quit);
  int error_pipe[2];
  if (::pipe2(error_pipe, O_CLOEXEC) != 0)
    throw IoError(std::string("cannot start the editor: ") + std::strerror(errno));
  pid_t pid = ::fork();
  if (pid == 0) {
    sigaction(SIGINT, &old_int, nullptr);
    sigaction(SIGQUIT, &old_quit, nullptr);
    ::execvp(argv[0], argv.data());
    int err = errno;
    (void)!::write(error_pipe[1], &err, sizeof err);
    ::_exit(127);
  }
  ::close(error_pipe[1]);
  int exec_errno = 0;
  bool exec_failed = pid > 0 && ::read(error_pipe[0], &exec_errno, sizeof exec_errno) == sizeof exec_errno;
  ::close(error_pipe[0]);
  int status = 0;
  if (pid > 0)
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
  sigaction(SIGINT, &old_int, nullptr);
  sigaction(SIGQUIT, &old_quit, nullptr);
  if (pid < 0) throw IoError(std::string("cannot start the editor: ") + std::strerror(errno));
  if (exec_failed)
    throw IoError("cannot run the editor '" + words.front() + "': " + std::strerror(exec_errno) +
                  " (set VISUAL or EDITOR)");
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return WEXITSTATUS(status);
}

}  // namespace tracker::cli
