// The table of configuration keys every erds process understands. Components add their keys here,
// so that an unknown key (a typo) is an error in every process.
#include <string>
#include <vector>

#include "erds/base/config.h"

namespace erds {

const std::vector<ConfigKeySpec>& builtinConfigSchema() {
  using K = ConfigKind;
  static const std::vector<ConfigKeySpec> kSchema = {
      // service
      {"service.mode", K::Enum, "development",
       "development (embedded dev PKI, demo data allowed), basic, or qualified", {"development", "basic", "qualified"}},
      {"service.name", K::String, "erds", "service name shown to users and in evidence", {}},
      {"service.domains", K::String, "example.test", "comma-separated mail domains served", {}},
      {"service.demo_accounts", K::Bool, "false", "create demo accounts (development mode only)", {}},
      // log
      {"log.level", K::Enum, "info", "minimum log level", {"debug", "info", "warn", "error"}},
      // http
      {"http.address", K::String, "127.0.0.1", "HTTPS listen address", {}},
      {"http.port", K::Port, "8443", "HTTPS listen port (0 = any free port)", {}},
      {"http.tls_certificate", K::Path, "", "PEM server certificate followed by its chain", {}},
      {"http.tls_key", K::SecretFile, "", "PEM private key of the server certificate (mode 0400/0600)", {}},
      {"http.max_body_bytes", K::Bytes, "64MiB", "largest accepted request body", {}},
      {"http.max_header_bytes", K::Bytes, "16KiB", "largest accepted request header section", {}},
      {"http.max_headers", K::Int, "100", "most header fields accepted in one request", {}},
      {"http.threads", K::Int, "16", "request worker threads", {}},
      {"http.max_queued", K::Int, "128", "connections queued before new ones are refused", {}},
      {"http.request_timeout", K::Duration, "30s", "time allowed to receive one request", {}},
      // database
      {"database.conninfo", K::String, "", "libpq conninfo of the daemon role (empty = PG* environment)", {}},
      {"database.password_file", K::SecretFile, "", "password of the daemon role (mode 0400/0600)", {}},
      {"database.pool_size", K::Int, "8", "maximum open database connections", {}},
      {"database.acquire_timeout", K::Duration, "2s", "wait for a free pooled connection", {}},
      {"database.app_role", K::String, "erds_app", "database role the daemons use (granted by migrations)", {}},
      {"database.owner_conninfo", K::String, "", "libpq conninfo of the owner role (migrations)", {}},
      {"database.owner_password_file", K::SecretFile, "", "password of the owner role (mode 0400/0600)", {}},
      // secrets
      {"secrets.kek_file", K::SecretFile, "", "key-encryption key: 32 bytes or 64 hex characters (mode 0400/0600)", {}},
      // metrics
      {"metrics.enabled", K::Bool, "true", "serve /metrics", {}},
  };
  return kSchema;
}

const std::vector<std::string>& forbiddenSecretKeys() {
  static const std::vector<std::string> kKeys = {
      "database.password",       "database.owner_password", "secrets.kek",     "http.tls_key_pem",
      "http.tls_key_password",   "signer.key_pin",          "signer.pin",      "smtp.password",
      "smtp.relay_password",
  };
  return kKeys;
}

}  // namespace erds
