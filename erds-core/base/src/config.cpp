// Strict INI configuration: every key must be in the schema, every value is validated at load, and
// secrets only ever come from files with owner-only permissions.
#include "erds/base/config.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <limits>
#include <optional>

#include <openssl/crypto.h>

extern char** environ;

namespace erds {
namespace {

constexpr std::size_t kMaxConfigBytes = 1 << 20;
constexpr std::size_t kMaxSecretBytes = 1 << 20;
// ERDS_* variables that are not configuration keys (read by wrapper scripts).
const char* const kEnvAllowlist[] = {"ERDS_CONFIG"};

std::string trim(std::string_view s) {
  std::size_t b = 0;
  std::size_t e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string envNameFor(const std::string& key) {
  std::string out = "ERDS_";
  for (char c : key) out += c == '.' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

bool validName(std::string_view s) {
  if (s.empty()) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

const ConfigKeySpec* findSpec(const std::vector<ConfigKeySpec>& schema, std::string_view key) {
  for (const auto& s : schema)
    if (s.key == key) return &s;
  return nullptr;
}

// The key that names the file holding secret `secretKey`.
std::string fileKeyFor(const std::vector<ConfigKeySpec>& schema, const std::string& secretKey) {
  if (findSpec(schema, secretKey + "_file") != nullptr) return secretKey + "_file";
  const std::string pem = "_pem";
  if (secretKey.size() > pem.size() && secretKey.compare(secretKey.size() - pem.size(), pem.size(), pem) == 0) {
    std::string stem = secretKey.substr(0, secretKey.size() - pem.size());
    if (findSpec(schema, stem) != nullptr) return stem;
  }
  return secretKey + "_file";
}

// Every secret name that may not appear as a key: the fixed list plus one per SecretFile key.
std::vector<std::string> forbiddenNames(const std::vector<ConfigKeySpec>& schema) {
  std::vector<std::string> out = forbiddenSecretKeys();
  for (const auto& s : schema) {
    if (s.kind != ConfigKind::SecretFile) continue;
    const std::string suffix = "_file";
    if (s.key.size() > suffix.size() && s.key.compare(s.key.size() - suffix.size(), suffix.size(), suffix) == 0)
      out.push_back(s.key.substr(0, s.key.size() - suffix.size()));
    else
      out.push_back(s.key + "_pem");
  }
  return out;
}

std::optional<int64_t> parseInt(std::string_view s) {
  if (s.empty()) return std::nullopt;
  std::string_view digits = s;
  if (digits.front() == '+') digits.remove_prefix(1);
  int64_t v = 0;
  auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
  if (ec != std::errc() || p != digits.data() + digits.size() || digits.empty()) return std::nullopt;
  return v;
}

std::optional<int64_t> parseUnsignedWithUnit(std::string_view s, std::string& unit) {
  std::size_t i = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
  if (i == 0) return std::nullopt;
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + i, v);
  if (ec != std::errc()) return std::nullopt;
  unit = trim(s.substr(i));
  return v;
}

std::optional<int64_t> checkedMul(int64_t v, int64_t m) {
  if (v > std::numeric_limits<int64_t>::max() / m) return std::nullopt;
  return v * m;
}

std::optional<int64_t> parseDurationMs(std::string_view s) {
  std::string unit;
  auto v = parseUnsignedWithUnit(s, unit);
  if (!v) return std::nullopt;
  if (unit == "ms") return *v;
  if (unit == "s") return checkedMul(*v, 1000);
  if (unit == "m") return checkedMul(*v, 60'000);
  if (unit == "h") return checkedMul(*v, 3'600'000);
  if (unit == "d") return checkedMul(*v, 86'400'000);
  if (unit.empty() && *v == 0) return 0;
  return std::nullopt;
}

std::optional<int64_t> parseBytes(std::string_view s) {
  std::string unit;
  auto v = parseUnsignedWithUnit(s, unit);
  if (!v) return std::nullopt;
  if (unit.empty() || unit == "B") return *v;
  if (unit == "KiB") return checkedMul(*v, int64_t{1} << 10);
  if (unit == "MiB") return checkedMul(*v, int64_t{1} << 20);
  if (unit == "GiB") return checkedMul(*v, int64_t{1} << 30);
  if (unit == "TiB") return checkedMul(*v, int64_t{1} << 40);
  return std::nullopt;
}

std::optional<bool> parseBool(std::string_view s) {
  std::string v = lower(std::string(s));
  if (v == "true" || v == "yes" || v == "on" || v == "1") return true;
  if (v == "false" || v == "no" || v == "off" || v == "0") return false;
  return std::nullopt;
}

// Lower bounds for counts where 0 or less would make the process useless.
std::optional<int64_t> minimumFor(const std::string& key) {
  if (key == "database.pool_size" || key == "http.threads" || key == "http.max_queued" ||
      key == "http.max_headers")
    return 1;
  return std::nullopt;
}

bool conninfoHasPassword(const std::string& v) {
  const std::string l = lower(v);
  for (std::size_t pos = l.find("password"); pos != std::string::npos; pos = l.find("password", pos + 1)) {
    bool startOk = pos == 0 || std::isspace(static_cast<unsigned char>(l[pos - 1]));
    std::size_t j = pos + 8;
    while (j < l.size() && std::isspace(static_cast<unsigned char>(l[j]))) ++j;
    if (startOk && j < l.size() && l[j] == '=') return true;
    // URI query form: ...?password=... or &password=...
    if (pos > 0 && (l[pos - 1] == '?' || l[pos - 1] == '&')) return true;
  }
  // URI form postgresql://user:secret@host
  for (const char* scheme : {"postgresql://", "postgres://"}) {
    if (l.rfind(scheme, 0) == 0) {
      std::string rest = l.substr(std::strlen(scheme));
      auto at = rest.find('@');
      auto slash = rest.find('/');
      if (at != std::string::npos && (slash == std::string::npos || at < slash) &&
          rest.substr(0, at).find(':') != std::string::npos)
        return true;
    }
  }
  return false;
}

// Validates `value` for `spec`; returns the error text after "key '...': " or nullopt if fine.
std::optional<std::string> validate(const ConfigKeySpec& spec, const std::string& value) {
  const std::string got = ", got '" + value + "'";
  for (char c : value) {
    if (c == '\n' || c == '\r' || c == '\0') return "value contains a control character";
  }
  switch (spec.kind) {
    case ConfigKind::String:
      if (spec.key.size() >= 8 && spec.key.compare(spec.key.size() - 8, 8, "conninfo") == 0 &&
          conninfoHasPassword(value)) {
        std::string pwKey = spec.key.substr(0, spec.key.size() - 8) + "password_file";
        return "must not contain a password; name a file in " + pwKey;
      }
      return std::nullopt;
    case ConfigKind::Int: {
      auto v = parseInt(value);
      if (!v) return "expected an integer" + got;
      if (auto m = minimumFor(spec.key); m && *v < *m) return "expected an integer >= " + std::to_string(*m) + got;
      return std::nullopt;
    }
    case ConfigKind::Port: {
      auto v = parseInt(value);
      if (!v || *v < 0 || *v > 65535 || value.front() == '+' || value.front() == '-')
        return "expected a port number 0-65535" + got;
      return std::nullopt;
    }
    case ConfigKind::Bool:
      if (!parseBool(value)) return "expected a boolean (true/false/yes/no/on/off/1/0)" + got;
      return std::nullopt;
    case ConfigKind::Duration:
      if (!parseDurationMs(value)) return "expected a duration such as 500ms, 30s, 10m, 2h or 15d" + got;
      return std::nullopt;
    case ConfigKind::Bytes:
      if (!parseBytes(value)) return "expected a size such as 1048576, 512KiB, 10MiB or 1GiB" + got;
      return std::nullopt;
    case ConfigKind::Path:
    case ConfigKind::SecretFile:
      return std::nullopt;
    case ConfigKind::Enum: {
      std::string l = lower(value);
      for (const auto& c : spec.choices)
        if (c == l) return std::nullopt;
      std::string list;
      for (const auto& c : spec.choices) list += (list.empty() ? "" : "|") + c;
      return "expected one of " + list + got;
    }
  }
  return std::nullopt;
}

std::string normalise(const ConfigKeySpec& spec, const std::string& value) {
  return spec.kind == ConfigKind::Enum ? lower(value) : value;
}

// Parses the value part of "key = value": a "quoted string" or a bare value with an optional
// trailing " # comment" / " ; comment".
std::optional<std::string> parseValue(std::string_view raw) {
  std::string v = trim(raw);
  if (!v.empty() && v.front() == '"') {
    std::string out;
    std::size_t i = 1;
    for (; i < v.size(); ++i) {
      if (v[i] == '\\' && i + 1 < v.size() && (v[i + 1] == '"' || v[i + 1] == '\\')) {
        out += v[++i];
      } else if (v[i] == '"') {
        break;
      } else {
        out += v[i];
      }
    }
    if (i >= v.size()) return std::nullopt;  // no closing quote
    std::string rest = trim(std::string_view(v).substr(i + 1));
    if (!rest.empty() && rest.front() != '#' && rest.front() != ';') return std::nullopt;
    return out;
  }
  for (std::size_t i = 1; i < v.size(); ++i) {
    if ((v[i] == '#' || v[i] == ';') && std::isspace(static_cast<unsigned char>(v[i - 1]))) {
      v.resize(i);
      break;
    }
  }
  return trim(v);
}

Result<std::string> readWholeFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Error::invalidInput(path + ": cannot read: " + std::strerror(errno));
  std::string data;
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      ::close(fd);
      return Error::invalidInput(path + ": cannot read: " + std::strerror(e));
    }
    if (n == 0) break;
    data.append(buf, static_cast<std::size_t>(n));
    if (data.size() > kMaxConfigBytes) {
      ::close(fd);
      return Error::invalidInput(path + ": file is larger than 1 MiB");
    }
  }
  ::close(fd);
  return data;
}

}  // namespace

std::string_view serviceModeName(ServiceMode m) {
  switch (m) {
    case ServiceMode::Development: return "development";
    case ServiceMode::Basic: return "basic";
    case ServiceMode::Qualified: return "qualified";
  }
  return "development";
}

Result<Config> Config::load(const std::string& path, const std::map<std::string, std::string>& env,
                            const std::vector<ConfigKeySpec>* schema) {
  Config cfg;
  cfg.schema_ = schema != nullptr ? *schema : builtinConfigSchema();
  cfg.path_ = path;
  std::error_code ec;
  if (!path.empty()) {
    auto abs = std::filesystem::absolute(path, ec);
    cfg.baseDir_ = ec ? std::string(".") : abs.parent_path().string();
  } else {
    auto cwd = std::filesystem::current_path(ec);
    cfg.baseDir_ = ec ? std::string(".") : cwd.string();
  }
  for (const auto& s : cfg.schema_) cfg.entries_[s.key] = Entry{nullptr, s.defaultValue, "default"};
  const std::vector<std::string> forbidden = forbiddenNames(cfg.schema_);
  auto isForbidden = [&](const std::string& key) {
    return std::find(forbidden.begin(), forbidden.end(), key) != forbidden.end();
  };

  // 1. The file.
  if (!path.empty()) {
    auto data = readWholeFile(path);
    if (!data) return std::move(data).error();
    std::string_view text = *data;
    if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);  // UTF-8 BOM
    std::string section;
    std::map<std::string, int> seenAt;
    int lineNo = 0;
    std::size_t pos = 0;
    while (pos <= text.size()) {
      std::size_t nl = text.find('\n', pos);
      std::string_view rawLine = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
      pos = nl == std::string_view::npos ? text.size() + 1 : nl + 1;
      ++lineNo;
      const std::string where = path + ":" + std::to_string(lineNo);
      std::string line = trim(rawLine);
      if (line.empty() || line.front() == '#' || line.front() == ';') continue;
      if (line.front() == '[') {
        auto close = line.find(']');
        std::string rest = close == std::string::npos ? "x" : trim(std::string_view(line).substr(close + 1));
        std::string name = close == std::string::npos ? "" : trim(std::string_view(line).substr(1, close - 1));
        if (close == std::string::npos || !validName(name) ||
            (!rest.empty() && rest.front() != '#' && rest.front() != ';'))
          return Error::invalidInput(where + ": malformed section header '" + line + "'");
        section = name;
        continue;
      }
      auto eq = line.find('=');
      if (eq == std::string::npos)
        return Error::invalidInput(where + ": malformed line (expected '[section]' or 'key = value')");
      std::string name = trim(std::string_view(line).substr(0, eq));
      if (!validName(name))
        return Error::invalidInput(where + ": malformed key name '" + name + "' (use lower case, digits and _)");
      if (section.empty()) return Error::invalidInput(where + ": key '" + name + "' outside any [section]");
      const std::string key = section + "." + name;
      if (isForbidden(key))
        return Error::invalidInput(where + ": secret " + key + " cannot be written in the config file; name a file in " +
                                   fileKeyFor(cfg.schema_, key));
      const ConfigKeySpec* spec = findSpec(cfg.schema_, key);
      if (spec == nullptr) return Error::invalidInput(where + ": unknown key '" + key + "'");
      if (auto it = seenAt.find(key); it != seenAt.end())
        return Error::invalidInput(where + ": key '" + key + "' set twice (first on line " +
                                   std::to_string(it->second) + ")");
      seenAt[key] = lineNo;
      auto value = parseValue(std::string_view(line).substr(eq + 1));
      if (!value) return Error::invalidInput(where + ": key '" + key + "': malformed quoted value");
      if (auto why = validate(*spec, *value)) return Error::invalidInput(path + ": key '" + key + "': " + *why);
      cfg.entries_[key] = Entry{nullptr, normalise(*spec, *value), path};
    }
  }

