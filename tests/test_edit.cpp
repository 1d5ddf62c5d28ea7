// tracker edit: the user's editor, validation, and nothing the user typed lost.
#include <catch2/catch.hpp>

#include "helpers.hpp"

#include <sys/stat.h>
#include <chrono>
#include <csignal>
#include <thread>
#include <nlohmann/json.hpp>

using namespace testing;
using nlohmann::json;

namespace {

bool contains_line(const std::string& text, const std::string& line) {
  auto all = lines(text);
  return std::find(all.begin(), all.end(), line) != all.end();
}

/// An executable shell script in `dir`.
fs::path script(const fs::path& dir, const std::string& name, const std::string& body) {
  fs::path p = dir / name;
  write(p, "#!/bin/sh\n" + body);
  ::chmod(p.c_str(), 0755);
  return p;
}

RunOptions with_editor(const std::string& visual, const std::string& editor) {
  RunOptions o;
  o.env["VISUAL"] = visual.empty() ? "\x01unset" : visual;
  o.env["EDITOR"] = editor.empty() ? "\x01unset" : editor;
  return o;
}

/// An editor script that runs `first` (shell, the file is "$1") the first time it
/// is called and `then` every time after.
fs::path two_step_editor(const fs::path& dir, const std::string& first, const std::string& then) {
  fs::path count = dir / "count";
  return script(dir, "twice.sh",
                "n=$(cat " + count.string() + " 2>/dev/null || echo 0); n=$((n+1)); echo $n > " + count.string() +
                    "\nif [ $n = 1 ]; then " + first + "; else " + then + "; fi\n");
}

/// `tracker edit <id>` on a pseudo-terminal (util-linux script), answering `answer`.
RunResult edit_in_pty(const Board& board, const fs::path& editor, const std::string& id, const std::string& answer) {
  RunOptions o = with_editor(editor.string(), "");
  o.cwd = board.root();
  o.input = answer;
  return run({"script", "-qec", std::string(TRACKER_BIN) + " edit " + id, "/dev/null"}, o);
}

std::string only_file(const fs::path& dir) {
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir)) files.push_back(e.path());
  REQUIRE(files.size() == 1);
  return read(files.front());
}

}  // namespace

TEST_CASE("edit runs $VISUAL, else $EDITOR, else vi, with arguments and no shell") {
  Board board;
  board.create({"Alpha", "--priority", "1", "--body", "Old body."});
  TempDir tools;
  std::string file = board.path_of(1);

  // An editor command with arguments, one of them quoted.
  auto r = run_tracker(board.root(), {"edit", "1"},
                       with_editor("", "sed -i -e 's/priority: 1/priority: 3/' -e \"s/Old body./New body./\""));
  INFO(r.err);
  REQUIRE(r.code == 0);
  CHECK(r.out == "edited #1 (priority 1 -> 3, body)\n");
  CHECK(git(board.root(), {"log", "-1", "--format=%s"}) == "tracker: edit #1 (priority 1 -> 3, body)\n");
  CHECK(git(board.root(), {"status", "--porcelain"}).empty());
  CHECK(contains_line(read(board.root() / file), "New body."));

  // VISUAL wins over EDITOR; with neither, vi (found on PATH) is run.
  script(tools.path(), "visual.sh", "sed -i 's/priority: 3/priority: 4/' \"$1\"\n");
  script(tools.path(), "editor.sh", "sed -i 's/priority: 3/priority: 9/' \"$1\"\n");
  r = run_tracker(board.root(), {"edit", "1", "--json"},
                  with_editor((tools / "visual.sh").string(), (tools / "editor.sh").string()));
  REQUIRE(r.code == 0);
  CHECK(json::parse(r.out)["changes"] == json::array({"priority 3 -> 4"}));
  script(tools.path(), "vi", "sed -i 's/priority: 4/priority: 5/' \"$1\"\n");
  RunOptions plain = with_editor("", "");
  plain.env["PATH"] = tools.path().string() + ":" + std::getenv("PATH");
  r = run_tracker(board.root(), {"edit", "1"}, plain);
  REQUIRE(r.code == 0);
  CHECK(r.out == "edited #1 (priority 4 -> 5)\n");

  // The editor sees a copy with the story's file name; saving nothing changes nothing.
  script(tools.path(), "name.sh", "basename \"$1\" > " + (tools / "seen").string() + "\n");
  int commits = board.commit_count();
  r = run_tracker(board.root(), {"edit", "1"}, with_editor((tools / "name.sh").string(), ""));
  CHECK(r.code == 0);
  CHECK(r.out == "#1: no change\n");
  CHECK(read(tools / "seen") == fs::path(file).filename().string() + "\n");
  CHECK(board.commit_count() == commits);
}

