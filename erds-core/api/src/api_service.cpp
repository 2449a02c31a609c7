#include "erds/api/api_service.h"

#include <sstream>

#include "erds/api/identity_adapters.h"
#include "erds/api/sealing_evidence_issuer.h"
#include "erds/api/tsa_routes.h"
#include "erds/base/aead.h"
#include "erds/base/audit.h"
#include "erds/base/log.h"
#include "erds/core/content_vault.h"
#include "erds/core/delivery_store.h"
#include "erds/core/job_queue.h"
#include "erds/identity/gate.h"

namespace erds::api {

struct ApiService::Impl {
  Impl(pg::Pool& p, const identity::HttpAuthenticator& a, const Clock& c, crypto::KeyEncryptionKey k,
       identity::GatePolicy policy)
      : pool(p), clock(c), audit(c), kek(std::move(k)), vault(p, kek, c, audit), jobs(p, c),
        authenticator(a), directory(p, audit), gate(std::move(policy)) {}

  pg::Pool& pool;
  const Clock& clock;
  AuditLog audit;
  crypto::KeyEncryptionKey kek;
  core::ContentVault vault;
  core::JobQueue jobs;
  IdentityCallerAuthenticator authenticator;
  PostgresPartyDirectory directory;
  identity::IdentityGate gate;
  LogDeliveryNotifier notifier;
  std::unique_ptr<SealingEvidenceIssuer> issuer;
  std::unique_ptr<core::DeliveryStore> store;
  std::unique_ptr<MessageRoutes> routes;
  std::unique_ptr<TsaRoutes> tsaRoutes;  // POST /tsa, only with tsa.serve=true
  std::unique_ptr<WorkerPool> workers;
};

Result<std::unique_ptr<ApiService>> ApiService::create(const Config& config, pg::Pool& pool,
                                                       const identity::HttpAuthenticator& auth, const Clock& clock) {
  Secret kekSecret;
  if (config.isSet("secrets.kek_file")) {
    auto s = config.readSecret("secrets.kek_file");
    if (!s) return std::move(s).error();
    kekSecret = std::move(*s);
  } else if (config.mode() == ServiceMode::Development) {
    log::warn("content.kek_ephemeral", {{"detail", "secrets.kek_file unset: content does not survive a restart"}});
    kekSecret = crypto::randomKey();
  } else {
    return Error::invalidInput("secrets.kek_file (" + config.sourceOf("secrets.kek_file") +
                               "): required with service.mode=" + std::string(serviceModeName(config.mode())));
  }
  auto kek = crypto::KeyEncryptionKey::fromSecret(kekSecret);
  if (!kek)
    return Error::invalidInput("secrets.kek_file (" + config.sourceOf("secrets.kek_file") + "): " + kek.error().message);

  auto gatePolicy = identity::gatePolicyFromConfig(config);
  if (!gatePolicy) return std::move(gatePolicy).error();
  auto impl = std::make_unique<Impl>(pool, auth, clock, std::move(*kek), std::move(*gatePolicy));
  // The store passes every recipient in core::EvidenceSubject, so the issuer needs no lookup of
  // its own (no read of deliveries from the adapter).
  RecipientLookup lookup;
  auto issuer = SealingEvidenceIssuer::fromConfig(config, clock, lookup);
  if (!issuer) return std::move(issuer).error();
  impl->issuer = std::move(*issuer);
  impl->store = std::make_unique<core::DeliveryStore>(pool, *impl->issuer, impl->jobs, clock, impl->audit);

  MessageRoutesOptions ro;
  ro.localDomains.clear();
  std::stringstream domains(config.getString("service.domains"));
  for (std::string d; std::getline(domains, d, ',');) {
    const auto b = d.find_first_not_of(" \t");
    const auto e = d.find_last_not_of(" \t");
    if (b != std::string::npos) ro.localDomains.push_back(d.substr(b, e - b + 1));
  }
  ro.maxContentBytes = config.getBytes("http.max_body_bytes");
  MessageRoutesDeps rd;
  rd.store = impl->store.get();
  rd.vault = &impl->vault;
  rd.pool = &pool;
  rd.authenticator = &impl->authenticator;
  rd.directory = &impl->directory;
  rd.gate = &impl->gate;
  rd.clock = &clock;
  rd.audit = &impl->audit;
  rd.issuer = impl->issuer.get();
  impl->routes = std::make_unique<MessageRoutes>(rd, ro);
  if (config.getBool("tsa.serve"))
    impl->tsaRoutes =
        std::make_unique<TsaRoutes>(TsaRoutesDeps{&impl->authenticator, impl->issuer->builtinResponder()});

  WorkerPoolDeps wd{&impl->jobs, impl->store.get(), &impl->vault, &impl->notifier, &clock};
  impl->workers = std::make_unique<WorkerPool>(wd);
  return std::unique_ptr<ApiService>(new ApiService(std::move(impl)));
}

ApiService::ApiService(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ApiService::~ApiService() { stopWorkers(); }

Result<void> ApiService::registerRoutes(http::Router& router) {
  ERDS_RETURN_IF_ERROR(impl_->routes->registerRoutes(router));
  if (impl_->tsaRoutes) ERDS_RETURN_IF_ERROR(impl_->tsaRoutes->registerRoutes(router));
  return ok();
}
void ApiService::startWorkers() { impl_->workers->start(); }
void ApiService::stopWorkers() {
  if (impl_ && impl_->workers) impl_->workers->stop();
}

std::shared_ptr<evidence::TimestampAuthority> ApiService::timestampAuthority() const {
  return impl_->issuer->timestampAuthority();
}

std::function<int64_t()> ApiService::jobQueueDepthSource() {
  core::JobQueue* jobs = &impl_->jobs;
  return [jobs]() -> int64_t {
    auto d = jobs->depth();
    return d ? d->ready : -1;
  };
}

}  // namespace erds::api
