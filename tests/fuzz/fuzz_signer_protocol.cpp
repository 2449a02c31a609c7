// Fuzz target: the erds-signer wire protocol frame decoder, both sides. Input: one frame (12-byte
// header, then payload bytes as far as the header's length says). Server side: decodeRequest and
// handleRequest with a fake Signer; client side: decodeSignResponse / decodeKeyInfoResponse.
// Invariants: an accepted request re-encodes to the exact input frame; handleRequest always
// answers with a well-formed response frame.
#include <cstdint>
#include <string>

#include "erds/evidence/signer.h"
#include "erds/evidence/signer_protocol.h"
#include "fuzz_support.h"

namespace {

namespace sp = erds::evidence::signer_protocol;

class FakeSigner final : public erds::evidence::Signer {
 public:
  erds::Result<std::string> signDigest(std::string_view keyLabel,
                                       std::string_view digest) override {
    if (keyLabel != "seal") return erds::Error::notFound("no such key");
    if (digest.size() != 32) return erds::Error::invalidInput("digest must be 32 bytes");
    return std::string(70, '\x30');
  }
  erds::Result<erds::evidence::SigningKeyInfo> keyInfo(std::string_view keyLabel) override {
    if (keyLabel != "seal") return erds::Error::notFound("no such key");
    erds::evidence::SigningKeyInfo info;
    info.certificateDer = std::string(300, '\x02');
    info.chainDer = std::string(200, '\x03');
    return info;
  }
};

FakeSigner g_signer;

void checkResponseFrame(const std::string& frame) {
  if (frame.size() < sp::kHeaderBytes) erds::fuzz::fail("handleRequest: frame shorter than a header");
  auto header = sp::decodeHeader(std::string_view(frame).substr(0, sp::kHeaderBytes),
                                 sp::kMaxResponsePayload);
  if (!header) erds::fuzz::fail("handleRequest: bad response header: " + header.error().message);
  if (header->length != frame.size() - sp::kHeaderBytes) {
    erds::fuzz::fail("handleRequest: response length field does not match the payload");
  }
  const std::string_view payload = std::string_view(frame).substr(sp::kHeaderBytes);
  switch (header->type) {
    case sp::FrameType::SignResponse: {
      auto sig = sp::decodeSignResponse(*header, payload);
      if (!sig) erds::fuzz::fail("handleRequest: undecodable SignResponse");
      break;
    }
    case sp::FrameType::KeyInfoResponse: {
      auto info = sp::decodeKeyInfoResponse(*header, payload);
      if (!info) erds::fuzz::fail("handleRequest: undecodable KeyInfoResponse");
      break;
    }
    case sp::FrameType::ErrorResponse: {
      // An ErrorResponse decodes as the Error it carries.
      auto sig = sp::decodeSignResponse(*header, payload);
      if (sig) erds::fuzz::fail("handleRequest: ErrorResponse decoded as a signature");
      break;
    }
    default:
      erds::fuzz::fail("handleRequest: answered with a request frame type");
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  erds::fuzz::quietLogs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  erds::fuzz::clearLogs();
  const std::string_view in = erds::fuzz::asView(data, size);
  if (in.size() < sp::kHeaderBytes) {
    (void)sp::decodeHeader(in, sp::kMaxResponsePayload);  // wrong size must be refused, not read
    return 0;
  }
  const std::string_view headerBytes = in.substr(0, sp::kHeaderBytes);
  const std::string_view rest = in.substr(sp::kHeaderBytes);

  // Server side: requests are bounded by kMaxRequestPayload.
  if (auto header = sp::decodeHeader(headerBytes, sp::kMaxRequestPayload);
      header && header->length <= rest.size()) {
    const std::string_view payload = rest.substr(0, header->length);
    auto request = sp::decodeRequest(*header, payload);
    if (request) {
      std::string again = request->type == sp::FrameType::SignRequest
                              ? sp::encodeSignRequest(request->keyLabel, request->digest)
                              : sp::encodeKeyInfoRequest(request->keyLabel);
      if (again != in.substr(0, sp::kHeaderBytes + header->length)) {
        erds::fuzz::fail("an accepted request does not re-encode to the same frame");
      }
      if (!sp::isValidLabel(request->keyLabel)) erds::fuzz::fail("accepted an invalid label");
    }
    checkResponseFrame(sp::handleRequest(g_signer, *header, payload));
  }

  // Client side: responses may be larger.
  if (auto header = sp::decodeHeader(headerBytes, sp::kMaxResponsePayload);
      header && header->length <= rest.size()) {
    const std::string_view payload = rest.substr(0, header->length);
    auto sig = sp::decodeSignResponse(*header, payload);
    if (sig && sp::encodeSignResponse(*sig) != in.substr(0, sp::kHeaderBytes + header->length)) {
      erds::fuzz::fail("an accepted SignResponse does not re-encode to the same frame");
    }
    (void)sp::decodeKeyInfoResponse(*header, payload);
  }
  return 0;
}