TEST_CASE("an invalid edit without a terminal exits 5, restores nothing it had not touched, and keeps the text") {
  Board board;
  board.create({"Alpha", "--priority", "1"});
  board.create({"Beta", "--depends-on", "1"});
  TempDir tools;
  std::string file = board.path_of(1);
  std::string before = read(board.root() / file);
  int commits = board.commit_count();
  fs::path rejected = board.root() / ".git/tracker/rejected";

  struct Case {
    std::string sed;
    std::string message;
  };
  std::vector<Case> cases = {
      {"s/priority: 1/priority: [oops/", file + ":3: the list opened with '[' is not closed; end it with ']': priority: [oops]"},
      {"s/priority: 1/priority: high/", file + ":3: priority: expected an integer, got 'high'"},
      {"s/priority: 1/depends_on: [42]/", file + ":3: depends_on: no story #42"},
      {"s/priority: 1/depends_on: [2]/", file + ":3: depends_on: dependency cycle #1 -> #2 -> #1"},
  };
  for (const auto& c : cases) {
    fs::remove_all(rejected);
    script(tools.path(), "bad.sh", "sed -i '" + c.sed + "' \"$1\"\n");
    auto r = run_tracker(board.root(), {"edit", "1"}, with_editor((tools / "bad.sh").string(), ""));
    INFO(c.sed);
    CHECK(r.code == 5);
    CHECK(r.err.rfind("tracker: " + c.message, 0) == 0);
    CHECK(r.err.find("#1 is unchanged, your text is saved at " + rejected.string()) != std::string::npos);
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
    CHECK(read(board.root() / file) == before);
    // What the user typed is kept whole.
    std::string typed = run({"sed", c.sed, (board.root() / file).string()}).out;
    CHECK(only_file(rejected) == typed);
  }
  CHECK(board.commit_count() == commits);
  CHECK(git(board.root(), {"status", "--porcelain"}).empty());
  CHECK((!fs::exists(board.root() / ".git/tracker/edit") || fs::is_empty(board.root() / ".git/tracker/edit")));
}

