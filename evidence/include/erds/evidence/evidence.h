// The EN 319 522-2 evidence components (G01-G06, R01-R03, I01-I13, M01-M05, E01) as plain value
// types, and Evidence, one evidence document. No I/O, no validation: see evidence_builder.h for the
// per-event rules and evidence_xml.h for the EN 319 522-3 XML form.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "erds/base/clock.h"
#include "erds/evidence/event.h"

namespace erds::evidence {

inline constexpr std::string_view kEvidenceVersion = "EN319522v1.1.1";  // G02
inline constexpr std::string_view kRemBaselinePolicy = "http://uri.etsi.org/19532/v1#/REMbaseline";
inline constexpr std::string_view kSamlUriNameFormat =
    "urn:oasis:names:tc:SAML:2.0:attrname-format:uri";
inline constexpr std::string_view kSha256DigestUri = "http://www.w3.org/2001/04/xmlenc#sha256";
// REM baseline: the original message is one part, identified by this OID, of type message/rfc822.
inline constexpr std::string_view kRemOriginalPartId = "urn:oid:1.3.6.1.7";

// One eIDAS SAML attribute (saml:Attribute with its saml:AttributeValue children).
struct SamlAttribute {
  std::string name;  // Name, e.g. http://eidas.europa.eu/attributes/naturalperson/PersonIdentifier
  std::string friendlyName;  // FriendlyName, e.g. PersonIdentifier (may be empty)
  std::string nameFormat = std::string(kSamlUriNameFormat);
  std::string xsiType;  // xsi:type of the values, e.g. "enp:PersonIdentifierType" (may be empty)
  std::vector<std::string> values;  // text of each saml:AttributeValue

