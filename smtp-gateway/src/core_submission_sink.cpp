#include "erds/smtp/core_submission_sink.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>

#include "erds/base/log.h"
#include "erds/identity/postgres_stores.h"
#include "erds/smtp/identity_authenticator.h"
#include "erds/smtp/mail_auth.h"
#include "mime_raw.h"

namespace erds::smtp {

namespace {

std::string domainOf(const std::string& address) {
  const auto at = address.rfind('@');
  return at == std::string::npos ? "" : internal::toLower(address.substr(at + 1));
}

std::string ipOf(const std::string& clientAddress) {
  // "ip:port" or "[v6]:port"
  auto colon = clientAddress.rfind(':');
  std::string ip = colon == std::string::npos ? clientAddress : clientAddress.substr(0, colon);
  if (ip.size() > 2 && ip.front() == '[' && ip.back() == ']') ip = ip.substr(1, ip.size() - 2);
  return ip;
}

std::string jobPayload(const std::string& messageId, int index) {
  return "{\"message_id\":\"" + messageId + "\",\"recipient_index\":" + std::to_string(index) + "}";
}

}  // namespace

std::string printable(std::string_view s, std::size_t max) {
  std::string out;
  for (char c : s) {
    if (out.size() >= max) break;
    const auto u = static_cast<unsigned char>(c);
    out += (u >= 0x20 && u < 0x7f) ? c : '?';
  }
  return out;
}

core::SenderAuthentication senderAuthentication(const AuthenticatedParty& party, TimePoint fallbackTime) {
  identity::AuthenticationContext context{party.level, party.methods, party.at};
  core::SenderAuthentication out;
  out.method = context.methodUri();
  out.level = context.levelUri();
  out.time = party.at == TimePoint{} ? fallbackTime : party.at;
  return out;
}

core::JobSpec receiptJob(const std::string& messageId, core::Event event, std::optional<int> recipientIndex) {
  core::JobSpec j;
  j.kind = std::string(kJobSmtpReceipt);
  const std::string ev(core::eventName(event));
  j.payloadJson = "{\"message_id\":\"" + messageId + "\",\"event\":\"" + ev + "\"" +
                  (recipientIndex ? ",\"recipient_index\":" + std::to_string(*recipientIndex) : std::string()) + "}";
  j.dedupeKey = std::string(kJobSmtpReceipt) + ":" + messageId + ":" + ev + ":" +
                (recipientIndex ? std::to_string(*recipientIndex) : std::string("-"));
  return j;
}

Result<void> forEachChunk(const MessageData& message, std::size_t chunk,
                          const std::function<Result<void>(std::string_view)>& fn) {
  if (message.inMemory()) {
    const std::string& m = message.memory();
    for (std::size_t off = 0; off < m.size(); off += chunk) {
      ERDS_RETURN_IF_ERROR(fn(std::string_view(m).substr(off, chunk)));
    }
    return {};
  }
  const int fd = ::open(message.filePath().c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Error::unavailable("cannot read the spooled message");
  std::string buf(chunk, '\0');
  std::size_t have = 0;
  Result<void> out;
  while (true) {
    const ssize_t n = ::read(fd, buf.data() + have, chunk - have);
    if (n < 0) {
      out = Error::unavailable("cannot read the spooled message");
      break;
    }
    have += static_cast<std::size_t>(n);
    if (have == chunk || (n == 0 && have > 0)) {
      out = fn(std::string_view(buf.data(), have));
      have = 0;
      if (!out) break;
    }
    if (n == 0) break;
  }
  ::close(fd);
  return out;
}

std::string subjectOf(const MessageData& message) {
  constexpr std::size_t kMaxHead = 256 * 1024;
  std::string head;
  (void)forEachChunk(message, 64 * 1024, [&](std::string_view c) -> Result<void> {
    head.append(c);
    if (head.size() >= kMaxHead || head.find("\r\n\r\n") != std::string::npos)
      return Error::invalidInput("enough");  // stop reading
    return {};
  });
  const auto end = head.find("\r\n\r\n");
  if (end == std::string::npos) return "";
  head.resize(end + 4);
  auto e = internal::parseEntity(head);
  if (!e) return "";
  auto s = e->header("Subject");
  if (!s) return "";
  std::string v = *s;
  if (v.size() > 998) v.resize(998);
  return v;
}

CoreSubmissionSink::CoreSubmissionSink(CoreSinkDeps deps, CoreSinkOptions options)
    : d_(deps), opt_(std::move(options)) {
  for (auto& dom : opt_.localDomains) dom = internal::toLower(dom);
}

Result<std::string> CoreSubmissionSink::accept(const Envelope& envelope, const MessageData& message) {
  if (envelope.listener == ListenerKind::Mx) return mxAccept(envelope, message);
  return submit(envelope, message);
}

Result<std::string> CoreSubmissionSink::submit(const Envelope& envelope, const MessageData& message) {
  if (!envelope.party) return Error::unauthorized("authentication required");
  if (envelope.recipients.empty()) return Error::invalidInput("no recipients");
  const TimePoint now = d_.clock->now();

  core::SubmissionRequest sr;
  sr.messageId = core::ContentVault::newMessageId();
  sr.senderPartyId = envelope.party->partyId;
  sr.senderIdentifier = mailtoIdentifier(envelope.mailFrom);
  sr.subject = subjectOf(message);
  sr.mode = core::ConsignmentMode::Basic;
  sr.requiredLoa = "low";
  sr.expiresAt = now + std::chrono::duration_cast<std::chrono::microseconds>(opt_.defaultExpiry);
  sr.actor = "party:" + envelope.party->partyId;

  identity::PostgresAccountStore accounts(*d_.pool);
  int external = 0;
  for (const auto& rcpt : envelope.recipients) {
    core::RecipientSpec spec;
    spec.identifier = mailtoIdentifier(rcpt);
    const std::string domain = domainOf(rcpt);
    const bool local = std::find(opt_.localDomains.begin(), opt_.localDomains.end(), domain) != opt_.localDomains.end();
    if (local) {
      // Our own domain: the bound party, else a pending mailbox, decided in the storing statement.
      spec.bindingKey = identity::bindingKey(spec.identifier);
      sr.recipients.push_back(std::move(spec));
      continue;
    }
    auto bound = accounts.partyBoundTo(spec.identifier);
    if (!bound) return Error::unavailable("identity store: " + bound.error().message);
    if (*bound) {
      spec.partyId = **bound;
    } else {
      // An ordinary mail domain: relayed as a REM dispatch by the RelayWorker (committed with
      // the submission below), never consigned by erdsd's workers.
      spec.external = true;
      core::JobSpec j;
      j.kind = std::string(kJobSmtpRelay);
      j.payloadJson = jobPayload(sr.messageId, static_cast<int>(sr.recipients.size()));
      j.dedupeKey = std::string(kJobSmtpRelay) + ":" + sr.messageId + ":" + std::to_string(sr.recipients.size());
      sr.extraJobs.push_back(std::move(j));
      ++external;
    }
    sr.recipients.push_back(std::move(spec));
  }
  if (opt_.sendReceipts) sr.extraJobs.push_back(receiptJob(sr.messageId, core::Event::SubmissionAcceptance, std::nullopt));

  // How the sender authenticated: EN 319 522-2 I10 of the SubmissionAcceptance, and the audit
  // record of message.submitted.
  sr.senderAuthentication = senderAuthentication(*envelope.party, now);
  std::string methods;
  for (auto m : envelope.party->methods) methods += (methods.empty() ? "" : "+") + std::string(identity::authenticationMethodName(m));
  sr.auditNote = "smtp auth=" + (methods.empty() ? std::string("unknown") : methods) + " loa=" +
                 std::string(identity::levelName(envelope.party->level));

  Result<core::SubmissionResult> res = Error::internal("not submitted");
  if (message.inMemory() && message.size() <= core::kMaxChunkBytes) {
    // Small message: encrypted in memory and stored with the message, evidence and jobs in ONE
    // transaction (DeliveryStore::submitWithContent): no staged upload round trips.
    auto sealed = d_.vault->sealInMemory(sr.messageId, {core::PlainPart{"message.eml", "message/rfc822", message.memory()}});
    if (!sealed) return std::move(sealed).error();
    res = d_.store->submitWithContent(sr, *sealed);
  } else {
    // Large message: streamed into the vault chunk by chunk (never held whole), then linked.
    auto up = d_.vault->beginUpload(sr.messageId, "message.eml", "message/rfc822");
    if (!up) return std::move(up).error();
    ERDS_RETURN_IF_ERROR(forEachChunk(message, core::kMaxChunkBytes, [&](std::string_view c) { return up->append(c); }));
    auto part = up->finish();
    if (!part) return std::move(part).error();
    sr.partIds.push_back(part->partId);
    // Message, evidence, relay and receipt jobs in one transaction: 250 only after this commit.
    res = d_.store->submit(sr);
  }
  if (!res) return std::move(res).error();
  log::info("smtp.submitted", {{"message_id", res->messageId},
                               {"evidence_id", res->evidenceId},
                               {"party", envelope.party->partyId},
                               {"recipients", static_cast<int64_t>(sr.recipients.size())},
                               {"relayed", static_cast<int64_t>(external)}});
  return res->messageId;
}

bool CoreSubmissionSink::mxAllowed(const std::string& ip) {
  const int64_t minute =
      std::chrono::duration_cast<std::chrono::minutes>(d_.clock->now().time_since_epoch()).count();
  std::lock_guard<std::mutex> g(mu_);
  auto& [m, count] = mxWindow_[ip];
  if (m != minute) {
    m = minute;
    count = 0;
  }
  if (mxWindow_.size() > 100000) {  // bound memory under address-spraying: drop stale windows
    for (auto it = mxWindow_.begin(); it != mxWindow_.end();) it = it->second.first != minute ? mxWindow_.erase(it) : std::next(it);
  }
  return ++count <= opt_.mxRatePerMinute;
}

void CoreSubmissionSink::auditRefusal(const std::string& ip, const std::string& action, const std::string& reason) {
  log::warn(action, {{"client", ip}, {"reason", printable(reason, 200)}});
  if (d_.audit == nullptr || d_.pool == nullptr) return;
  std::string safe = printable(reason, 200);
  for (auto& c : safe)
    if (c == '"' || c == '\\') c = '\'';
  AuditEvent ev;
  ev.actor = "smtp-mx:" + ip;
  ev.action = action;
  ev.outcome = "denied";
  ev.detailsJson = "{\"reason\":\"" + safe + "\"}";
  auto r = d_.audit->append(*d_.pool, ev);
  if (!r) log::error("smtp.audit_failed", {{"action", action}, {"error", r.error().message}});
}

Result<std::string> CoreSubmissionSink::mxAccept(const Envelope& envelope, const MessageData& message) {
  const std::string ip = ipOf(envelope.clientAddress);
  if (!mxAllowed(ip)) {
    log::warn("smtp.mx_rate_limited", {{"client", ip}});
    return Error::unavailable("rate limit");
  }
  if (envelope.recipients.empty()) return Error::invalidInput("no recipients");
  const TimePoint now = d_.clock->now();

  core::SubmissionRequest sr;
  sr.messageId = core::ContentVault::newMessageId();
  // The envelope sender as given (not authenticated: SPF/DKIM/DMARC are not checked, recorded as
  // such in the audit record); the null reverse-path of bounces has no address.
  sr.senderIdentifier = envelope.mailFrom.empty() ? std::string(kNullReversePath) : mailtoIdentifier(envelope.mailFrom);
  sr.subject = subjectOf(message);
  sr.mode = core::ConsignmentMode::Basic;
  sr.requiredLoa = "low";
  sr.expiresAt = now + std::chrono::duration_cast<std::chrono::microseconds>(opt_.defaultExpiry);
  sr.actor = "smtp-mx:" + ip;
  sr.externalSystem = "SMTP client " + ip + " (HELO " + printable(envelope.heloName, 100) + ")";
  std::string note = "spf=not_checked dkim=not_checked dmarc=not_checked";
  std::string remNote;
  std::string authResults;  // Authentication-Results field prepended to the stored message

  // Inbound REM from another provider: only from a pinned peer, and only once its signature and
  // every evidence inside verified; nothing in it is used before.
  if (RemPeerVerifier::looksLikeRem(message)) {
    if (d_.remPeers == nullptr) {
      auditRefusal(ip, "smtp.rem.refused", "REM message but no pinned peer configured");
      return Error::integrityFailure("REM messages are accepted from pinned peers only");
    }
    auto rem = d_.remPeers->verify(message);
    if (!rem) {
      auditRefusal(ip, "smtp.rem.refused", rem.error().message);
      if (rem.error().code == ErrorCode::Internal || rem.error().code == ErrorCode::Unavailable) return std::move(rem).error();
      return Error::integrityFailure("REM message refused (signature, signer or evidence)");
    }
    std::string events;
    for (const auto& e : rem->evidenceEvents) events += (events.empty() ? "" : ",") + printable(e, 60);
    remNote = " rem_peer=\"" + printable(rem->signerSubject, 200) + "\" rem_type=" + printable(rem->message.messageType, 100) +
            " rem_evidence=" + events + " rem_evidence_id=" + printable(rem->message.evidenceId, 100);
  }
  if (d_.dns != nullptr) {
    MailAuthInput in{ip, envelope.heloName, envelope.mailFrom};
    const MailAuthResults ar = authenticateMail(*d_.dns, in, message);
    note = ar.summary();
    authResults = authenticationResultsHeader(opt_.authservId, ar);
    if (opt_.mxDmarcEnforce && ar.dmarcReject()) {
      auditRefusal(ip, "smtp.dmarc.rejected", "DMARC fail, p=reject for " + ar.dmarc.fromDomain);
      return Error::unauthorized("rejected by the DMARC policy of " + printable(ar.dmarc.fromDomain, 100));
    }
  }
  sr.auditNote = note + remNote + " tls=" + std::string(envelope.tls ? "yes" : "no");

  for (const auto& rcpt : envelope.recipients) {
    const std::string domain = domainOf(rcpt);
    // The session accepts only local domains on MX; checked again here: never a relay.
    if (std::find(opt_.localDomains.begin(), opt_.localDomains.end(), domain) == opt_.localDomains.end())
      return Error::invalidInput("relaying denied");
    core::RecipientSpec spec;
    spec.identifier = mailtoIdentifier(rcpt);
    // The bound party, else a pending mailbox for the address (the same answer whether a local
    // account exists or not), looked up by the store in the statement that stores the message.
    spec.bindingKey = identity::bindingKey(spec.identifier);
    sr.recipients.push_back(std::move(spec));
  }

  Result<core::SubmissionResult> res = Error::internal("not received");
  if (message.inMemory() && message.size() <= core::kMaxChunkBytes) {
    // Small message (the submission path's threshold): encrypted in memory and stored with the
    // message, its ReceivedFromNonERDS evidence and the lifecycle jobs in ONE transaction
    // (DeliveryStore::receiveWithContent): no staged upload round trips or commits.
    std::string withResults;
    std::string_view plain = message.memory();
    if (!authResults.empty()) {
      withResults.reserve(authResults.size() + plain.size());
      withResults.append(authResults).append(plain);
      plain = withResults;
    }
    auto sealed = d_.vault->sealInMemory(sr.messageId, {core::PlainPart{"message.eml", "message/rfc822", plain}});
    if (!sealed) return std::move(sealed).error();
    res = d_.store->receiveWithContent(sr, *sealed);
  } else {
    // Large message: streamed into the vault chunk by chunk (never held whole), then linked.
    auto up = d_.vault->beginUpload(sr.messageId, "message.eml", "message/rfc822");
    if (!up) return std::move(up).error();
    if (!authResults.empty()) ERDS_RETURN_IF_ERROR(up->append(authResults));
    ERDS_RETURN_IF_ERROR(forEachChunk(message, core::kMaxChunkBytes, [&](std::string_view c) { return up->append(c); }));
    auto part = up->finish();
    if (!part) return std::move(part).error();
    sr.partIds.push_back(part->partId);
    // Message, ReceivedFromNonERDS evidence and the local lifecycle jobs in one transaction.
    res = d_.store->receive(sr);
  }
  if (!res) return std::move(res).error();
  log::info("smtp.received", {{"message_id", res->messageId},
                              {"evidence_id", res->evidenceId},
                              {"client", ip},
                              {"recipients", static_cast<int64_t>(sr.recipients.size())}});
  return res->messageId;
}

}  // namespace erds::smtp
