// Tests of the erdsctl dispatcher, in-process, against a small table of fake commands.
#include "erds/ctl/command.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace erds::ctl {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

struct Calls {
  std::string last;  // "<path>|--opt=value;...|pos1,pos2"
};

std::vector<Command> fakeTable(Calls& calls) {
  auto recorder = [&calls](std::string path) {
    return [&calls, path](const Args& a, Io& io) {
      std::string s = path + "|";
      for (const std::string opt : {"--dir", "--force", "--mode"}) {
        if (a.has(opt)) s += opt + "=" + a.get(opt) + ";";
      }
      s += "|";
      for (const auto& p : a.positional())
        s += p + ",";
      calls.last = s;
      io.out << "ran " << path << "\n";
      return 0;
    };
  };
  return {
      {"thing make",
       "make a thing",
       "--dir DIR [--force] [--mode M]",
       {{"--dir", "DIR", true}, {"--force", "", false}, {"--mode", "M", false}},
       {},
       "",
       recorder("thing make")},
      {"thing make fancy", "make a fancy thing", "", {}, {}, "", recorder("thing make fancy")},
      {"thing show", "show one thing", "FILE", {}, {"FILE"}, "Shows FILE.", recorder("thing show")},
      {"boom",
       "throws",
       "",
       {},
       {},
       "",
       [](const Args&, Io&) -> int { throw std::runtime_error("kaput"); }},
      {"fail",
       "returns 1",
       "",
       {},
       {},
       "",
       [](const Args&, Io& io) {
         io.err << "nope\n";
         return 1;
       }},
  };
}

struct CliRun {
  int rc;
  std::string out;
  std::string err;
};

CliRun run(const std::vector<Command>& table, std::vector<std::string> args) {
  std::ostringstream out;
  std::ostringstream err;
  const int rc = runCli(args, table, out, err);
  return {rc, out.str(), err.str()};
}

int lineCount(const std::string& s) {
  return static_cast<int>(std::count(s.begin(), s.end(), '\n'));
}

TEST(RunCli, HelpListsEveryCommandWithItsHelpLine) {
  Calls calls;
  const auto table = fakeTable(calls);
  for (const char* flag : {"--help", "-h", "help"}) {
    CliRun r = run(table, {flag});
    EXPECT_EQ(r.rc, kExitOk) << flag;
    EXPECT_TRUE(r.err.empty());
    for (const auto& c : table) {
      EXPECT_THAT(r.out, HasSubstr(c.path)) << flag;
      EXPECT_THAT(r.out, HasSubstr(c.help)) << flag;
    }
  }
}

TEST(RunCli, NoArgumentsIsAUsageError) {
  Calls calls;
  CliRun r = run(fakeTable(calls), {});
  EXPECT_EQ(r.rc, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("thing make"));
  EXPECT_TRUE(r.out.empty());
}

TEST(RunCli, CommandHelpShowsUsageAndDoesNotRun) {
  Calls calls;
  CliRun r = run(fakeTable(calls), {"thing", "show", "--help"});
  EXPECT_EQ(r.rc, kExitOk);
  EXPECT_THAT(r.out, HasSubstr("usage: erdsctl thing show FILE"));
  EXPECT_THAT(r.out, HasSubstr("Shows FILE."));
  EXPECT_TRUE(calls.last.empty());

  r = run(fakeTable(calls), {"thing", "make", "--dir", "x", "-h"});
  EXPECT_EQ(r.rc, kExitOk);
  EXPECT_THAT(r.out, HasSubstr("--dir DIR   (required)"));
  EXPECT_TRUE(calls.last.empty());
}

TEST(RunCli, GroupHelpListsTheGroupOnly) {
  Calls calls;
  CliRun r = run(fakeTable(calls), {"thing", "--help"});
  EXPECT_EQ(r.rc, kExitOk);
  EXPECT_THAT(r.out, HasSubstr("thing show"));
  EXPECT_THAT(r.out, Not(HasSubstr("boom")));
}

TEST(RunCli, ParsesOptionsFlagsAndPositionals) {
  Calls calls;
  const auto table = fakeTable(calls);
  struct Case {
    std::vector<std::string> args;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {{"thing", "make", "--dir", "d1"}, "thing make|--dir=d1;|"},
      {{"thing", "make", "--dir=d2", "--force"}, "thing make|--dir=d2;--force=;|"},
      {{"thing", "make", "--force", "--mode", "m", "--dir", "d3"},
       "thing make|--dir=d3;--force=;--mode=m;|"},
      {{"thing", "make", "--dir="}, "thing make|--dir=;|"},
      {{"thing", "make", "fancy"}, "thing make fancy||"},  // longest path wins
      {{"thing", "show", "f.xml"}, "thing show||f.xml,"},
      {{"thing", "show", "--", "--weird"}, "thing show||--weird,"},
      {{"thing", "show", "-"}, "thing show||-,"},
  };
  for (const auto& tc : cases) {
    calls.last.clear();
    CliRun r = run(table, tc.args);
    EXPECT_EQ(r.rc, kExitOk) << tc.expected << ": " << r.err;
    EXPECT_EQ(calls.last, tc.expected);
    EXPECT_TRUE(r.err.empty());
  }
}

