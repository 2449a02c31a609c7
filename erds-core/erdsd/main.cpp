// erdsd: the public HTTPS front end of erds.
//
// SECURITY
// - Talks to: clients over HTTPS (TLS 1.2/1.3 only, http.address:http.port) and PostgreSQL over
//   libpq as the daemon role database.app_role (no DDL, only the GRANTs given in migrations).
// - Runs as: an unprivileged user of its own (e.g. erds); never root. It binds an unprivileged
//   port (8443 by default) and needs no capabilities.
// - Reads: its configuration file, the TLS certificate chain, and the secret files named by
//   http.tls_key and database.password_file (mode 0400/0600). The TLS key goes into the TLS context
//   and the in-memory copy is wiped; secrets never come from the environment and never reach logs.
// - Must never hold: the evidence-sealing or time-stamping keys (those live in erds-signer only),
//   the database owner's credentials, or the key-encryption key beyond what the core needs
//   (the identity component uses it to seal TOTP seeds).
// - Evidence: sealed through erds-signer (signer.mode=socket); only signer.mode=inprocess, refused
//   in qualified mode, loads seal/TSU keys from signer.key_dir into this process (development).
// - Audit: every audit.anchor_interval it time-stamps the heads of the audit log's hash chains
//   (through the same signer/time-stamping unit) so that the database owner cannot rewrite history
//   before an anchor undetected; `erdsctl audit verify` checks the anchors.
// - Identity: passwords are verified here (Argon2id), sessions are opaque tokens stored hashed;
//   demo accounts exist only with service.mode=development and service.demo_accounts=true.
// - Everything received over HTTP is untrusted: size limits apply before bodies are read, and one
//   catch-all per request turns any exception into a generic 500 carrying only the request id.
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <variant>

#include "erds/api/api_service.h"
#include "erds/base/audit.h"
#include "erds/base/config.h"
#include "erds/base/daemon.h"
#include "erds/base/log.h"
#include "erds/base/metrics.h"
#include "erds/base/pg.h"
#include "erds/evidence/timestamp_authority.h"
#include "erds/http/router.h"
#include "erds/http/server.h"
#include "erds/http/service_routes.h"
#include "erds/identity/identity_service.h"
#include "erds/migrations/migrations.h"
#include "erds/portal/portal_routes.h"

namespace {

using erds::daemon::kExitFailure;
using erds::daemon::kExitOk;
using erds::daemon::kExitUsage;

constexpr const char* kUsage =
    "usage: erdsd --config FILE [--check-config] [--print-routes]\n"
    "       erdsd --help | --version\n"
    "  --config FILE    INI configuration (ERDS_* environment variables override non-secret keys)\n"
    "  --check-config   validate the configuration, the TLS certificate and key, then exit\n"
    "  --print-routes   print the HTTP routes (\"GET /healthz\"), one per line, then exit\n";

int fail(int code, const std::string& line) {
  std::cerr << "erdsd: " << line << "\n";
  return code;
}

struct BioDeleter {
  void operator()(BIO* b) const { BIO_free(b); }
};

// Qualified mode must not run on the development PKI: any certificate of the chain whose subject
// or issuer mentions DEVELOPMENT is refused.
erds::Result<void> checkNotDevelopmentCertificate(const std::string& path) {
  std::unique_ptr<BIO, BioDeleter> bio(BIO_new_file(path.c_str(), "r"));
  if (!bio)
    return erds::Error::invalidInput("http.tls_certificate (" + path + "): cannot read file");
  int count = 0;
  while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    ++count;
    char subject[512];
    char issuer[512];
    X509_NAME_oneline(X509_get_subject_name(cert), subject, sizeof subject);
    X509_NAME_oneline(X509_get_issuer_name(cert), issuer, sizeof issuer);
    X509_free(cert);
    if (std::strstr(subject, "DEVELOPMENT") != nullptr ||
        std::strstr(issuer, "DEVELOPMENT") != nullptr) {
      ERR_clear_error();
      return erds::Error::invalidInput(
          "http.tls_certificate (" + path +
          "): service.mode=qualified refuses a DEVELOPMENT certificate");
    }
  }
  ERR_clear_error();
  if (count == 0)
    return erds::Error::invalidInput("http.tls_certificate (" + path + "): no PEM certificate");
  return erds::ok();
}

