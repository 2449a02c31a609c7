// erdsctl's subcommand table and dispatcher. A subcommand is one Command entry (path, one-line
// help, usage, accepted options, handler); later ones (evidence verify, user add, audit verify)
// are added to builtinCommands() without touching the dispatcher.
#pragma once

#include <functional>
#include <map>
#include <ostream>
#include <string>
#include <vector>

namespace erds::ctl {

// Process exit codes shared by every erds CLI.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;  // the command ran and failed (I/O, database, refusal)
inline constexpr int kExitUsage = 2;    // bad command line or configuration

struct Command;

struct OptionSpec {
  std::string name;       // "--dir"
  std::string valueName;  // "DIR"; empty for a flag such as "--force"
  bool required = false;
  bool repeatable = false;  // may be given several times ("--trust A --trust B"); see Args::getAll
};

// The parsed command line of one subcommand. Options were validated against the Command's
// OptionSpecs (unknown, duplicate non-repeatable, missing-value and missing-required options never reach a
// handler).
class Args {
 public:
  bool has(const std::string& option) const { return values_.count(option) != 0; }
  // The option's value (the first one of a repeatable option); `fallback` if absent (flags have
  // the value "").
  std::string get(const std::string& option, const std::string& fallback = {}) const;
  // Every value of the option in command-line order; empty if absent.
  std::vector<std::string> getAll(const std::string& option) const;
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  friend int runCli(const std::vector<std::string>&, const std::vector<Command>&, std::ostream&,
                    std::ostream&);
  std::map<std::string, std::vector<std::string>> values_;
  std::vector<std::string> positional_;
};

// Where a handler writes: results to `out`, diagnostics (one line per problem) to `err`.
struct Io {
  std::ostream& out;
  std::ostream& err;
};

struct Command {
  std::string path;   // "pki init" (space-separated words)
  std::string help;   // one line for `erdsctl --help`
  std::string usage;  // arguments after the path: "--dir DIR [--force]"
  std::vector<OptionSpec> options;
  std::vector<std::string> positionalNames;      // exact positional arguments, e.g. {"FILE"}
  std::string details;                           // optional extra text for `erdsctl <path> --help`
  std::function<int(const Args&, Io&)> handler;  // returns an exit code
};

// Every subcommand erdsctl knows, in the order --help lists them.
const std::vector<Command>& builtinCommands();

// Runs one erdsctl invocation. `args` excludes the program name. `--help`/`-h` alone (or no
// arguments) lists the commands; `<path> --help` prints that command's usage; `--version` prints
// the version. An unknown command or bad option writes one line to `err` and returns kExitUsage;
// otherwise returns the handler's exit code. Handler exceptions are caught here (kExitFailure).
int runCli(const std::vector<std::string>& args, const std::vector<Command>& commands,
           std::ostream& out, std::ostream& err);

}  // namespace erds::ctl
