// DeliveryStore over messages / deliveries / evidence / pending_mailboxes (0002_core.sql).
// Evidence is issued (sealed, time-stamped) with no database connection held; the transaction
// that follows stores it with the state change, so a failed issuer leaves nothing behind and a
// crash after issuance leaves only an unstored (never acknowledged) evidence.
#include "erds/core/delivery_store.h"

#include <exception>
#include <set>

#include "erds/base/aead.h"
#include "erds/base/log.h"
#include "sql_util.h"

namespace erds::core {

using internal::fromMicros;
using internal::micros;
using internal::timeParam;

namespace {

bool validLoa(const std::string& l) { return l == "low" || l == "substantial" || l == "high"; }

std::string recipientPayload(const std::string& messageId, int index) {
  return "{\"message_id\":\"" + messageId + "\",\"recipient_index\":" + std::to_string(index) + "}";
}

const std::string kMessageColumns =
    "id::text, status, sender_party_id, sender_identifier, subject, consignment_mode, required_loa, " +
    micros("expires_at") + ", " + micros("scheduled_at") + ", " + micros("created_at") +
    ", content_digest, part_count, content_size";

MessageInfo messageFromRow(const pg::QueryResult& r, int i) {
  MessageInfo m;
  m.id = r.get(i, 0);
  m.status = r.get(i, 1);
  m.senderPartyId = r.get(i, 2);
  m.senderIdentifier = r.get(i, 3);
  m.subject = r.get(i, 4);
  m.mode = consignmentModeFromName(r.get(i, 5)).value_or(ConsignmentMode::Basic);
  m.requiredLoa = r.get(i, 6);
  m.expiresAt = fromMicros(r.getInt(i, 7));
  if (!r.isNull(i, 8)) m.scheduledAt = fromMicros(r.getInt(i, 8));
  m.createdAt = fromMicros(r.getInt(i, 9));
  m.contentDigest = r.getBytea(i, 10);
  m.partCount = static_cast<int>(r.getInt(i, 11));
  m.contentSize = r.getInt(i, 12);
  return m;
}

const std::string kDeliveryColumns =
    "message_id::text, recipient_index, recipient_identifier, coalesce(recipient_party_id, ''), state, last_event, " +
    micros("state_changed_at") +
    ", (recipient_party_id IS NULL AND NOT EXISTS (SELECT 1 FROM pending_mailboxes p "
    "   WHERE p.message_id = deliveries.message_id AND p.recipient_index = deliveries.recipient_index))";

Result<DeliveryInfo> deliveryFromRow(const pg::QueryResult& r, int i) {
  DeliveryInfo d;
  d.messageId = r.get(i, 0);
  d.recipientIndex = static_cast<int>(r.getInt(i, 1));
  d.recipientIdentifier = r.get(i, 2);
  d.recipientPartyId = r.get(i, 3);
  auto st = deliveryStateFromName(r.get(i, 4));
  auto ev = eventFromName(r.get(i, 5));
  if (!st || !ev) return Error::internal("delivery row with unknown state or event: " + r.get(i, 4));
  d.state = *st;
  d.lastEvent = *ev;
  d.stateChangedAt = fromMicros(r.getInt(i, 6));
  d.external = r.get(i, 7) == "t";
  return d;
}

const std::string kEvidenceColumns = "id, message_id::text, recipient_index, event, reason, sequence, " +
                                     micros("created_at");

Result<EvidenceRecord> evidenceFromRow(const pg::QueryResult& r, int i) {
  EvidenceRecord e;
  e.id = r.get(i, 0);
  e.messageId = r.get(i, 1);
  if (!r.isNull(i, 2)) e.recipientIndex = static_cast<int>(r.getInt(i, 2));
  auto ev = eventFromName(r.get(i, 3));
  if (!ev) return Error::internal("evidence row with unknown event: " + r.get(i, 3));
  e.event = *ev;
  e.reason = r.get(i, 4);
  e.sequence = static_cast<int>(r.getInt(i, 5));
  e.createdAt = fromMicros(r.getInt(i, 6));
  return e;
}

// The evidence already stored under the exactly-once key, if any.
Result<std::optional<std::string>> findEvidence(pg::Connection& c, const std::string& messageId,
                                                std::optional<int> recipientIndex, Event event, int sequence) {
  auto r = c.execPrepared(
      "erds_core_evidence_find",
      "SELECT id FROM evidence WHERE message_id = $1 AND coalesce(recipient_index, -1) = $2 AND event = $3 "
      "AND sequence = $4",
      {pg::Param::text(messageId), pg::Param::integer(recipientIndex.value_or(-1)),
       pg::Param::text(std::string(eventName(event))), pg::Param::integer(sequence)});
  if (!r) return std::move(r).error();
  if (r->rows() == 0) return std::optional<std::string>();
  return std::optional<std::string>(r->get(0, 0));
}

Result<void> insertEvidence(pg::Connection& c, const IssuedEvidence& ev, const std::string& messageId,
                            std::optional<int> recipientIndex, Event event, const std::string& reason, int sequence,
                            TimePoint at) {
  auto r = c.execPrepared(
      "erds_core_evidence_insert",
      "INSERT INTO evidence (id, message_id, recipient_index, event, reason, sequence, xml, created_at) "
      "VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
      {pg::Param::text(ev.evidenceId), pg::Param::text(messageId),
       recipientIndex ? pg::Param::integer(*recipientIndex) : pg::Param::null(),
       pg::Param::text(std::string(eventName(event))), pg::Param::text(reason), pg::Param::integer(sequence),
       pg::Param::bytes(ev.xml), timeParam(at)});
  if (!r) return std::move(r).error();
  return ok();
}

// The message-level evidence request of a submission (SubmissionAcceptance), a reception
// (ReceivedFromNonERDS) or a rejection (SubmissionRejection).
EvidenceRequest messageEvidence(const SubmissionRequest& req, Event event, const std::string& reason,
                                const std::string& contentDigest, TimePoint now) {
  EvidenceRequest er;
  er.event = event;
  er.reason = reason;
  std::vector<std::string> recipientIdentifiers;
  recipientIdentifiers.reserve(req.recipients.size());
  for (const auto& rs : req.recipients) recipientIdentifiers.push_back(rs.identifier);
  er.message = EvidenceSubject{req.messageId,  req.senderPartyId, req.senderIdentifier, req.subject,
                               contentDigest,  now,               std::move(recipientIdentifiers)};
  er.eventTime = now;
  if (event == Event::ReceivedFromNonERDS) er.externalSystem = req.externalSystem;
  if (event == Event::SubmissionAcceptance) er.senderAuthentication = req.senderAuthentication;
  return er;
}

// The audit record of a stored submission, reception or rejection, in the caller's transaction.
AuditEvent storedAuditEvent(const SubmissionRequest& req, Event event, const std::string& evidenceId,
                            const std::string& reason) {
  const bool rejected = event == Event::SubmissionRejection;
  const std::string action = event == Event::ReceivedFromNonERDS ? "message.received"
                             : rejected                          ? "message.rejected"
                                                                 : "message.submitted";
  const std::string actor = !req.actor.empty()            ? req.actor
                            : !req.senderPartyId.empty() ? "party:" + req.senderPartyId
                                                         : "external";
  std::string details = "{\"evidence_id\":\"" + internal::jsonEscape(evidenceId) +
                        "\",\"recipients\":" + std::to_string(req.recipients.size()) + ",\"reason\":\"" +
                        internal::jsonEscape(reason) + "\"";
  if (!req.auditNote.empty()) details += ",\"note\":\"" + internal::jsonEscape(req.auditNote) + "\"";
  details += "}";
  return AuditEvent{actor, action, "message:" + req.messageId, rejected ? "denied" : "success", "", details};
}

Result<void> auditStored(const AuditLog& audit, pg::Connection& c, const SubmissionRequest& req, Event event,
                         const std::string& evidenceId, const std::string& reason) {
  auto a = audit.append(c, storedAuditEvent(req, event, evidenceId, reason));
  if (!a) return std::move(a).error();
  return ok();
}

constexpr std::size_t kMaxGroup = 64;
constexpr int kMaxGroupLeaders = 2;

}  // namespace

DeliveryStore::DeliveryStore(pg::Pool& pool, EvidenceIssuer& issuer, const JobQueue& jobs, const Clock& clock,
                             const AuditLog& audit)
    : pool_(pool), issuer_(issuer), jobs_(jobs), clock_(clock), audit_(audit) {}

Result<SubmissionResult> DeliveryStore::submit(const SubmissionRequest& request) {
  return store(request, Kind::Submit, "");
}

Result<SubmissionResult> DeliveryStore::receive(const SubmissionRequest& request) {
  return store(request, Kind::Receive, "");
}

Result<SubmissionResult> DeliveryStore::reject(const SubmissionRequest& request, const std::string& reason) {
  return store(request, Kind::Reject,
               reason.empty() ? std::string(defaultReasonCode(Event::SubmissionRejection)) : reason);
}

Result<std::optional<SubmissionResult>> DeliveryStore::replay(pg::Connection& c, const SubmissionRequest& req) {
  auto r = c.execPrepared(
      "erds_core_idem_find",
      "SELECT m.id::text, m.request_hash, m.status, e.id FROM messages m LEFT JOIN evidence e "
      "  ON e.message_id = m.id AND e.recipient_index IS NULL "
      "  AND e.event IN ('SubmissionAcceptance', 'SubmissionRejection') "
      "WHERE m.sender_party_id = $1 AND m.idempotency_key = $2",
      {pg::Param::text(req.senderPartyId), pg::Param::text(req.idempotencyKey)});
  if (!r) return std::move(r).error();
  if (r->rows() == 0) return std::optional<SubmissionResult>();
  if (r->getBytea(0, 1) != req.requestHash) {
    return Error::conflict("Idempotency-Key was already used with a different request");
  }
  SubmissionResult out;
  out.messageId = r->get(0, 0);
  out.accepted = r->get(0, 2) == "accepted";
  out.evidenceId = r->get(0, 3);
  out.replayed = true;
  return std::optional<SubmissionResult>(std::move(out));
}

Result<void> DeliveryStore::validate(const SubmissionRequest& req, Kind kind, TimePoint now) const {
  const bool accepted = kind != Kind::Reject;
  const bool received = kind == Kind::Receive;
  if (!internal::isUuid(req.messageId)) return Error::invalidInput("malformed message id");
  if ((!received && req.senderPartyId.empty()) || req.senderIdentifier.empty()) {
    return Error::invalidInput("sender is missing");
  }
  if (received && !req.idempotencyKey.empty()) {
    return Error::invalidInput("a received message has no Idempotency-Key");
  }
  if (!req.idempotencyKey.empty() && req.requestHash.size() != 32) {
    return Error::invalidInput("an Idempotency-Key needs the SHA-256 of the request");
  }
  if (req.idempotencyKey.size() > 255) return Error::invalidInput("Idempotency-Key is longer than 255 characters");
  if (accepted) {
    if (req.recipients.empty()) return Error::invalidInput("a message needs at least one recipient");
    for (const auto& r : req.recipients) {
      if (r.identifier.empty()) return Error::invalidInput("a recipient identifier is empty");
      const int kinds = (r.partyId.empty() ? 0 : 1) + (r.pendingAddress.empty() ? 0 : 1) + (r.external ? 1 : 0) +
                        (r.bindingKey.empty() ? 0 : 1);
      if (r.external && received) return Error::invalidInput("a received message cannot be relayed outside ERDS");
      if (kinds != 1) {
        return Error::invalidInput("recipient " + r.identifier +
                                   " needs exactly one of a party, a pending mailbox, a binding to look up or external delivery");
      }
    }
    if (!validLoa(req.requiredLoa)) return Error::invalidInput("required level of assurance must be low, substantial or high");
    if (req.expiresAt <= now) return Error::invalidInput("expiry must be in the future");
    if (req.scheduledAt && *req.scheduledAt >= req.expiresAt) {
      return Error::invalidInput("scheduled delivery must be before expiry");
    }
  }
  return ok();
}

Result<SubmissionResult> DeliveryStore::store(const SubmissionRequest& req, Kind kind, const std::string& reason) {
  const bool accepted = kind != Kind::Reject;
  const bool received = kind == Kind::Receive;
  const TimePoint now = clock_.now();
  ERDS_RETURN_IF_ERROR(validate(req, kind, now));
  const std::string loa = validLoa(req.requiredLoa) ? req.requiredLoa : "substantial";
  const TimePoint expiresAt = req.expiresAt == TimePoint{} ? now : req.expiresAt;

  // Phase 1 (short read): idempotent replay, and the staged parts with their digests.
  std::string contentDigestInput;
  int64_t contentSize = 0;
  {
    auto lease = pool_.acquire();
    if (!lease) return std::move(lease).error();
    if (!req.idempotencyKey.empty()) {
      auto prior = replay(**lease, req);
      if (!prior) return std::move(prior).error();
      if (prior->has_value()) return std::move(**prior);
    }
    if (accepted) {
      std::set<std::string> seen;
      for (const auto& id : req.partIds) {
        if (!internal::isUuid(id) || !seen.insert(id).second) return Error::invalidInput("bad or repeated part id");
        auto p = (*lease)->execPrepared(
            "erds_core_submit_part",
            "SELECT sha256, size FROM content_parts WHERE id = $1 AND message_id = $2 AND state = 'staged'",
            {pg::Param::text(id), pg::Param::text(req.messageId)});
        if (!p) return std::move(p).error();
        if (p->rows() != 1) return Error::invalidInput("part " + id + " is not a finished upload of this message");
        contentDigestInput += p->getBytea(0, 0);
        contentSize += p->getInt(0, 1);
      }
    }
  }
  const std::string contentDigest = crypto::sha256(contentDigestInput);
  const Event event = received   ? Event::ReceivedFromNonERDS
                      : accepted ? Event::SubmissionAcceptance
                                 : Event::SubmissionRejection;
  const std::string evReason = accepted ? std::string(defaultReasonCode(event)) : reason;

  // Phase 2: seal and time-stamp, with no connection held.
  auto issued = issuer_.issue(messageEvidence(req, event, evReason, contentDigest, now));
  if (!issued) return std::move(issued).error();

  // Phase 3: one transaction for everything.
  auto lease = pool_.acquire();
  if (!lease) return std::move(lease).error();
  pg::Connection& c = **lease;
  internal::Transaction tx(c);
  ERDS_RETURN_IF_ERROR(tx.begin());
  auto m = c.execPrepared(
      "erds_core_msg_insert",
      "INSERT INTO messages (id, status, sender_party_id, sender_identifier, subject, consignment_mode, required_loa, "
      "  expires_at, scheduled_at, created_at, idempotency_key, request_hash, content_digest, part_count, content_size, "
      "  rejection_reason) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
      {pg::Param::text(req.messageId), pg::Param::text(accepted ? "accepted" : "rejected"),
       pg::Param::text(req.senderPartyId), pg::Param::text(req.senderIdentifier), pg::Param::text(req.subject),
       pg::Param::text(std::string(consignmentModeName(req.mode))), pg::Param::text(loa), timeParam(expiresAt),
       req.scheduledAt ? timeParam(*req.scheduledAt) : pg::Param::null(), timeParam(now),
       req.idempotencyKey.empty() ? pg::Param::null() : pg::Param::text(req.idempotencyKey),
       req.idempotencyKey.empty() ? pg::Param::null() : pg::Param::bytes(req.requestHash),
       pg::Param::bytes(contentDigest), pg::Param::integer(accepted ? static_cast<int64_t>(req.partIds.size()) : 0),
       pg::Param::integer(accepted ? contentSize : 0), accepted ? pg::Param::null() : pg::Param::text(reason)});
  if (!m) {
    Error e = std::move(m).error();
    tx.rollback();
    if (!e.is(ErrorCode::Conflict)) return e;
    // A concurrent request with the same Idempotency-Key won, or the message id was reused.
    if (!req.idempotencyKey.empty()) {
      auto prior = replay(c, req);
      if (!prior) return std::move(prior).error();
      if (prior->has_value()) return std::move(**prior);
    }
    return Error::conflict("message id " + req.messageId + " is already used");
  }

  if (accepted) {
    const std::string firstEvent(eventName(event));
    const std::string state(deliveryStateName(DeliveryState::Submitted));
    for (std::size_t i = 0; i < req.recipients.size(); ++i) {
      RecipientSpec rcp = req.recipients[i];
      if (!rcp.bindingKey.empty()) {  // looked up now, in this transaction
        auto b = c.execPrepared("erds_core_binding_lookup",
                                "SELECT party_id FROM identifier_bindings WHERE identifier = $1 AND status = 'bound'",
                                {pg::Param::text(rcp.bindingKey)});
        if (!b) return std::move(b).error();
        if (b->rows() > 0) {
          rcp.partyId = b->get(0, 0);
        } else {
          rcp.pendingAddress = rcp.identifier;
        }
      }
      auto d = c.execPrepared(
          "erds_core_delivery_insert",
          "INSERT INTO deliveries (message_id, recipient_index, recipient_identifier, recipient_party_id, state, "
          "  last_event, state_changed_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
          {pg::Param::text(req.messageId), pg::Param::integer(static_cast<int64_t>(i)), pg::Param::text(rcp.identifier),
           rcp.partyId.empty() ? pg::Param::null() : pg::Param::text(rcp.partyId), pg::Param::text(state),
           pg::Param::text(firstEvent), timeParam(now)});
      if (!d) return std::move(d).error();
      if (!rcp.pendingAddress.empty()) {
        auto p = c.execPrepared(
            "erds_core_pending_insert",
            "INSERT INTO pending_mailboxes (address, message_id, recipient_index, created_at) VALUES ($1, $2, $3, $4)",
            {pg::Param::text(rcp.pendingAddress), pg::Param::text(req.messageId),
             pg::Param::integer(static_cast<int64_t>(i)), timeParam(now)});
        if (!p) return std::move(p).error();
      }
      if (rcp.external) continue;  // relayed by a gateway (extraJobs), not consigned here
      JobSpec job;
      job.kind = std::string(req.mode == ConsignmentMode::Consent ? kJobNotifyForAcceptance : kJobConsign);
      job.payloadJson = recipientPayload(req.messageId, static_cast<int>(i));
      job.runAt = req.scheduledAt.value_or(now);
      auto j = jobs_.enqueue(c, job);
      if (!j) return std::move(j).error();
    }
    for (std::size_t i = 0; i < req.partIds.size(); ++i) {
      auto l = c.execPrepared(
          "erds_core_part_link",
          "UPDATE content_parts SET state = 'linked', position = $3 WHERE id = $1 AND message_id = $2 AND state = 'staged'",
          {pg::Param::text(req.partIds[i]), pg::Param::text(req.messageId), pg::Param::integer(static_cast<int64_t>(i))});
      if (!l) return std::move(l).error();
      if (l->affectedRows() != 1) {
        return Error::invalidInput("part " + req.partIds[i] + " is no longer a finished upload of this message");
      }
    }
    JobSpec expire;
    expire.kind = std::string(kJobExpire);
    expire.payloadJson = "{\"message_id\":\"" + req.messageId + "\"}";
    expire.runAt = expiresAt;
    expire.dedupeKey = std::string(kJobExpire) + ":" + req.messageId;
    auto j = jobs_.enqueue(c, expire);
    if (!j) return std::move(j).error();
    for (const auto& extra : req.extraJobs) {
      auto x = jobs_.enqueue(c, extra);
      if (!x) return std::move(x).error();
    }
  }
  ERDS_RETURN_IF_ERROR(insertEvidence(c, *issued, req.messageId, std::nullopt, event, evReason, 0, now));
  ERDS_RETURN_IF_ERROR(auditStored(audit_, c, req, event, issued->evidenceId, evReason));
  ERDS_RETURN_IF_ERROR(tx.commit());
  SubmissionResult out;
  out.messageId = req.messageId;
  out.evidenceId = issued->evidenceId;
  out.accepted = accepted;
  return out;
}

// Everything of a small submission in one statement: the data-modifying CTEs all hang off the
// message insert, so an Idempotency-Key (or message id) conflict inserts nothing at all; the
// foreign keys between the sibling inserts are checked at the end of the statement.
constexpr const char* kSubmitAllSql =
    "WITH m AS ("
    "  INSERT INTO messages (id, status, sender_party_id, sender_identifier, subject, consignment_mode, required_loa,"
    "    expires_at, scheduled_at, created_at, idempotency_key, request_hash, content_digest, part_count, content_size)"
    "  VALUES ($1::uuid, 'accepted', $2, $3, $4, $5, $6, $7::timestamptz, $8::timestamptz, $9::timestamptz, $10,"
    "    $11::bytea, $12::bytea, $13::integer, $14::bigint)"
    "  ON CONFLICT DO NOTHING RETURNING id),"
    " k AS (INSERT INTO message_keys (message_id, wrapped_key, next_part_index, created_at)"
    "  SELECT id, $15::bytea, $13::integer, $9::timestamptz FROM m RETURNING message_id),"
    " p AS (INSERT INTO content_parts (id, message_id, part_index, state, position, filename, media_type, size, sha256,"
    "    chunk_count, created_at)"
    "  SELECT u.id, k.message_id, (u.ord - 1)::integer, 'linked', (u.ord - 1)::integer, u.filename, u.media_type,"
    "    u.size, substring($20::bytea from (u.ord::integer - 1) * 32 + 1 for 32), u.chunks, $9::timestamptz"
    "  FROM k, unnest($16::uuid[], $17::text[], $18::text[], $19::bigint[], $21::integer[])"
    "    WITH ORDINALITY AS u(id, filename, media_type, size, chunks, ord)),"
    " c AS (INSERT INTO content_chunks (part_id, chunk_index, final, ciphertext, created_at)"
    "  SELECT ($16::uuid[])[x.part], x.idx, x.fin, substring($22::bytea from x.off for x.len), $9::timestamptz"
    "  FROM m, unnest($23::integer[], $24::integer[], $25::boolean[], $26::integer[], $27::integer[])"
    "    AS x(part, idx, fin, off, len)),"
    " d AS (INSERT INTO deliveries (message_id, recipient_index, recipient_identifier, recipient_party_id, state,"
    "    last_event, state_changed_at)"
    "  SELECT m.id, (r.ord - 1)::integer, r.ident, coalesce(nullif(r.party, ''), b.party_id), $28, $29, $9::timestamptz"
    "  FROM m, unnest($30::text[], $31::text[], $42::text[]) WITH ORDINALITY AS r(ident, party, bkey, ord)"
    "  LEFT JOIN identifier_bindings b ON r.bkey <> '' AND b.identifier = r.bkey AND b.status = 'bound'),"
    " pm AS (INSERT INTO pending_mailboxes (address, message_id, recipient_index, created_at)"
    "  SELECT coalesce(nullif(r.addr, ''), r.ident), m.id, (r.ord - 1)::integer, $9::timestamptz"
    "  FROM m, unnest($32::text[], $30::text[], $42::text[]) WITH ORDINALITY AS r(addr, ident, bkey, ord)"
    "  WHERE r.addr <> '' OR (r.bkey <> '' AND NOT EXISTS (SELECT 1 FROM identifier_bindings b"
    "    WHERE b.identifier = r.bkey AND b.status = 'bound'))),"
    " j AS (INSERT INTO jobs (kind, payload, dedupe_key, run_at, max_attempts, created_at)"
    "  SELECT x.kind, x.payload::jsonb, nullif(x.dedupe, ''), x.run_at, x.max_attempts, $9::timestamptz"
    "  FROM m, unnest($33::text[], $34::text[], $35::text[], $36::timestamptz[], $37::integer[])"
    "    AS x(kind, payload, dedupe, run_at, max_attempts)"
    "  ON CONFLICT (dedupe_key) WHERE dedupe_key IS NOT NULL DO NOTHING),"
    " e AS (INSERT INTO evidence (id, message_id, recipient_index, event, reason, sequence, xml, created_at)"
    "  SELECT $38, m.id, NULL, $41, $39, 0, $40::bytea, $9::timestamptz FROM m)"
    " SELECT count(*) FROM m";

struct DeliveryStore::GroupItem {
  const SubmissionRequest* req = nullptr;
  Event event = Event::SubmissionAcceptance;
  std::string evidenceId;
  std::string reason;
  std::string requestId;          // the caller's: the leader's thread writes the audit record
  std::vector<pg::Param> params;  // of kSubmitAllSql
  std::optional<Result<SubmissionResult>> result;  // set under groupMu_ once its transaction ended
};

Result<SubmissionResult> DeliveryStore::submitWithContent(const SubmissionRequest& req, const SealedContent& content) {
  return storeWithContent(req, content, Kind::Submit);
}

Result<SubmissionResult> DeliveryStore::receiveWithContent(const SubmissionRequest& req, const SealedContent& content) {
  return storeWithContent(req, content, Kind::Receive);
}

Result<SubmissionResult> DeliveryStore::storeWithContent(const SubmissionRequest& req, const SealedContent& content,
                                                         Kind kind) {
  const TimePoint now = clock_.now();
  ERDS_RETURN_IF_ERROR(validate(req, kind, now));
  if (!req.partIds.empty()) return Error::invalidInput("a message stored with its content takes no staged parts");
  if (content.messageId != req.messageId) return Error::invalidInput("the content was sealed for another message");
  if (content.wrappedKey.empty()) return Error::invalidInput("the content has no data key");

  // Everything the statement needs, computed before sealing (no connection held).
  std::string partDigests;
  std::vector<std::string> partIds, filenames, mediaTypes, sizes, chunkCounts;
  std::string ciphertexts;
  std::vector<std::string> chunkPart, chunkIdx, chunkFinal, chunkOff, chunkLen;
  int64_t contentSize = 0;
  for (std::size_t i = 0; i < content.parts.size(); ++i) {
    const auto& p = content.parts[i];
    if (p.part.partIndex != static_cast<int>(i) || p.part.sha256.size() != 32 || p.chunks.empty() ||
        static_cast<int>(p.chunks.size()) != p.part.chunkCount || !internal::isUuid(p.part.partId)) {
      return Error::invalidInput("sealed content is inconsistent");
    }
    partDigests += p.part.sha256;
    partIds.push_back(p.part.partId);
    filenames.push_back(p.part.filename);
    mediaTypes.push_back(p.part.mediaType);
    sizes.push_back(std::to_string(p.part.size));
    chunkCounts.push_back(std::to_string(p.part.chunkCount));
    contentSize += p.part.size;
    for (std::size_t k = 0; k < p.chunks.size(); ++k) {
      chunkPart.push_back(std::to_string(i + 1));  // 1-based index into the part id array
      chunkIdx.push_back(std::to_string(k));
      chunkFinal.push_back(k + 1 == p.chunks.size() ? "true" : "false");
      chunkOff.push_back(std::to_string(ciphertexts.size() + 1));
      chunkLen.push_back(std::to_string(p.chunks[k].size()));
      ciphertexts += p.chunks[k];
    }
  }
  std::vector<std::string> rcptIds, rcptParties, rcptPending, rcptBindingKeys;
  std::vector<JobSpec> jobs;
  const TimePoint firstRun = req.scheduledAt.value_or(now);
  for (std::size_t i = 0; i < req.recipients.size(); ++i) {
    const auto& r = req.recipients[i];
    rcptIds.push_back(r.identifier);
    rcptParties.push_back(r.partyId);
    rcptPending.push_back(r.pendingAddress);
    rcptBindingKeys.push_back(r.bindingKey);
    if (r.external) continue;  // relayed by a gateway (extraJobs), not consigned here
    JobSpec job;
    job.kind = std::string(req.mode == ConsignmentMode::Consent ? kJobNotifyForAcceptance : kJobConsign);
    job.payloadJson = recipientPayload(req.messageId, static_cast<int>(i));
    job.runAt = firstRun;
    jobs.push_back(std::move(job));
  }
  JobSpec expire;
  expire.kind = std::string(kJobExpire);
  expire.payloadJson = "{\"message_id\":\"" + req.messageId + "\"}";
  expire.runAt = req.expiresAt;
  expire.dedupeKey = std::string(kJobExpire) + ":" + req.messageId;
  jobs.push_back(std::move(expire));
  for (const auto& x : req.extraJobs) jobs.push_back(x);
  std::vector<std::string> jobKinds, jobPayloads, jobDedupe, jobRunAt, jobMax;
  for (const auto& jb : jobs) {
    if (jb.kind.empty()) return Error::invalidInput("job kind is empty");
    if (jb.maxAttempts < 1) return Error::invalidInput("job maxAttempts must be >= 1");
    jobKinds.push_back(jb.kind);
    jobPayloads.push_back(jb.payloadJson);
    jobDedupe.push_back(jb.dedupeKey);
    jobRunAt.push_back(*timeParam(jb.runAt == TimePoint{} ? now : jb.runAt).value);
    jobMax.push_back(std::to_string(jb.maxAttempts));
  }
  const std::string contentDigest = crypto::sha256(partDigests);
  const Event event = kind == Kind::Receive ? Event::ReceivedFromNonERDS : Event::SubmissionAcceptance;
  const std::string evReason(defaultReasonCode(event));

  // Seal and time-stamp, with no connection held.
  auto issued = issuer_.issue(messageEvidence(req, event, evReason, contentDigest, now));
  if (!issued) return std::move(issued).error();

  using internal::arrayLiteral;
  GroupItem item;
  item.req = &req;
  item.event = event;
  item.evidenceId = issued->evidenceId;
  item.reason = evReason;
  item.requestId = log::currentRequestId();
  const bool keyed = !req.idempotencyKey.empty();
  item.params = {
      pg::Param::text(req.messageId), pg::Param::text(req.senderPartyId), pg::Param::text(req.senderIdentifier),
      pg::Param::text(req.subject), pg::Param::text(std::string(consignmentModeName(req.mode))),
      pg::Param::text(req.requiredLoa), timeParam(req.expiresAt),
      req.scheduledAt ? timeParam(*req.scheduledAt) : pg::Param::null(), timeParam(now),
      keyed ? pg::Param::text(req.idempotencyKey) : pg::Param::null(),
      keyed ? pg::Param::bytes(req.requestHash) : pg::Param::null(), pg::Param::bytes(contentDigest),
      pg::Param::integer(static_cast<int64_t>(content.parts.size())), pg::Param::integer(contentSize),
      pg::Param::bytes(content.wrappedKey), pg::Param::text(arrayLiteral(partIds)),
      pg::Param::text(arrayLiteral(filenames)), pg::Param::text(arrayLiteral(mediaTypes)),
      pg::Param::text(arrayLiteral(sizes)), pg::Param::bytes(partDigests), pg::Param::text(arrayLiteral(chunkCounts)),
      pg::Param::bytes(std::move(ciphertexts)), pg::Param::text(arrayLiteral(chunkPart)),
      pg::Param::text(arrayLiteral(chunkIdx)), pg::Param::text(arrayLiteral(chunkFinal)),
      pg::Param::text(arrayLiteral(chunkOff)), pg::Param::text(arrayLiteral(chunkLen)),
      pg::Param::text(std::string(deliveryStateName(DeliveryState::Submitted))),
      pg::Param::text(std::string(eventName(event))), pg::Param::text(arrayLiteral(rcptIds)),
      pg::Param::text(arrayLiteral(rcptParties)), pg::Param::text(arrayLiteral(rcptPending)),
      pg::Param::text(arrayLiteral(jobKinds)), pg::Param::text(arrayLiteral(jobPayloads)),
      pg::Param::text(arrayLiteral(jobDedupe)), pg::Param::text(arrayLiteral(jobRunAt)),
      pg::Param::text(arrayLiteral(jobMax)), pg::Param::text(issued->evidenceId), pg::Param::text(evReason),
      pg::Param::bytes(std::move(issued->xml)), pg::Param::text(std::string(eventName(event))),
      pg::Param::text(arrayLiteral(rcptBindingKeys))};
  return commitGrouped(item);
}

Result<SubmissionResult> DeliveryStore::commitGrouped(GroupItem& item) {
  std::unique_lock lock(groupMu_);
  groupQueue_.push_back(&item);
  while (!item.result) {
    if (groupLeaders_ < kMaxGroupLeaders && !groupQueue_.empty()) {
      // Lead one transaction for the oldest waiting submissions (this one among them, or not:
      // then lead again or wait for the leader that took it).
      ++groupLeaders_;
      std::vector<GroupItem*> batch;
      while (!groupQueue_.empty() && batch.size() < kMaxGroup) {
        batch.push_back(groupQueue_.front());
        groupQueue_.pop_front();
      }
      lock.unlock();
      std::vector<Result<SubmissionResult>> results;
      try {
        results = runGroup(batch);
      } catch (const std::exception& e) {  // never leave the followers waiting for an answer
        results.assign(batch.size(), Result<SubmissionResult>(Error::internal(std::string("group commit: ") + e.what())));
      }
      lock.lock();
      for (std::size_t i = 0; i < batch.size(); ++i) batch[i]->result.emplace(std::move(results[i]));
      --groupLeaders_;
      groupCv_.notify_all();
      continue;
    }
    groupCv_.wait(lock);
  }
  return std::move(*item.result);
}

std::vector<Result<SubmissionResult>> DeliveryStore::runGroup(const std::vector<GroupItem*>& batch) {
  bool retrySingly = false;
  auto results = runGroupOnce(batch, retrySingly);
  if (!retrySingly) return results;
  results.clear();
  results.reserve(batch.size());
  for (GroupItem* it : batch) results.push_back(std::move(runGroup({it}).front()));
  return results;
}

// One transaction for `batch`. Sets retrySingly (and returns nothing useful) when a statement of a
// batch of several failed: the transaction is rolled back and each message is retried alone.
std::vector<Result<SubmissionResult>> DeliveryStore::runGroupOnce(const std::vector<GroupItem*>& batch,
                                                                 bool& retrySingly) {
  auto failAll = [&](const Error& e) { return std::vector<Result<SubmissionResult>>(batch.size(), Result<SubmissionResult>(e)); };
  auto lease = pool_.acquire();
  if (!lease) return failAll(lease.error());
  pg::Connection& c = **lease;
  internal::Transaction tx(c);
  // BEGIN and every submission's statement in one round trip (pipeline); then the audit records
  // and COMMIT.
  std::vector<pg::Connection::Statement> statements;
  statements.reserve(batch.size() + 1);
  statements.push_back({"", "BEGIN", nullptr});
  for (const GroupItem* it : batch) statements.push_back({"erds_core_submit_all", kSubmitAllSql, &it->params});
  auto answers = c.execPipelined(statements);
  if (!answers.front()) return failAll(answers.front().error());
  tx.opened();

  std::vector<std::optional<Result<SubmissionResult>>> out(batch.size());
  std::vector<AuditEvent> events;
  std::vector<std::size_t> stored;
  for (std::size_t i = 0; i < batch.size() && !retrySingly; ++i) {
    const GroupItem& it = *batch[i];
    auto& ins = answers[i + 1];
    if (!ins) {
      // The transaction is aborted. Alone, this is the message's own answer; in a group, the
      // others deserve their own transactions.
      if (batch.size() == 1) return {Result<SubmissionResult>(std::move(ins).error())};
      retrySingly = true;
      break;
    }
    if (ins->getInt(0, 0) != 1) {
      // Nothing was inserted: the same Idempotency-Key was used before (or the id is taken). The
      // evidence sealed for it is dropped unstored and never acknowledged.
      if (!it.req->idempotencyKey.empty()) {
        auto prior = replay(c, *it.req);
        if (!prior) {
          if (batch.size() == 1) return {Result<SubmissionResult>(std::move(prior).error())};
          retrySingly = true;
          break;
        }
        if (prior->has_value()) {
          out[i].emplace(std::move(**prior));
          continue;
        }
      }
      out[i].emplace(Error::conflict("message id " + it.req->messageId + " is already used"));
      continue;
    }
    events.push_back(storedAuditEvent(*it.req, it.event, it.evidenceId, it.reason));
    events.back().requestId = it.requestId;
    stored.push_back(i);
  }
  if (retrySingly) return {};  // rolled back by tx; the connection goes back to the pool
  if (!events.empty()) {
    auto a = audit_.appendMany(c, events);
    if (!a) return failAll(a.error());
  }
  if (auto cm = tx.commit(); !cm) return failAll(cm.error());
  std::vector<Result<SubmissionResult>> results;
  results.reserve(batch.size());
  std::size_t k = 0;
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (k < stored.size() && stored[k] == i) {
      ++k;
      SubmissionResult r;
      r.messageId = batch[i]->req->messageId;
      r.evidenceId = batch[i]->evidenceId;
      r.accepted = true;
      results.emplace_back(std::move(r));
    } else {
      results.push_back(std::move(*out[i]));
    }
  }
  return results;
}

