// PostgreSQL stores of migration 0005_identity_documents: encrypted identity document scans and the
// client-certificate registry.
#include "erds/identity/document_store.h"

#include "crypto_util.h"
#include "pg_util.h"

namespace erds::identity {
namespace {

// pg_util.h: timeParam, micros, fromMicros, PooledTransaction, appendAudit.
using namespace internal;
using pg::Param;

std::string keyContext(const std::string& id) {
  return "identity-document:" + id;
}
std::string aad(const std::string& id, const std::string& requestId,
                const std::string& contentType) {
  return "erds identity document v1|" + id + "|" + requestId + "|" + contentType;
}

}  // namespace

std::string_view sniffDocumentContentType(std::string_view b) {
  if (b.size() >= 3 && static_cast<unsigned char>(b[0]) == 0xFF &&
      static_cast<unsigned char>(b[1]) == 0xD8 && static_cast<unsigned char>(b[2]) == 0xFF) {
    return "image/jpeg";
  }
  static constexpr std::string_view kPng("\x89PNG\r\n\x1a\n", 8);
  if (b.substr(0, kPng.size()) == kPng) return "image/png";
  if (b.substr(0, 5) == "%PDF-") return "application/pdf";
  return "";
}

Result<DocumentScanInfo> PostgresDocumentStore::add(const std::string& requestId,
                                                    const std::string& partyId,
                                                    const std::string& contentType,
                                                    std::string_view bytes, TimePoint now,
                                                    int maxPerRequest) {
  DocumentScanInfo info;
  info.id = "doc_" + internal::hex(internal::randomBytes(16));
  info.contentType = contentType;
  info.size = static_cast<int64_t>(bytes.size());
  info.uploadedAt = now;
  const std::string digest = crypto::sha256(bytes);
  info.sha256Hex = internal::hex(digest);
  const Secret dataKey = crypto::randomKey();
  const std::string nonce = crypto::randomBytes(crypto::kGcmNonceBytes);
  auto sealed = crypto::aesGcmSeal(dataKey, nonce, aad(info.id, requestId, contentType), bytes);
  if (!sealed) return sealed.error();
  auto wrapped = kek_.wrap(dataKey, keyContext(info.id));
  if (!wrapped) return wrapped.error();

  auto tx = PooledTransaction::begin(pool_);
  if (!tx) return tx.error();
  pg::Connection& c = tx->connection();
  auto r =
      c.execPrepared("identity_doc_lock_request",
                     "SELECT party_id, status FROM verification_requests WHERE id = $1 FOR UPDATE",
                     {Param::text(requestId)});
  if (!r) return r.error();
  if (r->rows() == 0 || r->get(0, 0) != partyId || r->get(0, 1) != "pending") {
    return Error::notFound("no such pending verification request");
  }
  auto n = c.execPrepared("identity_doc_count",
                          "SELECT count(*) FROM identity_documents WHERE request_id = $1",
                          {Param::text(requestId)});
  if (!n) return n.error();
  if (n->getInt(0, 0) >= maxPerRequest) {
    return Error::conflict("at most " + std::to_string(maxPerRequest) +
                           " documents per verification request");
  }
  auto ins = c.execPrepared(
      "identity_doc_insert",
      "INSERT INTO identity_documents (id, request_id, party_id, content_type, size_bytes, sha256, "
      "key_wrapped, "
      "nonce, ciphertext, uploaded_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
      {Param::text(info.id), Param::text(requestId), Param::text(partyId), Param::text(contentType),
       Param::integer(info.size), Param::bytes(digest), Param::bytes(*wrapped), Param::bytes(nonce),
       Param::bytes(*sealed), timeParam(now)});
  if (!ins) return ins.error();
  auto a = appendAudit(audit_, c, "party:" + partyId, "identity.document.uploaded", "party:" + partyId,
                       "{\"request\":\"" + requestId + "\",\"document\":\"" + info.id +
                           "\",\"content_type\":\"" + contentType + "\",\"size\":" +
                           std::to_string(info.size) + ",\"sha256\":\"" + info.sha256Hex + "\"}");
  if (!a) return a.error();
  ERDS_RETURN_IF_ERROR(tx->commit());
  return info;
}

Result<DocumentContent> PostgresDocumentStore::read(const std::string& requestId,
                                                    const std::string& documentId) {
  auto lease = pool_.acquire();
  if (!lease) return lease.error();
  auto q =
      (*lease)->execPrepared("identity_doc_read",
                             "SELECT id, request_id, party_id, content_type, size_bytes, sha256, " +
                                 micros("uploaded_at") + ", " + micros("retention_until") +
                                 ", purged_at IS NOT NULL, key_wrapped, nonce, ciphertext FROM "
                                 "identity_documents WHERE id = $1 AND "
                                 "request_id = $2",
                             {Param::text(documentId), Param::text(requestId)});
  if (!q) return q.error();
  if (q->rows() == 0) return Error::notFound("no such document");
  if (q->get(0, 8) == "t")
    return Error::notFound("the document was purged after its retention period");
  DocumentContent out;
  out.info.id = q->get(0, 0);
  out.requestId = q->get(0, 1);
  out.partyId = q->get(0, 2);
  out.info.contentType = q->get(0, 3);
  out.info.size = q->getInt(0, 4);
  out.info.sha256Hex = internal::hex(q->getBytea(0, 5));
  out.info.uploadedAt = fromMicros(q->getInt(0, 6));
  if (!q->isNull(0, 7)) out.info.retentionUntil = fromMicros(q->getInt(0, 7));
  auto key = kek_.unwrap(q->getBytea(0, 9), keyContext(out.info.id));
  if (!key) return Error::integrityFailure("document key does not unwrap");
  auto plain =
      crypto::aesGcmOpen(*key, q->getBytea(0, 10),
                         aad(out.info.id, out.requestId, out.info.contentType), q->getBytea(0, 11));
  if (!plain) return Error::integrityFailure("document does not decrypt");
  out.bytes = std::move(*plain);
  return out;
}

Result<void> PostgresDocumentStore::setRetention(const std::string& requestId, TimePoint until) {
  auto lease = pool_.acquire();
  if (!lease) return lease.error();
  auto q = (*lease)->execPrepared("identity_doc_retention",
                                  "UPDATE identity_documents SET retention_until = $2 WHERE "
                                  "request_id = $1 AND retention_until IS NULL",
                                  {Param::text(requestId), timeParam(until)});
  if (!q) return q.error();
  return ok();
}

Result<int64_t> PostgresDocumentStore::purgeExpired(TimePoint now, std::chrono::seconds retention) {
  auto tx = PooledTransaction::begin(pool_);
  if (!tx) return tx.error();
  pg::Connection& c = tx->connection();
  // SKIP LOCKED: another node purging at the same moment takes the other rows.
  auto q = c.execPrepared(
      "identity_doc_purge",
      "UPDATE identity_documents SET key_wrapped = NULL, nonce = NULL, ciphertext = NULL, "
      "purged_at = $1 "
      "WHERE id IN (SELECT d.id FROM identity_documents d JOIN verification_requests r ON r.id = "
      "d.request_id "
      "WHERE d.purged_at IS NULL AND r.status IN ('approved', 'rejected') AND "
      "coalesce(d.retention_until, r.decided_at + $2::bigint * interval '1 second') <= $1 "
      "FOR UPDATE OF d SKIP LOCKED) RETURNING id, request_id, party_id",
      {timeParam(now), Param::integer(retention.count())});
  if (!q) return q.error();
  for (int i = 0; i < q->rows(); ++i) {
    ERDS_RETURN_IF_ERROR(appendAudit(audit_, c, "system:erdsd", "identity.document.purged", "party:" + q->get(i, 2),
                                     "{\"request\":\"" + q->get(i, 1) + "\",\"document\":\"" + q->get(i, 0) +
                                         "\"}"));
  }
  ERDS_RETURN_IF_ERROR(tx->commit());
  return static_cast<int64_t>(q->rows());
}

// ---- client-certificate registry ----

namespace {
const std::string kCertColumns = "id, party_id, sha256, subject, issuer, serial, " +
                                 micros("not_after") + ", " + micros("added_at") + ", " +
                                 micros("revoked_at");

PartyCertificate certFromRow(const pg::QueryResult& q, int row) {
  PartyCertificate c;
  c.id = q.get(row, 0);
  c.partyId = q.get(row, 1);
  c.sha256Hex = internal::hex(q.getBytea(row, 2));
  c.subject = q.get(row, 3);
  c.issuer = q.get(row, 4);
  c.serialHex = q.get(row, 5);
  c.notAfter = fromMicros(q.getInt(row, 6));
  c.addedAt = fromMicros(q.getInt(row, 7));
  if (!q.isNull(row, 8)) c.revokedAt = fromMicros(q.getInt(row, 8));
  return c;
}
}  // namespace

Result<void> PostgresPartyCertificateStore::add(const PartyCertificate& c) {
  auto raw = crypto::fromHex(c.sha256Hex);
  if (!raw || raw->size() != 32)
    return Error::invalidInput("certificate fingerprint must be 64 hex characters");
  auto lease = pool_.acquire();
  if (!lease) return lease.error();
  auto q = (*lease)->execPrepared(
      "identity_cert_add",
      "INSERT INTO party_certificates (id, party_id, sha256, subject, issuer, serial, not_after, "
      "added_at) "
      "VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
      {Param::text(c.id), Param::text(c.partyId), Param::bytes(*raw), Param::text(c.subject),
       Param::text(c.issuer), Param::text(c.serialHex), timeParam(c.notAfter),
       timeParam(c.addedAt)});
  if (!q) {
    if (q.error().is(ErrorCode::Conflict))
      return Error::conflict("this certificate is already registered");
    return q.error();
  }
  return ok();
}

Result<std::vector<PartyCertificate>> PostgresPartyCertificateStore::listOf(
    const std::string& partyId) {
  auto lease = pool_.acquire();
  if (!lease) return lease.error();
  auto q = (*lease)->execPrepared(
      "identity_cert_list",
      "SELECT " + kCertColumns +
          " FROM party_certificates WHERE party_id = $1 ORDER BY added_at DESC, id",
      {Param::text(partyId)});
  if (!q) return q.error();
  std::vector<PartyCertificate> out;
  for (int i = 0; i < q->rows(); ++i)
    out.push_back(certFromRow(*q, i));
  return out;
}

Result<void> PostgresPartyCertificateStore::revoke(const std::string& partyId,
                                                   const std::string& id, TimePoint now) {
  auto lease = pool_.acquire();
  if (!lease) return lease.error();
  auto q = (*lease)->execPrepared("identity_cert_revoke",
                                  "UPDATE party_certificates SET revoked_at = $3 WHERE id = $1 AND "
                                  "party_id = $2 AND revoked_at IS NULL",
                                  {Param::text(id), Param::text(partyId), timeParam(now)});
  if (!q) return q.error();
  if (q->affectedRows() != 1) return Error::notFound("no such certificate");
  return ok();
}

Result<std::optional<std::string>> PostgresPartyCertificateStore::activePartyFor(
    const std::string& sha256Hex) {
  auto raw = crypto::fromHex(sha256Hex);
  if (!raw || raw->size() != 32) return std::optional<std::string>();
  auto lease = pool_.acquire();
  if (!lease) return lease.error();
  auto q = (*lease)->execPrepared(
      "identity_cert_lookup",
      "SELECT party_id FROM party_certificates WHERE sha256 = $1 AND revoked_at IS NULL",
      {Param::bytes(*raw)});
  if (!q) return q.error();
  if (q->rows() == 0) return std::optional<std::string>();
  return std::optional<std::string>(q->get(0, 0));
}

}  // namespace erds::identity
