// ApiService: the message API as erdsd runs it. Builds, from configuration, the core (content
// vault, job queue, delivery store), the evidence issuer (signer + time-stamping), the identity
// gate and directory, the routes and the workers, so that erdsd's main only wires one object.
#pragma once

#include <functional>
#include <memory>

#include "erds/api/message_routes.h"
#include "erds/api/ports.h"
#include "erds/api/worker_pool.h"
#include "erds/base/config.h"
#include "erds/base/pg.h"
#include "erds/evidence/timestamp_authority.h"
#include "erds/http/router.h"
#include "erds/identity/http_auth.h"

namespace erds::api {

class ApiService : public http::RouteProvider {
 public:
  // `pool` (daemon role), `auth` and `clock` must outlive the service. Reads secrets.kek_file (in
  // development a missing KEK is replaced by a random per-process key, with a warning: content
  // then does not survive a restart), signer.*, tsa.*, service.domains, service.mode.
  // InvalidInput (one line naming the key and file) for bad configuration.
  static Result<std::unique_ptr<ApiService>> create(const Config& config, pg::Pool& pool,
                                                    const identity::HttpAuthenticator& auth,
                                                    const Clock& clock);
  ~ApiService() override;  // stops the workers

  // Adds the message and evidence routes.
  Result<void> registerRoutes(http::Router& router) override;
  // Starts / stops the lifecycle workers.
  void startWorkers();
  void stopWorkers();
  // The time-stamp authority the evidence issuer uses (tsa.*; built-in unit through the signer),
  // e.g. for audit anchoring. Never null.
  std::shared_ptr<evidence::TimestampAuthority> timestampAuthority() const;
  // erds_job_queue_depth: due jobs not leased (-1 when the database is unreachable).
  std::function<int64_t()> jobQueueDepthSource();

  struct Impl;

 private:
  explicit ApiService(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace erds::api
