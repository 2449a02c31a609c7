// erds-smtpd: the registered e-mail gateway daemon (submission listener, inbound MX listener and
// the outbound relay worker).
//
// SECURITY: the most exposed erds process. It talks SMTP to anyone on the MX port and to
// authenticated users on the submission port, and SMTP as a client to other mail systems. It runs
// as its own uid (erds-smtp) with its own database role (database.* of its config file), reads its
// config file, the TLS certificate and TLS key (the only private key it may hold), the database
// password file and the content KEK (secrets.kek_file, to encrypt content at rest through the core
// library). It never holds a sealing or time-stamping key: seals and REM signatures come from
// erds-signer (signer.mode=socket); signer.mode=inprocess is for development only and refused in
// qualified mode. It never trusts the client's HELO, headers or addresses: relaying is refused on
// MX and submission requires STARTTLS + AUTH with a sender bound to the party.
#include <signal.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <optional>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>

#include "erds/api/sealing_evidence_issuer.h"
#include "erds/base/aead.h"
#include "erds/base/audit.h"
#include "erds/base/config.h"
#include "erds/base/log.h"
#include "erds/base/pg.h"
#include "erds/core/content_vault.h"
#include "erds/core/delivery_store.h"
#include "erds/core/job_queue.h"
#include "erds/identity/identity_service.h"
#include "erds/identity/login_throttle.h"
#include "erds/identity/notifier.h"
#include "erds/smtp/core_submission_sink.h"
#include "erds/smtp/dns_resolver.h"
#include "erds/smtp/rem_peer_verifier.h"
#include "erds/smtp/identity_authenticator.h"
#include "erds/smtp/relay_worker.h"
#include "erds/smtp/smtp_relay_transport.h"
#include "erds/smtp/smtp_server.h"
#include "fake_ports.h"

namespace {

constexpr const char* kUsage =
    "Usage: erds-smtpd --config FILE [options]\n"
    "  --help, --version, --check-config\n"
    "  --port-file FILE             write the bound ports (\"submission=N\\nmx=N\\n\") once listening\n"
    "Settings come from the smtp.* keys of the config file (erdsctl config check lists them).\n"
    "DEVELOPMENT ONLY (refused unless service.mode=development):\n"
    "  --development-sink DIR       store accepted messages as DIR/<id>.eml + .json (no database)\n"
    "  --development-users FILE     users: 'username password party addr1,addr2' per line\n";

int usageError(const std::string& msg) {
  std::cerr << "erds-smtpd: " << msg << "\n";
  return 2;
}

std::vector<std::string> splitList(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.erase(0, 1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.pop_back();
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

std::string where(const erds::Config& c, const std::string& key) { return key + " (" + c.sourceOf(key) + ")"; }

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> opt;
  bool checkOnly = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::cout << kUsage;
      return 0;
    }
    if (a == "--version") {
      std::cout << "erds-smtpd 0.1.0\n";
      return 0;
    }
    if (a == "--check-config") {
      checkOnly = true;
      continue;
    }
    if (a.rfind("--", 0) != 0 || i + 1 >= argc) return usageError("bad argument '" + a + "' (see --help)");
    opt[a.substr(2)] = argv[++i];
  }
  for (const auto& [k, v] : opt) {
    if (k != "config" && k != "port-file" && k != "development-sink" && k != "development-users")
      return usageError("unknown option --" + k + " (see --help)");
  }
  if (!opt.count("config")) return usageError("--config FILE is required (see --help)");
  auto config = erds::Config::load(opt["config"], erds::Config::processEnvironment());
  if (!config) return usageError(config.error().message);
  erds::log::init("erds-smtpd", erds::log::parseLevel(config->getString("log.level")));
  const erds::Config& cfg = *config;

