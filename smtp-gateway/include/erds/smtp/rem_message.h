// REM messages (ETSI EN 319 532-3/-4, REM baseline): a builder for dispatches, receipts and
// notifications (multipart/signed S/MIME, CAdES-B-B, over multipart/mixed {introduction,
// original as message/rfc822, evidence <EventName>.xml}) and a parser/verifier that checks the
// S/MIME signature over the raw bytes before anything inside is used.
#pragma once

#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "erds/base/result.h"
#include "erds/evidence/signer.h"

namespace erds::smtp {

inline constexpr std::string_view kRemMessageTypeDispatch = "http://uri.etsi.org/19522/v1#/ERDMessageType/dispatch";
inline constexpr std::string_view kRemMessageTypeReceipt = "http://uri.etsi.org/19522/v1#/ERDMessageType/receipt";
inline constexpr std::string_view kRemMessageTypeNotification =
    "http://uri.etsi.org/19522/v1#/ERDMessageType/notification";
inline constexpr std::string_view kRemDigestSha256 = "http://www.w3.org/2001/04/xmlenc#sha256";
inline constexpr std::string_view kRemBaselinePolicy = "http://uri.etsi.org/19532/v1#/REMbaseline";

enum class RemKind { Dispatch, Receipt, Notification };

struct RemEvidencePart {
  std::string eventName;  // e.g. "SubmissionAcceptance": the part is named <eventName>.xml
  std::string xml;        // the signed evidence document, bytes as issued
};

struct RemMessageSpec {
  RemKind kind = RemKind::Dispatch;
  std::string serviceAddress;     // our REM service mailbox, e.g. rem-service@example.test
  std::string senderAddress;      // the original sender (dispatch: "On behalf of: <sender>")
  std::vector<std::string> to;    // header To (dispatch: copied from the original)
  std::vector<std::string> cc;
  std::string eventName;          // for the Subject: "REM Dispatch: ..." uses "Dispatch" for dispatches
  std::string subject;            // the original subject (ASCII; other text is RFC 2047 encoded)
  std::string messageId;          // "<id@domain>" (new; never the original's)
  std::string date;               // RFC 5322 date
  std::string relayDate;          // REM-RelayDate ("" = omitted)
  std::string originalMessageId;  // REM-UAMessageIdentifier ("" = omitted)
  std::string eventIdentifier;    // REM-EventIdentifier (event URI)
  std::string evidenceId;         // REM-Evidence-ID, "<...>"
  std::vector<std::string> reasonIdentifiers;  // REM-ReasonIdentifier
  std::vector<std::string> policies{std::string(kRemBaselinePolicy)};  // REM-ApplicablePolicy
  // The original message, raw. Dispatch: carried as message/rfc822 (CTE binary). Receipt and
  // notification: only its digest is given (REM-DigestValue). A missing final CRLF is added
  // before digesting (POINTS_OF_ATTENTION); bare LF is refused.
  std::string originalMessage;
  std::string introduction;       // plain text; the HTML alternative is derived (escaped)
  std::vector<RemEvidencePart> evidence;
};

// Builds and signs a REM message with `keyLabel` of `signer` (through evidence::makeForwardingKey;
// CMS detached, SHA-256, signer certificate and chain included, signingTime attribute). Returns
// the complete RFC 5322 message, CRLF line ends. Errors: InvalidInput (bad spec: missing
// identifiers, bare LF in the original, non-ASCII header values), those of the Signer
// (NotFound/Unavailable), Internal (OpenSSL; the error queue is in the message). Thread-safe.
Result<std::string> buildRemMessage(const RemMessageSpec& spec, std::shared_ptr<evidence::Signer> signer,
                                    std::string_view keyLabel);

struct RemTrust {
  std::vector<std::string> anchorsPem;    // trust anchors (PEM, several certificates per entry ok)
  std::vector<std::string> untrustedPem;  // extra intermediates (the message usually carries them)
  // Verify the chain as of the CMS signingTime (sample certificates are expired); if false, now.
  bool atSigningTime = true;
  // Pinned peers: when not empty, the CMS signer certificate must be byte-identical to one of
  // these (DER), and a chain may end at any certificate of anchorsPem (X509_V_FLAG_PARTIAL_CHAIN),
  // so a pinned self-standing certificate is enough.
  std::vector<std::string> pinnedSignersDer;
};

struct ParsedRemMessage {
  std::string messageType;        // REM-MessageType
  std::string eventIdentifier;    // REM-EventIdentifier
  std::string evidenceId;         // REM-Evidence-ID
  std::string digestAlgorithm;    // REM-DigestAlgorithm
  std::string digestValue;        // REM-DigestValue (base64)
  std::string subject;
  std::string from;
  std::optional<std::string> original;  // the AttachedMimeMessage bytes, exactly
  // base64(SHA-256(original)) recomputed; set when the original is present.
  std::optional<std::string> recomputedDigest;
  std::vector<RemEvidencePart> evidence;
  std::vector<std::string> extensionXml;
  std::string signerCertificateDer;
  std::time_t signingTime = 0;    // 0 if the signature has no signingTime attribute
};

// Parses and verifies a REM message given as raw bytes. Order: S/MIME signature over the raw
// bytes (SMIME_read_CMS + CMS_verify, chain to `trust` as of the signing time), then structure,
// then REM-DigestValue against the original (when present). Errors: InvalidInput (not a REM
// message, malformed MIME, no signature), IntegrityFailure (signature, chain or digest check
// failed). Evidence XML is extracted, not verified (that is erds::evidence's job). Thread-safe.
Result<ParsedRemMessage> parseRemMessage(std::string_view raw, const RemTrust& trust);
// As above, reading `path` (the CMS layer reads through a file BIO). InvalidInput beyond maxBytes.
Result<ParsedRemMessage> parseRemMessageFile(const std::string& path, const RemTrust& trust,
                                             std::size_t maxBytes = 256 * 1024 * 1024);

// base64(SHA-256(bytes)), the REM-DigestValue form.
std::string remDigest(std::string_view bytes);

}  // namespace erds::smtp
