// Configuration: one INI file, defaults embedded in the binary, non-secret keys overridable by
// ERDS_* environment variables (ERDS_HTTP_PORT overrides http.port), secrets only from files.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "erds/base/result.h"
#include "erds/base/secret.h"

namespace erds {

enum class ServiceMode { Development, Basic, Qualified };
std::string_view serviceModeName(ServiceMode m);

enum class ConfigKind {
  String,
  Int,         // signed 64-bit decimal
  Port,        // 0..65535 (0 = pick any free port; for tests)
  Bool,        // true/false/yes/no/on/off/1/0
  Duration,    // integer + unit: 500ms, 30s, 10m, 2h, 15d
  Bytes,       // integer + optional unit: 1048576, 512KiB, 10MiB, 1GiB
  Path,        // a file or directory path (relative paths resolve against the config file's folder)
  SecretFile,  // a path to a file holding a secret; the file must be mode 0400 or 0600;
               // never overridable from the environment
  Enum,        // one of `choices`
};

struct ConfigKeySpec {
  std::string key;          // "section.name"
  ConfigKind kind;
  std::string defaultValue; // "" = unset
  std::string help;
  std::vector<std::string> choices;  // for Enum
};

// The full table of keys every erds process understands. Later components add their keys here
// (erds-core/base/src/config_schema.cpp) so that unknown keys can be rejected everywhere.
const std::vector<ConfigKeySpec>& builtinConfigSchema();

// Names of keys whose *values* are secrets (e.g. "database.password"). They may never appear in a
// file or in the environment; the file names the secret through "<key>_file" instead.
const std::vector<std::string>& forbiddenSecretKeys();

class Config {
 public:
  // Loads `path` (empty: defaults only), then applies overrides from `env` (name -> value; pass the
  // process environment from main). Errors (InvalidInput) are one line naming the key and the file:
  // unknown key, malformed value, unreadable file, a secret given through the environment.
  // `schema` defaults to builtinConfigSchema().
  static Result<Config> load(const std::string& path, const std::map<std::string, std::string>& env,
                             const std::vector<ConfigKeySpec>* schema = nullptr);
  // The process environment as a map (only ERDS_* variables).
  static std::map<std::string, std::string> processEnvironment();

  // Typed getters. Precondition: `key` is in the schema with a compatible kind (else abort: bug).
  std::string getString(const std::string& key) const;
  int64_t getInt(const std::string& key) const;        // Int, Port
  bool getBool(const std::string& key) const;
  int64_t getMillis(const std::string& key) const;     // Duration
  int64_t getBytes(const std::string& key) const;      // Bytes
  std::string getPath(const std::string& key) const;   // Path / SecretFile, resolved; "" if unset
  bool isSet(const std::string& key) const;            // has a non-empty value
  ServiceMode mode() const;                            // service.mode

  // Reads the secret file named by SecretFile key `key`. Refuses (InvalidInput) a missing file, a
  // file readable by group/others (mode must be 0400 or 0600) or an unset key. Trailing newline is
  // stripped.
  Result<Secret> readSecret(const std::string& key) const;

  // Where the value of `key` came from: "default", the config file path, or "env:ERDS_...".
  std::string sourceOf(const std::string& key) const;
  const std::string& filePath() const { return path_; }

  // For tests and tools: set a value directly (validated like a file value).
  Result<void> setForTest(const std::string& key, const std::string& value);

 private:
  Config() = default;
  struct Entry {
    const ConfigKeySpec* spec = nullptr;
    std::string value;
    std::string source;
  };
  const Entry& entry(const std::string& key, std::initializer_list<ConfigKind> kinds) const;
  std::string path_;
  std::string baseDir_;
  std::vector<ConfigKeySpec> schema_;
  std::map<std::string, Entry> entries_;
};

// Reads a secret file with the same rules as Config::readSecret (mode 0400/0600, owned by us or
// root). `what` names the key for the error message.
Result<Secret> readSecretFile(const std::string& path, const std::string& what);

}  // namespace erds
