// The erds-signer wire protocol: small, versioned, length-prefixed binary frames over a Unix
// socket. Both sides use these functions; the privileged side (erds-signer) trusts nothing it is
// sent: sizes, label syntax, digest length and algorithm are checked before any key is touched.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "erds/base/result.h"
#include "erds/evidence/signer.h"

namespace erds::evidence::signer_protocol {

// Frame = header || payload. Header (12 bytes, big-endian):
//   magic "ERSG" (4) | version (1) | type (1) | reserved 0 (2) | payload length (4)
inline constexpr char kMagic[4] = {'E', 'R', 'S', 'G'};
inline constexpr std::uint8_t kVersion = 1;
inline constexpr std::size_t kHeaderBytes = 12;
inline constexpr std::size_t kMaxRequestPayload = 1024;         // requests are tiny
inline constexpr std::size_t kMaxResponsePayload = 256 * 1024;  // certificate chains
inline constexpr std::size_t kMaxLabelBytes = 64;               // [A-Za-z0-9._-]{1,64}
inline constexpr std::uint8_t kDigestSha256 = 1;

enum class FrameType : std::uint8_t {
  SignRequest = 1,     // label-len(1) label digest-alg(1) digest-len(1) digest
  SignResponse = 2,    // sig-len(2) signature
  KeyInfoRequest = 3,  // label-len(1) label
  KeyInfoResponse =
      4,              // algorithm(1: 1=EC P-256, 2=RSA) bits(2) cert-len(4) cert chain-len(4) chain
  ErrorResponse = 5,  // error-code(1, erds::ErrorCode) msg-len(2) message
};

struct FrameHeader {
  FrameType type = FrameType::ErrorResponse;
  std::uint32_t length = 0;
};

struct Request {
  FrameType type = FrameType::SignRequest;
  std::string keyLabel;
  std::string digest;  // SignRequest only: 32 bytes
};

// Decodes and checks a header (exactly kHeaderBytes). InvalidInput on bad magic, unknown version
// or type, non-zero reserved bytes, or a length above `maxPayload`.
Result<FrameHeader> decodeHeader(std::string_view header, std::size_t maxPayload);

// Client side.
std::string encodeSignRequest(std::string_view keyLabel, std::string_view digest);
std::string encodeKeyInfoRequest(std::string_view keyLabel);
// The payload of a SignResponse, or the Error carried by an ErrorResponse. InvalidInput when the
// frame is malformed or of an unexpected type.
Result<std::string> decodeSignResponse(const FrameHeader& header, std::string_view payload);
Result<SigningKeyInfo> decodeKeyInfoResponse(const FrameHeader& header, std::string_view payload);

// Server side. InvalidInput for malformed requests (label syntax, digest length, algorithm,
// trailing bytes).
Result<Request> decodeRequest(const FrameHeader& header, std::string_view payload);
std::string encodeSignResponse(std::string_view signature);
std::string encodeKeyInfoResponse(const SigningKeyInfo& info);
std::string encodeErrorResponse(const Error& error);
// Decodes one request frame and answers it with `signer` (errors become ErrorResponse frames).
std::string handleRequest(Signer& signer, const FrameHeader& header, std::string_view payload);

bool isValidLabel(std::string_view label);

}  // namespace erds::evidence::signer_protocol