TEST_CASE("edit: a failing or missing editor, a bad editor command, and a file changed meanwhile") {
  Board board;
  board.create({"Alpha", "--priority", "1"});
  TempDir tools;
  std::string file = board.path_of(1);
  std::string before = read(board.root() / file);

  auto r = run_tracker(board.root(), {"edit", "1"}, with_editor("", "false"));
  CHECK(r.code == 1);
  CHECK(r.err == "tracker: the editor (false) exited with status 1; #1 is unchanged\n");

  script(tools.path(), "crash.sh", "echo typed >> \"$1\"; exit 3\n");
  r = run_tracker(board.root(), {"edit", "1"}, with_editor((tools / "crash.sh").string(), ""));
  CHECK(r.code == 1);
  CHECK(r.err.find("exited with status 3; #1 is unchanged; your text is saved at ") != std::string::npos);
  CHECK(only_file(board.root() / ".git/tracker/rejected") == before + "typed\n");

  r = run_tracker(board.root(), {"edit", "1"}, with_editor("", "no-such-editor-here"));
  CHECK(r.code == 1);
  CHECK(r.err ==
        "tracker: cannot run the editor 'no-such-editor-here': No such file or directory (set VISUAL or EDITOR)\n");
  r = run_tracker(board.root(), {"edit", "1"}, with_editor("", "vim 'unterminated"));
  CHECK(r.code == 2);
  CHECK(run_tracker(board.root(), {"edit", "9"}, with_editor("", "true")).code == 4);

  // Someone else changes another field while it is open: the edit is merged in.
  script(tools.path(), "race.sh",
         "sed -i 's/priority: 1/priority: 2/' \"$1\"\nsed -i 's/name: Alpha/name: Theirs/' " +
             (board.root() / file).string() + "\n");
  fs::remove_all(board.root() / ".git/tracker/rejected");
  r = run_tracker(board.root(), {"--json", "edit", "1"}, with_editor((tools / "race.sh").string(), ""));
  INFO(r.err);
  CHECK(r.code == 0);
  CHECK(json::parse(r.out)["merged"] == true);
  CHECK(contains_line(read(board.root() / file), "name: Theirs"));
  CHECK(contains_line(read(board.root() / file), "priority: 2"));
  CHECK_FALSE(fs::exists(board.root() / ".git/tracker/rejected"));

  // The same field, changed differently on both sides: exit 3, both versions kept.
  script(tools.path(), "clash.sh",
         "sed -i 's/priority: 2/priority: 5/' \"$1\"\nsed -i 's/priority: 2/priority: 9/' " +
             (board.root() / file).string() + "\n");
  r = run_tracker(board.root(), {"edit", "1"}, with_editor((tools / "clash.sh").string(), ""));
  CHECK(r.code == 3);
  CHECK(r.err.find("changed while it was being edited, and both changed: priority; #1 is unchanged, your text is "
                   "saved at ") != std::string::npos);
  CHECK(contains_line(read(board.root() / file), "priority: 9"));
  CHECK(contains_line(only_file(board.root() / ".git/tracker/rejected"), "priority: 5"));
}

TEST_CASE("edit merges field by field into a story changed or moved while the editor was open") {
  Board board;
  board.create({"Alpha", "--priority", "1", "--label", "api"});
  TempDir tools;
  fs::path root = board.root();
  // While the editor is open, another tracker command moves the story and sets a key,
  // and the user changes the body and adds a key.
  script(tools.path(), "busy.sh",
         "\"" + std::string(TRACKER_BIN) + "\" -C " + root.string() +
             " move 1 current >/dev/null && \"" + std::string(TRACKER_BIN) + "\" -C " + root.string() +
             " set 1 labels=api,ui >/dev/null || exit 7\n"
             "printf 'reviewer: ann\\n' > /tmp/.x$$ && sed -i '/^created:/r /tmp/.x'$$ \"$1\" && rm /tmp/.x$$\n"
             "printf 'New body.\\n' >> \"$1\"\n");
  auto r = run_tracker(root, {"--json", "edit", "1"}, with_editor((tools / "busy.sh").string(), ""));
  INFO(r.err);
  REQUIRE(r.code == 0);
  json j = json::parse(r.out);
  CHECK(j["merged"] == true);
  std::string text = read(root / "work/2_current/1_story_alpha.md");
  CHECK(contains_line(text, "labels: [api, ui]"));
  CHECK(contains_line(text, "reviewer: ann"));
  CHECK(contains_line(text, "New body."));
  CHECK_FALSE(fs::exists(root / "work/1_backlog/1_story_alpha.md"));
  CHECK(git(root, {"status", "--porcelain"}).empty());
  CHECK(git(root, {"log", "-1", "--format=%s"}) == "tracker: edit #1 (reviewer (none) -> ann, body)\n");
}