  auto intKey = [&](const std::string& k, int64_t lo, int64_t hi) -> std::optional<int64_t> {
    const int64_t v = cfg.getInt(k);
    if (v < lo || v > hi) return std::nullopt;
    return v;
  };
  const std::vector<std::string> domains = splitList(cfg.getString("service.domains"));
  if (domains.empty()) return usageError(where(cfg, "service.domains") + ": no mail domains");
  const auto maxBytes = cfg.getBytes("smtp.max_message_bytes");
  if (maxBytes < 1024 || maxBytes > (int64_t{1} << 34)) return usageError(where(cfg, "smtp.max_message_bytes") + ": 1KiB..16GiB");
  const auto maxConn = intKey("smtp.max_connections", 1, 100000);
  if (!maxConn) return usageError(where(cfg, "smtp.max_connections") + ": must be 1..100000");
  const auto maxRcpt = intKey("smtp.max_recipients", 1, 10000);
  if (!maxRcpt) return usageError(where(cfg, "smtp.max_recipients") + ": must be 1..10000");
  const auto maxMessages = intKey("smtp.max_messages_per_connection", 1, 100000);
  if (!maxMessages)
    return usageError(where(cfg, "smtp.max_messages_per_connection") + ": must be 1..100000");
  const auto mxRate = intKey("smtp.mx_rate_per_minute", 1, 10000000);
  if (!mxRate) return usageError(where(cfg, "smtp.mx_rate_per_minute") + ": must be 1..10000000");
  const int64_t idleMs = cfg.getMillis("smtp.idle_timeout");
  if (idleMs < 1000 || idleMs > 3600 * 1000) return usageError(where(cfg, "smtp.idle_timeout") + ": must be 1s..1h");
  const std::string cert = cfg.getPath("smtp.tls_certificate");
  const std::string key = cfg.getPath("smtp.tls_key");
  if (cert.empty() != key.empty()) return usageError("smtp.tls_certificate and smtp.tls_key go together (" + cfg.sourceOf("smtp.tls_key") + ")");
  const bool development = cfg.mode() == erds::ServiceMode::Development;
  if (!development && cert.empty())
    return usageError(where(cfg, "smtp.tls_certificate") + ": required outside service.mode=development (AUTH needs STARTTLS)");
  const bool devSink = opt.count("development-sink") > 0;
  if ((devSink || opt.count("development-users")) && !development)
    return usageError("--development-sink/--development-users need service.mode=development (in " + cfg.sourceOf("service.mode") + ")");
  if (opt.count("development-users") && !devSink)
    return usageError("--development-users goes with --development-sink");
  const std::string hostname = cfg.getString("smtp.hostname").empty() ? domains.front() : cfg.getString("smtp.hostname");
  const std::string serviceAddress =
      cfg.getString("smtp.service_address").empty() ? "rem-service@" + domains.front() : cfg.getString("smtp.service_address");

  erds::smtp::ServerConfig sc;
  sc.tlsCertificateFile = cert;
  sc.tlsKeyFile = key;
  sc.maxConnections = static_cast<std::size_t>(*maxConn);
  sc.idleTimeout = std::chrono::milliseconds(idleMs);
  erds::smtp::SessionConfig base;
  base.hostname = hostname;
  for (const auto& d : domains) { std::string l; for (char c : d) l += static_cast<char>(std::tolower(static_cast<unsigned char>(c))); base.localDomains.push_back(l); }
  base.spoolDir = cfg.getPath("smtp.spool_dir");
  base.limits.maxMessageBytes = static_cast<std::size_t>(maxBytes);
  base.limits.maxRecipients = static_cast<std::size_t>(*maxRcpt);
  base.limits.maxMessages = static_cast<std::size_t>(*maxMessages);
  // The command limit per connection (anti-abuse) follows the messages allowed on it: at least
  // 1,000, and 10 commands per message (MAIL, RCPT..., DATA, RSET, NOOP).
  base.limits.maxCommands = std::max<std::size_t>(base.limits.maxCommands, 10 * base.limits.maxMessages);
  base.requireClientCertificate = cfg.mode() == erds::ServiceMode::Qualified;
  for (auto kind : {erds::smtp::ListenerKind::Submission, erds::smtp::ListenerKind::Mx}) {
    erds::smtp::ListenerConfig l;
    l.address = cfg.getString("smtp.address");
    l.port = static_cast<uint16_t>(cfg.getInt(kind == erds::smtp::ListenerKind::Submission ? "smtp.submission_port" : "smtp.mx_port"));
    l.session = base;
    l.session.listener = kind;
    sc.listeners.push_back(l);
  }