  // 2. The environment. A misspelt ERDS_ variable must not silently do nothing.
  for (const auto& [name, value] : env) {
    if (name.rfind("ERDS_", 0) != 0) continue;
    if (std::find(std::begin(kEnvAllowlist), std::end(kEnvAllowlist), name) != std::end(kEnvAllowlist)) continue;
    bool handled = false;
    for (const auto& secretKey : forbidden) {
      if (envNameFor(secretKey) == name)
        return Error::invalidInput("secret " + secretKey + " cannot come from the environment; name a file in " +
                                   fileKeyFor(cfg.schema_, secretKey));
    }
    for (const auto& spec : cfg.schema_) {
      if (envNameFor(spec.key) != name) continue;
      handled = true;
      if (spec.kind == ConfigKind::SecretFile)
        return Error::invalidInput("environment variable " + name + ": key '" + spec.key +
                                   "' names a secret file and can only be set in the config file");
      if (auto why = validate(spec, value))
        return Error::invalidInput("environment variable " + name + ": key '" + spec.key + "': " + *why);
      cfg.entries_[spec.key] = Entry{nullptr, normalise(spec, value), "env:" + name};
      break;
    }
    if (!handled)
      return Error::invalidInput("environment variable " + name + " does not name a configuration key");
  }

  // 3. Rules across keys.
  const std::string where = path.empty() ? std::string("configuration") : path;
  if (findSpec(cfg.schema_, "service.mode") != nullptr) {
    const ServiceMode m = cfg.mode();
    if (m != ServiceMode::Development && findSpec(cfg.schema_, "service.demo_accounts") != nullptr &&
        cfg.getBool("service.demo_accounts"))
      return Error::invalidInput(where + ": key 'service.demo_accounts': demo accounts are allowed only with "
                                 "service.mode = development (mode is " + std::string(serviceModeName(m)) + ")");
    if (m == ServiceMode::Qualified) {
      for (const char* k : {"http.tls_certificate", "http.tls_key", "secrets.kek_file"}) {
        if (findSpec(cfg.schema_, k) != nullptr && !cfg.isSet(k))
          return Error::invalidInput(where + ": key '" + std::string(k) +
                                     "': required when service.mode = qualified");
      }
    }
  }
  return cfg;
}

