#include <catch2/catch.hpp>

#include <tracker/story.hpp>

using namespace tracker;

static const std::vector<std::string> kTypes = {"story", "bug", "spike", "refactor"};

static Story parse(const std::string& text, const std::string& slug = "some-story") {
  Story s;
  s.slug = slug;
  parse_story_text(text, s);
  return s;
}

TEST_CASE("story file names") {
  auto n = parse_story_file_name("42_story_add-login.md", kTypes);
  REQUIRE(n);
  CHECK(n->id == 42);
  CHECK(n->type == "story");
  CHECK(n->slug == "add-login");
  n = parse_story_file_name("7_bug_fix_with_underscores.md", kTypes);
  REQUIRE(n);
  CHECK(n->type == "bug");
  CHECK(n->slug == "fix_with_underscores");
  n = parse_story_file_name("8_add-login.md", kTypes);
  REQUIRE(n);
  CHECK(n->type == "story");
  CHECK(n->slug == "add-login");
  n = parse_story_file_name("9_spike.md", kTypes);
  REQUIRE(n);
  CHECK(n->type == "spike");
  CHECK_FALSE(parse_story_file_name("README.md", kTypes));
  CHECK_FALSE(parse_story_file_name("42_story_x.txt", kTypes));
  CHECK_FALSE(parse_story_file_name("0_story_x.md", kTypes));
  CHECK_FALSE(parse_story_file_name("42x_story.md", kTypes));
  CHECK(make_story_file_name(3, "bug", "fix-it") == "3_bug_fix-it.md");
}

TEST_CASE("front matter: known keys, unknown keys in order, body") {
  Story s = parse(
      "---\n"
      "name: Add login\n"
      "zeta: 1\n"
      "priority: 2\n"
      "labels: [auth, ui]\n"
      "depends_on:\n  - 12\n  - 13\n"
      "agent: coder-1\n"
      "review_hold: true\n"
      "retry_count: 3\n"
      "blocked: false\n"
      "created: 2026-11-23T07:41:00Z\n"
      "alpha: \"007\"\n"
      "---\n\nThe body.\n");
  CHECK(s.name == "Add login");
  CHECK(s.priority == 2);
  CHECK(s.labels == std::vector<std::string>{"auth", "ui"});
  CHECK(s.depends_on == std::vector<std::int64_t>{12, 13});
  CHECK(s.agent == "coder-1");
  CHECK(s.retry_count == 3);
  CHECK_FALSE(s.blocked);
  CHECK(s.created == "2026-11-23T07:41:00Z");
  CHECK(s.body == "The body.\n");
  CHECK(s.warnings.empty());
  // Unknown keys keep their order and their types; a quoted number stays a string.
  CHECK(s.fields == std::vector<CustomField>{{"zeta", "1"}, {"review_hold", "true"}, {"alpha", "\"007\""}});
}

TEST_CASE("a file with no front matter takes its name from the first heading, else the slug") {
  Story s = parse("Some intro\n\n# Make it fast\n\nDetails.\n");
  CHECK(s.name == "Make it fast");
  CHECK(s.body == "Some intro\n\n# Make it fast\n\nDetails.\n");
  s = parse("just text\n", "tidy-the-docs");
  CHECK(s.name == "Tidy the docs");
  s = parse("", "empty-one");
  CHECK(s.name == "Empty one");
}

TEST_CASE("CRLF line endings and a UTF-8 BOM") {
  Story s = parse("\xEF\xBB\xBF---\r\nname: Windows story\r\npriority: 4\r\n---\r\n\r\nBody line\r\n");
  CHECK(s.name == "Windows story");
  CHECK(s.priority == 4);
  CHECK(s.body == "Body line\r\n");
}

TEST_CASE("malformed front matter reports the file line") {
  try {
    parse("---\nname: ok\npriority: [1, 2\nlabels: x\n---\nbody\n");
    FAIL("no error");
  } catch (const StoryParseError& e) {
    CHECK(e.line() == 3);  // where the '[' opens, not where YAML gave up
    CHECK(e.detail() == "the list opened with '[' is not closed; end it with ']': priority: [1, 2]");
  }
  try {
    parse("---\nname: ok\nbad: : :\n---\n");
    FAIL("no error");
  } catch (const StoryParseError& e) {
    CHECK(e.line() == 3);
  }
  try {
    parse("---\nname: never closed\n");
    FAIL("no error");
  } catch (const StoryParseError& e) {
    CHECK(e.line() == 1);
  }
  CHECK_THROWS_AS(parse("---\n- a\n- b\n---\n"), StoryParseError);
}

