// RemPeerVerifier: inbound REM messages from another provider (EN 319 532-3) are trusted only when
// signed by a pinned peer certificate (smtp.rem_peer_certificates) until Trusted List support
// lands: the S/MIME signature over the raw bytes first, then every evidence inside, before
// anything in the message is used.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "erds/base/result.h"
#include "erds/evidence/evidence_verifier.h"
#include "erds/smtp/message_data.h"
#include "erds/smtp/rem_message.h"

namespace erds::smtp {

struct VerifiedRemMessage {
  ParsedRemMessage message;
  std::string signerSubject;              // RFC 2253 subject of the pinned signer
  std::vector<std::string> evidenceEvents;  // event of each verified evidence, in order
};

class RemPeerVerifier {
 public:
  // `peersPem`: PEM text with the pinned signing certificates of peers, and the CA certificates
  // their evidence seals and time stamps chain to. The CMS signer must be byte-identical to a
  // certificate of this text; evidence chains must end at one of them. InvalidInput if no
  // certificate parses. `maxEventTimeSkew` is passed to the evidence verifier.
  static Result<std::shared_ptr<const RemPeerVerifier>> create(const std::string& peersPem,
                                                               std::chrono::seconds maxEventTimeSkew = std::chrono::seconds(60));
  // The same from a file (NotFound / InvalidInput naming it).
  static Result<std::shared_ptr<const RemPeerVerifier>> fromFile(const std::string& path);

  // Whether the message presents itself as a REM message: a top-level REM-* header field (e.g.
  // REM-MessageType). Reads at most the first 256 KiB. Thread-safe.
  static bool looksLikeRem(const MessageData& message);

  // Verifies the S/MIME signature over the raw bytes (spooled messages through a file BIO), the
  // signer pin, REM-DigestValue, then each evidence (EvidenceVerifier, status must be valid).
  // Errors: IntegrityFailure (unpinned signer, broken signature or digest, an evidence not
  // valid, no evidence at all), InvalidInput (not a REM message), Internal. Thread-safe.
  Result<VerifiedRemMessage> verify(const MessageData& message) const;

  RemPeerVerifier(RemTrust trust, std::shared_ptr<const evidence::EvidenceVerifier> evidence,
                  std::chrono::seconds maxEventTimeSkew);

 private:
  RemTrust trust_;
  std::shared_ptr<const evidence::EvidenceVerifier> evidence_;
  std::chrono::seconds skew_;
};

}  // namespace erds::smtp
