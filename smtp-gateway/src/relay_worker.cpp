#include "erds/smtp/relay_worker.h"

#include <unistd.h>

#include <ctime>
#include <regex>

#include "erds/base/aead.h"
#include "erds/base/log.h"
#include "erds/smtp/core_submission_sink.h"
#include "erds/smtp/rem_message.h"

namespace erds::smtp {

namespace {

std::string field(const std::string& json, const std::string& name) {
  const std::regex re("\"" + name + "\"\\s*:\\s*(\"([^\"\\\\]*)\"|(-?[0-9]+))");
  std::smatch m;
  if (!std::regex_search(json, m, re)) return "";
  return m[2].matched ? m[2].str() : m[3].str();
}

std::string rfc5322Date(TimePoint t) {
  const std::time_t s = std::chrono::system_clock::to_time_t(
      std::chrono::time_point_cast<std::chrono::system_clock::duration>(t));
  std::tm tm{};
  gmtime_r(&s, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S +0000", &tm);
  return buf;
}

std::string address(const std::string& identifier) {
  return identifier.rfind("mailto:", 0) == 0 ? identifier.substr(7) : identifier;
}

// Subjects from the core are as received; REM headers must be ASCII without CR/LF.
std::string asciiSubject(const std::string& s) {
  std::string out;
  for (char c : s) out += (static_cast<unsigned char>(c) >= 0x20 && static_cast<unsigned char>(c) < 0x7f) ? c : ' ';
  return out;
}

}  // namespace

RelayWorker::RelayWorker(RelayWorkerDeps deps, RelayWorkerOptions options)
    : d_(std::move(deps)), opt_(std::move(options)) {
  char host[256] = {0};
  ::gethostname(host, sizeof host - 1);
  workerId_ = "erds-smtpd:" + std::string(host) + ":" + std::to_string(::getpid());
}

RelayWorker::~RelayWorker() { stop(); }

void RelayWorker::start() {
  if (thread_.joinable()) return;
  stop_ = false;
  thread_ = std::thread([this] {
    while (!stop_) {
      if (runOnce() == 0) {
        for (auto waited = std::chrono::milliseconds(0); waited < opt_.idle && !stop_; waited += std::chrono::milliseconds(50))
          std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    }
  });
}

void RelayWorker::stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

int RelayWorker::runOnce() {
  auto jobs = d_.jobs->claim(workerId_, opt_.batch, {std::string(kJobSmtpRelay), std::string(kJobSmtpReceipt)});
  if (!jobs) {
    log::warn("smtp.worker_claim_failed", {{"error", jobs.error().toString()}});
    return 0;
  }
  for (const auto& job : *jobs) {
    const std::string messageId = field(job.payloadJson, "message_id");
    Result<void> r;
    if (job.kind == kJobSmtpRelay) {
      const std::string idx = field(job.payloadJson, "recipient_index");
      r = idx.empty() ? Result<void>(Error::invalidInput("payload without recipient_index"))
                      : relay(messageId, std::stoi(idx), job.attempts >= job.maxAttempts);
    } else {
      const std::string idx = field(job.payloadJson, "recipient_index");
      r = receipt(messageId, field(job.payloadJson, "evidence_id"), field(job.payloadJson, "event"),
                  idx.empty() ? std::nullopt : std::optional<int>(std::stoi(idx)));
    }
    if (r) {
      (void)d_.jobs->complete(job.id, workerId_);
    } else {
      log::warn("smtp.job_failed", {{"job", job.id}, {"kind", job.kind}, {"message_id", messageId},
                                    {"attempt", static_cast<int64_t>(job.attempts)}, {"error", r.error().toString()}});
      (void)d_.jobs->fail(job.id, workerId_, r.error().toString());
    }
  }
  return static_cast<int>(jobs->size());
}

Result<std::string> RelayWorker::original(const std::string& messageId) {
  auto dl = d_.vault->openPart(messageId, 0);
  if (!dl) return std::move(dl).error();
  std::string out;
  while (true) {
    auto c = dl->next();
    if (!c) return std::move(c).error();
    if (!*c) break;
    out += **c;
    if (out.size() > opt_.maxMessageBytes) return Error::invalidInput("message larger than the relay limit");
  }
  return out;
}

Result<void> RelayWorker::relay(const std::string& messageId, int recipientIndex, bool lastAttempt) {
  auto msg = d_.store->message(messageId);
  if (!msg) return std::move(msg).error();
  auto del = d_.store->delivery(messageId, recipientIndex);
  if (!del) return std::move(del).error();
  if (del->state != core::DeliveryState::Submitted) {
    // Already relayed or failed (a job retried after its transition committed), or expired: never
    // send a second dispatch.
    log::info("smtp.relay_skipped", {{"message_id", messageId}, {"recipient_index", static_cast<int64_t>(recipientIndex)},
                                     {"state", std::string(core::deliveryStateName(del->state))}});
    return {};
  }
  auto evs = d_.store->evidenceOf(messageId);
  if (!evs) return std::move(evs).error();
  std::string acceptanceId;
  for (const auto& e : *evs)
    if (e.event == core::Event::SubmissionAcceptance) acceptanceId = e.id;
  if (acceptanceId.empty()) return Error::notFound("no SubmissionAcceptance for " + messageId);
  auto ev = d_.store->evidence(acceptanceId);
  if (!ev) return std::move(ev).error();
  auto raw = original(messageId);
  if (!raw) return std::move(raw).error();

  const std::string to = address(del->recipientIdentifier);
  RemMessageSpec spec;
  spec.kind = RemKind::Dispatch;
  spec.serviceAddress = opt_.serviceAddress;
  spec.senderAddress = address(msg->senderIdentifier);
  spec.to = {to};
  spec.eventName = "Dispatch";
  spec.subject = asciiSubject(msg->subject);
  spec.messageId = "<" + messageId + "." + std::to_string(recipientIndex) + ".dispatch@" + opt_.domain + ">";
  spec.date = rfc5322Date(d_.clock->now());
  spec.eventIdentifier = "http://uri.etsi.org/19522/v1#/Event/SubmissionAcceptance";
  spec.evidenceId = "<" + acceptanceId + ">";
  spec.originalMessage = std::move(*raw);
  spec.introduction = "This is a registered electronic delivery (REM dispatch) on behalf of " + spec.senderAddress +
                      ".\r\nThe original message is attached, with the evidence of its submission.\r\n";
  spec.evidence.push_back({"SubmissionAcceptance", ev->xml});
  auto rem = buildRemMessage(spec, d_.signer, opt_.signingKeyLabel);
  if (!rem) return std::move(rem).error();

  auto sent = d_.transport->relay({opt_.serviceAddress, {to}, std::move(*rem)});
  RecipientResult res;
  if (sent && !sent->empty()) {
    res = sent->front();
  } else {
    // No MX, connection refused, TLS or protocol failure: temporary until the last attempt.
    if (!lastAttempt) return sent ? Error::unavailable("relay: no result") : std::move(sent).error();
    res.status = RecipientStatus::TemporaryFailure;
    res.reply = sent ? "no result" : sent.error().message;
  }
  if (res.status == RecipientStatus::TemporaryFailure && !lastAttempt)
    return Error::unavailable("relay to " + (res.remoteHost.empty() ? std::string("?") : res.remoteHost) + ": " + res.reply);

  const bool delivered = res.status == RecipientStatus::Delivered;
  core::TransitionRequest t;
  t.messageId = messageId;
  t.recipientIndex = recipientIndex;
  t.event = delivered ? core::Event::RelayToNonERDS : core::Event::RelayToNonERDSFailure;
  // RF03: the external system refused the message (5xx); RF02: it stayed unreachable (4xx,
  // connection failures) until the last attempt.
  if (!delivered) t.reason = res.status == RecipientStatus::PermanentFailure ? "RF03" : "RF02";
  t.actor = "system:erds-smtpd";
  t.externalSystem = "SMTP " + (res.remoteHost.empty() ? std::string("(no server reached)") : printable(res.remoteHost, 255)) +
                     ": " + printable(res.reply, 300);
  if (opt_.sendReceipts) t.extraJobs.push_back(receiptJob(messageId, t.event, recipientIndex));
  auto tr = d_.store->transition(t);
  log::info("smtp.relay_done", {{"message_id", messageId},
                                {"recipient_index", static_cast<int64_t>(recipientIndex)},
                                {"delivered", delivered},
                                {"remote_host", res.remoteHost},
                                {"reply", res.reply}});
  if (!tr) {
    // The dispatch left; only the evidence is missing. Unavailable (signer, TSU, database) is
    // retried: the delivery is still Submitted, so the retry resends the dispatch (same
    // Message-ID; a duplicate is preferable to a relay without evidence). Anything else (the
    // delivery moved on meanwhile, e.g. expired) is logged and not retried.
    if (tr.error().is(ErrorCode::Unavailable)) return std::move(tr).error();
    log::error("smtp.relay_evidence_not_recorded", {{"message_id", messageId}, {"error", tr.error().toString()}});
  }
  return {};
}

Result<void> RelayWorker::receipt(const std::string& messageId, std::string evidenceId, const std::string& event,
                                  std::optional<int> recipientIndex) {
  auto msg = d_.store->message(messageId);
  if (!msg) return std::move(msg).error();
  if (evidenceId.empty()) {
    const auto wanted = core::eventFromName(event);
    if (!wanted) return Error::invalidInput("receipt job without evidence_id or a known event");
    auto evs = d_.store->evidenceOf(messageId);
    if (!evs) return std::move(evs).error();
    for (const auto& e : *evs)
      if (e.event == *wanted && e.recipientIndex == recipientIndex) evidenceId = e.id;
    if (evidenceId.empty()) return Error::notFound("no " + event + " evidence for " + messageId);
  }
  auto ev = d_.store->evidence(evidenceId);
  if (!ev) return std::move(ev).error();
  auto raw = original(messageId);
  if (!raw) return std::move(raw).error();
  const std::string eventName(core::eventName(ev->event));
  RemMessageSpec spec;
  spec.kind = RemKind::Receipt;
  spec.serviceAddress = opt_.serviceAddress;
  spec.senderAddress = address(msg->senderIdentifier);
  spec.to = {spec.senderAddress};
  spec.eventName = eventName;
  spec.subject = asciiSubject(msg->subject);
  spec.messageId = "<" + evidenceId + ".receipt@" + opt_.domain + ">";
  spec.date = rfc5322Date(d_.clock->now());
  spec.eventIdentifier = "http://uri.etsi.org/19522/v1#/Event/" + eventName;
  spec.evidenceId = "<" + evidenceId + ">";
  spec.originalMessage = std::move(*raw);
  spec.introduction = "REM receipt: " + eventName + " for your message " + messageId + ".\r\n";
  spec.evidence.push_back({eventName, ev->xml});
  auto rem = buildRemMessage(spec, d_.signer, opt_.signingKeyLabel);
  if (!rem) return std::move(rem).error();
  auto sent = d_.transport->relay({opt_.serviceAddress, {spec.senderAddress}, std::move(*rem)});
  if (!sent) return std::move(sent).error();
  if (sent->front().status == RecipientStatus::TemporaryFailure)
    return Error::unavailable("receipt to the sender: " + sent->front().reply);
  log::info("smtp.receipt_sent", {{"message_id", messageId}, {"evidence_id", evidenceId},
                                  {"delivered", sent->front().status == RecipientStatus::Delivered}});
  return {};
}

}  // namespace erds::smtp