TEST_CASE("a conflicting edit on a terminal goes back to the editor with both sides kept") {
  if (run({"sh", "-c", "command -v script"}).code != 0) return;  // util-linux script gives us a pty
  Board board;
  board.create({"Alpha", "--priority", "1"});
  TempDir tools;
  std::string file = board.path_of(1);
  // First run: the user sets priority 5 while someone else sets 9. Second run (after
  // "e"): the editor shows the merge with the user's 5, and the user makes it 6.
  fs::path editor = two_step_editor(
      tools.path(),
      "sed -i 's/priority: 1/priority: 5/' \"$1\"; sed -i 's/priority: 1/priority: 9/' " +
          (board.root() / file).string(),
      "grep -q 'priority: 5' \"$1\" && sed -i 's/priority: 5/priority: 6/' \"$1\"");
  auto r = edit_in_pty(board, editor, "1", "e\n");
  INFO(r.out);
  CHECK(r.code == 0);
  CHECK(r.out.find("both changed: priority") != std::string::npos);
  CHECK(r.out.find("priority: yours 5, theirs 9") != std::string::npos);
  CHECK(contains_line(read(board.root() / file), "priority: 6"));
  CHECK(git(board.root(), {"log", "-1", "--format=%s"}) == "tracker: edit #1 (priority 9 -> 6)\n");
}

TEST_CASE("edit on a terminal offers to edit again, keep the story and the text aside, or abort and discard the text") {
  if (run({"sh", "-c", "command -v script"}).code != 0) return;  // util-linux script gives us a pty
  Board board;
  board.create({"Alpha", "--priority", "1"});
  TempDir tools;
  std::string file = board.path_of(1);
  // First save breaks the file, the next one fixes it.
  fs::path editor = two_step_editor(tools.path(), "sed -i -E 's/priority: [0-9]+/priority: bad/' \"$1\"",
                                    "sed -i 's/priority: bad/priority: 4/' \"$1\"");
  auto in_pty = [&](const std::string& answer) { return edit_in_pty(board, editor, "1", answer); };
  auto r = in_pty("e\n");
  INFO(r.out);
  CHECK(r.code == 0);
  CHECK(r.out.find(file + ":3: priority: expected an integer, got 'bad'") != std::string::npos);
  CHECK(r.out.find("[e]dit again, [k]eep the story as it was and your text aside, or [a]bort and discard your text (q)?") !=
        std::string::npos);
  CHECK(git(board.root(), {"log", "-1", "--format=%s"}) == "tracker: edit #1 (priority 1 -> 4)\n");

  std::string before = read(board.root() / file);
  fs::remove(tools / "count");
  fs::path rejected = board.root() / ".git/tracker/rejected";
  auto kept_texts = [&] {
    std::size_t n = 0;
    if (fs::exists(rejected))
      for (const auto& e : fs::directory_iterator(rejected)) n += e.path().extension() == ".md";
    return n;
  };
  std::size_t texts = kept_texts();
  r = in_pty("k\n");
  CHECK(r.code == 0);
  CHECK(r.out.find("kept #1 as it was; your text is saved at ") != std::string::npos);
  CHECK(read(board.root() / file) == before);
  CHECK(kept_texts() == texts + 1);

  fs::remove(tools / "count");
  r = in_pty("a\n");
  CHECK(r.code == 1);
  CHECK(r.out.find("aborted: #1 is unchanged and your text is discarded") != std::string::npos);
  CHECK(read(board.root() / file) == before);
  CHECK(kept_texts() == texts + 1);  // nothing more kept

  // q aborts too, and an answer that is not a choice says what the choices are.
  fs::remove(tools / "count");
  r = in_pty("x\nq\n");
  CHECK(r.code == 1);
  CHECK(r.out.find("'x' is not a choice: answer e (or Enter) to edit again, k to keep, a or q to abort") !=
        std::string::npos);
  CHECK(r.out.find("aborted: #1 is unchanged") != std::string::npos);
  CHECK(read(board.root() / file) == before);
}