std::map<std::string, std::string> Config::processEnvironment() {
  std::map<std::string, std::string> out;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view kv(*e);
    if (kv.rfind("ERDS_", 0) != 0) continue;
    auto eq = kv.find('=');
    if (eq == std::string_view::npos) continue;
    out.emplace(std::string(kv.substr(0, eq)), std::string(kv.substr(eq + 1)));
  }
  return out;
}

const Config::Entry& Config::entry(const std::string& key, std::initializer_list<ConfigKind> kinds) const {
  const ConfigKeySpec* spec = findSpec(schema_, key);
  ERDS_CHECK(spec != nullptr, "config key '" + key + "' is not in the schema");
  ERDS_CHECK(std::find(kinds.begin(), kinds.end(), spec->kind) != kinds.end(),
             "config key '" + key + "' read with a getter of the wrong kind");
  auto it = entries_.find(key);
  ERDS_CHECK(it != entries_.end(), "config key '" + key + "' has no entry");
  return it->second;
}

std::string Config::getString(const std::string& key) const {
  return entry(key, {ConfigKind::String, ConfigKind::Enum, ConfigKind::Path, ConfigKind::SecretFile}).value;
}

int64_t Config::getInt(const std::string& key) const {
  const auto& e = entry(key, {ConfigKind::Int, ConfigKind::Port});
  auto v = parseInt(e.value);
  ERDS_CHECK(v.has_value(), "config key '" + key + "' holds no integer (unset Int key without default?)");
  return *v;
}