TEST_CASE("values of the wrong type are warnings with lines, the story stays usable") {
  Story s = parse("---\nname: x\npriority: high\nblocked: maybe\ndepends_on: [3, abc]\n---\n");
  REQUIRE(s.warnings.size() == 3);
  CHECK(s.warnings[0].line == 3);
  CHECK(s.warnings[0].message == "priority: expected an integer, got 'high'");
  CHECK(s.warnings[1].line == 4);
  CHECK(s.blocked);  // a doubtful value must not make the story look ready
  CHECK(s.depends_on == std::vector<std::int64_t>{3});
  CHECK_FALSE(s.priority);  // a value of the wrong type gives none
}

TEST_CASE("render_story produces a parseable file") {
  NewStory n{"Fix: the \"quoted\" crash", 3, {"auth", "needs review"}, {1, 2}, "2026-11-23T07:41:00Z", "Steps:\n1. x", 7};
  std::string text = render_story(n);
  Story s = parse(text);
  CHECK(s.name == n.name);
  CHECK(s.priority == 3);
  CHECK(s.labels == n.labels);
  CHECK(s.depends_on == n.depends_on);
  CHECK(s.created == n.created);
  CHECK(s.body == "Steps:\n1. x\n");
  CHECK(s.parent == 7);
  CHECK(render_story({"Plain", std::nullopt, {}, {}, "t", "", std::nullopt}) == "---\nname: Plain\ncreated: t\n---\n");
}

TEST_CASE("set_front_matter_line rewrites one line and nothing else") {
  std::string text = "---\n# a comment\nname: x\nretry_count: 3  # flaky\nzeta: [1, 2]\n---\n\nbody\n";
  std::string out = set_front_matter_line(text, "retry_count", "0");
  CHECK(out == "---\n# a comment\nname: x\nretry_count: 0  # flaky\nzeta: [1, 2]\n---\n\nbody\n");
  // A missing key is added at the end of the front matter.
  CHECK(set_front_matter_line("---\nname: x\n---\nb\n", "agent", "me") == "---\nname: x\nagent: me\n---\nb\n");
  // CRLF stays CRLF.
  CHECK(set_front_matter_line("---\r\nretry_count: 2\r\n---\r\n", "retry_count", "0") ==
        "---\r\nretry_count: 0\r\n---\r\n");
  // A key that only starts the same is not touched.
  CHECK(set_front_matter_line("---\nretry_counter: 5\n---\n", "retry_count", "0") ==
        "---\nretry_counter: 5\nretry_count: 0\n---\n");
}

TEST_CASE("remove_front_matter_line drops one line and nothing else") {
  CHECK(remove_front_matter_line("---\nname: x\nagent: coder-1\nzeta: 1\n---\nagent: in body\n", "agent") ==
        "---\nname: x\nzeta: 1\n---\nagent: in body\n");
  CHECK(remove_front_matter_line("---\nname: x\n---\n", "agent") == "---\nname: x\n---\n");
  CHECK(remove_front_matter_line("no front matter\n", "agent") == "no front matter\n");
}

TEST_CASE("list edits keep the list's style and every other byte") {
  auto keep_all = [](std::string_view) { return true; };
  auto drop = [](std::string v) { return [v](std::string_view item) { return item != v; }; };

  SECTION("flow list on one line, with a comment") {
    std::string text = "---\nname: x\ndepends_on: [3, 4]  # blockers\npriority: 1\n---\n\nbody\n";
    CHECK(edit_front_matter_list(text, "depends_on", keep_all, {"7"}) ==
          "---\nname: x\ndepends_on: [3, 4, 7]  # blockers\npriority: 1\n---\n\nbody\n");
    CHECK(edit_front_matter_list(text, "depends_on", drop("3"), {}) ==
          "---\nname: x\ndepends_on: [4]  # blockers\npriority: 1\n---\n\nbody\n");
    CHECK(edit_front_matter_list(text, "depends_on", keep_all, {"4"}) == text);
  }
  SECTION("block list: one line added or removed, indentation copied") {
    std::string text = "---\nlabels:\n    - ui   # first\n    - 'api'\nname: x\n---\nbody\n";
    CHECK(edit_front_matter_list(text, "labels", keep_all, {"db"}) ==
          "---\nlabels:\n    - ui   # first\n    - 'api'\n    - db\nname: x\n---\nbody\n");
    CHECK(edit_front_matter_list(text, "labels", drop("api"), {}) ==
          "---\nlabels:\n    - ui   # first\nname: x\n---\nbody\n");
    CHECK(edit_front_matter_list(text, "labels", drop("ui"), {}) == "---\nlabels:\n    - 'api'\nname: x\n---\nbody\n");
    CHECK(edit_front_matter_list(text, "labels", [](std::string_view) { return false; }, {}) ==
          "---\nname: x\nlabels: []\n---\nbody\n");
  }
  SECTION("block list at the key's indentation, CRLF line endings") {
    std::string text = "---\r\ndepends_on:\r\n- 1\r\n- 2\r\n---\r\n";
    CHECK(edit_front_matter_list(text, "depends_on", keep_all, {"5"}) ==
          "---\r\ndepends_on:\r\n- 1\r\n- 2\r\n- 5\r\n---\r\n");
  }
  SECTION("comma list in a scalar stays a comma list") {
    CHECK(edit_front_matter_list("---\nlabels: ui, api\n---\n", "labels", keep_all, {"db"}) ==
          "---\nlabels: ui, api, db\n---\n");
  }
  SECTION("a missing key is added as a flow list; nothing to add leaves the text alone") {
    CHECK(edit_front_matter_list("---\nname: x\n---\n", "labels", keep_all, {"a b", "yes"}) ==
          "---\nname: x\nlabels: [a b, \"yes\"]\n---\n");
    CHECK(edit_front_matter_list("---\nname: x\n---\n", "labels", keep_all, {}) == "---\nname: x\n---\n");
    CHECK(edit_front_matter_list("no front matter\n", "labels", keep_all, {"a"}) ==
          "---\nlabels: [a]\n---\n\nno front matter\n");
  }
  SECTION("a key with an empty value takes a flow list") {
    CHECK(edit_front_matter_list("---\ndepends_on:\nname: x\n---\n", "depends_on", keep_all, {"2"}) ==
          "---\ndepends_on: [2]\nname: x\n---\n");
  }
}