TEST_CASE("rejected edit texts are kept, the newest 20 of them") {
  Board board;
  board.create({"Alpha"});
  TempDir tools;
  script(tools.path(), "break.sh", "sed -i 's/^name: .*/name: [broken/' \"$1\"\n");
  RunOptions o = with_editor((tools / "break.sh").string(), "");
  o.cwd = board.root();
  fs::path rejected = board.root() / ".git/tracker/rejected";
  std::string last;
  for (int i = 0; i < 23; ++i) {
    auto r = run({TRACKER_BIN, "edit", "1"}, o);
    REQUIRE(r.code == 5);
    last = r.err.substr(r.err.find("saved at ") + 9);
    last.pop_back();  // the newline
  }
  std::size_t kept = 0;
  for (const auto& e : fs::directory_iterator(rejected)) kept += e.path().extension() == ".md";
  CHECK(kept == 20);
  CHECK(fs::exists(last));  // the newest is always among them
}

TEST_CASE("doctor keeps the text of an edit whose process was killed, and removes its copy") {
  Board board;
  board.create({"Alpha"});
  TempDir tools;
  std::vector<std::string> command = {"edit", "1"};
  std::string stem = "1-";
  SECTION("edit") {}
  SECTION("new --edit") {
    command = {"new", "--edit"};
    stem = "new-";
  }
  fs::path mark = tools / "editor.pid";
  // The editor types, says so, and stays open until it is killed.
  script(tools.path(), "slow.sh", "printf 'typed\\n' >> \"$1\"\necho $$ > " + mark.string() + ".new && mv " +
                                      mark.string() + ".new " + mark.string() + "\nexec sleep 120\n");
  RunOptions o = with_editor((tools / "slow.sh").string(), "");
  std::vector<std::string> argv = {TRACKER_BIN, "-C", board.root().string()};
  argv.insert(argv.end(), command.begin(), command.end());
  int pid = spawn(argv, o);
  REQUIRE(eventually([&] { return fs::exists(mark); }));
  ::kill(pid, SIGKILL);
  CHECK(wait_for(pid) == 128 + SIGKILL);
  ::kill(std::stoi(read(mark)), SIGKILL);
  fs::path edits = board.root() / ".git/tracker/edit";
  REQUIRE(std::distance(fs::directory_iterator(edits), fs::directory_iterator()) == 1);
  fs::path copy_dir = fs::directory_iterator(edits)->path();
  REQUIRE(run({"touch", "-d", "1 minute ago", (copy_dir / ".held").string()}).code == 0);

  auto r = run_tracker(board.root(), {"--json", "doctor"});
  INFO(r.out << r.err);
  REQUIRE(r.code == 0);
  json findings = json::parse(r.out)["findings"];
  REQUIRE(findings.size() == 1);
  CHECK(findings[0]["kind"] == "edit-copy");
  CHECK(findings[0]["repaired"] == true);
  CHECK(fs::is_empty(edits));
  CHECK(only_file(board.root() / ".git/tracker/rejected").ends_with("typed\n"));
  CHECK(fs::directory_iterator(board.root() / ".git/tracker/rejected")->path().filename().string().starts_with(stem));
}

