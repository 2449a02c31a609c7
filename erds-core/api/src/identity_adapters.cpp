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

Result<std::vector<identity::Identification>> PostgresPartyDirectory::identificationsOf(const std::string& partyId) {
  return verifications_.identificationsOf(partyId);
}

Result<std::string> PostgresPartyDirectory::senderIdentifierOf(const std::string& partyId) {
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