TEST_CASE("removing a key takes its block value with it") {
  CHECK(remove_front_matter_line("---\nname: x\nlabels:\n  - a\n  - b\npriority: 2\n---\n", "labels") ==
        "---\nname: x\npriority: 2\n---\n");
  CHECK(remove_front_matter_line("---\nname: x\nagent: bob # who\npriority: 2\n---\n", "agent") ==
        "---\nname: x\npriority: 2\n---\n");
  CHECK(remove_front_matter_line("---\nname: x\n---\n", "agent") == "---\nname: x\n---\n");
}

TEST_CASE("merge_story: field by field, a conflict only where both sides changed one key differently") {
  Story where;
  where.id = 1;
  where.type = "story";
  where.slug = "x";
  where.stage = "backlog";
  where.path = "work/1_backlog/1_story_x.md";
  const std::string base =
      "---\nname: X\npriority: 1\nlabels:\n  - api\nowner: ann # lead\n---\n\nBody.\n";
  const StoryLimits limits;

  // Yours: priority and a new key; theirs: the block list and the body.
  std::string yours = "---\nname: X\npriority: 3\nlabels:\n  - api\nowner: ann # lead\nsize: L\n---\n\nBody.\n";
  std::string theirs = "---\nname: X\npriority: 1\nlabels:\n  - api\n  - ui\nowner: ann # lead\n---\n\nBody, longer.\n";
  StoryMerge m = merge_story(where, base, yours, theirs, limits);
  CHECK(m.conflicts.empty());
  CHECK(m.text ==
        "---\nname: X\npriority: 3\nlabels:\n  - api\n  - ui\nowner: ann # lead\nsize: L\n---\n\nBody, longer.\n");

  // Removing a key you did not touch on their side, and the same change on both.
  yours = "---\nname: X\npriority: 1\nlabels:\n  - api\n---\n\nBody.\n";
  theirs = "---\nname: Y\npriority: 1\nlabels:\n  - api\nowner: ann # lead\n---\n\nBody.\n";
  m = merge_story(where, base, yours, theirs, limits);
  CHECK(m.conflicts.empty());
  CHECK(m.text == "---\nname: Y\npriority: 1\nlabels:\n  - api\n---\n\nBody.\n");
  m = merge_story(where, base, theirs, theirs, limits);
  CHECK(m.conflicts.empty());
  CHECK(m.text == theirs);

  // Both changed the same key and the body differently: conflicts, theirs kept, or
  // yours with prefer_yours.
  yours = "---\nname: X\npriority: 5\nlabels:\n  - api\nowner: ann # lead\n---\n\nMine.\n";
  theirs = "---\nname: X\npriority: 9\nlabels:\n  - api\nowner: ann # lead\n---\n\nTheirs.\n";
  m = merge_story(where, base, yours, theirs, limits);
  REQUIRE(m.conflicts.size() == 2);
  CHECK(m.conflicts[0].key == "body");
  CHECK(m.conflicts[1].key == "priority");
  CHECK(m.conflicts[1].yours == "5");
  CHECK(m.conflicts[1].theirs == "9");
  CHECK(m.text == theirs);
  CHECK(merge_story(where, base, yours, theirs, limits, true).text == yours);

  // A comment-only change cannot be carried over field by field: a conflict.
  yours = "---\nname: X\npriority: 1 # urgent?\nlabels:\n  - api\nowner: ann # lead\n---\n\nBody.\n";
  m = merge_story(where, base, yours, theirs, limits);
  REQUIRE(m.conflicts.size() == 1);
  CHECK(m.conflicts[0].key == "format");
  CHECK(m.text == theirs);
}