TEST_CASE("edit: an emptied text aborts, and the story is read under its lock") {
  Board board;
  board.create({"Alpha", "--priority", "1"});
  TempDir tools;
  const fs::path file = board.root() / board.path_of(1);
  const std::string before = read(file);
  const int commits = board.commit_count();

  // Emptying the text aborts, as git does with an empty commit message.
  script(tools.path(), "empty.sh", ": > \"$1\"\n");
  auto r = run_tracker(board.root(), {"edit", "1"}, with_editor((tools / "empty.sh").string(), ""));
  CHECK(r.code == 1);
  CHECK(r.err == "tracker: the text was emptied, so the edit is aborted; #1 is unchanged\n");
  CHECK(read(file) == before);
  CHECK(board.commit_count() == commits);

  // A writer that holds the story's lock (flock(1), as tracker does) has emptied the
  // file and not yet written it back: edit waits for the lock and edits the whole text.
  fs::create_directories(board.root() / ".git/tracker/locks");
  fs::path ready = tools / "ready", go = tools / "go";
  RunOptions holder;
  holder.env["F"] = file.string();
  holder.env["TEXT"] = before;
  int writer = spawn({"flock", (board.root() / ".git/tracker/locks/1").string(), "sh", "-c",
                      ": > \"$F\"; touch " + ready.string() + "; while [ ! -e " + go.string() +
                          " ]; do sleep 0.01; done; printf '%s' \"$TEXT\" > \"$F\""},
                     holder);
  REQUIRE(eventually([&] { return fs::exists(ready); }));
  script(tools.path(), "set.sh", "sed -i 's/^priority: 1$/priority: 7/' \"$1\"\n");
  std::vector<std::string> argv = {TRACKER_BIN, "-C", board.root().string(), "edit", "1"};
  int editing = spawn(argv, with_editor((tools / "set.sh").string(), ""));
  CHECK(eventually([&] { return waiting_for_flock(editing); }));
  write(go, "");
  CHECK(wait_for(writer) == 0);
  CHECK(wait_for(editing) == 0);
  CHECK(contains_line(read(file), "name: Alpha"));
  CHECK(contains_line(read(file), "priority: 7"));
  CHECK(git(board.root(), {"status", "--porcelain"}).empty());
}

TEST_CASE("new --edit opens a template and creates the story only from a valid text") {
  Board board;
  board.create({"Base"});
  TempDir tools;
  fs::path seen = tools / "seen";
  int commits = board.commit_count();
  auto editor = [&](const std::string& body) {
    return with_editor(
        script(tools.path(), "ed.sh", "basename \"$1\" > " + seen.string() + ".name\ncat \"$1\" > " + seen.string() + "\n" + body)
            .string(),
        "");
  };

  // The template carries what the options gave; the name is filled in the editor.
  auto r = run_tracker(board.root(), {"new", "--edit", "--type", "bug", "--priority", "3", "--label", "ui"},
                       editor("sed -i 's/^name: $/name: Typed in the editor/' \"$1\"\n"));
  INFO(r.err);
  REQUIRE(r.code == 0);
  CHECK(r.out == "2\n");
  CHECK(read(seen.string() + ".name") == "new.md\n");
  std::vector<std::string> opened = lines(read(seen));
  REQUIRE(opened.size() >= 7);
  CHECK(opened[0] == "---");
  CHECK(opened[1] == "# A new bug in backlog: fill in the name, save and quit to create it; empty the text to abort.");
  CHECK(opened[2] == "name: ");
  CHECK(opened[3] == "priority: 3");
  CHECK(opened[4] == "labels: [ui]");
  CHECK(opened[5].starts_with("created: "));
  CHECK(opened[6] == "---");
  // The comment goes, and an empty body leaves no blank lines.
  std::string file = board.path_of(2);
  CHECK(file == "work/1_backlog/2_bug_typed-in-the-editor.md");
  CHECK(read(board.root() / file) == "---\nname: Typed in the editor\npriority: 3\nlabels: [ui]\n" + opened[5] + "\n---\n");
  CHECK(git(board.root(), {"log", "-1", "--format=%s"}) == "tracker: create #2 Typed in the editor\n");
  CHECK(board.commit_count() == commits + 1);
  CHECK(git(board.root(), {"status", "--porcelain"}).empty());

  // A name given on the command line is in the template; the body is written below.
  r = run_tracker(board.root(), {"--json", "new", "--edit", "Named", "--stage", "current", "--depends-on", "1"},
                  editor("printf 'Steps to reproduce.\\n' >> \"$1\"\n"));
  REQUIRE(r.code == 0);
  json created = json::parse(r.out);
  CHECK(created["id"] == 3);
  CHECK(created["created"] == true);
  CHECK(created["path"] == "work/2_current/3_story_named.md");
  json shown = json::parse(run_tracker(board.root(), {"--json", "show", "3"}).out);
  CHECK(shown["name"] == "Named");
  CHECK(shown["depends_on"] == json::array({1}));
  CHECK(shown["body"] == "Steps to reproduce.\n");
}

