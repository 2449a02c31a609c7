#include "erds/evidence/signer_protocol.h"

#include <cstring>

namespace erds::evidence::signer_protocol {

namespace {

void putU16(std::string& out, std::uint32_t v) {
  out += static_cast<char>((v >> 8) & 0xFF);
  out += static_cast<char>(v & 0xFF);
}
void putU32(std::string& out, std::uint32_t v) {
  putU16(out, v >> 16);
  putU16(out, v & 0xFFFF);
}

// A bounds-checked reader over a payload.
class Reader {
 public:
  explicit Reader(std::string_view s) : s_(s) {}
  bool u8(std::uint8_t& v) {
    if (s_.size() < 1) return false;
    v = static_cast<std::uint8_t>(s_[0]);
    s_.remove_prefix(1);
    return true;
  }
  bool u16(std::uint32_t& v) {
    std::uint8_t a = 0, b = 0;
    if (!u8(a) || !u8(b)) return false;
    v = (static_cast<std::uint32_t>(a) << 8) | b;
    return true;
  }
  bool u32(std::uint32_t& v) {
    std::uint32_t hi = 0, lo = 0;
    if (!u16(hi) || !u16(lo)) return false;
    v = (hi << 16) | lo;
    return true;
  }
  bool bytes(std::size_t n, std::string& out) {
    if (s_.size() < n) return false;
    out.assign(s_.data(), n);
    s_.remove_prefix(n);
    return true;
  }
  bool done() const { return s_.empty(); }