// The audit anchorer's time-stamps come from the evidence issuer's own time-stamp authority
// (signer.mode, tsa.*; see erds::api::SealingEvidenceIssuer::fromConfig): a token over the chain
// heads' digest. That unit is created lazily and retried if erds-signer starts after erdsd.
erds::AuditTimestamper makeAnchorTimestamper(std::shared_ptr<erds::evidence::TimestampAuthority> tsa) {
  return [tsa = std::move(tsa)](std::string_view digest) -> erds::Result<std::string> {
    auto token = tsa->timestamp(digest);
    if (!token) return std::move(token).error();
    return std::move(token->der);
  };
}

}  // namespace

int main(int argc, char** argv) {
  auto parsed = erds::daemon::parseArgs(argc, argv, "erdsd", ERDS_VERSION, kUsage, {"--print-routes"});
  if (const int* exitCode = std::get_if<int>(&parsed)) return *exitCode;
  const auto& args = std::get<erds::daemon::DaemonArgs>(parsed);
  const std::string& configPath = args.configPath;
  const bool checkOnly = args.checkConfig;
  const bool printRoutes = args.flags.count("--print-routes") > 0;

  // SIGPIPE ignored; SIGINT/SIGTERM blocked before any thread starts and taken with wait() below.
  const erds::daemon::StopSignals stopSignals;

  auto config = erds::daemon::loadConfigAndInitLog(configPath, "erdsd");
  if (!config) return fail(kExitUsage, config.error().message);

  if (config->mode() == erds::ServiceMode::Qualified) {
    if (config->getBool("service.demo_accounts"))
      return fail(kExitUsage, "service.demo_accounts (" +
                                  config->sourceOf("service.demo_accounts") +
                                  "): not allowed with service.mode=qualified");
    auto devCheck = checkNotDevelopmentCertificate(config->getPath("http.tls_certificate"));
    if (!devCheck) return fail(kExitUsage, devCheck.error().message);
  }

  auto serverOptions = erds::http::ServerOptions::fromConfig(*config);
  if (!serverOptions) return fail(kExitUsage, serverOptions.error().message);

  auto poolOptions = erds::daemon::poolOptionsFromConfig(*config);
  if (!poolOptions) return fail(kExitUsage, poolOptions.error().message);
  // The pool connects lazily: erdsd starts without PostgreSQL and becomes ready by itself.
  erds::pg::Pool pool(std::move(*poolOptions));

  auto router = std::make_shared<erds::http::Router>();
  erds::http::ServiceRoutesOptions serviceOptions;
  serviceOptions.pool = &pool;
  serviceOptions.migrations = erds::allMigrations();
  serviceOptions.registry = &erds::metrics::Registry::global();
  serviceOptions.api =
      erds::http::ApiInfo{"erds API", ERDS_VERSION,
                          "Qualified electronic registered delivery service (ETSI EN 319 522)."};
  erds::http::ServiceRoutes serviceRoutes(std::move(serviceOptions));
  // Later components (core, portal) register here through erds::http::RouteProvider.
  if (auto r = serviceRoutes.registerRoutes(*router); !r)
    return fail(kExitFailure, "route registration: " + r.error().toString());

  auto identityOptions = erds::identity::IdentityOptions::fromConfig(*config);
  if (!identityOptions) return fail(kExitUsage, identityOptions.error().message);
  erds::identity::LogNotifier notifier(identityOptions->revealCodesInLog);
  // A second listener asks for TLS client certificates, only when the identity component has
  // trust anchors for them (identity.client_ca_file / identity.qualified_ca_file).
  const bool certificateLogin = identityOptions->certificateLogin;
  auto identity = erds::identity::IdentityService::create(
      std::move(*identityOptions), pool, erds::SystemClock::instance(), notifier);
  if (!identity) return fail(kExitUsage, identity.error().message);
  if (auto r = (*identity)->registerRoutes(*router); !r)
    return fail(kExitFailure, "route registration: " + r.error().toString());

  // The message API (erds::api) and its lifecycle workers.
  auto api = erds::api::ApiService::create(*config, pool, (*identity)->authenticator(),
                                           erds::SystemClock::instance());
  if (!api) {
    return fail(api.error().is(erds::ErrorCode::InvalidInput) ? kExitUsage : kExitFailure,
                api.error().message);
  }
  if (auto r = (*api)->registerRoutes(*router); !r)
    return fail(kExitFailure, "route registration: " + r.error().toString());
  serviceRoutes.setJobQueueDepthSource((*api)->jobQueueDepthSource());

  // The web portal (erds::portal): HTML pages on the same origin, dispatching in-process to the
  // identity and message handlers registered above on the same router.
  auto portalOptions = erds::portal::PortalOptions::fromConfig(*config);
  if (!portalOptions) return fail(kExitUsage, portalOptions.error().message);
  erds::portal::PortalRoutes portal(*router, std::move(*portalOptions));
  if (auto r = portal.registerRoutes(*router); !r)
    return fail(kExitFailure, "route registration: " + r.error().toString());

  if (printRoutes) {
    for (const auto& line : router->routeList())
      std::cout << line << "\n";
    return kExitOk;
  }

  erds::http::ServerOptions certServerOptions = *serverOptions;
  auto server = erds::http::Server::create(std::move(*serverOptions), router,
                                           erds::metrics::Registry::global());
  if (!server) {
    return fail(server.error().is(erds::ErrorCode::InvalidInput) ? kExitUsage : kExitFailure,
                server.error().message);
  }
  std::unique_ptr<erds::http::Server> certServer;
  if (certificateLogin) {
    certServerOptions.port = static_cast<uint16_t>(config->getInt("http.client_cert_port"));
    certServerOptions.requestClientCertificates = true;
    auto created = erds::http::Server::create(std::move(certServerOptions), router,
                                              erds::metrics::Registry::global());
    if (!created) {
      return fail(created.error().is(erds::ErrorCode::InvalidInput) ? kExitUsage : kExitFailure,
                  "http.client_cert_port (" + config->sourceOf("http.client_cert_port") +
                      "): " + created.error().message);
    }
    certServer = std::move(*created);
  }
  // Audit anchoring: the chain heads, time-stamped every audit.anchor_interval (0 = off).
  std::unique_ptr<erds::AuditAnchorer> anchorer;
  if (const int64_t anchorMs = config->getMillis("audit.anchor_interval"); anchorMs > 0) {
    anchorer = std::make_unique<erds::AuditAnchorer>(pool, erds::SystemClock::instance(),
                                                     makeAnchorTimestamper((*api)->timestampAuthority()),
                                                     std::chrono::milliseconds(anchorMs));
  }
  if (checkOnly) {
    std::cout << "erdsd: configuration OK (" << configPath << ")\n";
    return kExitOk;
  }

  (*server)->start();
  (*api)->startWorkers();
  (*identity)->startBackgroundTasks();  // purge of personal data past retention
  if (anchorer) anchorer->start();
  erds::log::info("http.listening", {{"port", static_cast<int64_t>((*server)->port())},
                                     {"address", config->getString("http.address")},
                                     {"mode", std::string(erds::serviceModeName(config->mode()))}});
  if (certServer) {
    certServer->start();
    erds::log::info("http.client_cert_listening",
                    {{"port", static_cast<int64_t>(certServer->port())},
                     {"address", config->getString("http.address")}});
  }

  // Demo accounts (development only; qualified mode refused them above). The database may not be
  // ready yet (migrations run separately), so seeding retries in the background until it works.
  std::mutex seedMu;
  std::condition_variable seedCv;
  bool stopping = false;
  std::thread seeder;
  if (config->mode() == erds::ServiceMode::Development && config->getBool("service.demo_accounts")) {
    erds::identity::IdentityService* svc = identity->get();
    seeder = std::thread([svc, &seedMu, &seedCv, &stopping] {
      for (int attempt = 0;; ++attempt) {
        auto accounts = svc->seedDemoAccounts();
        if (accounts) {
          for (const auto& a : *accounts) {
            // Fixed, public demo credentials: logging them is the point (development only).
            erds::log::info("identity.demo_account", {{"identifier", a.identifier},
                                                      {"password", a.password},
                                                      {"description", a.description},
                                                      {"totp_secret_base32", a.totpSecret}});
          }
          return;
        }
        if (attempt % 15 == 0)
          erds::log::warn("identity.demo_accounts_pending", {{"error", accounts.error().toString()}});
        std::unique_lock lock(seedMu);
        if (seedCv.wait_for(lock, std::chrono::seconds(2), [&] { return stopping; })) return;
      }
    });
  }

  const int sig = stopSignals.wait();
  erds::log::info("shutdown", {{"signal", std::string(erds::daemon::StopSignals::name(sig))}});
  {
    std::lock_guard lock(seedMu);
    stopping = true;
  }
  seedCv.notify_all();
  if (seeder.joinable()) seeder.join();
  (*server)->stop();
  if (certServer) certServer->stop();
  (*api)->stopWorkers();
  (*identity)->stopBackgroundTasks();
  if (anchorer) anchorer->stop();
  erds::log::info("stopped");
  return kExitOk;
}