TEST_CASE("new --edit refuses what cannot be a story, creates nothing and keeps the text") {
  Board board;
  board.create({"Base"});
  TempDir tools;
  fs::path rejected = board.root() / ".git/tracker/rejected";
  fs::path ran = tools / "ran";
  int commits = board.commit_count();
  auto editor = [&](const std::string& body) {
    return with_editor(script(tools.path(), "ed.sh", "touch " + ran.string() + "\n" + body).string(), "");
  };
  auto nothing_created = [&] {
    CHECK(board.commit_count() == commits);
    CHECK(git(board.root(), {"status", "--porcelain"}).empty());
    CHECK(json::parse(run_tracker(board.root(), {"--json", "list"}).out).size() == 1);
  };

  // Without a terminal, an invalid text exits 5 naming the line, and is kept.
  auto r = run_tracker(board.root(), {"new", "--edit"},
                       editor("sed -i -e 's/^name: $/name: Bad/' -e 's/^created:/priority: high\\ncreated:/' \"$1\"\n"));
  CHECK(r.code == 5);
  CHECK(r.err.starts_with("tracker: new story:4: priority: expected an integer, got 'high'; no story was created, your "
                          "text is saved at "));
  std::string saved = r.err.substr(r.err.find("saved at ") + 9);
  saved.pop_back();
  CHECK(fs::path(saved).parent_path() == rejected);
  CHECK(fs::path(saved).filename().string().starts_with("new-"));
  CHECK(read(saved).find("priority: high\n") != std::string::npos);
  nothing_created();

  struct Case {
    std::string editor;
    int code;
    std::string message;
  };
  std::vector<Case> cases = {
      // No name at all.
      {"sed -i 's/^priority: 2$/priority: 1/' \"$1\"; echo 'Body.' >> \"$1\"\n", 5,
       "tracker: new story:3: the story needs a name: fill in 'name:' (or start the body with a # heading); no story "
       "was created"},
      {"sed -i 's/^name: $/name: Dep\\ndepends_on: [77]/' \"$1\"\n", 5, "tracker: new story:4: depends_on: no story #77"},
      {"sed -i 's/^name: $/name: [open/' \"$1\"\n", 5, "tracker: new story:"},
      // Quit without a change: as git does with an empty message, nothing is made.
      {"true\n", 1, "tracker: the template was saved unchanged, so no story was created\n"},
      {": > \"$1\"\n", 1, "tracker: the text was emptied, so no story was created\n"},
      {"sed -i 's/^name: $/name: Lost/' \"$1\"; exit 3\n", 1,
       "tracker: the editor (" + (tools / "ed.sh").string() + ") exited with status 3; no story was created; your "
       "text is saved at "},
  };
  for (const auto& c : cases) {
    INFO(c.editor);
    r = run_tracker(board.root(), {"new", "--edit", "--priority", "2"}, editor(c.editor));
    CHECK(r.code == c.code);
    CHECK(r.err.starts_with(c.message));
    nothing_created();
  }

  // Refused before the editor opens: a bad type or stage, an unknown dependency,
  // --key (an editor session is not a retry), no name without --edit.
  fs::remove(ran);
  CHECK(run_tracker(board.root(), {"new", "--edit", "--type", "bgu"}, editor("true\n")).err ==
        "tracker: unknown type 'bgu' (did you mean 'bug'?); types are: story, bug, spike, refactor\n");
  CHECK(run_tracker(board.root(), {"new", "--edit", "--stage", "nowhere"}, editor("true\n")).code == 2);
  CHECK(run_tracker(board.root(), {"new", "--edit", "--depends-on", "99"}, editor("true\n")).code == 4);
  CHECK(run_tracker(board.root(), {"new", "--edit", "--key", "k1"}, editor("true\n")).code == 2);
  CHECK(!fs::exists(ran));
  r = run_tracker(board.root(), {"new"});
  CHECK(r.code == 2);
  CHECK(r.err == "tracker: name is required: tracker new <name>, or tracker new --edit to write the story in an editor\n");
  nothing_created();
}

