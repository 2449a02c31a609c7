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
      {"http.header_timeout", K::Duration, "10s", "time allowed to receive one request's header section (<= request_timeout)", {}},
      {"http.rate_per_ip_per_second", K::Int, "200", "requests per second per client IP (IPv6: per /64) before 429; 0 = off", {}},
      {"http.rate_burst", K::Int, "400", "burst of the per-IP rate limit (0 = one second of rate)", {}},
      {"http.rate_exempt_ips", K::String, "127.0.0.1,::1", "comma-separated client addresses exempt from the per-IP limit", {}},
      {"http.rate_per_account_per_second", K::Int, "1000", "authenticated requests per second per party before 429; 0 = off", {}},
      {"http.rate_account_burst", K::Int, "2000", "burst of the per-account rate limit (0 = one second of rate)", {}},
      {"http.client_cert_port", K::Port, "8444", "HTTPS listener that asks for client certificates (identity)", {}},
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
      // identity
      {"identity.sender_min_level", K::Enum, "", "minimum identification level to submit (\"\" = the mode's profile)",
       {"", "none", "low", "substantial", "high"}},
      {"identity.recipient_min_level", K::Enum, "", "minimum identification level for a handover (\"\" = the mode's profile)",
       {"", "none", "low", "substantial", "high"}},
      {"identity.require_strong_authentication", K::Enum, "",
       "multi-factor or certificate login before submission and handover (\"\" = true in qualified mode, else false)",
       {"", "true", "false"}},
      {"identity.second_approval_for_high", K::Bool, "true", "level high needs a second officer's approval", {}},
      {"identity.argon2_t_cost", K::Int, "3", "Argon2id iterations", {}},
      {"identity.argon2_m_cost_kib", K::Int, "65536", "Argon2id memory in KiB", {}},
      {"identity.argon2_parallelism", K::Int, "1", "Argon2id lanes", {}},
      {"identity.session_idle_timeout", K::Duration, "30m", "a session ends after this long without use", {}},
      {"identity.session_absolute_timeout", K::Duration, "12h", "a session ends this long after login", {}},
      {"identity.document_pepper_file", K::SecretFile, "",
       "key (>= 32 bytes) for the keyed hash of identity document numbers (mode 0400/0600)", {}},
      {"identity.client_ca_file", K::Path, "", "PEM trust anchors for client certificates", {}},
      {"identity.qualified_ca_file", K::Path, "", "PEM qualified CAs (from the EU trusted lists)", {}},
      {"identity.crl_file", K::Path, "", "PEM CRLs for client certificate revocation checks", {}},
      {"identity.require_crl", K::Bool, "false", "refuse client certificates without a CRL for their issuer", {}},
      {"identity.totp_issuer", K::String, "erds", "issuer shown by authenticator apps", {}},
      {"identity.submit_methods", K::String, "",
       "comma-separated identification methods accepted to submit (\"\" = the mode's profile)", {}},
      {"identity.handover_methods", K::String, "",
       "comma-separated identification methods accepted for a handover (\"\" = the mode's profile)", {}},
      {"identity.verification_deadline", K::Duration, "5d", "an open verification request should be decided within this", {}},
      {"identity.max_document_bytes", K::Bytes, "10MiB", "largest identity document scan accepted", {}},
      {"identity.document_retention", K::Duration, "30d", "document scans are purged this long after the decision", {}},
      {"identity.purge_interval", K::Duration, "1h", "how often expired personal data is purged", {}},
      {"identity.smtp_app_tokens", K::Enum, "",
       "application tokens accepted for SMTP AUTH (\"\" = yes in development/basic, no in qualified mode)",
       {"", "true", "false"}},
      // signer (erds-signer, the only process holding the evidence-sealing and time-stamping keys)
      {"signer.socket", K::Path, "var/run/erds-signer.sock", "Unix socket of erds-signer (served by it, used by its clients)", {}},
      {"signer.key_dir", K::Path, "", "directory with seal.pem/seal.key and tsu.pem/tsu.key (layout of erdsctl pki init)", {}},
      {"signer.backend", K::Enum, "file", "where erds-signer keeps its keys: PEM files in signer.key_dir or a PKCS#11 token",
       {"file", "pkcs11"}},
      {"signer.user", K::String, "", "erds-signer started as root switches to this user after loading its keys (required as root in basic/qualified)", {}},
      {"signer.group", K::String, "", "erds-signer's group after the switch (\"\" = signer.user's primary group)", {}},
      {"signer.socket_group", K::String, "", "group given to the signer socket (mode 0660; \"\" = the process's group)", {}},
      {"signer.max_signatures_per_second", K::Int, "20000", "erds-signer rate limit (token bucket, burst of one second)", {}},
      {"signer.crl_files", K::String, "",
       "comma-separated PEM CRL files covering the seal certificate chain, checked and kept in every evidence (\"\" = none)", {}},
      {"signer.ca_file", K::Path, "", "PEM CA certificates completing the seal chain for signer.crl_files when the signer's chain lacks them", {}},
      {"signer.ocsp_files", K::String, "",
       "comma-separated OCSP response files (DER or PEM) for the seal and TSU certificates, checked and kept in every evidence (\"\" = none)", {}},
      {"signer.fetch_ocsp", K::Bool, "false", "fetch OCSP responses for the seal and TSU certificates from their AIA OCSP URL, refreshed in the background", {}},
      {"signer.ocsp_refresh_interval", K::Duration, "1h", "with signer.fetch_ocsp: refetch at least this often (and at half of each response's validity)", {}},
      {"signer.ocsp_timeout", K::Duration, "5s", "with signer.fetch_ocsp: timeout per OCSP request", {}},
      {"signer.mode", K::Enum, "socket", "how erdsd and erds-smtpd get signatures: from erds-signer (socket) or in-process keys (development)",
       {"inprocess", "socket"}},
      {"pkcs11.module", K::Path, "", "PKCS#11 module (e.g. /usr/lib/softhsm/libsofthsm2.so)", {}},
      {"pkcs11.token_uri", K::String, "", "RFC 7512 token URI without object or PIN, e.g. pkcs11:token=erds", {}},
      {"pkcs11.pin_file", K::SecretFile, "", "user PIN of the PKCS#11 token (mode 0400/0600)", {}},
      // tsa
      {"tsa.source", K::Enum, "builtin", "time stamps from the built-in RFC 3161 unit or external TSAs", {"builtin", "external"}},
      {"tsa.policy_oid", K::String, "1.3.6.1.4.1.55555.1.1",
       "TSA policy OID of the built-in unit (default: a private-arc OID for development, not a registered policy)", {}},
      {"tsa.accuracy", K::Duration, "1s", "accuracy stated in built-in time stamps", {}},
      {"tsa.require_synced_clock", K::Bool, "true", "refuse to issue time stamps while the kernel reports an unsynchronised clock", {}},
      {"tsa.urls", K::String, "", "comma-separated RFC 3161 URLs of external TSAs, tried in order", {}},
      {"tsa.trust_anchors", K::Path, "", "PEM trust anchors for external time-stamp tokens", {}},
      {"tsa.timeout", K::Duration, "5s", "timeout per external TSA request", {}},
      {"tsa.qualified_trust_anchors", K::Path, "",
       "PEM trust anchors of qualified TSAs for service.mode=qualified (\"\" = tsa.trust_anchors)", {}},
      {"tsa.tls_ca_file", K::Path, "", "PEM CAs for https:// TSA servers (\"\" = the system trust store)", {}},
      {"tsa.auth_token_file", K::SecretFile, "",
       "bearer token sent to the external TSAs (e.g. a session token for another erdsd's POST /tsa)", {}},
      {"tsa.serve", K::Bool, "false", "expose the built-in unit at POST /tsa (RFC 3161 over HTTP, authenticated clients only)", {}},
      // smtp (erds-smtpd, the registered e-mail gateway)
      {"smtp.address", K::String, "127.0.0.1", "SMTP listen address (submission and MX)", {}},
      {"smtp.submission_port", K::Port, "2525", "submission listener: STARTTLS + AUTH (0 = any free port)", {}},
      {"smtp.mx_port", K::Port, "2526", "inbound MX listener for our users' addresses (0 = any free port)", {}},
      {"smtp.hostname", K::String, "", "name in the SMTP greeting and EHLO (\"\" = first of service.domains)", {}},
      {"smtp.tls_certificate", K::Path, "", "PEM certificate followed by its chain, for STARTTLS", {}},
      {"smtp.tls_key", K::SecretFile, "", "PEM private key of smtp.tls_certificate (mode 0400/0600)", {}},
      {"smtp.max_message_bytes", K::Bytes, "64MiB", "SIZE limit of one message", {}},
      {"smtp.max_connections", K::Int, "200", "open SMTP connections over both listeners", {}},
      {"smtp.idle_timeout", K::Duration, "300s", "idle time before an SMTP connection is closed (421 4.4.2)", {}},
      {"smtp.spool_dir", K::Path, "", "private directory for large messages being received (\"\" = $TMPDIR)", {}},
      {"smtp.service_address", K::String, "", "REM service mailbox, envelope sender of REM messages (\"\" = rem-service@<first domain>)", {}},
      {"smtp.max_recipients", K::Int, "100", "recipients accepted per message", {}},
      {"smtp.max_messages_per_connection", K::Int, "100", "messages accepted on one connection (then 452 4.5.3); the command limit per connection is 10 per message, at least 1000", {}},
      {"smtp.relay_host", K::String, "", "smart host for outbound mail (\"\" = MX lookup)", {}},
      {"smtp.relay_port", K::Port, "25", "port of smtp.relay_host or of looked-up MX hosts", {}},
      {"smtp.mx_rate_per_minute", K::Int, "600", "messages accepted per minute from one client IP on the MX listener", {}},
      {"smtp.mx_authentication", K::Bool, "true", "check SPF, DKIM and DMARC of inbound MX mail (recorded; Authentication-Results prepended)", {}},
      {"smtp.mx_dmarc_enforce", K::Bool, "false", "refuse inbound MX mail failing DMARC under p=reject (550 5.7.1); false = record only", {}},
      {"smtp.rem_peer_certificates", K::Path, "", "PEM: pinned signing certificates of peer REM providers (+ CAs of their evidence); \"\" = refuse inbound REM", {}},
      // audit
      {"audit.anchor_interval", K::Duration, "10m", "how often erdsd time-stamps the heads of the audit log's hash chains (0 = never)", {}},
      // metrics
      {"metrics.enabled", K::Bool, "true", "serve /metrics", {}},
      {"portal.verify_trust_file", K::Path, "", "PEM trust anchors of the portal's public \"verify evidence\" page (\"\" = signer.key_dir/root-ca.pem if present)", {}},
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
