// The erdsctl dispatcher: finds the Command whose path matches the leading words, validates the
// options against its OptionSpecs and calls the handler.
#include "erds/ctl/command.h"

#include <algorithm>
#include <cstddef>
#include <exception>
#include <sstream>
#include <string_view>

#ifndef ERDS_VERSION
#define ERDS_VERSION "unknown"
#endif

namespace erds::ctl {
namespace {

std::vector<std::string> splitWords(const std::string& path) {
  std::vector<std::string> words;
  std::istringstream in(path);
  for (std::string w; in >> w;)
    words.push_back(w);
  return words;
}

bool isHelp(std::string_view a) {
  return a == "--help" || a == "-h";
}

std::string synopsis(const Command& c) {
  std::string s = "erdsctl " + c.path;
  if (!c.usage.empty()) s += " " + c.usage;
  return s;
}

void printOverview(const std::vector<Command>& commands, std::ostream& os,
                   const std::string& onlyGroup = {}) {
  os << "usage: erdsctl <command> [options]   (erdsctl <command> --help for its usage)\n\n"
     << "commands:\n";
  std::size_t width = 0;
  for (const auto& c : commands)
    width = std::max(width, c.path.size());
  for (const auto& c : commands) {
    if (!onlyGroup.empty() && splitWords(c.path).front() != onlyGroup) continue;
    os << "  " << c.path << std::string(width - c.path.size() + 3, ' ') << c.help << "\n";
  }
  if (onlyGroup.empty()) {
    os << "\nother options:\n  --help     this list\n  --version  print the version\n"
       << "\nexit codes: 0 ok, 1 failure, 2 usage or configuration error\n";
  }
}

void printUsage(const Command& c, std::ostream& os) {
  os << "usage: " << synopsis(c) << "\n\n" << c.help << "\n";
  if (!c.options.empty()) {
    os << "\noptions:\n";
    for (const auto& o : c.options) {
      os << "  " << o.name;
      if (!o.valueName.empty()) os << " " << o.valueName;
      if (o.required && o.repeatable) {
        os << "   (required, repeatable)";
      } else if (o.required) {
        os << "   (required)";
      } else if (o.repeatable) {
        os << "   (repeatable)";
      }
      os << "\n";
    }
  }
  if (!c.details.empty()) os << "\n" << c.details << (c.details.back() == '\n' ? "" : "\n");
}

// The number of leading words of `args` that match `c`'s path, or 0 if it does not match.
std::size_t matchLength(const Command& c, const std::vector<std::string>& args) {
  const auto words = splitWords(c.path);
  if (words.empty() || words.size() > args.size()) return 0;
  for (std::size_t i = 0; i < words.size(); ++i) {
    if (words[i] != args[i]) return 0;
  }
  return words.size();
}

}  // namespace

std::string Args::get(const std::string& option, const std::string& fallback) const {
  auto it = values_.find(option);
  return it == values_.end() || it->second.empty() ? fallback : it->second.front();
}

std::vector<std::string> Args::getAll(const std::string& option) const {
  auto it = values_.find(option);
  return it == values_.end() ? std::vector<std::string>{} : it->second;
}

int runCli(const std::vector<std::string>& args, const std::vector<Command>& commands,
           std::ostream& out, std::ostream& err) {
  if (args.empty()) {
    printOverview(commands, err);
    return kExitUsage;
  }
  if (isHelp(args[0]) || args[0] == "help") {
    printOverview(commands, out);
    return kExitOk;
  }
  if (args[0] == "--version") {
    out << "erdsctl " << ERDS_VERSION << "\n";
    return kExitOk;
  }
  if (args[0].starts_with("-")) {
    err << "erdsctl: unknown option '" << args[0] << "' (see 'erdsctl --help')\n";
    return kExitUsage;
  }

  const Command* command = nullptr;
  std::size_t consumed = 0;
  for (const auto& c : commands) {
    const std::size_t n = matchLength(c, args);
    if (n > consumed) {
      command = &c;
      consumed = n;
    }
  }
  if (command == nullptr) {
    const bool isGroup = std::any_of(commands.begin(), commands.end(), [&](const Command& c) {
      return splitWords(c.path).front() == args[0];
    });
    if (isGroup && args.size() >= 2 && isHelp(args[1])) {
      printOverview(commands, out, args[0]);
      return kExitOk;
    }
    std::string shown = args[0];
    if (isGroup && args.size() >= 2) shown += " " + args[1];
    err << "erdsctl: unknown command '" << shown << "' (see 'erdsctl --help')\n";
    return kExitUsage;
  }

  const std::string prefix = "erdsctl " + command->path + ": ";
  Args parsed;
  bool onlyPositional = false;
  for (std::size_t i = consumed; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (!onlyPositional && isHelp(a)) {
      printUsage(*command, out);
      return kExitOk;
    }
    if (!onlyPositional && a == "--") {
      onlyPositional = true;
      continue;
    }
    if (onlyPositional || !a.starts_with("-") || a == "-") {
      parsed.positional_.push_back(a);
      continue;
    }
    const std::size_t eq = a.find('=');
    const std::string name = a.substr(0, eq);
    const auto spec = std::find_if(command->options.begin(), command->options.end(),
                                   [&](const OptionSpec& o) { return o.name == name; });
    if (spec == command->options.end()) {
      err << prefix << "unknown option '" << name << "' (see 'erdsctl " << command->path
          << " --help')\n";
      return kExitUsage;
    }
    if (parsed.has(name) && !spec->repeatable) {
      err << prefix << "option " << name << " given twice\n";
      return kExitUsage;
    }
    if (spec->valueName.empty()) {
      if (eq != std::string::npos) {
        err << prefix << "option " << name << " takes no value\n";
        return kExitUsage;
      }
      parsed.values_[name].push_back("");
      continue;
    }
    if (eq != std::string::npos) {
      parsed.values_[name].push_back(a.substr(eq + 1));
    } else if (i + 1 < args.size()) {
      parsed.values_[name].push_back(args[++i]);
    } else {
      err << prefix << "option " << name << " needs a value " << spec->valueName << "\n";
      return kExitUsage;
    }
  }
  for (const auto& o : command->options) {
    if (o.required && !parsed.has(o.name)) {
      err << prefix << "missing required option " << o.name << " " << o.valueName
          << " (usage: " << synopsis(*command) << ")\n";
      return kExitUsage;
    }
  }
  if (parsed.positional_.size() != command->positionalNames.size()) {
    if (parsed.positional_.size() > command->positionalNames.size()) {
      err << prefix << "unexpected argument '"
          << parsed.positional_[command->positionalNames.size()]
          << "' (usage: " << synopsis(*command) << ")\n";
    } else {
      err << prefix << "missing argument " << command->positionalNames[parsed.positional_.size()]
          << " (usage: " << synopsis(*command) << ")\n";
    }
    return kExitUsage;
  }

  Io io{out, err};
  try {
    return command->handler(parsed, io);
  } catch (const std::exception& e) {
    err << prefix << "internal error: " << e.what() << "\n";
  } catch (...) {
    err << prefix << "internal error\n";
  }
  return kExitFailure;
}

}  // namespace erds::ctl