Result<TransitionResult> DeliveryStore::transition(const TransitionRequest& req) {
  if (!internal::isUuid(req.messageId) || req.recipientIndex < 0) return Error::notFound("no such delivery");
  if (req.sequence < 0) return Error::invalidInput("sequence must be >= 0");
  const std::string reason = req.reason.empty() ? std::string(defaultReasonCode(req.event)) : req.reason;

  // Phase 1: where is the delivery now, and was this step already recorded (a retry)?
  EvidenceRequest er;
  {
    auto lease = pool_.acquire();
    if (!lease) return std::move(lease).error();
    pg::Connection& c = **lease;
    // Evidence first: it commits together with the state, so the state read after it is at least
    // as new (READ COMMITTED takes a fresh snapshot per statement).
    auto done = findEvidence(c, req.messageId, req.recipientIndex, req.event, req.sequence);
    if (!done) return std::move(done).error();
    auto r = c.execPrepared(
        "erds_core_transition_read",
        "SELECT d.state, m.consignment_mode, d.recipient_identifier, m.sender_party_id, m.sender_identifier, "
        "  m.subject, m.content_digest, " + micros("m.created_at") + " FROM deliveries d "
        "JOIN messages m ON m.id = d.message_id WHERE d.message_id = $1 AND d.recipient_index = $2",
        {pg::Param::text(req.messageId), pg::Param::integer(req.recipientIndex)});
    if (!r) return std::move(r).error();
    if (r->rows() != 1) return Error::notFound("no such delivery");
    const auto state = deliveryStateFromName(r->get(0, 0));
    const auto mode = consignmentModeFromName(r->get(0, 1));
    if (!state || !mode) return Error::internal("delivery row with unknown state or mode");
    if (done->has_value()) return TransitionResult{**done, *state, true};
    if (!findTransition(*mode, *state, req.event)) {
      // A concurrent identical step may have committed between the two reads.
      auto again = findEvidence(c, req.messageId, req.recipientIndex, req.event, req.sequence);
      if (!again) return std::move(again).error();
      if (again->has_value()) return TransitionResult{**again, *state, true};
      return Error::conflict(std::string(eventName(req.event)) + " is not allowed in state " +
                             std::string(deliveryStateName(*state)));
    }
    er.event = req.event;
    er.reason = reason;
    auto all = c.execPrepared("erds_core_transition_recipients",
                              "SELECT recipient_identifier FROM deliveries WHERE message_id = $1 "
                              "ORDER BY recipient_index",
                              {pg::Param::text(req.messageId)});
    if (!all) return std::move(all).error();
    std::vector<std::string> recipientIdentifiers;
    for (int i = 0; i < all->rows(); ++i) recipientIdentifiers.push_back(all->get(i, 0));
    er.message = EvidenceSubject{req.messageId, r->get(0, 3), r->get(0, 4), r->get(0, 5), r->getBytea(0, 6),
                                 fromMicros(r->getInt(0, 7)), std::move(recipientIdentifiers)};
    er.recipientIndex = req.recipientIndex;
    er.recipientIdentifier = r->get(0, 2);
    er.sequence = req.sequence;
    er.externalSystem = req.externalSystem;
    er.recipientAuthentication = req.partyAuthentication;
  }

  // Phase 2: seal and time-stamp with no connection held.
  const TimePoint now = clock_.now();
  er.eventTime = now;
  auto issued = issuer_.issue(er);
  if (!issued) return std::move(issued).error();

  // Phase 3: the state change, its evidence and the next jobs in one transaction. The row lock
  // serialises concurrent transitions of one delivery; the unique key catches anything else.
  auto lease = pool_.acquire();
  if (!lease) return std::move(lease).error();
  pg::Connection& c = **lease;
  internal::Transaction tx(c);
  ERDS_RETURN_IF_ERROR(tx.begin());
  auto lock = c.execPrepared(
      "erds_core_transition_lock",
      "SELECT d.state, m.consignment_mode FROM deliveries d JOIN messages m ON m.id = d.message_id "
      "WHERE d.message_id = $1 AND d.recipient_index = $2 FOR UPDATE OF d",
      {pg::Param::text(req.messageId), pg::Param::integer(req.recipientIndex)});
  if (!lock) return std::move(lock).error();
  if (lock->rows() != 1) return Error::notFound("no such delivery");
  const auto state = deliveryStateFromName(lock->get(0, 0));
  const auto mode = consignmentModeFromName(lock->get(0, 1));
  if (!state || !mode) return Error::internal("delivery row with unknown state or mode");
  const auto t = findTransition(*mode, *state, req.event);
  if (!t) {
    auto done = findEvidence(c, req.messageId, req.recipientIndex, req.event, req.sequence);
    if (!done) return std::move(done).error();
    if (done->has_value()) return TransitionResult{**done, *state, true};
    return Error::conflict(std::string(eventName(req.event)) + " is not allowed in state " +
                           std::string(deliveryStateName(*state)));
  }
  auto ins = insertEvidence(c, *issued, req.messageId, req.recipientIndex, req.event, reason, req.sequence, now);
  if (!ins) {
    if (!ins.error().is(ErrorCode::Conflict)) return std::move(ins).error();
    tx.rollback();
    auto done = findEvidence(c, req.messageId, req.recipientIndex, req.event, req.sequence);
    if (!done) return std::move(done).error();
    if (!done->has_value()) return Error::conflict("evidence id " + issued->evidenceId + " is already used");
    auto now2 = c.execPrepared("erds_core_delivery_state",
                               "SELECT state FROM deliveries WHERE message_id = $1 AND recipient_index = $2",
                               {pg::Param::text(req.messageId), pg::Param::integer(req.recipientIndex)});
    if (!now2) return std::move(now2).error();
    const auto after = now2->rows() == 1 ? deliveryStateFromName(now2->get(0, 0)) : std::nullopt;
    if (!after) return Error::internal("delivery vanished after its evidence was stored");
    return TransitionResult{**done, *after, true};
  }
  auto u = c.execPrepared(
      "erds_core_delivery_update",
      "UPDATE deliveries SET state = $3, last_event = $4, state_changed_at = $5 "
      "WHERE message_id = $1 AND recipient_index = $2",
      {pg::Param::text(req.messageId), pg::Param::integer(req.recipientIndex),
       pg::Param::text(std::string(deliveryStateName(t->to))), pg::Param::text(std::string(eventName(req.event))),
       timeParam(now)});
  if (!u) return std::move(u).error();
  if (!t->nextJob.empty()) {
    JobSpec job;
    job.kind = std::string(t->nextJob);
    job.payloadJson = recipientPayload(req.messageId, req.recipientIndex);
    job.runAt = now;
    auto j = jobs_.enqueue(c, job);
    if (!j) return std::move(j).error();
  }
  for (const auto& extra : req.extraJobs) {
    auto j = jobs_.enqueue(c, extra);
    if (!j) return std::move(j).error();
  }
  auto a = audit_.append(c, AuditEvent{req.actor, "delivery." + std::string(eventName(req.event)),
                                       "message:" + req.messageId, "success", "",
                                       "{\"recipient_index\":" + std::to_string(req.recipientIndex) +
                                           ",\"evidence_id\":\"" + internal::jsonEscape(issued->evidenceId) +
                                           "\",\"reason\":\"" + internal::jsonEscape(reason) + "\"}"});
  if (!a) return std::move(a).error();
  ERDS_RETURN_IF_ERROR(tx.commit());
  return TransitionResult{issued->evidenceId, t->to, false};
}