  bool operator==(const SamlAttribute&) const = default;
};

// eIDAS attribute helpers (natural person: prefix enp, legal person: prefix elp, as in the
// samples).
SamlAttribute personIdentifier(std::string value);       // minimal
SamlAttribute familyName(std::string value);             // minimal (CurrentFamilyName)
SamlAttribute givenName(std::string value);              // minimal (CurrentGivenName)
SamlAttribute dateOfBirth(std::string isoDate);          // only when policy asks
SamlAttribute legalName(std::string value);              // minimal
SamlAttribute legalPersonIdentifier(std::string value);  // minimal

// An identifier with its scheme (EntityIdentifierType), e.g. {"mailto", "alice@example.test"}.
struct Identifier {
  std::string scheme;  // IdentifierSchemeName
  std::string value;
  bool operator==(const Identifier&) const = default;
};

// AssuranceLevelDetailsType.
struct AssuranceLevel {
  std::string level;  // AssuranceLevel URI, e.g. http://eidas.europa.eu/LoA/substantial
  std::optional<std::string> policyId;         // PolicyID
  std::optional<std::string> policyIdDetails;  // PolicyIDDetails
  bool operator==(const AssuranceLevel&) const = default;
};

// AuthenticationDetailsType, the AuthenticationTime + AuthenticationMethod form.
struct AuthenticationDetails {
  TimePoint time{};
  std::string method;  // URI
  bool operator==(const AuthenticationDetails&) const = default;
};

// I10-I13: AssuranceLevelsDetailsType in its GlobalAssuranceLevel + AuthenticationDetails form
// (the form of the REM baseline samples). The reader leaves `authentication` empty for the other
// authentication forms (SAML assertion, OAuth2, other) and sets `otherForm`.
struct AssuranceDetails {
  AssuranceLevel global;
  std::optional<AuthenticationDetails> authentication;
  bool otherForm = false;  // reader only: the document used a form this model does not carry
  bool operator==(const AssuranceDetails&) const = default;
};

// UserDetailsType: sender, sender's delegate, recipient (I01-I06, I10-I12).
struct UserDetails {
  std::vector<SamlAttribute> identity;        // Identity (I01/I03/I05); empty = element absent
  std::optional<Identifier> identifier;       // Identifier (I02/I04/I06)
  std::optional<AssuranceDetails> assurance;  // AssuranceLevelsDetails (I10-I13)
  bool operator==(const UserDetails&) const = default;
};

// RecipientsDelegateDetailsType (I07, I08, I13).
struct RecipientDelegateDetails {
  UserDetails delegate;
  std::vector<int> delegatingRecipients;  // 1-based indexes into Evidence::recipients
  bool operator==(const RecipientDelegateDetails&) const = default;
};

// EntityDetailsType: evidence issuer (R02) and external ERDS (M05).
struct EntityDetails {
  std::vector<SamlAttribute> identity;            // at least one attribute (schema: required)
  std::optional<std::string> x509CertificateDer;  // CertificateDetails/X509Certificate (DER bytes)
  bool operator==(const EntityDetails&) const = default;
};

// G04: one EventReason. `code` is the URI; the samples put the short code ("RA01") and a text in
// `details`.
struct EventReason {
  std::string code;
  std::vector<std::string> details;
  // The known reason for `code`, if any (other ERDSs may use their own URIs).
  std::optional<Reason> known() const { return reasonFromUri(code); }
  bool operator==(const EventReason&) const = default;
};
// An EventReason with the standard URI and details {code, description} (as the samples do).
EventReason makeEventReason(Reason r);

// PartInfo of UserContentInfo (M02).
struct PartInfo {
  std::string identifier;
  std::string contentType;
  std::optional<std::string> digestAlgorithm;  // ds:DigestMethod/@Algorithm
  std::optional<std::string> digest;           // ds:DigestValue, raw bytes (base64 in XML)
  bool operator==(const PartInfo&) const = default;
};

// M02 UserContentInfo.
struct UserContentInfo {
  std::optional<std::string> appLayerIdentifier;  // REM: the original Message-ID
  std::optional<int> composingParts;
  std::vector<PartInfo> parts;  // at least one (schema: required)
  bool operator==(const UserContentInfo&) const = default;
};
// The REM baseline form: one part urn:oid:1.3.6.1.7, message/rfc822, SHA-256 of the original.
UserContentInfo remUserContentInfo(std::string originalMessageId, std::string sha256Digest);

// E01, EN 319 532-4 extensions (namespace http://uri.etsi.org/19532/v1#), not critical.
struct GeneralEvidenceInfo {
  std::optional<std::string> subject;
  std::vector<int> untrustedPathToRecipient;
  bool operator==(const GeneralEvidenceInfo&) const = default;
};
struct RelayEvidenceInfo {
  std::vector<int> relayEvidenceRefersTo;
  bool operator==(const RelayEvidenceInfo&) const = default;
};
// An extension the reader did not understand (kept so a verifier can refuse critical ones).
struct UnknownExtension {
  std::string namespaceUri;
  std::string localName;
  bool critical = false;
  bool operator==(const UnknownExtension&) const = default;
};

// One evidence (EN 319 522-2 clause 8). Field order follows the XML element order.
struct Evidence {
  std::string version = std::string(kEvidenceVersion);       // G02 (attribute version)
  std::optional<std::string> xmlId;                          // attribute Id
  std::string evidenceIdentifier;                            // G01
  Event event = Event::SubmissionAcceptance;                 // G03
  std::vector<EventReason> reasons;                          // G04
  TimePoint eventTime{};                                     // G05
  std::vector<std::string> policyIds;                        // R01
  EntityDetails issuer;                                      // R02
  UserDetails sender;                                        // I01, I02, I10
  std::optional<UserDetails> senderDelegate;                 // I03, I04, I11
  std::vector<UserDetails> recipients;                       // I05, I06, I12
  std::vector<RecipientDelegateDetails> recipientDelegates;  // I07, I08, I13
  std::optional<TimePoint> submissionTime;                   // M03
  std::optional<int> evidenceRefersToRecipient;              // I09, 1-based
  std::optional<std::string> messageIdentifier;              // M01
  std::optional<UserContentInfo> userContentInfo;            // M02
  std::optional<std::string> externalSystem;                 // M04 (XML: ForwardedToExternalSystem)
  std::optional<EntityDetails> externalErds;                 // M05
  std::vector<std::string> transactionLogs;                  // G06 (text of each TransactionLog)
  std::optional<GeneralEvidenceInfo> generalInfo;            // E01
  std::optional<RelayEvidenceInfo> relayInfo;                // E01
  std::vector<UnknownExtension> unknownExtensions;           // E01, reader only
  bool hasSignature = false;                                 // R03 present (reader only)

  bool operator==(const Evidence&) const = default;
};

}  // namespace erds::evidence
