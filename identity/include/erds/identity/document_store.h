// Identity document scans a party uploads to its verification request (encrypted at rest, purged
// after their retention) and the registry binding client certificates to parties: the PostgreSQL
// stores of migration 0005_identity_documents.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "erds/base/aead.h"
#include "erds/base/audit.h"
#include "erds/base/clock.h"
#include "erds/base/pg.h"
#include "erds/base/result.h"
#include "erds/identity/verification.h"

namespace erds::identity {

// The media type of `bytes` from their magic numbers: "image/jpeg" (FF D8 FF), "image/png" (the
// 8-byte PNG signature) or "application/pdf" ("%PDF-"); "" for anything else. Pure.
std::string_view sniffDocumentContentType(std::string_view bytes);

struct DocumentContent {
  DocumentScanInfo info;
  std::string requestId;
  std::string partyId;  // whose document it is
  std::string bytes;    // decrypted
};

// Each scan is AES-256-GCM-encrypted under its own random data key, which is wrapped by the KEK
// with context "identity-document:<id>"; the AAD binds the id, the request and the content type,
// so a row copied elsewhere does not decrypt. Thread-safe (a connection per call).
class PostgresDocumentStore {
 public:
  PostgresDocumentStore(pg::Pool& pool, const crypto::KeyEncryptionKey& kek, const AuditLog& audit)
      : pool_(pool), kek_(kek), audit_(audit) {}

  // Stores a scan for `requestId`, which must belong to `partyId` and be Pending (NotFound
  // otherwise, so nothing leaks about other parties' requests). Conflict when the request already
  // has `maxPerRequest` documents. Checked under a row lock on the request, so concurrent uploads
  // cannot exceed the limit. The audit record ("identity.document.uploaded") is written in the same
  // transaction.
  Result<DocumentScanInfo> add(const std::string& requestId, const std::string& partyId,
                               const std::string& contentType, std::string_view bytes,
                               TimePoint now, int maxPerRequest);

  // The scan `documentId` of `requestId`, decrypted. NotFound if absent, of another request, or
  // purged; IntegrityFailure if the ciphertext or its key was altered.
  Result<DocumentContent> read(const std::string& requestId, const std::string& documentId);

  // Sets retention_until = `until` on the request's documents that have none yet (called when the
  // request is decided).
  Result<void> setRetention(const std::string& requestId, TimePoint until);

  // Wipes key, nonce and ciphertext of every document of a decided (approved/rejected) request
  // whose retention_until (or, if unset, decision time + `retention`) is at or before `now`; the
  // metadata row stays. One audit record per document ("identity.document.purged", actor
  // system:erdsd) in the same transaction. Returns how many. Idempotent; safe on several nodes.
  Result<int64_t> purgeExpired(TimePoint now, std::chrono::seconds retention);

 private:
  pg::Pool& pool_;
  const crypto::KeyEncryptionKey& kek_;
  const AuditLog& audit_;
};

// One client certificate bound to a party.
struct PartyCertificate {
  std::string id;
  std::string partyId;
  std::string sha256Hex;  // of the DER certificate
  std::string subject;
  std::string issuer;
  std::string serialHex;
  TimePoint notAfter{};
  TimePoint addedAt{};
  std::optional<TimePoint> revokedAt;
};

// Thread-safe (a connection per call).
class PostgresPartyCertificateStore {
 public:
  explicit PostgresPartyCertificateStore(pg::Pool& pool) : pool_(pool) {}
  // Conflict if the certificate is already bound (not revoked) to any party.
  Result<void> add(const PartyCertificate& c);
  // All of a party's bindings (revoked ones too), newest first.
  Result<std::vector<PartyCertificate>> listOf(const std::string& partyId);
  // Ends the binding `id` of `partyId`. NotFound if it is not that party's or already revoked.
  Result<void> revoke(const std::string& partyId, const std::string& id, TimePoint now);
  // The party the certificate (SHA-256 hex of its DER) is bound to now, if any.
  Result<std::optional<std::string>> activePartyFor(const std::string& sha256Hex);

 private:
  pg::Pool& pool_;
};

}  // namespace erds::identity
