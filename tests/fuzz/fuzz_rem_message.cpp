// Fuzz target: inbound REM messages (EN 319 532-3) as raw MIME bytes:
//  - erds::smtp::parseRemMessage (SMIME_read_CMS + CMS_verify over the raw bytes against the ETSI
//    and AgID REM roots, then the REM structure sliced from the same bytes; the top-level header
//    block is outside the signature, so mutations there reach the structure parser);
//  - RemPeerVerifier::looksLikeRem / verify with the ETSI kit's provider certificates pinned
//    (signer pin, REM-DigestValue, then every evidence through the EvidenceVerifier);
//  - the gateway's raw MIME reader (internal::parseEntity, parseContentType, parseParams,
//    splitMultipart, recursively) and checkMessageSyntax.
// ERDS_FUZZ_DEBUG=1 prints the outcome (for reproducing one input by hand).
// Invariants: every slice the MIME reader returns lies inside its input; an accepted REM message
// with an original carries base64(SHA-256(original)) as recomputedDigest, equal to REM-DigestValue
// when that is present.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "erds/smtp/message_data.h"
#include "erds/smtp/rem_message.h"
#include "erds/smtp/rem_peer_verifier.h"
#include "fuzz_support.h"
#include "mime_raw.h"

namespace {

erds::smtp::RemTrust* g_trust = nullptr;
std::shared_ptr<const erds::smtp::RemPeerVerifier>* g_peers = nullptr;

std::string mustRead(const std::string& path) {
  std::string s = erds::fuzz::readFile(path);
  if (s.empty()) {
    std::fprintf(stderr, "fuzz_rem_message: cannot read %s (set ERDS_CONFORMANCE_DIR)\n", path.c_str());
    std::exit(1);
  }
  return s;
}

bool inside(std::string_view outer, std::string_view inner) {
  if (inner.empty()) return true;
  return inner.data() >= outer.data() && inner.data() + inner.size() <= outer.data() + outer.size();
}

// Walks a MIME entity as a REM consumer would (bounded depth); checks the reader's slices.
void walk(std::string_view raw, int depth) {
  using namespace erds::smtp::internal;
  auto entity = parseEntity(raw);
  if (!entity) return;
  if (!inside(raw, entity->headerBlock) || !inside(raw, entity->body))
    erds::fuzz::fail("parseEntity: slice outside the input");
  std::string first;
  (void)parseParams(entity->header("Content-Disposition").value_or(""), &first);
  (void)entity->headers_named("Received");
  auto ct = parseContentType(entity->header("Content-Type").value_or("text/plain"));
  if (!ct) return;
  (void)ct->param("boundary");
  if (ct->type != "multipart" || depth >= 8) return;
  auto mp = splitMultipart(entity->body, ct->param("boundary"));
  if (!mp) return;
  if (!inside(entity->body, mp->preamble)) erds::fuzz::fail("splitMultipart: preamble outside the body");
  for (std::string_view part : mp->parts) {
    if (!inside(entity->body, part)) erds::fuzz::fail("splitMultipart: part outside the body");
    walk(part, depth + 1);
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  erds::fuzz::quietLogs();
  const std::string etsi = erds::fuzz::conformanceDir() + "/en_31953204v010201p0/INFORMATIVE-EXAMPLES/CERTIFICATES/";
  const std::string agid = erds::fuzz::agidDir() + "/certificates/";
  g_trust = new erds::smtp::RemTrust();
  g_trust->anchorsPem = {mustRead(etsi + "REM-ROOT-CA.crt"), mustRead(agid + "REM-ROOT-CA.crt")};
  g_trust->untrustedPem = {mustRead(etsi + "REM-INTERMEDIATE-CA.crt"),
                           mustRead(agid + "REM-POLICY-IT-INTERMEDIATE-CERTIFICATE.crt")};
  std::string peers;
  for (const char* f : {"S-REMS-A-CERTIFICATE.crt", "R-REMS-B-CERTIFICATE.crt", "R-REMS-C-CERTIFICATE.crt",
                        "REM-INTERMEDIATE-CA.crt", "REM-ROOT-CA.crt", "TSA.NOWNTSTS202004.pem"})
    peers += mustRead(etsi + f) + "\n";
  peers += mustRead(agid + "TSA-ROOT-CA.extracted-from-sample-tokens.pem");
  auto verifier = erds::smtp::RemPeerVerifier::create(peers, std::chrono::hours(24 * 365 * 30));
  if (!verifier) {
    std::fprintf(stderr, "fuzz_rem_message: RemPeerVerifier::create: %s\n", verifier.error().message.c_str());
    std::exit(1);
  }
  g_peers = new std::shared_ptr<const erds::smtp::RemPeerVerifier>(std::move(verifier).value());
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace erds::smtp;
  erds::fuzz::clearLogs();
  std::string_view raw = erds::fuzz::asView(data, size);

  auto parsed = parseRemMessage(raw, *g_trust);
  const bool debug = std::getenv("ERDS_FUZZ_DEBUG") != nullptr;  // when reproducing one input by hand
  if (debug) std::fprintf(stderr, "parseRemMessage: %s\n", parsed ? "ok" : parsed.error().message.c_str());
  if (parsed && parsed->original) {
    if (!parsed->recomputedDigest || *parsed->recomputedDigest != remDigest(*parsed->original))
      erds::fuzz::fail("parseRemMessage: recomputedDigest is not base64(SHA-256(original))");
    if (!parsed->digestValue.empty() && parsed->digestValue != *parsed->recomputedDigest)
      erds::fuzz::fail("parseRemMessage: accepted a message whose REM-DigestValue does not match");
  }

  MessageData message(1 << 20, "");  // max_len keeps it in memory
  if (!message.append(raw) || !message.finish()) erds::fuzz::fail("MessageData: in-memory append failed");
  if (RemPeerVerifier::looksLikeRem(message)) {
    auto verified = (*g_peers)->verify(message);
    if (debug) std::fprintf(stderr, "RemPeerVerifier::verify: %s\n", verified ? "ok" : verified.error().message.c_str());
    if (verified && verified->evidenceEvents.empty()) erds::fuzz::fail("RemPeerVerifier: verified without evidence");
  }

  walk(raw, 0);
  (void)internal::checkMessageSyntax(raw);
  return 0;
}