Result<std::vector<std::pair<std::string, int>>> DeliveryStore::bindPendingMailbox(const std::string& address,
                                                                                  const std::string& partyId) {
  if (address.empty() || partyId.empty()) return Error::invalidInput("address and party are required");
  auto lease = pool_.acquire();
  if (!lease) return std::move(lease).error();
  pg::Connection& c = **lease;
  internal::Transaction tx(c);
  ERDS_RETURN_IF_ERROR(tx.begin());
  auto r = c.execPrepared("erds_core_pending_take",
                          "DELETE FROM pending_mailboxes WHERE address = $1 RETURNING message_id::text, recipient_index",
                          {pg::Param::text(address)});
  if (!r) return std::move(r).error();
  std::vector<std::pair<std::string, int>> out;
  for (int i = 0; i < r->rows(); ++i) {
    out.emplace_back(r->get(i, 0), static_cast<int>(r->getInt(i, 1)));
    auto u = c.execPrepared(
        "erds_core_pending_bind",
        "UPDATE deliveries SET recipient_party_id = $3 WHERE message_id = $1 AND recipient_index = $2 "
        "AND recipient_party_id IS NULL",
        {pg::Param::text(out.back().first), pg::Param::integer(out.back().second), pg::Param::text(partyId)});
    if (!u) return std::move(u).error();
  }
  if (!out.empty()) {
    auto a = audit_.append(c, AuditEvent{"party:" + partyId, "mailbox.bound", "party:" + partyId, "success", "",
                                         "{\"deliveries\":" + std::to_string(out.size()) + "}"});
    if (!a) return std::move(a).error();
  }
  ERDS_RETURN_IF_ERROR(tx.commit());
  return out;
}