TEST_CASE("line edits found by fuzzing: continued values, comments after quotes, keys given twice") {
  // A value continued on indented lines is replaced whole.
  CHECK(set_front_matter_line("---\nname: two\n  lines\nx: 1\n---\n", "name", "one") == "---\nname: one\nx: 1\n---\n");
  CHECK(remove_front_matter_line("---\nnote: a\n  b\nx: 1\n---\n", "note") == "---\nx: 1\n---\n");
  // The comment after a value stays, whatever quotes the values hold.
  CHECK(set_front_matter_line("---\nname: x # keep\n---\n", "name", "\"a \\\" b\"") ==
        "---\nname: \"a \\\" b\" # keep\n---\n");
  CHECK(set_front_matter_line("---\nname: \"a \\\" b\" # keep\n---\n", "name", "c") == "---\nname: c # keep\n---\n");
  CHECK(set_front_matter_line("---\nname: it's \"plain\" # keep\n---\n", "name", "c") ==
        "---\nname: c # keep\n---\n");
  CHECK(set_front_matter_line("---\nname: a [\"b # keep\n---\n", "name", "c") == "---\nname: c # keep\n---\n");
  CHECK(set_front_matter_line("---\nlabels: [a, \"b # c\"] # keep\n---\n", "labels", "[]") ==
        "---\nlabels: [] # keep\n---\n");
  // A key given twice is malformed: set would change one copy while the other is read.
  Story s;
  s.slug = "x";
  try {
    parse_story_text("---\nname: one\npriority: 1\nname: two\n---\n", s);
    FAIL("a key given twice was accepted");
  } catch (const StoryParseError& e) {
    CHECK(e.line() == 4);
    CHECK(e.detail() == "key 'name' is given twice (first on line 2); keep one");
  }
  CHECK(front_matter_keys("---\n\"owner\": ann\nname: x\n---\n") == std::vector<std::string>{"owner", "name"});
}

TEST_CASE("a YAML mistake is said in the writer's words, on the line where it was made") {
  auto problem = [](const std::string& yaml) {
    try {
      parse("---\n" + yaml + "---\n\nBody.\n");
    } catch (const StoryParseError& e) {
      return std::to_string(e.line()) + ": " + e.detail();
    }
    return std::string("no error");
  };
  CHECK(problem("id: 3\nname: Fix: crash when saving\npriority: 2\n") ==
        "3: the value has ': ' in it, so it needs quotes: name: \"Fix: crash when saving\"");
  CHECK(problem("name: Say \"hi\": now\n") == "2: the value has ': ' in it, so it needs quotes: name: \"Say \\\"hi\\\": now\"");
  CHECK(problem("id: 3\nname: x\nlabels: [ui, oops\npriority: 3\n") ==
        "4: the list opened with '[' is not closed; end it with ']': labels: [ui, oops]");
  CHECK(problem("name: x\nfields: {a: 1\npriority: 3\n") ==
        "3: the mapping opened with '{' is not closed; end it with '}': fields: {a: 1}, or if it is text, put it in "
        "quotes: fields: \"{a: 1\"");
  CHECK(problem("name: [oops\n") == "2: the list opened with '[' is not closed; end it with ']': name: [oops], or if "
                                      "it is text, put it in quotes: name: \"[oops\"");
  // A '[' in quotes or a comment opens nothing.
  CHECK(problem("name: \"a [b\"\nlabels: [ui, y # [x\npriority: 3\n") ==
        "3: the list opened with '[' is not closed; end it with ']': labels: [ui, y # [x]");
  CHECK(problem("id: 3\n\tname: x\n") == "3: a tab indents this line; YAML indents with spaces only");
  CHECK(problem("id: 3\nname: x\n  priority: 3\n") ==
        "4: this line is indented under 'name: x', which is not a list or mapping; remove the spaces at its start, "
        "or quote the value above if it goes on here");
  CHECK(problem("name: @home\n") == "2: a value that starts with '@' needs quotes: name: \"@home\"");
  CHECK(problem("name: `x`\n") == "2: a value that starts with '`' needs quotes: name: \"`x`\"");
  CHECK(problem("labels: [a, b]]\n") ==
        "2: a ']' or '}' with no '[' or '{' open before it; if it is text, put the value in quotes: labels: \"[a, b]]\"");
  CHECK(problem("name: \"a\\qb\"\n") ==
        "2: '\\q' is not an escape YAML knows between double quotes; write '\\\\' for a backslash, or use single quotes");
  CHECK(problem("id: 3\n- a\n") ==
        "3: a list item where a key is expected; a list goes under its key, indented: 'key:', then '  - a'");
}