  // Development: no database, a users file and a directory sink.
  std::unique_ptr<erds::smtp::testing::InMemoryAuthenticator> devAuth;
  std::unique_ptr<erds::smtp::testing::DirectorySubmissionSink> devSinkImpl;
  // Production: the core library.
  std::unique_ptr<erds::pg::Pool> pool;
  std::optional<erds::crypto::KeyEncryptionKey> kek;
  std::unique_ptr<erds::AuditLog> audit;
  std::unique_ptr<erds::core::ContentVault> vault;
  std::unique_ptr<erds::core::JobQueue> jobs;
  std::unique_ptr<erds::api::SealingEvidenceIssuer> issuer;
  std::unique_ptr<erds::core::DeliveryStore> store;
  std::unique_ptr<erds::smtp::IdentityAuthenticator> idAuth;
  std::unique_ptr<erds::identity::LogNotifier> notifier;
  std::unique_ptr<erds::identity::IdentityService> identityService;
  std::unique_ptr<erds::smtp::CoreSubmissionSink> coreSink;
  std::unique_ptr<erds::smtp::DnsResolver> dns;
  std::shared_ptr<const erds::smtp::RemPeerVerifier> remPeers;
  std::unique_ptr<erds::smtp::SmtpRelayTransport> transport;
  std::unique_ptr<erds::smtp::RelayWorker> worker;
  erds::smtp::Authenticator* auth = nullptr;
  erds::smtp::SubmissionSink* sink = nullptr;
  const erds::Clock& clock = erds::SystemClock::instance();

