#include "erds/api/identity_adapters.h"

#include "erds/base/log.h"

namespace erds::api {

Result<Caller> IdentityCallerAuthenticator::authenticate(const http::Request& request) const {
  auto a = auth_.authenticate(request);
  if (!a) return std::move(a).error();
  return Caller{a->partyId, a->authentication, a->sessionRef};
}

Result<std::optional<std::string>> PostgresPartyDirectory::partyBoundTo(const std::string& identifier) {
  return accounts_.partyBoundTo(identifier);
}

namespace {

// A fresh entry, or nullptr. Caller holds the lock.
template <class Map>
const typename Map::mapped_type* fresh(const Map& m, const std::string& key, std::chrono::steady_clock::time_point now) {
  auto it = m.find(key);
  return it != m.end() && it->second.until > now ? &it->second : nullptr;
}

template <class Map, class T>
void remember(Map& m, const std::string& key, T value, std::chrono::steady_clock::time_point until, std::size_t max) {
  if (m.size() >= max) m.clear();  // bounded; a miss only costs one read
  m[key] = {std::move(value), until};
}

}  // namespace

Result<std::vector<identity::Identification>> PostgresPartyDirectory::identificationsOf(const std::string& partyId) {
  const auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard g(mu_);
    if (auto* c = fresh(identifications_, partyId, now)) return c->value;
  }
  auto ids = verifications_.identificationsOf(partyId);
  if (!ids) return ids;
  std::lock_guard g(mu_);
  remember(identifications_, partyId, *ids, now + kCallerCacheTtl, kCallerCacheMaxParties);
  return ids;
}

Result<std::string> PostgresPartyDirectory::senderIdentifierOf(const std::string& partyId) {
  const auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard g(mu_);
    if (auto* c = fresh(senders_, partyId, now)) return c->value;
  }
  auto id = readSenderIdentifier(partyId);
  if (!id) return id;
  std::lock_guard g(mu_);
  remember(senders_, partyId, *id, now + kCallerCacheTtl, kCallerCacheMaxParties);
  return id;
}

Result<std::string> PostgresPartyDirectory::readSenderIdentifier(const std::string& partyId) {
  auto bindings = accounts_.bindingsOf(partyId);
  if (!bindings) return std::move(bindings).error();
  for (const auto& b : *bindings)
    if (b.status == identity::BindingStatus::Bound) return b.identifier;
  auto login = accounts_.loginIdentifierOf(partyId);
  if (!login) return std::move(login).error();
  if (login->find(':') == std::string::npos && login->find('@') != std::string::npos) return "mailto:" + *login;
  return *login;
}

Result<void> LogDeliveryNotifier::notifyForAcceptance(const Notice& n) {
  log::info("delivery.notice", {{"kind", "notification_for_acceptance"},
                                {"recipient", n.recipientIdentifier},
                                {"message_id", n.messageId},
                                {"notice_id", n.noticeId}});
  return ok();
}

Result<void> LogDeliveryNotifier::notifyConsignment(const Notice& n) {
  log::info("delivery.notice", {{"kind", "consignment_notification"},
                                {"recipient", n.recipientIdentifier},
                                {"message_id", n.messageId},
                                {"notice_id", n.noticeId}});
  return ok();
}

}  // namespace erds::api
