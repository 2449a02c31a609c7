// MessageRoutes: the message REST API (erds::http::RouteProvider). Submission (multipart or JSON
// with inline content), inbox/sent lists, message status with its evidence chain, consent
// accept/reject, content download through the identity gate (ContentHandover committed before any
// content byte is sent), single evidence XML and a per-message evidence bundle (ZIP).
//
// Authorization: the sender sees its sent messages; a bound recipient sees its message; content
// only after the gate; every other access is 404 (existence is never revealed).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "erds/api/ports.h"
#include "erds/api/sealing_evidence_issuer.h"
#include "erds/base/audit.h"
#include "erds/base/clock.h"
#include "erds/base/pg.h"
#include "erds/core/content_vault.h"
#include "erds/core/delivery_store.h"
#include "erds/http/router.h"
#include "erds/identity/gate.h"

namespace erds::api {

struct MessageRoutesOptions {
  std::vector<std::string> localDomains{"example.test"};  // service.domains, lower case
  std::chrono::seconds defaultExpiry{std::chrono::hours(24 * 15)};
  std::chrono::seconds maxExpiry{std::chrono::hours(24 * 366)};
  int maxRecipients = 100;
  int maxParts = 32;
  int64_t maxContentBytes = 64LL * 1024 * 1024;  // sum of parts; above: SubmissionRejection + 413
  int64_t maxInlineBodyBytes = 16LL * 1024 * 1024;  // the JSON form's body (413 above, no evidence)
  // Submissions whose content (sum of parts) is at most this size are stored with their content in
  // one transaction (ContentVault::sealInMemory + DeliveryStore::submitWithContent); larger ones
  // stream into staged uploads. 0 = always stream. At most core::kMaxChunkBytes is sensible.
  int64_t singleTransactionMaxBytes = 1024 * 1024;
  std::size_t maxSubjectBytes = 998;
  std::size_t maxFilenameBytes = 255;
};

// What the routes work with. Everything must outlive the MessageRoutes.
struct MessageRoutesDeps {
  core::DeliveryStore* store = nullptr;
  core::ContentVault* vault = nullptr;
  pg::Pool* pool = nullptr;  // list queries (read-only)
  const CallerAuthenticator* authenticator = nullptr;
  PartyDirectory* directory = nullptr;
  const identity::IdentityGate* gate = nullptr;
  const Clock* clock = nullptr;
  const AuditLog* audit = nullptr;
  // Unused since the store passes the recipients in EvidenceSubject; kept for source compatibility.
  SealingEvidenceIssuer* issuer = nullptr;
};

// Routes: POST /api/v1/messages (multipart/form-data, streamed into the vault, metadata part
// first; or application/json with inline content), GET /api/v1/messages, GET /api/v1/messages/{id}, POST .../{id}/accept,
// POST .../{id}/reject, GET .../{id}/content, GET .../{id}/content/{part},
// GET .../{id}/evidence-bundle, GET /api/v1/evidence/{id}. Handlers are thread-safe.
class MessageRoutes final : public http::RouteProvider {
 public:
  MessageRoutes(MessageRoutesDeps deps, MessageRoutesOptions options = {});
  ~MessageRoutes() override;
  MessageRoutes(const MessageRoutes&) = delete;
  MessageRoutes& operator=(const MessageRoutes&) = delete;

  // Adds the routes and their schemas. Expects the "bearerAuth" and "cookieAuth" security schemes
  // (registered by the identity service) if present; adds nothing else. Call once.
  Result<void> registerRoutes(http::Router& router) override;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace erds::api
