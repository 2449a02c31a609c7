#include "revocation.h"

#include <Poco/Exception.h>
#include <Poco/Net/Context.h>
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/HTTPSClientSession.h>
#include <Poco/Net/SSLManager.h>
#include <Poco/URI.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <mutex>

#include "openssl_util.h"

namespace erds::evidence::internal {

namespace {

using OcspRespPtr = std::unique_ptr<OCSP_RESPONSE, Deleter<OCSP_RESPONSE_free>>;
using OcspBasicPtr = std::unique_ptr<OCSP_BASICRESP, Deleter<OCSP_BASICRESP_free>>;
using OcspCertIdPtr = std::unique_ptr<OCSP_CERTID, Deleter<OCSP_CERTID_free>>;
using OcspReqPtr = std::unique_ptr<OCSP_REQUEST, Deleter<OCSP_REQUEST_free>>;

std::optional<TimePoint> timeOf(const ASN1_GENERALIZEDTIME* t) {
  if (t == nullptr) return std::nullopt;
  auto tp = fromGeneralizedTime(t);
  if (!tp) return std::nullopt;
  return *tp;
}

std::time_t toTimeT(TimePoint t) {
  return static_cast<std::time_t>(std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count());
}

// The SingleResponse of `basic` for cert/issuer, trying the hash algorithms responders use.
OCSP_SINGLERESP* findSingle(OCSP_BASICRESP* basic, X509* cert, X509* issuer) {
  for (const EVP_MD* md : {EVP_sha1(), EVP_sha256(), EVP_sha384(), EVP_sha512()}) {
    OcspCertIdPtr id(OCSP_cert_to_id(md, cert, issuer));
    if (!id) continue;
    const int idx = OCSP_resp_find(basic, id.get(), -1);
    if (idx >= 0) return OCSP_resp_get0(basic, idx);
  }
  return nullptr;
}

Poco::Timespan toTimespan(std::chrono::milliseconds ms) {
  return Poco::Timespan(static_cast<Poco::Timespan::TimeDiff>(ms.count()) * 1000);
}

Poco::Net::Context::Ptr tlsContext(const std::string& caFile) {
  static std::once_flag once;
  std::call_once(once, [] { Poco::Net::initializeSSL(); });
  return new Poco::Net::Context(Poco::Net::Context::TLS_CLIENT_USE, "", "", caFile, Poco::Net::Context::VERIFY_STRICT,
                                9, caFile.empty(), "HIGH:!aNULL:!eNULL:!MD5:!RC4");
}

// One HTTP exchange: GET when `body` is null, else POST with `contentType`. No redirects.
Result<std::string> exchange(const std::string& url, const std::string* body, const std::string& contentType,
                             const FetchLimits& limits) {
  std::string out;
  try {
    Poco::URI uri(url);
    const std::string scheme = uri.getScheme();
    if ((scheme != "http" && scheme != "https") || uri.getHost().empty())
      return Error::invalidInput("revocation URL must be http(s)://host/...: " + url);
    std::unique_ptr<Poco::Net::HTTPClientSession> session;
    if (scheme == "https")
      session = std::make_unique<Poco::Net::HTTPSClientSession>(uri.getHost(), uri.getPort(),
                                                                tlsContext(limits.tlsCaFile));
    else
      session = std::make_unique<Poco::Net::HTTPClientSession>(uri.getHost(), uri.getPort());
    session->setTimeout(toTimespan(limits.timeout), toTimespan(limits.timeout), toTimespan(limits.timeout));
    const std::string path = uri.getPathAndQuery().empty() ? "/" : uri.getPathAndQuery();
    Poco::Net::HTTPRequest req(body ? Poco::Net::HTTPRequest::HTTP_POST : Poco::Net::HTTPRequest::HTTP_GET, path,
                               Poco::Net::HTTPMessage::HTTP_1_1);
    if (body) {
      req.setContentType(contentType);
      req.setContentLength(static_cast<std::streamsize>(body->size()));
      session->sendRequest(req) << *body;
    } else {
      session->sendRequest(req);
    }
    Poco::Net::HTTPResponse resp;
    std::istream& in = session->receiveResponse(resp);
    const int status = static_cast<int>(resp.getStatus());
    if (status >= 300 && status < 400)
      return Error::unavailable(url + " answered a redirect (HTTP " + std::to_string(status) +
                                "): redirects are not followed");
    if (status != 200) return Error::unavailable(url + " answered HTTP " + std::to_string(status));
    if (resp.hasContentLength() && resp.getContentLength64() > static_cast<Poco::Int64>(limits.maxBytes))
      return Error::unavailable(url + ": response larger than " + std::to_string(limits.maxBytes) + " bytes");
    char buf[8192];
    while (in.read(buf, sizeof buf) || in.gcount() > 0) {
      out.append(buf, static_cast<std::size_t>(in.gcount()));
      if (out.size() > limits.maxBytes)
        return Error::unavailable(url + ": response larger than " + std::to_string(limits.maxBytes) + " bytes");
    }
  } catch (const Poco::Exception& e) {
    return Error::unavailable(url + ": " + e.displayText());
  } catch (const std::exception& e) {
    return Error::unavailable(url + ": " + e.what());
  }
  return out;
}

}  // namespace

std::string certName(X509* cert) {
  if (cert == nullptr) return "(none)";
  return subjectOneLine(cert);
}

std::vector<std::string> splitOcspResponses(std::string_view text) {
  std::vector<std::string> out;
  if (text.empty()) return out;
  if (text.find("-----BEGIN ") == std::string_view::npos) {
    out.emplace_back(text);
    return out;
  }
  BioPtr bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
  while (bio) {
    char* name = nullptr;
    char* header = nullptr;
    unsigned char* data = nullptr;
    long len = 0;
    if (PEM_read_bio(bio.get(), &name, &header, &data, &len) != 1) break;
    out.emplace_back(reinterpret_cast<char*>(data), static_cast<std::size_t>(len));
    OPENSSL_free(name);
    OPENSSL_free(header);
    OPENSSL_free(data);
  }
  clearErrors();
  return out;
}

Result<OcspStatus> checkOcspResponse(std::string_view der, X509* cert, X509* issuer, TimePoint at) {
  if (cert == nullptr || issuer == nullptr) return Error::invalidInput("OCSP check without certificate/issuer");
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  OcspRespPtr resp(d2i_OCSP_RESPONSE(nullptr, &p, static_cast<long>(der.size())));
  if (!resp) {
    clearErrors();
    return Error::invalidInput("not a DER OCSP response");
  }
  const int rs = OCSP_response_status(resp.get());
  if (rs != OCSP_RESPONSE_STATUS_SUCCESSFUL)
    return Error::invalidInput(std::string("OCSP responseStatus is ") + OCSP_response_status_str(rs));
  OcspBasicPtr basic(OCSP_response_get1_basic(resp.get()));
  if (!basic) {
    clearErrors();
    return Error::invalidInput("OCSP response is not a BasicOCSPResponse");
  }
  // The certID first (cheap): a response about another certificate costs no signature check.
  OCSP_SINGLERESP* single = findSingle(basic.get(), cert, issuer);
  clearErrors();
  if (single == nullptr)
    return Error::notFound("OCSP response has no status for \"" + certName(cert) + "\" (certID mismatch)");
  // The signer: found among the response's certificates or the issuer (by key id or name).
  X509StackPtr extra(sk_X509_new_null());
  if (!extra || X509_up_ref(issuer) != 1) return Error::internal("out of memory");
  sk_X509_push(extra.get(), issuer);
  X509* signer = nullptr;
  if (OCSP_resp_get0_signer(basic.get(), &signer, extra.get()) != 1 || signer == nullptr) {
    clearErrors();
    return Error::integrityFailure("OCSP response: its signer certificate is not included and is not the issuer");
  }
  // Signature only (OCSP_NOVERIFY): who may sign is decided below, by RFC 6960 rules.
  if (OCSP_basic_verify(basic.get(), extra.get(), nullptr, OCSP_NOVERIFY) != 1) {
    clearErrors();
    return Error::integrityFailure("OCSP response signature does not verify (signed by \"" + certName(signer) + "\")");
  }
  // Authorised responder (RFC 6960 4.2.2.2): the CA itself, or a delegate the CA issued for it.
  std::optional<TimePoint> responderNotBefore;
  std::optional<TimePoint> responderNotAfter;
  if (X509_cmp(signer, issuer) != 0) {
    EVP_PKEY* issuerKey = X509_get0_pubkey(issuer);
    const bool issued = X509_check_issued(issuer, signer) == X509_V_OK && issuerKey != nullptr &&
                        X509_verify(signer, issuerKey) == 1;
    const bool ocspSigning = (X509_get_extension_flags(signer) & EXFLAG_XKUSAGE) != 0 &&
                             (X509_get_extended_key_usage(signer) & XKU_OCSP_SIGN) != 0;
    clearErrors();
    if (!issued || !ocspSigning)
      return Error::integrityFailure("OCSP response signed by \"" + certName(signer) + "\", which is neither \"" +
                                     certName(issuer) +
                                     "\" nor an OCSP responder it authorised (issued by it with id-kp-OCSPSigning)");
    std::time_t t = toTimeT(at);
    responderNotBefore = timeOf(X509_get0_notBefore(signer));
    responderNotAfter = timeOf(X509_get0_notAfter(signer));
    if (X509_cmp_time(X509_get0_notBefore(signer), &t) > 0 || X509_cmp_time(X509_get0_notAfter(signer), &t) < 0) {
      clearErrors();
      return Error::integrityFailure("OCSP responder certificate \"" + certName(signer) + "\" is not valid at " +
                                     formatRfc3339(at, false));
    }
  }
  int reason = 0;
  ASN1_GENERALIZEDTIME* revtime = nullptr;
  ASN1_GENERALIZEDTIME* thisupd = nullptr;
  ASN1_GENERALIZEDTIME* nextupd = nullptr;
  const int st = OCSP_single_get0_status(single, &reason, &revtime, &thisupd, &nextupd);
  OcspStatus out;
  out.responder = certName(signer);
  out.responderNotBefore = responderNotBefore;
  out.responderNotAfter = responderNotAfter;
  auto tu = timeOf(thisupd);
  if (!tu) return Error::invalidInput("OCSP SingleResponse without a valid thisUpdate");
  out.thisUpdate = *tu;
  out.nextUpdate = timeOf(nextupd);
  if (out.nextUpdate && *out.nextUpdate < out.thisUpdate)
    return Error::invalidInput("OCSP SingleResponse nextUpdate precedes thisUpdate");
  switch (st) {
    case V_OCSP_CERTSTATUS_GOOD:
      out.status = OcspCertStatus::Good;
      break;
    case V_OCSP_CERTSTATUS_REVOKED:
      out.status = OcspCertStatus::Revoked;
      out.revocationTime = timeOf(revtime);
      break;
    default:
      out.status = OcspCertStatus::Unknown;
      break;
  }
  return out;
}

std::vector<std::string> ocspUrls(X509* cert) {
  std::vector<std::string> out;
  STACK_OF(OPENSSL_STRING)* list = X509_get1_ocsp(cert);
  for (int i = 0; list != nullptr && i < sk_OPENSSL_STRING_num(list); ++i)
    out.emplace_back(sk_OPENSSL_STRING_value(list, i));
  X509_email_free(list);
  return out;
}

std::vector<std::string> crlUrls(X509* cert) {
  std::vector<std::string> out;
  auto* dps = static_cast<STACK_OF(DIST_POINT)*>(X509_get_ext_d2i(cert, NID_crl_distribution_points, nullptr, nullptr));
  for (int i = 0; dps != nullptr && i < sk_DIST_POINT_num(dps); ++i) {
    DIST_POINT* dp = sk_DIST_POINT_value(dps, i);
    if (dp->distpoint == nullptr || dp->distpoint->type != 0) continue;
    GENERAL_NAMES* names = dp->distpoint->name.fullname;
    for (int j = 0; j < sk_GENERAL_NAME_num(names); ++j) {
      GENERAL_NAME* gn = sk_GENERAL_NAME_value(names, j);
      if (gn->type != GEN_URI) continue;
      const ASN1_IA5STRING* uri = gn->d.uniformResourceIdentifier;
      out.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(uri)),
                       static_cast<std::size_t>(ASN1_STRING_length(uri)));
    }
  }
  sk_DIST_POINT_pop_free(dps, DIST_POINT_free);
  clearErrors();
  return out;
}

Result<std::string> httpGet(const std::string& url, const FetchLimits& limits) {
  return exchange(url, nullptr, "", limits);
}

Result<std::string> fetchOcspResponse(const std::string& url, X509* cert, X509* issuer, const FetchLimits& limits) {
  OcspReqPtr req(OCSP_REQUEST_new());
  OCSP_CERTID* id = OCSP_cert_to_id(EVP_sha1(), cert, issuer);
  if (!req || id == nullptr || OCSP_request_add0_id(req.get(), id) == nullptr) {
    OCSP_CERTID_free(id);
    return opensslError(ErrorCode::Internal, "cannot build an OCSP request");
  }
  const std::string body = toDer(req.get(), i2d_OCSP_REQUEST);
  if (body.empty()) return opensslError(ErrorCode::Internal, "cannot encode the OCSP request");
  FetchLimits l = limits;
  l.maxBytes = std::min(limits.maxBytes, kMaxOcspResponseBytes);
  return exchange(url, &body, "application/ocsp-request", l);
}

}  // namespace erds::evidence::internal
