#include "erds/api/worker_pool.h"

#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <unistd.h>

#include "erds/base/log.h"

namespace erds::api {
namespace {

struct Payload {
  std::string messageId;
  int recipientIndex = -1;
};

Result<Payload> parsePayload(const std::string& json) {
  try {
    Poco::JSON::Parser p;
    auto o = p.parse(json).extract<Poco::JSON::Object::Ptr>();
    Payload out;
    out.messageId = o->getValue<std::string>("message_id");
    if (o->has("recipient_index")) out.recipientIndex = o->getValue<int>("recipient_index");
    return out;
  } catch (...) {
    return Error::invalidInput("malformed job payload");
  }
}

bool canApply(const core::MessageInfo& m, const core::DeliveryInfo& d, core::Event e) {
  return core::findTransition(m.mode, d.state, e).has_value();
}

}  // namespace

WorkerPool::WorkerPool(WorkerPoolDeps deps, WorkerPoolOptions options) : deps_(deps), options_(std::move(options)) {
  ERDS_CHECK(deps_.jobs && deps_.store && deps_.vault && deps_.notifier && deps_.clock,
             "WorkerPool needs all its dependencies");
}

WorkerPool::~WorkerPool() { stop(); }

void WorkerPool::start() {
  std::lock_guard<std::mutex> g(mu_);
  if (started_) return;
  started_ = true;
  for (int i = 0; i < options_.threads; ++i) threads_.emplace_back([this, i] { loop(i); });
}

void WorkerPool::stop() {
  {
    std::lock_guard<std::mutex> g(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  threads_.clear();
}

void WorkerPool::loop(int n) {
  const std::string workerId = options_.workerIdPrefix + "/" + std::to_string(::getpid()) + "/" + std::to_string(n);
  for (;;) {
    {
      std::lock_guard<std::mutex> g(mu_);
      if (stopping_) return;
    }
    if (n == 0) {
      const auto now = std::chrono::steady_clock::now();
      if (lastGc_ == std::chrono::steady_clock::time_point{} || now - lastGc_ >= options_.gcInterval) {
        lastGc_ = now;
        auto gc = collectGarbage();
        if (!gc) log::warn("content.gc_failed", {{"error", gc.error().toString()}});
        else if (*gc > 0) log::info("content.gc", {{"parts_removed", *gc}});
      }
    }
    auto handled = runOnce(workerId);
    if (!handled) log::warn("jobs.claim_failed", {{"error", handled.error().toString()}});
    if (!handled || *handled == 0) {
      std::unique_lock<std::mutex> lk(mu_);
      cv_.wait_for(lk, options_.idlePoll, [this] { return stopping_; });
    }
  }
}

Result<int64_t> WorkerPool::collectGarbage() {
  return deps_.vault->collectGarbage(deps_.clock->now() - std::chrono::duration_cast<std::chrono::microseconds>(options_.uploadRetention));
}

Result<int> WorkerPool::runOnce(const std::string& workerId) {
  static const std::vector<std::string> kKinds = {std::string(core::kJobNotifyForAcceptance), std::string(core::kJobConsign),
                                                  std::string(core::kJobNotifyConsignment), std::string(core::kJobExpire)};
  auto jobs = deps_.jobs->claim(workerId, options_.batch, kKinds);
  if (!jobs) return std::move(jobs).error();
  int n = 0;
  for (const auto& job : *jobs) {
    log::ScopedRequestId rid("job-" + std::to_string(job.id));
    auto r = handle(job);
    Result<void> done = r ? deps_.jobs->complete(job.id, workerId) : deps_.jobs->fail(job.id, workerId, r.error().toString());
    if (!r) log::warn("job.failed", {{"job_id", job.id}, {"kind", job.kind}, {"attempt", job.attempts}, {"error", r.error().toString()}});
    if (!done) log::warn("job.finish_failed", {{"job_id", job.id}, {"error", done.error().toString()}});
    ++n;
  }
  return n;
}

Result<void> WorkerPool::handle(const core::Job& job) {
  auto p = parsePayload(job.payloadJson);
  if (!p) {
    log::error("job.bad_payload", {{"job_id", job.id}, {"kind", job.kind}});
    return ok();  // retrying cannot help; the job is dropped and logged
  }
  if (job.kind == core::kJobExpire) return expire(p->messageId);
  if (p->recipientIndex < 0) {
    log::error("job.bad_payload", {{"job_id", job.id}, {"kind", job.kind}});
    return ok();
  }
  if (job.kind == core::kJobNotifyForAcceptance) return notifyForAcceptance(p->messageId, p->recipientIndex, job);
  if (job.kind == core::kJobConsign) return consign(p->messageId, p->recipientIndex);
  if (job.kind == core::kJobNotifyConsignment) return notifyConsignment(p->messageId, p->recipientIndex, job);
  log::error("job.unknown_kind", {{"job_id", job.id}, {"kind", job.kind}});
  return ok();
}

// Applies `event`; a transition the lifecycle no longer allows (the recipient moved on, e.g.
// accepted before the notice job ran) or an unknown delivery means there is nothing left to do.
Result<void> WorkerPool::apply(const std::string& messageId, int index, core::Event event) {
  core::TransitionRequest t;
  t.messageId = messageId;
  t.recipientIndex = index;
  t.event = event;
  auto r = deps_.store->transition(t);
  if (r) {
    if (!r->alreadyDone)
      log::info("delivery.transition", {{"message_id", messageId}, {"recipient_index", index},
                                        {"event", core::eventName(event)}, {"state", core::deliveryStateName(r->state)}});
    return ok();
  }
  if (r.error().is(ErrorCode::Conflict) || r.error().is(ErrorCode::NotFound)) {
    log::info("delivery.transition_skipped", {{"message_id", messageId}, {"recipient_index", index},
                                              {"event", core::eventName(event)}, {"why", r.error().message}});
    return ok();
  }
  return std::move(r).error();
}

Result<void> WorkerPool::notifyForAcceptance(const std::string& messageId, int index, const core::Job& job) {
  auto m = deps_.store->message(messageId);
  if (!m) return m.error().is(ErrorCode::NotFound) ? ok() : Result<void>(std::move(m).error());
  auto d = deps_.store->delivery(messageId, index);
  if (!d) return d.error().is(ErrorCode::NotFound) ? ok() : Result<void>(std::move(d).error());
  if (!canApply(*m, *d, core::Event::NotificationForAcceptance)) return ok();
  Notice n{d->recipientIdentifier, messageId, index, m->expiresAt,
           "<" + messageId + "." + std::to_string(index) + ".nfa@erds>"};
  auto sent = deps_.notifier->notifyForAcceptance(n);
  if (!sent) {
    if (job.attempts < job.maxAttempts) return std::move(sent).error();  // retried later
    return apply(messageId, index, core::Event::NotificationForAcceptanceFailure);
  }
  return apply(messageId, index, core::Event::NotificationForAcceptance);
}

Result<void> WorkerPool::consign(const std::string& messageId, int index) {
  auto d = deps_.store->delivery(messageId, index);
  if (!d) return d.error().is(ErrorCode::NotFound) ? ok() : Result<void>(std::move(d).error());
  if (d->external) {
    // A recipient outside ERDS (no party, no pending mailbox): the gateway relays it and records
    // RelayToNonERDS / RelayToNonERDSFailure; consigning here would misstate what happened.
    log::info("delivery.consign_skipped", {{"message_id", messageId}, {"recipient_index", index}, {"why", "external"}});
    return ok();
  }
  return apply(messageId, index, core::Event::ContentConsignment);
}

Result<void> WorkerPool::notifyConsignment(const std::string& messageId, int index, const core::Job& job) {
  auto m = deps_.store->message(messageId);
  if (!m) return m.error().is(ErrorCode::NotFound) ? ok() : Result<void>(std::move(m).error());
  auto d = deps_.store->delivery(messageId, index);
  if (!d) return d.error().is(ErrorCode::NotFound) ? ok() : Result<void>(std::move(d).error());
  if (!canApply(*m, *d, core::Event::ConsignmentNotification)) return ok();
  Notice n{d->recipientIdentifier, messageId, index, m->expiresAt,
           "<" + messageId + "." + std::to_string(index) + ".cn@erds>"};
  auto sent = deps_.notifier->notifyConsignment(n);
  if (!sent) {
    if (job.attempts < job.maxAttempts) return std::move(sent).error();
    return apply(messageId, index, core::Event::ConsignmentNotificationFailure);
  }
  return apply(messageId, index, core::Event::ConsignmentNotification);
}

Result<void> WorkerPool::expire(const std::string& messageId) {
  auto m = deps_.store->message(messageId);
  if (!m) return m.error().is(ErrorCode::NotFound) ? ok() : Result<void>(std::move(m).error());
  auto ds = deps_.store->deliveries(messageId);
  if (!ds) return std::move(ds).error();
  // At expiry each open delivery ends with the first event the lifecycle allows in its state:
  // consent not decided -> AcceptanceRejectionExpiry; not consigned -> ContentConsignmentFailure;
  // consigned but not fetched -> ContentHandoverFailure.
  static constexpr core::Event kOrder[] = {core::Event::AcceptanceRejectionExpiry, core::Event::ContentConsignmentFailure,
                                           core::Event::ContentHandoverFailure};
  for (const auto& d : *ds) {
    if (core::isTerminal(d.state)) continue;
    if (d.external) {
      // Not relayed before expiry (the gateway kept failing temporarily): RF02 by default.
      if (canApply(*m, d, core::Event::RelayToNonERDSFailure))
        ERDS_RETURN_IF_ERROR(apply(messageId, d.recipientIndex, core::Event::RelayToNonERDSFailure));
      continue;
    }
    for (core::Event e : kOrder) {
      if (!canApply(*m, d, e)) continue;
      ERDS_RETURN_IF_ERROR(apply(messageId, d.recipientIndex, e));
      break;
    }
  }
  return ok();
}

}  // namespace erds::api