bool Config::getBool(const std::string& key) const {
  auto v = parseBool(entry(key, {ConfigKind::Bool}).value);
  ERDS_CHECK(v.has_value(), "config key '" + key + "' holds no boolean");
  return *v;
}

int64_t Config::getMillis(const std::string& key) const {
  auto v = parseDurationMs(entry(key, {ConfigKind::Duration}).value);
  ERDS_CHECK(v.has_value(), "config key '" + key + "' holds no duration");
  return *v;
}

int64_t Config::getBytes(const std::string& key) const {
  auto v = parseBytes(entry(key, {ConfigKind::Bytes}).value);
  ERDS_CHECK(v.has_value(), "config key '" + key + "' holds no size");
  return *v;
}

std::string Config::getPath(const std::string& key) const {
  const std::string& v = entry(key, {ConfigKind::Path, ConfigKind::SecretFile}).value;
  if (v.empty()) return {};
  std::filesystem::path p(v);
  if (p.is_absolute()) return p.lexically_normal().string();
  return (std::filesystem::path(baseDir_) / p).lexically_normal().string();
}

bool Config::isSet(const std::string& key) const {
  auto it = entries_.find(key);
  return it != entries_.end() && !it->second.value.empty();
}

ServiceMode Config::mode() const {
  if (findSpec(schema_, "service.mode") == nullptr) return ServiceMode::Development;
  const std::string m = getString("service.mode");
  if (m == "qualified") return ServiceMode::Qualified;
  if (m == "basic") return ServiceMode::Basic;
  return ServiceMode::Development;
}