TEST_CASE("new --edit on a terminal offers to edit again, keep the text aside, or abort") {
  if (run({"sh", "-c", "command -v script"}).code != 0) return;  // util-linux script gives us a pty
  Board board;
  TempDir tools;
  // First save has no name; the next one gives it.
  fs::path editor = two_step_editor(tools.path(), "echo 'Body only.' >> \"$1\"",
                                    "sed -i 's/^name: $/name: Second try/' \"$1\"");
  auto in_pty = [&](const std::string& answer) {
    RunOptions o = with_editor(editor.string(), "");
    o.cwd = board.root();
    o.input = answer;
    return run({"script", "-qec", std::string(TRACKER_BIN) + " new --edit", "/dev/null"}, o);
  };
  auto r = in_pty("e\n");
  INFO(r.out);
  CHECK(r.code == 0);
  CHECK(r.out.find("new story:3: the story needs a name") != std::string::npos);
  CHECK(r.out.find("[e]dit again, [k]eep your text aside, or [a]bort and discard it (q)?") != std::string::npos);
  CHECK(git(board.root(), {"log", "-1", "--format=%s"}) == "tracker: create #1 Second try\n");
  CHECK(json::parse(run_tracker(board.root(), {"--json", "show", "1"}).out)["body"] == "Body only.\n");

  fs::remove(tools / "count");
  int commits = board.commit_count();
  fs::path rejected = board.root() / ".git/tracker/rejected";
  r = in_pty("x\nq\n");
  CHECK(r.code == 1);
  CHECK(r.out.find("'x' is not a choice: answer e (or Enter) to edit again, k to keep, a or q to abort") !=
        std::string::npos);
  CHECK(r.out.find("aborted: no story was created and your text is discarded") != std::string::npos);
  CHECK(board.commit_count() == commits);
  CHECK(!fs::exists(rejected));

  fs::remove(tools / "count");
  r = in_pty("k\n");
  CHECK(r.code == 5);
  CHECK(r.out.find("no story was created; your text is saved at ") != std::string::npos);
  CHECK(board.commit_count() == commits);
  CHECK(fs::exists(rejected));
}

TEST_CASE("edit that changes the name renames the file, as set does, unless --keep-file-name") {
  Board board;
  board.create({"Alpha"});
  TempDir tools;
  script(tools.path(), "rename.sh", "sed -i 's/^name: .*/name: Alpha renamed/' \"$1\"\n");
  script(tools.path(), "again.sh", "sed -i 's/^name: .*/name: Third name/' \"$1\"\n");
  RunOptions o = with_editor((tools / "rename.sh").string(), "");
  o.cwd = board.root();
  auto r = run({TRACKER_BIN, "edit", "1"}, o);
  INFO(r.err);
  REQUIRE(r.code == 0);
  CHECK(!fs::exists(board.root() / "work/1_backlog/1_story_alpha.md"));
  CHECK(fs::exists(board.root() / "work/1_backlog/1_story_alpha-renamed.md"));
  CHECK(git(board.root(), {"status", "--porcelain"}).empty());
  std::string status = git(board.root(), {"show", "--name-status", "--format=", "HEAD"});
  CHECK(status.starts_with("R"));  // one rename in the commit, git shows it so
  CHECK(status.ends_with("\twork/1_backlog/1_story_alpha.md\twork/1_backlog/1_story_alpha-renamed.md\n"));
  o = with_editor((tools / "again.sh").string(), "");
  o.cwd = board.root();
  REQUIRE(run({TRACKER_BIN, "edit", "1", "--keep-file-name"}, o).code == 0);
  CHECK(fs::exists(board.root() / "work/1_backlog/1_story_alpha-renamed.md"));
  CHECK(read(board.root() / "work/1_backlog/1_story_alpha-renamed.md").find("name: Third name") != std::string::npos);
}
