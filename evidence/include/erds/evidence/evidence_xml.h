// EN 319 522-3 XML for evidence: a writer that emits the unsigned document and its exclusive-C14N
// bytes directly (no DOM), and a hardened libxml2 reader into the Evidence model. The form follows
// the ETSI EN 319 532-4 and AgID REM samples: prefix tns for http://uri.etsi.org/19522/v1#, global
// elements qualified and local ones (EventTime, Code, Details, PolicyID, Identifier, ...) not.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "erds/base/result.h"
#include "erds/evidence/evidence.h"

namespace erds::evidence {

inline constexpr std::string_view kErdsNamespace = "http://uri.etsi.org/19522/v1#";
inline constexpr std::string_view kRemNamespace = "http://uri.etsi.org/19532/v1#";
inline constexpr std::string_view kDsNamespace = "http://www.w3.org/2000/09/xmldsig#";
inline constexpr std::string_view kSamlNamespace = "urn:oasis:names:tc:SAML:2.0:assertion";

// The unsigned evidence, ready for an enveloped XAdES signature.
struct EvidenceXml {
  // The document to store and send: XML declaration, then tns:Evidence declaring ds, elp, enp,
  // ext, saml and tns on the root (as the samples do). Canonical syntax otherwise.
  std::string document;
  // The exclusive C14N 1.0 (without comments) bytes of `document`, i.e. what an enveloped-
  // signature + exc-c14n Reference with URI="" digests once a ds:Signature has been inserted.
  std::string canonical;
  // Offset in `document` where the ds:Signature element goes (just before "</tns:Evidence>", so it
  // is the last child, as in the samples). Inserting any element there leaves `canonical` the
  // exclusive C14N of the document minus that element.
  std::size_t signatureOffset = 0;
};

// Writes `evidence`. Runs validateEvidence() first. InvalidInput when it fails, or when a value
// cannot be represented in XML 1.0 (invalid UTF-8, control characters) or unknownExtensions is not
// empty. Thread-safe.
Result<EvidenceXml> writeEvidenceXml(const Evidence& evidence);

struct ReadLimits {
  std::size_t maxBytes = 4 * 1024 * 1024;  // larger input is refused before parsing
};

// Parses an EN 319 522-3 evidence document (signed or not) into the model. Hardened: refuses any
// DOCTYPE, never loads DTDs or external entities, never substitutes entities, no network, size
// limit. Accepts the samples' forms: a ds:Signature of any shape (only its presence is recorded in
// hasSignature; verification is separate), extra/unknown extensions (kept in unknownExtensions),
// Identity on recipients, the tns:/default-prefix variants of namespace declarations. Does not
// apply the per-event builder rules (evidence from others is described, not judged).
// Errors: InvalidInput (not well-formed, DOCTYPE, too big, wrong root/namespace/version, missing
// required element, bad dateTime/integer/base64, unknown event URI). Thread-safe.
Result<Evidence> readEvidenceXml(std::string_view xml, const ReadLimits& limits = {});

}  // namespace erds::evidence