Result<Secret> Config::readSecret(const std::string& key) const {
  const ConfigKeySpec* spec = findSpec(schema_, key);
  if (spec == nullptr || spec->kind != ConfigKind::SecretFile)
    return Error::invalidInput("key '" + key + "' is not a secret-file key");
  const std::string where = path_.empty() ? std::string("configuration") : path_;
  if (!isSet(key)) return Error::invalidInput(where + ": key '" + key + "': not set");
  return readSecretFile(getPath(key), key);
}

std::string Config::sourceOf(const std::string& key) const {
  auto it = entries_.find(key);
  return it == entries_.end() ? std::string() : it->second.source;
}

Result<void> Config::setForTest(const std::string& key, const std::string& value) {
  const ConfigKeySpec* spec = findSpec(schema_, key);
  if (spec == nullptr) return Error::invalidInput("unknown key '" + key + "'");
  if (auto why = validate(*spec, value)) return Error::invalidInput("key '" + key + "': " + *why);
  entries_[key] = Entry{nullptr, normalise(*spec, value), "test"};
  return ok();
}

Result<Secret> readSecretFile(const std::string& path, const std::string& what) {
  const std::string prefix = path + ": key '" + what + "': ";
  // Open first, then check the opened file, so a swap between check and read does not matter.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return Error::invalidInput(prefix + "cannot read secret file: " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    return Error::invalidInput(prefix + "cannot stat secret file: " + std::strerror(e));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return Error::invalidInput(prefix + "secret file is not a regular file");
  }
  if ((st.st_mode & 077) != 0) {
    ::close(fd);
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return Error::invalidInput(prefix + "secret file has mode " + mode +
                               "; it must be 0400 or 0600 (readable by its owner only)");
  }
  if (st.st_uid != ::geteuid() && st.st_uid != 0) {
    ::close(fd);
    return Error::invalidInput(prefix + "secret file must be owned by this user or root (owner uid " +
                               std::to_string(st.st_uid) + ")");
  }
  std::string data;
  data.reserve(static_cast<std::size_t>(std::min<off_t>(st.st_size, static_cast<off_t>(kMaxSecretBytes))) + 1);
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int e = errno;
      ::close(fd);
      OPENSSL_cleanse(buf, sizeof buf);
      Secret wipe(std::move(data));
      return Error::invalidInput(prefix + "cannot read secret file: " + std::strerror(e));
    }
    if (n == 0) break;
    if (data.size() + static_cast<std::size_t>(n) > kMaxSecretBytes) {
      ::close(fd);
      OPENSSL_cleanse(buf, sizeof buf);
      Secret wipe(std::move(data));
      return Error::invalidInput(prefix + "secret file is larger than 1 MiB");
    }
    data.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  OPENSSL_cleanse(buf, sizeof buf);
  if (!data.empty() && data.back() == '\n') data.pop_back();
  if (!data.empty() && data.back() == '\r') data.pop_back();
  return Secret(std::move(data));
}

}  // namespace erds