TEST(RunCli, BadCommandLinesAreOneLineUsageErrors) {
  Calls calls;
  const auto table = fakeTable(calls);
  struct Case {
    std::vector<std::string> args;
    std::string needle;
  };
  const std::vector<Case> cases = {
      {{"nosuch"}, "unknown command 'nosuch'"},
      {{"thing", "eat"}, "unknown command 'thing eat'"},
      {{"thing"}, "unknown command 'thing'"},
      {{"--bogus"}, "unknown option '--bogus'"},
      {{"thing", "make"}, "missing required option --dir DIR"},
      {{"thing", "make", "--dir"}, "option --dir needs a value DIR"},
      {{"thing", "make", "--dir", "a", "--dir", "b"}, "option --dir given twice"},
      {{"thing", "make", "--dir", "a", "--force=yes"}, "option --force takes no value"},
      {{"thing", "make", "--dir", "a", "--colour", "red"}, "unknown option '--colour'"},
      {{"thing", "make", "--dir", "a", "-x"}, "unknown option '-x'"},
      {{"thing", "make", "--dir", "a", "extra"}, "unexpected argument 'extra'"},
      {{"thing", "show"}, "missing argument FILE"},
      {{"thing", "show", "a", "b"}, "unexpected argument 'b'"},
  };
  for (const auto& tc : cases) {
    calls.last.clear();
    CliRun r = run(table, tc.args);
    EXPECT_EQ(r.rc, kExitUsage) << tc.needle;
    EXPECT_THAT(r.err, HasSubstr(tc.needle));
    EXPECT_EQ(lineCount(r.err), 1) << r.err;
    EXPECT_TRUE(r.out.empty()) << tc.needle;
    EXPECT_TRUE(calls.last.empty()) << tc.needle;
  }
}

TEST(RunCli, HandlerExitCodesAndExceptions) {
  Calls calls;
  const auto table = fakeTable(calls);
  CliRun r = run(table, {"fail"});
  EXPECT_EQ(r.rc, kExitFailure);
  EXPECT_EQ(r.err, "nope\n");

  r = run(table, {"boom"});
  EXPECT_EQ(r.rc, kExitFailure);
  EXPECT_EQ(r.err, "erdsctl boom: internal error: kaput\n");
}

TEST(RunCli, RepeatableOptionsKeepEveryValueInOrder) {
  std::vector<std::string> seen;
  std::string first;
  const std::vector<Command> table = {
      {"check",
       "check",
       "[--trust CA]... [--flag]",
       {{"--trust", "CA", false, true}, {"--flag", "", false}},
       {},
       "",
       [&](const Args& a, Io&) {
         seen = a.getAll("--trust");
         first = a.get("--trust");
         return 0;
       }},
  };
  CliRun r = run(table, {"check", "--trust", "a.pem", "--trust=b.pem", "--trust", "c.pem"});
  EXPECT_EQ(r.rc, kExitOk) << r.err;
  EXPECT_EQ(seen, (std::vector<std::string>{"a.pem", "b.pem", "c.pem"}));
  EXPECT_EQ(first, "a.pem");
  r = run(table, {"check"});
  EXPECT_EQ(r.rc, kExitOk);
  EXPECT_TRUE(seen.empty());
  // A non-repeatable option given twice is still a usage error.
  r = run(table, {"check", "--flag", "--flag"});
  EXPECT_EQ(r.rc, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("given twice"));
  r = run(table, {"check", "--help"});
  EXPECT_THAT(r.out, HasSubstr("--trust CA   (repeatable)"));
}

TEST(RunCli, VersionPrintsOneLine) {
  Calls calls;
  CliRun r = run(fakeTable(calls), {"--version"});
  EXPECT_EQ(r.rc, kExitOk);
  EXPECT_THAT(r.out, ::testing::StartsWith("erdsctl "));
  EXPECT_EQ(lineCount(r.out), 1);
}

TEST(BuiltinCommands, TableHasTheFoundationCommandsWithHelpAndHandlers) {
  std::vector<std::string> paths;
  for (const auto& c : builtinCommands()) {
    paths.push_back(c.path);
    EXPECT_FALSE(c.help.empty()) << c.path;
    EXPECT_EQ(c.help.find('\n'), std::string::npos) << c.path;
    // A command without options or arguments (e.g. "evidence events") has nothing to show.
    if (!c.options.empty() || !c.positionalNames.empty()) {
      EXPECT_FALSE(c.usage.empty()) << c.path;
    }
    EXPECT_TRUE(static_cast<bool>(c.handler)) << c.path;
  }
  EXPECT_THAT(paths,
              ::testing::IsSupersetOf({"pki init", "db migrate", "db status", "config check"}));
  // Paths are unique, so dispatch is unambiguous.
  std::vector<std::string> sorted = paths;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(std::unique(sorted.begin(), sorted.end()), sorted.end());
}

}  // namespace
}  // namespace erds::ctl