 private:
  std::string_view s_;
};

std::string frame(FrameType type, const std::string& payload) {
  std::string out(kMagic, sizeof kMagic);
  out += static_cast<char>(kVersion);
  out += static_cast<char>(type);
  putU16(out, 0);
  putU32(out, static_cast<std::uint32_t>(payload.size()));
  return out + payload;
}

Error malformed(std::string_view what) {
  return Error::invalidInput("signer protocol: " + std::string(what));
}

Error fromErrorFrame(std::string_view payload) {
  Reader r(payload);
  std::uint8_t code = 0;
  std::uint32_t len = 0;
  std::string msg;
  if (!r.u8(code) || !r.u16(len) || !r.bytes(len, msg) || !r.done() ||
      code > static_cast<std::uint8_t>(ErrorCode::Internal))
    return malformed("bad error frame");
  return Error{static_cast<ErrorCode>(code), "erds-signer: " + msg};
}

}  // namespace

bool isValidLabel(std::string_view label) {
  if (label.empty() || label.size() > kMaxLabelBytes) return false;
  for (char c : label) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

Result<FrameHeader> decodeHeader(std::string_view h, std::size_t maxPayload) {
  if (h.size() != kHeaderBytes) return malformed("short header");
  if (std::memcmp(h.data(), kMagic, sizeof kMagic) != 0) return malformed("bad magic");
  if (static_cast<std::uint8_t>(h[4]) != kVersion) return malformed("unsupported version");
  const auto type = static_cast<std::uint8_t>(h[5]);
  if (type < 1 || type > 5) return malformed("unknown frame type");
  if (h[6] != 0 || h[7] != 0) return malformed("reserved bytes set");
  Reader r(h.substr(8));
  std::uint32_t len = 0;
  r.u32(len);
  if (len > maxPayload) return malformed("frame too large");
  return FrameHeader{static_cast<FrameType>(type), len};
}

std::string encodeSignRequest(std::string_view keyLabel, std::string_view digest) {
  std::string p;
  p += static_cast<char>(keyLabel.size() & 0xFF);
  p.append(keyLabel);
  p += static_cast<char>(kDigestSha256);
  p += static_cast<char>(digest.size() & 0xFF);
  p.append(digest);
  return frame(FrameType::SignRequest, p);
}

std::string encodeKeyInfoRequest(std::string_view keyLabel) {
  std::string p;
  p += static_cast<char>(keyLabel.size() & 0xFF);
  p.append(keyLabel);
  return frame(FrameType::KeyInfoRequest, p);
}

Result<Request> decodeRequest(const FrameHeader& header, std::string_view payload) {
  if (payload.size() != header.length || payload.size() > kMaxRequestPayload)
    return malformed("bad request length");
  Reader r(payload);
  Request req;
  req.type = header.type;
  std::uint8_t labelLen = 0;
  if (header.type != FrameType::SignRequest && header.type != FrameType::KeyInfoRequest)
    return malformed("not a request");
  if (!r.u8(labelLen) || !r.bytes(labelLen, req.keyLabel) || !isValidLabel(req.keyLabel))
    return malformed("bad key label");
  if (header.type == FrameType::SignRequest) {
    std::uint8_t alg = 0, len = 0;
    if (!r.u8(alg) || alg != kDigestSha256) return malformed("unsupported digest algorithm");
    if (!r.u8(len) || len != 32 || !r.bytes(len, req.digest))
      return malformed("digest must be 32 bytes");
  }
  if (!r.done()) return malformed("trailing bytes");
  return req;
}

std::string encodeSignResponse(std::string_view signature) {
  std::string p;
  putU16(p, static_cast<std::uint32_t>(signature.size()));
  p.append(signature);
  return frame(FrameType::SignResponse, p);
}

std::string encodeKeyInfoResponse(const SigningKeyInfo& info) {
  std::string p;
  p += static_cast<char>(info.algorithm == KeyAlgorithm::EcdsaP256 ? 1 : 2);
  putU16(p, static_cast<std::uint32_t>(info.bits));
  putU32(p, static_cast<std::uint32_t>(info.certificateDer.size()));
  p += info.certificateDer;
  putU32(p, static_cast<std::uint32_t>(info.chainDer.size()));
  p += info.chainDer;
  return frame(FrameType::KeyInfoResponse, p);
}

std::string encodeErrorResponse(const Error& error) {
  std::string p;
  p += static_cast<char>(static_cast<std::uint8_t>(error.code));
  const std::string msg = error.message.substr(0, 1024);
  putU16(p, static_cast<std::uint32_t>(msg.size()));
  p += msg;
  return frame(FrameType::ErrorResponse, p);
}

Result<std::string> decodeSignResponse(const FrameHeader& header, std::string_view payload) {
  if (header.type == FrameType::ErrorResponse) return fromErrorFrame(payload);
  if (header.type != FrameType::SignResponse) return malformed("unexpected frame type");
  Reader r(payload);
  std::uint32_t len = 0;
  std::string sig;
  if (!r.u16(len) || len == 0 || !r.bytes(len, sig) || !r.done())
    return malformed("bad sign response");
  return sig;
}

Result<SigningKeyInfo> decodeKeyInfoResponse(const FrameHeader& header, std::string_view payload) {
  if (header.type == FrameType::ErrorResponse) return fromErrorFrame(payload);
  if (header.type != FrameType::KeyInfoResponse) return malformed("unexpected frame type");
  Reader r(payload);
  std::uint8_t alg = 0;
  std::uint32_t bits = 0, certLen = 0, chainLen = 0;
  SigningKeyInfo info;
  if (!r.u8(alg) || (alg != 1 && alg != 2) || !r.u16(bits) || !r.u32(certLen) ||
      !r.bytes(certLen, info.certificateDer) || !r.u32(chainLen) ||
      !r.bytes(chainLen, info.chainDer) || !r.done())
    return malformed("bad key info response");
  info.algorithm = alg == 1 ? KeyAlgorithm::EcdsaP256 : KeyAlgorithm::Rsa;
  info.bits = static_cast<int>(bits);
  return info;
}

std::string handleRequest(Signer& signer, const FrameHeader& header, std::string_view payload) {
  auto req = decodeRequest(header, payload);
  if (!req) return encodeErrorResponse(req.error());
  if (req->type == FrameType::SignRequest) {
    auto sig = signer.signDigest(req->keyLabel, req->digest);
    return sig ? encodeSignResponse(*sig) : encodeErrorResponse(sig.error());
  }
  auto info = signer.keyInfo(req->keyLabel);
  return info ? encodeKeyInfoResponse(*info) : encodeErrorResponse(info.error());
}

}  // namespace erds::evidence::signer_protocol