Result<MessageInfo> DeliveryStore::message(const std::string& messageId) {
  if (!internal::isUuid(messageId)) return Error::notFound("no such message");
  auto lease = pool_.acquire();
  if (!lease) return std::move(lease).error();
  auto r = (*lease)->execPrepared("erds_core_msg_read", "SELECT " + kMessageColumns + " FROM messages WHERE id = $1",
                                  {pg::Param::text(messageId)});
  if (!r) return std::move(r).error();
  if (r->rows() != 1) return Error::notFound("no such message");
  return messageFromRow(*r, 0);
}

Result<std::vector<DeliveryInfo>> DeliveryStore::deliveries(const std::string& messageId) {
  if (!internal::isUuid(messageId)) return Error::notFound("no such message");
  auto lease = pool_.acquire();
  if (!lease) return std::move(lease).error();
  auto r = (*lease)->execPrepared(
      "erds_core_deliveries_read",
      "SELECT " + kDeliveryColumns + " FROM deliveries WHERE message_id = $1 ORDER BY recipient_index",
      {pg::Param::text(messageId)});
  if (!r) return std::move(r).error();
  std::vector<DeliveryInfo> out;
  for (int i = 0; i < r->rows(); ++i) {
    auto d = deliveryFromRow(*r, i);
    if (!d) return std::move(d).error();
    out.push_back(std::move(*d));
  }
  return out;
}