  if (devSink) {
    devAuth = std::make_unique<erds::smtp::testing::InMemoryAuthenticator>();
    if (opt.count("development-users")) {
      auto r = devAuth->loadFile(opt["development-users"]);
      if (!r) return usageError(r.error().message);
    }
    devSinkImpl = std::make_unique<erds::smtp::testing::DirectorySubmissionSink>(opt["development-sink"]);
    auth = devAuth.get();
    sink = devSinkImpl.get();
  } else {
    erds::pg::PoolOptions po;
    po.conninfo = cfg.getString("database.conninfo");
    if (cfg.isSet("database.password_file")) {
      auto pw = cfg.readSecret("database.password_file");
      if (!pw) return usageError(pw.error().message);
      po.password = std::string(pw->reveal());
    }
    const auto poolSize = intKey("database.pool_size", 1, 1000);
    if (!poolSize) return usageError(where(cfg, "database.pool_size") + ": must be 1..1000");
    po.size = static_cast<int>(*poolSize);
    po.acquireTimeout = std::chrono::milliseconds(cfg.getMillis("database.acquire_timeout"));
    pool = std::make_unique<erds::pg::Pool>(std::move(po));

    erds::Secret kekSecret;
    if (cfg.isSet("secrets.kek_file")) {
      auto s = cfg.readSecret("secrets.kek_file");
      if (!s) return usageError(s.error().message);
      kekSecret = std::move(*s);
    } else if (development) {
      erds::log::warn("content.kek_ephemeral", {{"detail", "secrets.kek_file unset: erdsd cannot read what this process stores"}});
      kekSecret = erds::crypto::randomKey();
    } else {
      return usageError(where(cfg, "secrets.kek_file") + ": required outside service.mode=development");
    }
    auto k = erds::crypto::KeyEncryptionKey::fromSecret(kekSecret);
    if (!k) return usageError(where(cfg, "secrets.kek_file") + ": " + k.error().message);
    kek.emplace(std::move(*k));
    auto k2 = erds::crypto::KeyEncryptionKey::fromSecret(kekSecret);
    audit = std::make_unique<erds::AuditLog>(clock);
    vault = std::make_unique<erds::core::ContentVault>(*pool, *kek, clock, *audit);
    jobs = std::make_unique<erds::core::JobQueue>(*pool, clock);
    erds::pg::Pool* poolPtr = pool.get();
    auto lookup = [poolPtr](const std::string& messageId) -> erds::Result<std::vector<std::string>> {
      auto lease = poolPtr->acquire();
      if (!lease) return std::move(lease).error();
      auto q = (*lease)->execParams(
          "SELECT recipient_identifier FROM deliveries WHERE message_id = $1::uuid ORDER BY recipient_index",
          {erds::pg::Param::text(messageId)});
      if (!q) return std::move(q).error();
      if (q->rows() == 0) return erds::Error::notFound("message " + messageId + " has no deliveries");
      std::vector<std::string> out;
      for (int i = 0; i < q->rows(); ++i) out.push_back(q->get(i, 0));
      return out;
    };
    auto is = erds::api::SealingEvidenceIssuer::fromConfig(cfg, clock, lookup);
    if (!is) return usageError(is.error().message);
    issuer = std::move(*is);
    store = std::make_unique<erds::core::DeliveryStore>(*pool, *issuer, *jobs, clock, *audit);
    auto idKey = erds::identity::LoginThrottle::deriveIdentifierHashKey(kekSecret);
    if (!idKey) return usageError(where(cfg, "secrets.kek_file") + ": " + idKey.error().message);
    auto ia = erds::smtp::IdentityAuthenticator::create(cfg, *pool, std::move(*k2), clock, std::move(*idKey));
    if (!ia) return usageError(ia.error().message);
    idAuth = std::move(*ia);
    // STARTTLS client certificates (qualified mode: certificate + AUTH, 5.2.2-04): validated and
    // mapped to a party by the identity component (identity.client_ca_file /
    // identity.qualified_ca_file, the certificate registry of POST /api/v1/me/certificates).
    auto io = erds::identity::IdentityOptions::fromConfig(cfg);
    if (!io) return usageError(io.error().message);
    if (io->certificateLogin) {
      notifier = std::make_unique<erds::identity::LogNotifier>(false);
      auto svc = erds::identity::IdentityService::create(std::move(*io), *pool, clock, *notifier);
      if (!svc) return usageError(svc.error().message);
      identityService = std::move(*svc);
      erds::identity::IdentityService* svcPtr = identityService.get();
      idAuth->setCertificateResolver([svcPtr](const std::vector<std::string>& chain) { return svcPtr->partyForCertificate(chain); });
    } else if (cfg.mode() == erds::ServiceMode::Qualified) {
      return usageError("identity.client_ca_file or identity.qualified_ca_file (" + cfg.sourceOf("identity.client_ca_file") +
                        "): required in qualified mode (SMTP AUTH needs a client certificate)");
    }
    erds::smtp::CoreSinkOptions so;
    so.localDomains = base.localDomains;
    so.mxRatePerMinute = static_cast<int>(*mxRate);
    so.mxDmarcEnforce = cfg.getBool("smtp.mx_dmarc_enforce");
    so.authservId = hostname;
    if (cfg.getBool("smtp.mx_authentication")) dns = erds::smtp::makeResDnsResolver();
    if (!cfg.getPath("smtp.rem_peer_certificates").empty()) {
      auto rp = erds::smtp::RemPeerVerifier::fromFile(cfg.getPath("smtp.rem_peer_certificates"));
      if (!rp) return usageError(where(cfg, "smtp.rem_peer_certificates") + ": " + rp.error().message);
      remPeers = std::move(*rp);
    }
    erds::smtp::CoreSinkDeps deps{pool.get(), store.get(), vault.get(), jobs.get(), issuer.get(), &clock};
    deps.dns = dns.get();
    deps.remPeers = remPeers.get();
    deps.audit = audit.get();
    coreSink = std::make_unique<erds::smtp::CoreSubmissionSink>(deps, so);
    auth = idAuth.get();
    sink = coreSink.get();

    // REM signatures use the evidence issuer's signer (signer.mode / signer.socket; one client).
    erds::smtp::SmtpRelayOptions ro;
    ro.heloName = hostname;
    ro.relayHost = cfg.getString("smtp.relay_host");
    ro.port = static_cast<uint16_t>(cfg.getInt("smtp.relay_port"));
    transport = std::make_unique<erds::smtp::SmtpRelayTransport>(ro);
    erds::smtp::RelayWorkerOptions wo;
    wo.serviceAddress = serviceAddress;
    wo.domain = domains.front();
    wo.maxMessageBytes = static_cast<std::size_t>(maxBytes);
    worker = std::make_unique<erds::smtp::RelayWorker>(
        erds::smtp::RelayWorkerDeps{jobs.get(), store.get(), vault.get(), transport.get(), issuer->signer(), &clock}, wo);
  }
  if (checkOnly) {
    std::cout << "configuration ok\n";
    return 0;
  }

  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);

  auto server = erds::smtp::SmtpServer::start(sc, auth, sink);
  if (!server) {
    std::cerr << "erds-smtpd: " << server.error().message << "\n";
    return 1;
  }
  if (devSink) erds::log::warn("smtpd.development_mode", {{"sink", opt["development-sink"]}});
  if (worker) worker->start();
  erds::log::info("smtp.listening", {{"submission", static_cast<int64_t>((*server)->port(0))},
                                     {"mx", static_cast<int64_t>((*server)->port(1))}});
  if (opt.count("port-file")) {
    std::ofstream pf(opt["port-file"] + ".tmp");
    pf << "submission=" << (*server)->port(0) << "\n";
    pf << "mx=" << (*server)->port(1) << "\n";
    pf.close();
    std::rename((opt["port-file"] + ".tmp").c_str(), opt["port-file"].c_str());
  }
  int sig = 0;
  sigwait(&set, &sig);
  erds::log::info("smtpd.stopping", {{"signal", static_cast<int64_t>(sig)}});
  (*server)->stop();
  if (worker) worker->stop();
  return 0;
}
