#include "erds/evidence/evidence.h"

#include <utility>

namespace erds::evidence {
namespace {
constexpr std::string_view kNatural = "http://eidas.europa.eu/attributes/naturalperson/";
constexpr std::string_view kLegal = "http://eidas.europa.eu/attributes/legalperson/";

SamlAttribute attr(std::string_view base, std::string_view name, std::string type,
                   std::string value) {
  SamlAttribute a;
  a.name = std::string(base) + std::string(name);
  a.friendlyName = std::string(name);
  a.xsiType = std::move(type);
  a.values.push_back(std::move(value));
  return a;
}
}  // namespace

SamlAttribute personIdentifier(std::string v) {
  return attr(kNatural, "PersonIdentifier", "enp:PersonIdentifierType", std::move(v));
}
SamlAttribute familyName(std::string v) {
  return attr(kNatural, "CurrentFamilyName", "enp:CurrentFamilyNameType", std::move(v));
}
SamlAttribute givenName(std::string v) {
  return attr(kNatural, "CurrentGivenName", "enp:CurrentGivenNameType", std::move(v));
}
SamlAttribute dateOfBirth(std::string v) {
  return attr(kNatural, "DateOfBirth", "enp:DateOfBirthType", std::move(v));
}
SamlAttribute legalName(std::string v) {
  return attr(kLegal, "LegalName", "elp:LegalNameType", std::move(v));
}
SamlAttribute legalPersonIdentifier(std::string v) {
  return attr(kLegal, "LegalPersonIdentifier", "elp:LegalPersonIdentifierType", std::move(v));
}

EventReason makeEventReason(Reason r) {
  return EventReason{reasonUri(r), {std::string(reasonCode(r)), std::string(reasonDescription(r))}};
}

UserContentInfo remUserContentInfo(std::string originalMessageId, std::string sha256Digest) {
  UserContentInfo info;
  info.appLayerIdentifier = std::move(originalMessageId);
  info.composingParts = 1;
  info.parts.push_back(PartInfo{std::string(kRemOriginalPartId), "message/rfc822",
                                std::string(kSha256DigestUri), std::move(sha256Digest)});
  return info;
}

}  // namespace erds::evidence