Result<DeliveryInfo> DeliveryStore::delivery(const std::string& messageId, int recipientIndex) {
  if (!internal::isUuid(messageId)) return Error::notFound("no such delivery");
  auto lease = pool_.acquire();
  if (!lease) return std::move(lease).error();
  auto r = (*lease)->execPrepared(
      "erds_core_delivery_read",
      "SELECT " + kDeliveryColumns + " FROM deliveries WHERE message_id = $1 AND recipient_index = $2",
      {pg::Param::text(messageId), pg::Param::integer(recipientIndex)});
  if (!r) return std::move(r).error();
  if (r->rows() != 1) return Error::notFound("no such delivery");
  return deliveryFromRow(*r, 0);
}

Result<std::vector<EvidenceRecord>> DeliveryStore::evidenceOf(const std::string& messageId) {
  if (!internal::isUuid(messageId)) return Error::notFound("no such message");
  auto lease = pool_.acquire();
  if (!lease) return std::move(lease).error();
  auto r = (*lease)->execPrepared("erds_core_evidence_of",
                                  "SELECT " + kEvidenceColumns +
                                      " FROM evidence WHERE message_id = $1 ORDER BY stored_order",
                                  {pg::Param::text(messageId)});
  if (!r) return std::move(r).error();
  std::vector<EvidenceRecord> out;
  for (int i = 0; i < r->rows(); ++i) {
    auto e = evidenceFromRow(*r, i);
    if (!e) return std::move(e).error();
    out.push_back(std::move(*e));
  }
  return out;
}

Result<EvidenceRecord> DeliveryStore::evidence(const std::string& evidenceId) {
  if (evidenceId.empty() || evidenceId.size() > 200) return Error::notFound("no such evidence");
  auto lease = pool_.acquire();
  if (!lease) return std::move(lease).error();
  auto r = (*lease)->execPrepared("erds_core_evidence_read",
                                  "SELECT " + kEvidenceColumns + ", xml FROM evidence WHERE id = $1",
                                  {pg::Param::text(evidenceId)});
  if (!r) return std::move(r).error();
  if (r->rows() != 1) return Error::notFound("no such evidence");
  auto e = evidenceFromRow(*r, 0);
  if (!e) return std::move(e).error();
  e->xml = r->getBytea(0, 7);
  return e;
}

}  // namespace erds::core
