// PostgreSQL implementations of the identity ports (migration 0003_identity).
#include "erds/identity/postgres_stores.h"

#include <limits>
#include <sstream>

#include "crypto_util.h"
#include "pg_util.h"

namespace erds::identity {
namespace {

// pg_util.h: timeParam, micros, fromMicros, PooledTransaction, appendAudit.
using namespace internal;
using pg::Param;

LevelOfAssurance levelOr(const std::string& s, LevelOfAssurance fallback) {
  auto l = parseLevel(s);
  return l ? *l : fallback;
}

// Postgres text[] literal for a list of plain ids (quoted, escaped).
std::string textArray(const std::vector<std::string>& items) {
  std::string out = "{";
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i) out += ",";
    out += "\"";
    for (char c : items[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += "\"";
  }
  return out + "}";
}

std::vector<std::string> parseTextArray(const std::string& s) {
  // Our ids never contain quotes, commas or braces; the server quotes only when needed.
  std::vector<std::string> out;
  if (s.size() < 2) return out;
  std::string inner = s.substr(1, s.size() - 2);
  std::stringstream in(inner);
  std::string part;
  while (std::getline(in, part, ',')) {
    if (part.size() >= 2 && part.front() == '"') part = part.substr(1, part.size() - 2);
    if (!part.empty()) out.push_back(part);
  }
  return out;
}

const char* kPartyColumns =
    "id, kind, roles, family_name, first_name, date_of_birth, person_identifier, legal_name, "
    "legal_person_identifier, disabled, (extract(epoch from created_at) * 1000000)::bigint";

Party partyFromRow(const pg::QueryResult& q, int row, bool* disabled) {
  Party p;
  p.id = q.get(row, 0);
  p.kind = q.get(row, 1) == "legal" ? PartyKind::Legal : PartyKind::Natural;
  RoleSet roles;
  const int64_t bits = q.getInt(row, 2);
  for (Role r : {Role::User, Role::Officer, Role::Admin}) {
    if (bits & static_cast<int64_t>(r)) roles.add(r);
  }
  p.roles = roles;
  if (p.kind == PartyKind::Natural) {
    p.natural = NaturalPersonAttributes{q.get(row, 3), q.get(row, 4), q.get(row, 5), q.get(row, 6)};
  } else {
    p.legal = LegalPersonAttributes{q.get(row, 7), q.get(row, 8)};
  }
  if (disabled) *disabled = q.get(row, 9) == "t";
  p.createdAt = fromMicros(q.getInt(row, 10));
  return p;
}

const std::string kIdentificationSelect =
    "SELECT id, party_id, method, level, " + micros("at") + ", " + micros("valid_until") +
    ", officer_ids, verification_request_id, revoked FROM identifications ";

Identification identificationFromRow(const pg::QueryResult& q, int row) {
  Identification i;
  i.id = q.get(row, 0);
  i.partyId = q.get(row, 1);
  if (auto m = parseIdentificationMethod(q.get(row, 2))) i.method = *m;
  i.level = levelOr(q.get(row, 3), LevelOfAssurance::None);
  i.at = fromMicros(q.getInt(row, 4));
  if (!q.isNull(row, 5)) i.validUntil = fromMicros(q.getInt(row, 5));
  i.officerIds = parseTextArray(q.get(row, 6));
  i.verificationRequestId = q.get(row, 7);
  i.revoked = q.get(row, 8) == "t";
  return i;
}

Result<void> insertIdentification(pg::Connection& c, const Identification& i) {
  auto r = c.execPrepared(
      "identity_insert_identification",
      "INSERT INTO identifications (id, party_id, method, level, at, valid_until, officer_ids, "
      "verification_request_id, revoked) VALUES ($1, $2, $3, $4, $5, $6, $7::text[], $8, $9)",
      {Param::text(i.id), Param::text(i.partyId), Param::text(std::string(identificationMethodName(i.method))),
       Param::text(std::string(levelName(i.level))), timeParam(i.at),
       i.validUntil ? timeParam(*i.validUntil) : Param::null(), Param::text(textArray(i.officerIds)),
       Param::text(i.verificationRequestId), Param::text(i.revoked ? "true" : "false")});
  if (!r) return r.error();
  return ok();
}

// Loads one request with its document and approvals (the caller's connection / transaction).
Result<VerificationRequest> loadRequest(pg::Connection& c, const std::string& id, bool forUpdate) {
  std::string sql = "SELECT id, party_id, created_by, requested_level, status, " + micros("created_at") +
                    ", rejection_reason, decided_by, " + micros("decided_at") + ", version, method, " +
                    micros("appointment_at") + ", appointment_note FROM verification_requests WHERE id = $1";
  if (forUpdate) sql += " FOR UPDATE";
  auto q = c.execPrepared(forUpdate ? "identity_vr_load_lock" : "identity_vr_load", sql, {Param::text(id)});
  if (!q) return q.error();
  if (q->rows() == 0) return Error::notFound("no such verification request");
  VerificationRequest r;
  r.id = q->get(0, 0);
  r.partyId = q->get(0, 1);
  r.createdBy = q->get(0, 2);
  r.requestedLevel = levelOr(q->get(0, 3), LevelOfAssurance::Substantial);
  const std::string status = q->get(0, 4);
  r.status = status == "approved"                   ? VerificationStatus::Approved
             : status == "rejected"                 ? VerificationStatus::Rejected
             : status == "awaiting_second_approval" ? VerificationStatus::AwaitingSecondApproval
                                                    : VerificationStatus::Pending;
  r.createdAt = fromMicros(q->getInt(0, 5));
  r.rejectionReason = q->get(0, 6);
  r.decidedBy = q->get(0, 7);
  if (!q->isNull(0, 8)) r.decidedAt = fromMicros(q->getInt(0, 8));
  r.version = q->getInt(0, 9);
  if (auto m = parseIdentificationMethod(q->get(0, 10))) r.requestedMethod = *m;
  if (!q->isNull(0, 11)) r.appointment = Appointment{fromMicros(q->getInt(0, 11)), q->get(0, 12)};

  auto docs = c.execPrepared("identity_vr_scans",
                             "SELECT id, content_type, size_bytes, sha256, " + micros("uploaded_at") + ", " +
                                 micros("retention_until") +
                                 ", purged_at IS NOT NULL FROM identity_documents WHERE request_id = $1 "
                                 "ORDER BY uploaded_at, id",
                             {Param::text(id)});
  if (!docs) return docs.error();
  for (int i = 0; i < docs->rows(); ++i) {
    DocumentScanInfo d;
    d.id = docs->get(i, 0);
    d.contentType = docs->get(i, 1);
    d.size = docs->getInt(i, 2);
    d.sha256Hex = internal::hex(docs->getBytea(i, 3));
    d.uploadedAt = fromMicros(docs->getInt(i, 4));
    if (!docs->isNull(i, 5)) d.retentionUntil = fromMicros(docs->getInt(i, 5));
    d.purged = docs->get(i, 6) == "t";
    r.documents.push_back(std::move(d));
  }

  auto d = c.execPrepared("identity_vr_doc",
                          "SELECT document_type, issuing_country, number_hash, expires_on, reviewed_by "
                          "FROM verification_documents WHERE request_id = $1",
                          {Param::text(id)});
  if (!d) return d.error();
  if (d->rows() == 1) {
    r.document = DocumentReview{d->get(0, 0), d->get(0, 1), d->getBytea(0, 2), d->get(0, 3), d->get(0, 4)};
  }
  auto a = c.execPrepared("identity_vr_approvals",
                          "SELECT officer_id, officer_auth_ref, method, level, " + micros("at") +
                              " FROM verification_approvals WHERE request_id = $1 ORDER BY seq",
                          {Param::text(id)});
  if (!a) return a.error();
  for (int i = 0; i < a->rows(); ++i) {
    Approval ap;
    ap.officerId = a->get(i, 0);
    ap.officerAuthenticationRef = a->get(i, 1);
    if (auto m = parseIdentificationMethod(a->get(i, 2))) ap.method = *m;
    ap.level = levelOr(a->get(i, 3), LevelOfAssurance::None);
    ap.at = fromMicros(a->getInt(i, 4));
    r.approvals.push_back(std::move(ap));
  }
  return r;
}

Result<std::vector<VerificationRequest>> loadRequests(pg::Connection& c, const std::vector<std::string>& ids) {
  std::vector<VerificationRequest> out;
  for (const auto& id : ids) {
    auto r = loadRequest(c, id, false);
    if (!r) return r.error();
    out.push_back(std::move(*r));
  }
  return out;
}

IdentifierBinding bindingFromRow(const pg::QueryResult& q, int row) {
  IdentifierBinding b;
  b.id = q.get(row, 0);
  b.identifier = q.get(row, 1);
  b.partyId = q.get(row, 2);
  const std::string s = q.get(row, 3);
  b.status = s == "bound" ? BindingStatus::Bound : s == "released" ? BindingStatus::Released : BindingStatus::Pending;
  b.createdAt = fromMicros(q.getInt(row, 4));
  if (!q.isNull(row, 5)) b.boundAt = fromMicros(q.getInt(row, 5));
  if (!q.isNull(row, 6)) b.codeExpiresAt = fromMicros(q.getInt(row, 6));
  return b;
}

const std::string kBindingColumns = "id, identifier, party_id, status, " + micros("created_at") + ", " +
                                    micros("bound_at") + ", " + micros("code_expires_at");

}  // namespace

std::string_view bindingStatusName(BindingStatus s) {
  switch (s) {
    case BindingStatus::Pending: return "pending";
    case BindingStatus::Bound: return "bound";
    case BindingStatus::Released: return "released";
  }
  return "unknown";
}

// ---------------------------------------------------------------------------------------------
// Credentials

Result<std::optional<Credentials>> PostgresCredentialStore::findByIdentifier(const std::string& identifier) {
  auto lease = pool_.acquire();
  if (!lease) return lease.error();
  auto q = (*lease)->execPrepared(
      "identity_cred_find",
      "SELECT c.party_id, c.password_hash, coalesce(t.confirmed, false), p.disabled "
      "FROM credentials c JOIN parties p ON p.id = c.party_id "
      "LEFT JOIN totp_secrets t ON t.party_id = c.party_id WHERE c.login_identifier = $1",
      {Param::text(internal::lowerAscii(identifier))});
  if (!q) return q.error();
  if (q->rows() == 0) return std::optional<Credentials>();
  Credentials c;
  c.partyId = q->get(0, 0);
  c.passwordHash = q->get(0, 1);
  c.totpEnrolled = q->get(0, 2) == "t";
  c.disabled = q->get(0, 3) == "t";
  return std::optional<Credentials>(std::move(c));
}

Result<void> PostgresCredentialStore::setPasswordHash(const std::string& partyId, const std::string& phc) {
  auto lease = pool_.acquire();
  if (!lease) return lease.error();
  auto q = (*lease)->execPrepared("identity_cred_set",
                                  "UPDATE credentials SET password_hash = $2, updated_at = now() WHERE party_id = $1",
                                  {Param::text(partyId), Param::text(phc)});
  if (!q) return q.error();
  if (q->affectedRows() == 0) return Error::notFound("no credentials for party");
  return ok();
}

// ---------------------------------------------------------------------------------------------
// Second factors

namespace {
// KeyEncryptionKey wraps 32-byte data keys only, so a seed is sealed under a fresh data key:
// 0x01 || wrapped data key (length-prefixed, 2 bytes) || 12-byte nonce || AES-GCM(seed), with the
// context "totp:<party>" bound both in the wrap and as the seed's AAD.
constexpr char kSeedFormat = 0x01;

Result<std::string> sealSeed(const crypto::KeyEncryptionKey& kek, const Secret& seed, const std::string& context) {
  Secret dataKey = crypto::randomKey();
  auto wrapped = kek.wrap(dataKey, context);
  if (!wrapped) return wrapped.error();
  std::string nonce = crypto::randomBytes(crypto::kGcmNonceBytes);
  auto sealed = crypto::aesGcmSeal(dataKey, nonce, context, seed.reveal());
  if (!sealed) return sealed.error();
  std::string out(1, kSeedFormat);
  out.push_back(static_cast<char>((wrapped->size() >> 8) & 0xff));
  out.push_back(static_cast<char>(wrapped->size() & 0xff));
  return out + *wrapped + nonce + *sealed;
}

Result<Secret> openSeed(const crypto::KeyEncryptionKey& kek, std::string_view blob, const std::string& context) {
  const Error bad = Error::integrityFailure("TOTP seed does not decrypt");
  if (blob.size() < 3 || blob[0] != kSeedFormat) return bad;
  const std::size_t n = (static_cast<std::size_t>(static_cast<unsigned char>(blob[1])) << 8) |
                        static_cast<unsigned char>(blob[2]);
  if (blob.size() < 3 + n + crypto::kGcmNonceBytes + crypto::kGcmTagBytes) return bad;
  auto dataKey = kek.unwrap(blob.substr(3, n), context);
  if (!dataKey) return bad;
  auto seed = crypto::aesGcmOpen(*dataKey, blob.substr(3 + n, crypto::kGcmNonceBytes), context,
                                 blob.substr(3 + n + crypto::kGcmNonceBytes));
  if (!seed) return bad;
  return Secret(std::move(*seed));
}
}  // namespace

Result<void> PostgresSecondFactorStore::setTotpSeed(const std::string& partyId, const Secret& seed) {
  auto wrapped = sealSeed(kek_, seed, "totp:" + partyId);
  if (!wrapped) return wrapped.error();
  auto lease = pool_.acquire();
  if (!lease) return lease.error();
  auto q = (*lease)->execPrepared(
      "identity_totp_set",
      "INSERT INTO totp_secrets (party_id, seed_wrapped, confirmed, last_step, created_at) "
      "VALUES ($1, $2, false, NULL, now()) ON CONFLICT (party_id) DO UPDATE SET seed_wrapped = EXCLUDED.seed_wrapped, "
      "confirmed = false, last_step = NULL, created_at = EXCLUDED.created_at",
      {Param::text(partyId), Param::bytes(*wrapped)});
  if (!q) return q.error();
  return ok();
}

Result<Secret> PostgresSecondFactorStore::totpSeed(const std::string& partyId) {
  auto lease = pool_.acquire();
  if (!lease) return lease.error();
  auto q = (*lease)->execPrepared("identity_totp_get", "SELECT seed_wrapped FROM totp_secrets WHERE party_id = $1",
                                  {Param::text(partyId)});
  if (!q) return q.error();
  if (q->rows() == 0) return Error::notFound("no TOTP enrolled");
  return openSeed(kek_, q->getBytea(0, 0), "totp:" + partyId);
}

Result<bool> PostgresSecondFactorStore::advanceTotpStep(const std::string& partyId, int64_t step) {
  auto lease = pool_.acquire();
  if (!lease) return lease.error();
  // One statement: concurrent logins with the same code cannot both advance.
  auto q = (*lease)->execPrepared(
      "identity_totp_advance",
      "UPDATE totp_secrets SET last_step = $2 WHERE party_id = $1 AND (last_step IS NULL OR last_step < $2)",
      {Param::text(partyId), Param::integer(step)});
  if (!q) return q.error();
  return q->affectedRows() == 1;
}

Result<void> PostgresSecondFactorStore::replaceRecoveryCodes(const std::string& partyId,
                                                             std::vector<std::string> hashes) {
  auto tx = PooledTransaction::begin(pool_);
  if (!tx) return tx.error();
  pg::Connection& c = tx->connection();
  auto d = c.execPrepared("identity_rc_clear", "DELETE FROM recovery_codes WHERE party_id = $1", {Param::text(partyId)});
  if (!d) return d.error();
  for (const auto& h : hashes) {
    auto i = c.execPrepared("identity_rc_add", "INSERT INTO recovery_codes (party_id, code_hash) VALUES ($1, $2)",
                            {Param::text(partyId), Param::bytes(h)});
    if (!i) return i.error();
  }
  return tx->commit();
}

Result<bool> PostgresSecondFactorStore::consumeRecoveryCode(const std::string& partyId, const std::string& hash) {
  auto lease = pool_.acquire();
  if (!lease) return lease.error();
  auto q = (*lease)->execPrepared("identity_rc_consume",
                                  "DELETE FROM recovery_codes WHERE party_id = $1 AND code_hash = $2",
                                  {Param::text(partyId), Param::bytes(hash)});
  if (!q) return q.error();
  return q->affectedRows() == 1;
}

Result<int> PostgresSecondFactorStore::remainingRecoveryCodes(const std::string& partyId) {
  auto lease = pool_.acquire();
  if (!lease) return lease.error();
  auto q = (*lease)->execPrepared("identity_rc_count", "SELECT count(*) FROM recovery_codes WHERE party_id = $1",
                                  {Param::text(partyId)});
  if (!q) return q.error();
  return static_cast<int>(q->getInt(0, 0));
}

// ---------------------------------------------------------------------------------------------
// Sessions

Result<void> PostgresSessionStore::insert(const Session& s) {
  auto lease = pool_.acquire();
  if (!lease) return lease.error();
  const TimePoint idleEnd = s.lastSeenAt + std::chrono::duration_cast<std::chrono::microseconds>(idle_);
  auto q = (*lease)->execPrepared(
      "identity_session_insert",
      "INSERT INTO sessions (token_hash, party_id, level, methods, authenticated_at, created_at, last_seen_at, "
      "idle_expires_at, absolute_expires_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, "
      "CASE WHEN $10 THEN now() END)",
      {Param::bytes(s.tokenHash), Param::text(s.partyId),
       Param::text(std::string(levelName(s.authentication.level))), Param::text(joinMethods(s.authentication.methods)),
       timeParam(s.authentication.at), timeParam(s.createdAt), timeParam(s.lastSeenAt), timeParam(idleEnd),
       timeParam(s.absoluteExpiresAt), Param::text(s.revoked ? "true" : "false")});
  if (!q) return q.error();
  return ok();
}

Result<Session> PostgresSessionStore::find(const std::string& tokenHash) {
  auto lease = pool_.acquire();
  if (!lease) return lease.error();
  static const std::string kSql = "SELECT party_id, level, methods, " + micros("authenticated_at") + ", " +
                                  micros("created_at") + ", " + micros("last_seen_at") + ", " +
                                  micros("absolute_expires_at") +
                                  ", revoked_at IS NOT NULL FROM sessions WHERE token_hash = $1";
  auto q = (*lease)->execPrepared("identity_session_find", kSql, {Param::bytes(tokenHash)});
  if (!q) return q.error();
  if (q->rows() == 0) return Error::notFound("no such session");
  Session s;
  s.tokenHash = tokenHash;
  s.partyId = q->get(0, 0);
  s.authentication.level = levelOr(q->get(0, 1), LevelOfAssurance::None);
  s.authentication.methods = splitMethods(q->get(0, 2));
  s.authentication.at = fromMicros(q->getInt(0, 3));
  s.createdAt = fromMicros(q->getInt(0, 4));
  s.lastSeenAt = fromMicros(q->getInt(0, 5));
  s.absoluteExpiresAt = fromMicros(q->getInt(0, 6));
  s.revoked = q->get(0, 7) == "t";
  return s;
}

Result<void> PostgresSessionStore::touch(const std::string& tokenHash, TimePoint lastSeenAt) {
  auto lease = pool_.acquire();
  if (!lease) return lease.error();
  const TimePoint idleEnd = lastSeenAt + std::chrono::duration_cast<std::chrono::microseconds>(idle_);
  auto q = (*lease)->execPrepared(
      "identity_session_touch",
      "UPDATE sessions SET last_seen_at = greatest(last_seen_at, $2), idle_expires_at = greatest(idle_expires_at, $3) "
      "WHERE token_hash = $1",
      {Param::bytes(tokenHash), timeParam(lastSeenAt), timeParam(idleEnd)});
  if (!q) return q.error();
  if (q->affectedRows() == 0) return Error::notFound("no such session");
  return ok();
}

Result<void> PostgresSessionStore::revoke(const std::string& tokenHash) {
  auto lease = pool_.acquire();
  if (!lease) return lease.error();
  auto q = (*lease)->execPrepared(
      "identity_session_revoke",
      "UPDATE sessions SET revoked_at = coalesce(revoked_at, now()) WHERE token_hash = $1", {Param::bytes(tokenHash)});
  if (!q) return q.error();
  if (q->affectedRows() == 0) return Error::notFound("no such session");
  return ok();
}

Result<int> PostgresSessionStore::revokeAllOf(const std::string& partyId) {
  auto lease = pool_.acquire();
  if (!lease) return lease.error();
  auto q = (*lease)->execPrepared("identity_session_revoke_all",
                                  "UPDATE sessions SET revoked_at = now() WHERE party_id = $1 AND revoked_at IS NULL",
                                  {Param::text(partyId)});
  if (!q) return q.error();
  return static_cast<int>(q->affectedRows());
}

Result<int64_t> PostgresVerificationStore::purgeExpiredScans(TimePoint now) {
  auto tx = PooledTransaction::begin(pool_);
  if (!tx) return tx.error();
  pg::Connection& c = tx->connection();
  // SKIP LOCKED: another node purging at the same moment takes the other rows.
  auto q = c.execPrepared("identity_scan_purge",
                          "UPDATE verification_documents SET scan_encrypted = NULL, scan_media_type = NULL, "
                          "scan_purge_after = NULL WHERE request_id IN (SELECT request_id FROM "
                          "verification_documents WHERE scan_purge_after <= $1 AND scan_encrypted IS NOT NULL "
                          "FOR UPDATE SKIP LOCKED) RETURNING request_id",
                          {timeParam(now)});
  if (!q) return q.error();
  for (int i = 0; i < q->rows(); ++i) {
    ERDS_RETURN_IF_ERROR(appendAudit(audit_, c, "system:erdsd", "identity.verification.scan_purged",
                                     "verification_request:" + q->get(i, 0)));
  }
  ERDS_RETURN_IF_ERROR(tx->commit());
  return static_cast<int64_t>(q->rows());
}

Result<int64_t> PostgresSessionStore::purgeExpired(TimePoint cutoff) {
  auto lease = pool_.acquire();
  if (!lease) return lease.error();
  auto q = (*lease)->execPrepared("identity_session_purge", "DELETE FROM sessions WHERE absolute_expires_at < $1",
                                  {timeParam(cutoff)});
  if (!q) return q.error();
  return q->affectedRows();
}

// ---------------------------------------------------------------------------------------------
// Login throttle

namespace {
const std::string kThrottleSelect = "SELECT failures, lockouts, " + micros("window_start") + ", " +
                                    micros("last_failure") + ", " + micros("locked_until") +
                                    " FROM login_throttle WHERE key = $1";

ThrottleState throttleFromRow(const pg::QueryResult& q) {
  ThrottleState s;
  if (q.rows() == 0) return s;
  s.failures = static_cast<int>(q.getInt(0, 0));
  s.lockouts = static_cast<int>(q.getInt(0, 1));
  if (!q.isNull(0, 2)) s.windowStart = fromMicros(q.getInt(0, 2));
  if (!q.isNull(0, 3)) s.lastFailure = fromMicros(q.getInt(0, 3));
  if (!q.isNull(0, 4)) s.lockedUntil = fromMicros(q.getInt(0, 4));
  return s;
}

Param optionalTime(TimePoint t) { return t == TimePoint{} ? Param::null() : timeParam(t); }
}  // namespace

Result<ThrottleState> PostgresThrottleStore::load(const std::string& key) {
  auto lease = pool_.acquire();
  if (!lease) return lease.error();
  auto q = (*lease)->execPrepared("identity_throttle_load", kThrottleSelect, {Param::text(key)});
  if (!q) return q.error();
  return throttleFromRow(*q);
}

Result<ThrottleState> PostgresThrottleStore::update(const std::string& key,
                                                    const std::function<ThrottleState(const ThrottleState&)>& fn) {
  auto tx = PooledTransaction::begin(pool_);
  if (!tx) return tx.error();
  pg::Connection& c = tx->connection();
  auto ins = c.execPrepared("identity_throttle_ensure",
                            "INSERT INTO login_throttle (key) VALUES ($1) ON CONFLICT (key) DO NOTHING",
                            {Param::text(key)});
  if (!ins) return ins.error();
  auto q = c.execPrepared("identity_throttle_lock", kThrottleSelect + " FOR UPDATE", {Param::text(key)});
  if (!q) return q.error();
  ThrottleState next = fn(throttleFromRow(*q));
  auto u = c.execPrepared(
      "identity_throttle_store",
      "UPDATE login_throttle SET failures = $2, lockouts = $3, window_start = $4, last_failure = $5, "
      "locked_until = $6 WHERE key = $1",
      {Param::text(key), Param::integer(next.failures), Param::integer(next.lockouts), optionalTime(next.windowStart),
       optionalTime(next.lastFailure), optionalTime(next.lockedUntil)});
  if (!u) return u.error();
  ERDS_RETURN_IF_ERROR(tx->commit());
  return next;
}

Result<void> PostgresThrottleStore::reset(const std::string& key) {
  auto lease = pool_.acquire();
  if (!lease) return lease.error();
  auto q = (*lease)->execPrepared("identity_throttle_reset", "DELETE FROM login_throttle WHERE key = $1",
                                  {Param::text(key)});
  if (!q) return q.error();
  return ok();
}

// ---------------------------------------------------------------------------------------------
// Verification

Result<void> PostgresVerificationStore::create(const VerificationRequest& r) {
  auto tx = PooledTransaction::begin(pool_);
  if (!tx) return tx.error();
  pg::Connection& c = tx->connection();
  auto q = c.execPrepared(
      "identity_vr_create",
      "INSERT INTO verification_requests (id, party_id, created_by, requested_level, status, created_at, version, "
      "method, appointment_at, appointment_note) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
      {Param::text(r.id), Param::text(r.partyId), Param::text(r.createdBy),
       Param::text(std::string(levelName(r.requestedLevel))), Param::text(std::string(verificationStatusName(r.status))),
       timeParam(r.createdAt), Param::integer(r.version),
       Param::text(std::string(identificationMethodName(r.requestedMethod))),
       r.appointment ? timeParam(r.appointment->preferredAt) : Param::null(),
       r.appointment ? Param::text(r.appointment->note) : Param::null()});
  if (!q) return q.error();
  ERDS_RETURN_IF_ERROR(appendAudit(audit_, c, "party:" + r.createdBy, "identity.verification.requested",
                                   "party:" + r.partyId,
                                   "{\"request\":\"" + r.id + "\",\"requested_level\":\"" +
                                       std::string(levelName(r.requestedLevel)) + "\",\"method\":\"" +
                                       std::string(identificationMethodName(r.requestedMethod)) + "\"}"));
  return tx->commit();
}

Result<VerificationRequest> PostgresVerificationStore::find(const std::string& id) {
  auto lease = pool_.acquire();
  if (!lease) return lease.error();
  return loadRequest(**lease, id, false);
}

Result<void> PostgresVerificationStore::update(const VerificationRequest& r, int64_t expectedVersion,
                                               const std::optional<Identification>& identification) {
  auto tx = PooledTransaction::begin(pool_);
  if (!tx) return tx.error();
  pg::Connection& c = tx->connection();
  auto current = loadRequest(c, r.id, true);
  if (!current) return current.error();
  if (current->version != expectedVersion) return Error::conflict("verification request changed concurrently");
  auto u = c.execPrepared(
      "identity_vr_update",
      "UPDATE verification_requests SET status = $2, rejection_reason = $3, decided_by = $4, decided_at = $5, "
      "version = $6 WHERE id = $1 AND version = $7",
      {Param::text(r.id), Param::text(std::string(verificationStatusName(r.status))), Param::text(r.rejectionReason),
       Param::text(r.decidedBy), r.decidedBy.empty() ? Param::null() : timeParam(r.decidedAt),
       Param::integer(expectedVersion + 1), Param::integer(expectedVersion)});
  if (!u) return u.error();
  if (u->affectedRows() != 1) return Error::conflict("verification request changed concurrently");
  if (r.document) {
    const DocumentReview& d = *r.document;
    auto dq = c.execPrepared(
        "identity_vr_doc_upsert",
        "INSERT INTO verification_documents (request_id, document_type, issuing_country, number_hash, expires_on, "
        "reviewed_by) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (request_id) DO UPDATE SET "
        "document_type = EXCLUDED.document_type, issuing_country = EXCLUDED.issuing_country, "
        "number_hash = EXCLUDED.number_hash, expires_on = EXCLUDED.expires_on, reviewed_by = EXCLUDED.reviewed_by",
        {Param::text(r.id), Param::text(d.documentType), Param::text(d.issuingCountry), Param::bytes(d.documentNumberHash),
         Param::text(d.expiresOn), Param::text(d.reviewedBy)});
    if (!dq) return dq.error();
  }
  // Approvals are append-only: write the ones beyond what is stored.
  for (std::size_t i = current->approvals.size(); i < r.approvals.size(); ++i) {
    const Approval& ap = r.approvals[i];
    auto aq = c.execPrepared(
        "identity_vr_approval_add",
        "INSERT INTO verification_approvals (request_id, seq, officer_id, officer_auth_ref, method, level, at) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7)",
        {Param::text(r.id), Param::integer(static_cast<int64_t>(i + 1)), Param::text(ap.officerId),
         Param::text(ap.officerAuthenticationRef), Param::text(std::string(identificationMethodName(ap.method))),
         Param::text(std::string(levelName(ap.level))), timeParam(ap.at)});
    if (!aq) return aq.error();
  }
  if (identification) ERDS_RETURN_IF_ERROR(insertIdentification(c, *identification));

  std::string actor = r.decidedBy;
  if (actor.empty() && !r.approvals.empty()) actor = r.approvals.back().officerId;
  if (actor.empty() && r.document) actor = r.document->reviewedBy;
  const bool documentOnly = r.status == current->status && r.approvals.size() == current->approvals.size();
  std::string details = "{\"request\":\"" + r.id + "\"";
  if (!r.approvals.empty() && !documentOnly) {
    const Approval& ap = r.approvals.back();
    details += ",\"method\":\"" + std::string(identificationMethodName(ap.method)) + "\",\"level\":\"" +
               std::string(levelName(ap.level)) + "\",\"officer_authentication\":\"" + ap.officerAuthenticationRef +
               "\"";
  }
  if (identification) details += ",\"identification\":\"" + identification->id + "\"";
  ERDS_RETURN_IF_ERROR(appendAudit(audit_, c, "party:" + actor,
                                   documentOnly ? "identity.verification.document_recorded"
                                                : "identity.verification." + std::string(verificationStatusName(r.status)),
                                   "party:" + r.partyId, details + "}"));
  return tx->commit();
}

Result<std::vector<VerificationRequest>> PostgresVerificationStore::openRequests() {
  auto lease = pool_.acquire();
  if (!lease) return lease.error();
  auto q = (*lease)->execPrepared("identity_vr_open",
                                  "SELECT id FROM verification_requests WHERE status IN ('pending', "
                                  "'awaiting_second_approval') ORDER BY created_at, id LIMIT 500",
                                  {});
  if (!q) return q.error();
  std::vector<std::string> ids;
  for (int i = 0; i < q->rows(); ++i) ids.push_back(q->get(i, 0));
  return loadRequests(**lease, ids);
}

Result<std::vector<Identification>> PostgresVerificationStore::identificationsOf(const std::string& partyId) {
  auto lease = pool_.acquire();
  if (!lease) return lease.error();
  auto q = (*lease)->execPrepared("identity_idn_of", kIdentificationSelect + "WHERE party_id = $1 ORDER BY at, id",
                                  {Param::text(partyId)});
  if (!q) return q.error();
  std::vector<Identification> out;
  for (int i = 0; i < q->rows(); ++i) out.push_back(identificationFromRow(*q, i));
  return out;
}

// ---------------------------------------------------------------------------------------------
// Accounts

Result<void> PostgresAccountStore::createAccount(const Party& party, const std::string& loginIdentifier,
                                                 const std::string& passwordHash) {
  auto tx = PooledTransaction::begin(pool_);
  if (!tx) return tx.error();
  pg::Connection& c = tx->connection();
  const NaturalPersonAttributes n = party.natural.value_or(NaturalPersonAttributes{});
  const LegalPersonAttributes l = party.legal.value_or(LegalPersonAttributes{});
  auto p = c.execPrepared(
      "identity_party_insert",
      "INSERT INTO parties (id, kind, roles, family_name, first_name, date_of_birth, person_identifier, legal_name, "
      "legal_person_identifier, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
      {Param::text(party.id), Param::text(std::string(partyKindName(party.kind))), Param::integer(party.roles.bits()),
       Param::text(n.familyName), Param::text(n.firstName), Param::text(n.dateOfBirth), Param::text(n.personIdentifier),
       Param::text(l.legalName), Param::text(l.legalPersonIdentifier), timeParam(party.createdAt)});
  if (!p) return p.error();
  auto cr = c.execPrepared(
      "identity_cred_insert",
      "INSERT INTO credentials (party_id, login_identifier, password_hash, updated_at) VALUES ($1, $2, $3, $4)",
      {Param::text(party.id), Param::text(internal::lowerAscii(loginIdentifier)), Param::text(passwordHash),
       timeParam(party.createdAt)});
  if (!cr) {
    if (cr.error().is(ErrorCode::Conflict)) return Error::conflict("login identifier already registered");
    return cr.error();
  }
  return tx->commit();
}

Result<Party> PostgresAccountStore::findParty(const std::string& partyId, bool* disabled) {
  auto lease = pool_.acquire();
  if (!lease) return lease.error();
  auto q = (*lease)->execPrepared("identity_party_find",
                                  std::string("SELECT ") + kPartyColumns + " FROM parties WHERE id = $1",
                                  {Param::text(partyId)});
  if (!q) return q.error();
  if (q->rows() == 0) return Error::notFound("no such party");
  return partyFromRow(*q, 0, disabled);
}

Result<std::vector<Party>> PostgresAccountStore::listParties(int limit, int offset) {
  auto lease = pool_.acquire();
  if (!lease) return lease.error();
  auto q = (*lease)->execPrepared(
      "identity_party_list",
      std::string("SELECT ") + kPartyColumns + " FROM parties ORDER BY created_at, id LIMIT $1 OFFSET $2",
      {Param::integer(limit), Param::integer(offset)});
  if (!q) return q.error();
  std::vector<Party> out;
  for (int i = 0; i < q->rows(); ++i) out.push_back(partyFromRow(*q, i, nullptr));
  return out;
}

Result<void> PostgresAccountStore::setRoles(const std::string& partyId, RoleSet roles) {
  auto lease = pool_.acquire();
  if (!lease) return lease.error();
  auto q = (*lease)->execPrepared("identity_party_roles", "UPDATE parties SET roles = $2 WHERE id = $1",
                                  {Param::text(partyId), Param::integer(roles.bits())});
  if (!q) return q.error();
  if (q->affectedRows() == 0) return Error::notFound("no such party");
  return ok();
}

Result<void> PostgresAccountStore::setDisabled(const std::string& partyId, bool disabled) {
  auto lease = pool_.acquire();
  if (!lease) return lease.error();
  auto q = (*lease)->execPrepared("identity_party_disable", "UPDATE parties SET disabled = $2 WHERE id = $1",
                                  {Param::text(partyId), Param::text(disabled ? "true" : "false")});
  if (!q) return q.error();
  if (q->affectedRows() == 0) return Error::notFound("no such party");
  return ok();
}

Result<std::string> PostgresAccountStore::loginIdentifierOf(const std::string& partyId) {
  auto lease = pool_.acquire();
  if (!lease) return lease.error();
  auto q = (*lease)->execPrepared("identity_login_of", "SELECT login_identifier FROM credentials WHERE party_id = $1",
                                  {Param::text(partyId)});
  if (!q) return q.error();
  if (q->rows() == 0) return Error::notFound("no credentials for party");
  return q->get(0, 0);
}

Result<bool> PostgresAccountStore::totpConfirmed(const std::string& partyId) {
  auto lease = pool_.acquire();
  if (!lease) return lease.error();
  auto q = (*lease)->execPrepared("identity_totp_confirmed", "SELECT confirmed FROM totp_secrets WHERE party_id = $1",
                                  {Param::text(partyId)});
  if (!q) return q.error();
  if (q->rows() == 0) return Error::notFound("no TOTP enrolled");
  return q->get(0, 0) == "t";
}

Result<void> PostgresAccountStore::confirmTotp(const std::string& partyId) {
  auto lease = pool_.acquire();
  if (!lease) return lease.error();
  auto q = (*lease)->execPrepared("identity_totp_confirm", "UPDATE totp_secrets SET confirmed = true WHERE party_id = $1",
                                  {Param::text(partyId)});
  if (!q) return q.error();
  if (q->affectedRows() == 0) return Error::notFound("no TOTP enrolled");
  return ok();
}

Result<IdentifierBinding> PostgresAccountStore::claimIdentifier(const std::string& partyId,
                                                                const std::string& identifier,
                                                                const std::string& codeHash, TimePoint codeExpiresAt,
                                                                TimePoint now) {
  const std::string id = internal::lowerAscii(identifier);
  auto tx = PooledTransaction::begin(pool_);
  if (!tx) return tx.error();
  pg::Connection& c = tx->connection();
  auto existing = c.execPrepared(
      "identity_binding_existing",
      "SELECT " + kBindingColumns +
          " FROM identifier_bindings WHERE identifier = $1 AND party_id = $2 AND status <> 'released' FOR UPDATE",
      {Param::text(id), Param::text(partyId)});
  if (!existing) return existing.error();
  std::string bindingId;
  if (existing->rows() == 1) {
    IdentifierBinding b = bindingFromRow(*existing, 0);
    if (b.status == BindingStatus::Bound) return Error::conflict("identifier already bound to this party");
    bindingId = b.id;
    auto u = c.execPrepared(
        "identity_binding_recode",
        "UPDATE identifier_bindings SET code_hash = $2, code_expires_at = $3, code_attempts = 0 WHERE id = $1",
        {Param::text(bindingId), Param::bytes(codeHash), timeParam(codeExpiresAt)});
    if (!u) return u.error();
  } else {
    bindingId = "ib_" + internal::hex(internal::randomBytes(16));
    auto i = c.execPrepared(
        "identity_binding_insert",
        "INSERT INTO identifier_bindings (id, identifier, party_id, status, code_hash, code_expires_at, created_at) "
        "VALUES ($1, $2, $3, 'pending', $4, $5, $6)",
        {Param::text(bindingId), Param::text(id), Param::text(partyId), Param::bytes(codeHash),
         timeParam(codeExpiresAt), timeParam(now)});
    if (!i) return i.error();
  }
  auto q = c.execPrepared("identity_binding_get", "SELECT " + kBindingColumns + " FROM identifier_bindings WHERE id = $1",
                          {Param::text(bindingId)});
  if (!q) return q.error();
  IdentifierBinding out = bindingFromRow(*q, 0);
  ERDS_RETURN_IF_ERROR(tx->commit());
  return out;
}

Result<std::vector<IdentifierBinding>> PostgresAccountStore::bindingsOf(const std::string& partyId) {
  auto lease = pool_.acquire();
  if (!lease) return lease.error();
  auto q = (*lease)->execPrepared(
      "identity_bindings_of",
      "SELECT " + kBindingColumns +
          " FROM identifier_bindings WHERE party_id = $1 AND status <> 'released' ORDER BY created_at, id",
      {Param::text(partyId)});
  if (!q) return q.error();
  std::vector<IdentifierBinding> out;
  for (int i = 0; i < q->rows(); ++i) out.push_back(bindingFromRow(*q, i));
  return out;
}

Result<IdentifierBinding> PostgresAccountStore::confirmIdentifier(const std::string& partyId,
                                                                  const std::string& bindingId,
                                                                  const std::string& codeHash, TimePoint now) {
  auto tx = PooledTransaction::begin(pool_);
  if (!tx) return tx.error();
  pg::Connection& c = tx->connection();
  auto q = c.execPrepared("identity_binding_lock",
                          "SELECT code_hash, " + micros("code_expires_at") + ", code_attempts, identifier " +
                              "FROM identifier_bindings WHERE id = $1 AND party_id = $2 AND status = 'pending' "
                              "FOR UPDATE",
                          {Param::text(bindingId), Param::text(partyId)});
  if (!q) return q.error();
  if (q->rows() == 0) return Error::notFound("no such pending identifier");
  const Error refused = Error::unauthorized("invalid or expired code");
  const std::string stored = q->getBytea(0, 0);
  const bool expired = q->isNull(0, 1) || fromMicros(q->getInt(0, 1)) <= now;
  const int64_t attempts = q->getInt(0, 2);
  if (expired || attempts >= kMaxIdentifierCodeAttempts || stored.empty()) return refused;
  if (!internal::constantTimeEquals(stored, codeHash)) {
    auto u = c.execPrepared("identity_binding_attempt",
                            "UPDATE identifier_bindings SET code_attempts = code_attempts + 1 WHERE id = $1",
                            {Param::text(bindingId)});
    if (!u) return u.error();
    ERDS_RETURN_IF_ERROR(tx->commit());
    return refused;
  }
  auto b = c.execPrepared(
      "identity_binding_bind",
      "UPDATE identifier_bindings SET status = 'bound', bound_at = $2, code_hash = NULL, code_expires_at = NULL "
      "WHERE id = $1",
      {Param::text(bindingId), timeParam(now)});
  if (!b) {
    if (b.error().is(ErrorCode::Conflict)) return Error::conflict("identifier is bound to another party");
    return b.error();
  }
  auto g = c.execPrepared("identity_binding_get2",
                          "SELECT " + kBindingColumns + " FROM identifier_bindings WHERE id = $1",
                          {Param::text(bindingId)});
  if (!g) return g.error();
  IdentifierBinding out = bindingFromRow(*g, 0);
  ERDS_RETURN_IF_ERROR(tx->commit());
  return out;
}

std::string bindingKey(std::string identifier) { return internal::lowerAscii(std::move(identifier)); }

Result<std::optional<std::string>> PostgresAccountStore::partyBoundTo(const std::string& identifier) {
  auto lease = pool_.acquire();
  if (!lease) return lease.error();
  auto q = (*lease)->execPrepared(
      "identity_bound_to", "SELECT party_id FROM identifier_bindings WHERE identifier = $1 AND status = 'bound'",
      {Param::text(bindingKey(identifier))});
  if (!q) return q.error();
  if (q->rows() == 0) return std::optional<std::string>();
  return std::optional<std::string>(q->get(0, 0));
}

Result<void> PostgresAccountStore::recordIdentification(const Identification& identification) {
  auto lease = pool_.acquire();
  if (!lease) return lease.error();
  return insertIdentification(**lease, identification);
}

Result<std::vector<VerificationRequest>> PostgresAccountStore::verificationRequestsOf(const std::string& partyId) {
  auto lease = pool_.acquire();
  if (!lease) return lease.error();
  auto q = (*lease)->execPrepared(
      "identity_vr_of", "SELECT id FROM verification_requests WHERE party_id = $1 ORDER BY created_at DESC, id LIMIT 100",
      {Param::text(partyId)});
  if (!q) return q.error();
  std::vector<std::string> ids;
  for (int i = 0; i < q->rows(); ++i) ids.push_back(q->get(i, 0));
  return loadRequests(**lease, ids);
}

}  // namespace erds::identity
