// Verification of sealed evidence. The XMLDSig core always runs through xmlsec (never our own
// canonicaliser); everything around it (structure, anti-wrapping, XAdES properties, chain, token)
// is checked here. The first failure decides: INVALID stops at once; INDETERMINATE (no chain to a
// trust anchor, revocation unknown) is remembered and reported if nothing later is INVALID.
#include "erds/evidence/evidence_verifier.h"

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/valid.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <xmlsec/crypto.h>
#include <xmlsec/keys.h>
#include <xmlsec/openssl/evp.h>
#include <xmlsec/transforms.h>
#include <xmlsec/xmldsig.h>
#include <xmlsec/xmlsec.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>

#include "erds/evidence/evidence_sealer.h"
#include "erds/evidence/evidence_xml.h"
#include "erds/evidence/timestamp_verify.h"
#include "chain_cache.h"
#include "revocation.h"
#include "evidence_xml_reader.h"
#include "xades_util.h"
#include "xades_xml.h"
#include "xml_text.h"

namespace erds::evidence {

std::string_view verifyStatusName(VerifyStatus s) {
  switch (s) {
    case VerifyStatus::Valid: return "valid";
    case VerifyStatus::Invalid: return "invalid";
    case VerifyStatus::Indeterminate: return "indeterminate";
  }
  return "indeterminate";
}

namespace {

using internal::attribute;
using internal::childElements;
using internal::hasAttribute;
using internal::isElement;

constexpr std::string_view kDs = kDsNamespace;
constexpr std::string_view kXades = kXadesNamespace;
constexpr std::string_view kXpathFilter2Uri = "http://www.w3.org/2002/06/xmldsig-filter2";
constexpr std::string_view kInclC14nUri = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315";

struct DocFree {
  void operator()(xmlDoc* d) const { xmlFreeDoc(d); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct StoreFree {
  void operator()(X509_STORE* s) const { X509_STORE_free(s); }
};
struct StoreCtxFree {
  void operator()(X509_STORE_CTX* c) const { X509_STORE_CTX_free(c); }
};
struct CertStackFree {
  void operator()(STACK_OF(X509) * s) const { sk_X509_pop_free(s, X509_free); }
};
struct CrlStackFree {
  void operator()(STACK_OF(X509_CRL) * s) const { sk_X509_CRL_pop_free(s, X509_CRL_free); }
};
struct DsigCtxFree {
  void operator()(xmlSecDSigCtx* c) const { xmlSecDSigCtxDestroy(c); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;

X509Ptr parseDer(std::string_view der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  return X509Ptr(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
}

std::vector<X509Ptr> parsePemCerts(std::string_view pem) {
  std::vector<X509Ptr> out;
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), BIO_free);
  while (bio) {
    X509* x = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr);
    if (x == nullptr) break;
    out.emplace_back(x);
  }
  ERR_clear_error();
  return out;
}

std::string readFileText(const std::string& path, bool& ok) {
  std::ifstream in(path, std::ios::binary);
  ok = static_cast<bool>(in);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string identifierText(const UserDetails& u) {
  if (!u.identifier) return {};
  return u.identifier->scheme + ":" + u.identifier->value;
}

// Collects the outcome: the first INVALID ends verification; the first INDETERMINATE is kept.
struct Outcome {
  VerificationReport report;
  std::optional<std::string> indeterminate;
  VerificationReport invalid(std::string why) {
    report.status = VerifyStatus::Invalid;
    report.reason = std::move(why);
    return std::move(report);
  }
  void markIndeterminate(std::string why) {
    if (!indeterminate) indeterminate = std::move(why);
  }
  VerificationReport finish() {
    if (indeterminate) {
      report.status = VerifyStatus::Indeterminate;
      report.reason = *indeterminate;
    } else {
      report.status = VerifyStatus::Valid;
      report.reason.clear();
    }
    return std::move(report);
  }
};

// Walks every element: counts ds:Signature, records them, and refuses duplicate Id values.
void scanDocument(xmlNode* n, std::vector<xmlNode*>& signatures, std::set<std::string>& ids,
                  std::string& duplicateId) {
  for (; n != nullptr; n = n->next) {
    if (n->type != XML_ELEMENT_NODE) continue;
    if (isElement(n, kDs, "Signature")) signatures.push_back(n);
    for (xmlAttr* a = n->properties; a != nullptr; a = a->next) {
      if (a->ns == nullptr && xmlStrEqual(a->name, BAD_CAST "Id")) {
        xmlChar* v = xmlNodeListGetString(n->doc, a->children, 1);
        std::string value = v ? reinterpret_cast<char*>(v) : "";
        xmlFree(v);
        if (!ids.insert(value).second && duplicateId.empty()) duplicateId = value;
      }
    }
    scanDocument(n->children, signatures, ids, duplicateId);
  }
}

// The in-scope namespace URI of `prefix` at `node`.
std::string namespaceOf(xmlDoc* doc, xmlNode* node, std::string_view prefix) {
  const std::string p(prefix);
  xmlNs* ns = xmlSearchNs(doc, node, p.empty() ? nullptr : BAD_CAST p.c_str());
  return ns && ns->href ? reinterpret_cast<const char*>(ns->href) : "";
}

bool isC14nUri(std::string_view uri) {
  return uri == kExcC14nUri || uri == kInclC14nUri || uri == "http://www.w3.org/2006/12/xml-c14n11";
}

// Reference 1 must cover the whole document minus exactly the signature: enveloped-signature, or
// the XPath Filter 2.0 "subtract /descendant::ds:Signature" of the samples, then a C14N.
std::optional<std::string> checkWholeDocumentTransforms(xmlDoc* doc, xmlNode* reference) {
  xmlNode* transforms = nullptr;
  for (xmlNode* c : childElements(reference))
    if (isElement(c, kDs, "Transforms")) transforms = c;
  if (transforms == nullptr) return "the whole-document reference has no transforms (it would cover the signature)";
  const auto list = childElements(transforms);
  if (list.empty() || list.size() > 2) return "the whole-document reference must have 1 or 2 transforms";
  for (xmlNode* t : list)
    if (!isElement(t, kDs, "Transform")) return "unexpected element in ds:Transforms";
  const std::string first = attribute(list[0], "Algorithm");
  if (first == kEnvelopedSignatureUri) {
    // ok
  } else if (first == kXpathFilter2Uri) {
    const auto xpaths = childElements(list[0]);
    if (xpaths.size() != 1 || !isElement(xpaths[0], kXpathFilter2Uri, "XPath"))
      return "the XPath Filter 2.0 transform must hold exactly one XPath";
    if (attribute(xpaths[0], "Filter") != "subtract")
      return "the XPath Filter 2.0 transform must subtract the signature";
    const std::string expr(internal::trimXmlSpace(internal::textOf(xpaths[0])));
    const std::string prefix = "/descendant::";
    const auto colon = expr.find(':', prefix.size());
    if (!expr.starts_with(prefix) || colon == std::string::npos ||
        expr.substr(colon + 1) != "Signature" ||
        namespaceOf(doc, xpaths[0], expr.substr(prefix.size(), colon - prefix.size())) != kDs)
      return "the XPath Filter 2.0 transform must subtract exactly /descendant::ds:Signature";
  } else {
    return "the whole-document reference does not exclude the signature (transform " + first + ")";
  }
  if (list.size() == 2 && !isC14nUri(attribute(list[1], "Algorithm")))
    return "the whole-document reference's second transform must be a canonicalisation";
  return std::nullopt;
}

xmlNode* onlyChild(xmlNode* parent, std::string_view ns, std::string_view name, int& count) {
  xmlNode* found = nullptr;
  count = 0;
  for (xmlNode* c : childElements(parent))
    if (isElement(c, ns, name)) {
      ++count;
      if (found == nullptr) found = c;
    }
  return found;
}

std::string x509ErrorText(int err) { return X509_verify_cert_error_string(err); }

bool isNoChainError(int err) {
  return err == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY || err == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT ||
         err == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN || err == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT;
}

// X509_verify_cert of `leaf` against `store` at `at`; returns the X509 error (X509_V_OK when fine).
int chainError(X509_STORE* store, X509* leaf, STACK_OF(X509) * untrusted, TimePoint at, STACK_OF(X509_CRL) * crls) {
  std::unique_ptr<X509_STORE_CTX, StoreCtxFree> sctx(X509_STORE_CTX_new());
  if (!sctx || X509_STORE_CTX_init(sctx.get(), store, leaf, untrusted) != 1) return X509_V_ERR_UNSPECIFIED;
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(sctx.get());
  X509_VERIFY_PARAM_set_time(
      param, static_cast<std::time_t>(std::chrono::duration_cast<std::chrono::seconds>(at.time_since_epoch()).count()));
  if (crls != nullptr && sk_X509_CRL_num(crls) > 0) {
    X509_STORE_CTX_set0_crls(sctx.get(), crls);
    X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);
  }
  const int ok = X509_verify_cert(sctx.get());
  const int err = ok == 1 ? X509_V_OK : X509_STORE_CTX_get_error(sctx.get());
  ERR_clear_error();
  return ok == 1 ? X509_V_OK : (err == X509_V_OK ? X509_V_ERR_UNSPECIFIED : err);
}


// Where a piece of revocation data came from (for the report).
enum class RevSource { EmbeddedCrl, FileCrl, FetchedCrl, EmbeddedOcsp, FileOcsp, FetchedOcsp };

std::string_view revSourceName(RevSource s) {
  switch (s) {
    case RevSource::EmbeddedCrl: return "embedded CRL";
    case RevSource::FileCrl: return "CRL file";
    case RevSource::FetchedCrl: return "fetched CRL";
    case RevSource::EmbeddedOcsp: return "embedded OCSP";
    case RevSource::FileOcsp: return "OCSP file";
    case RevSource::FetchedOcsp: return "fetched OCSP";
  }
  return "";
}

// Validated OCSP results by (response, certificate, issuer): the sealer embeds the same response
// in every evidence until it refreshes it, and validating costs a parse and a signature check.
// Only successes and "no status for this certificate" are kept; the delegated responder's
// validity (the one time-dependent part) is re-checked on every hit. Bounded, thread-safe.
class OcspCache {
 public:
  Result<internal::OcspStatus> check(const std::string& der, X509* cert, X509* issuer, TimePoint at) {
    std::string key = internal::sha256Digest(der);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    for (X509* x : {cert, issuer}) {
      // SHA-1 of a certificate is cached inside X509 by OpenSSL: no re-encoding.
      if (X509_digest(x, EVP_sha1(), md, &len) != 1) return internal::checkOcspResponse(der, cert, issuer, at);
      key.append(reinterpret_cast<const char*>(md), len);
    }
    {
      std::lock_guard lock(mu_);
      if (auto it = entries_.find(key); it != entries_.end()) {
        if (!it->second) return Error::notFound("OCSP response has no status for \"" + internal::certName(cert) + "\"");
        const auto& st = *it->second;
        if ((!st.responderNotBefore || *st.responderNotBefore <= at) && (!st.responderNotAfter || at <= *st.responderNotAfter))
          return st;
      }
    }
    auto r = internal::checkOcspResponse(der, cert, issuer, at);
    if (r || r.error().is(ErrorCode::NotFound)) {
      std::lock_guard lock(mu_);
      if (entries_.size() >= 256) entries_.clear();
      entries_[key] = r ? std::optional<internal::OcspStatus>(*r) : std::nullopt;
    }
    return r;
  }

 private:
  std::mutex mu_;
  std::map<std::string, std::optional<internal::OcspStatus>> entries_;
};

struct CrlInput {
  std::unique_ptr<X509_CRL, decltype(&X509_CRL_free)> crl{nullptr, X509_CRL_free};
  RevSource source = RevSource::EmbeddedCrl;
};
struct OcspInput {
  std::string der;
  RevSource source = RevSource::EmbeddedOcsp;
};
struct RevocationInputs {
  std::vector<CrlInput> crls;
  std::vector<OcspInput> ocsps;
  std::set<std::string> fetchedUrls;  // each URL at most once per verification
  OcspCache* cache = nullptr;         // the verifier's, shared across calls
  bool empty() const { return crls.empty() && ocsps.empty(); }
};

// The outcome of the revocation check of one chain (seal or TSA) at time T.
struct ChainRevocation {
  int err = X509_V_OK;     // X509 error of the chain/CRL check after OCSP coverage
  bool checked = false;    // every certificate but the trust anchor has a usable status
  std::string revoked;     // non-empty: the certificate and the source that revoke it
  std::vector<std::string> sources;
  std::vector<std::string> warnings;
};

// Per X509_verify_cert call: the certificates OCSP already vouches for, so that a missing CRL for
// them is not an error; the trust anchor is exempt (RFC 5280 6.1, EN 319 102-1).
struct CoveredCerts {
  std::vector<X509*> certs;
};

int coveredIndex() {
  static const int idx = X509_STORE_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return idx;
}

int verifyCallback(int ok, X509_STORE_CTX* ctx) {
  if (ok == 1) return 1;
  const int err = X509_STORE_CTX_get_error(ctx);
  if (err != X509_V_ERR_UNABLE_TO_GET_CRL && err != X509_V_ERR_CRL_NOT_YET_VALID && err != X509_V_ERR_CRL_HAS_EXPIRED &&
      err != X509_V_ERR_UNABLE_TO_GET_CRL_ISSUER)
    return ok;
  auto* covered = static_cast<CoveredCerts*>(X509_STORE_CTX_get_ex_data(ctx, coveredIndex()));
  X509* cur = X509_STORE_CTX_get_current_cert(ctx);
  if (covered == nullptr || cur == nullptr) return ok;
  for (X509* c : covered->certs)
    if (X509_cmp(c, cur) == 0) return 1;
  return ok;
}

std::time_t timeT(TimePoint t) {
  return static_cast<std::time_t>(std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count());
}

// X509_verify_cert of `leaf` at `at`: the X509 error, and the chain on success (or partial chain).
int verifyChain(X509_STORE* store, X509* leaf, STACK_OF(X509) * untrusted, TimePoint at, STACK_OF(X509_CRL) * crls,
                CoveredCerts* covered, std::unique_ptr<STACK_OF(X509), CertStackFree>* chainOut) {
  std::unique_ptr<X509_STORE_CTX, StoreCtxFree> sctx(X509_STORE_CTX_new());
  if (!sctx || X509_STORE_CTX_init(sctx.get(), store, leaf, untrusted) != 1) return X509_V_ERR_UNSPECIFIED;
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(sctx.get());
  X509_VERIFY_PARAM_set_time(param, timeT(at));
  if (crls != nullptr) {
    X509_STORE_CTX_set0_crls(sctx.get(), crls);
    X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);
    if (covered != nullptr) {
      X509_STORE_CTX_set_ex_data(sctx.get(), coveredIndex(), covered);
      X509_STORE_CTX_set_verify_cb(sctx.get(), verifyCallback);
    }
  }
  const int ok = X509_verify_cert(sctx.get());
  const int err = ok == 1 ? X509_V_OK : X509_STORE_CTX_get_error(sctx.get());
  if (ok == 1 && chainOut != nullptr) chainOut->reset(X509_STORE_CTX_get1_chain(sctx.get()));
  ERR_clear_error();
  return ok == 1 ? X509_V_OK : (err == X509_V_OK ? X509_V_ERR_UNSPECIFIED : err);
}

std::optional<TimePoint> asn1Time(const ASN1_TIME* t) {
  std::tm tm{};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) return std::nullopt;
  return std::chrono::time_point_cast<TimePoint::duration>(std::chrono::system_clock::from_time_t(timegm(&tm)));
}

// The first CRL of `in` issued (by name) by `issuer` and current at `at`.
const CrlInput* crlFor(const RevocationInputs& in, X509* issuer, TimePoint at) {
  for (const auto& c : in.crls) {
    if (X509_NAME_cmp(X509_CRL_get_issuer(c.crl.get()), X509_get_subject_name(issuer)) != 0) continue;
    const auto thisUpdate = asn1Time(X509_CRL_get0_lastUpdate(c.crl.get()));
    const auto nextUpdate = asn1Time(X509_CRL_get0_nextUpdate(c.crl.get()));
    if (thisUpdate && *thisUpdate <= at && (!nextUpdate || at <= *nextUpdate)) return &c;
  }
  return nullptr;
}

// What the OCSP responses of `in` say about `cert` at `at`.
struct OcspFinding {
  const OcspInput* good = nullptr;
  const OcspInput* revokedBy = nullptr;
  std::optional<TimePoint> revocationTime;
};

OcspFinding ocspFor(const RevocationInputs& in, X509* cert, X509* issuer, TimePoint at,
                    std::vector<std::string>& warnings) {
  OcspFinding f;
  for (const auto& o : in.ocsps) {
    auto st = in.cache ? in.cache->check(o.der, cert, issuer, at) : internal::checkOcspResponse(o.der, cert, issuer, at);
    if (!st) {
      if (!st.error().is(ErrorCode::NotFound)) {
        std::string w = std::string(revSourceName(o.source)) + " response not used: " + st.error().message;
        if (std::find(warnings.begin(), warnings.end(), w) == warnings.end()) warnings.push_back(std::move(w));
      }
      continue;
    }
    // Speaks for T: issued at or after T, or T inside its validity window.
    if (!(st->thisUpdate >= at || at < st->validUntil())) {
      warnings.push_back(std::string(revSourceName(o.source)) + " response for \"" + internal::certName(cert) +
                         "\" does not speak for the time-stamp time (thisUpdate " +
                         formatRfc3339(st->thisUpdate, false) + ", nextUpdate " +
                         formatRfc3339(st->validUntil(), false) + ")");
      continue;
    }
    if (st->status == internal::OcspCertStatus::Revoked) {
      if (!st->revocationTime || *st->revocationTime <= at) {
        f.revokedBy = &o;
        f.revocationTime = st->revocationTime;
        return f;
      }
      // Revoked only after T: the certificate was good at the time-stamp time.
      warnings.push_back("\"" + internal::certName(cert) + "\" was revoked at " +
                         formatRfc3339(*st->revocationTime, false) + ", after the time-stamp time");
      if (f.good == nullptr) f.good = &o;
      continue;
    }
    if (st->status == internal::OcspCertStatus::Good && f.good == nullptr) f.good = &o;
  }
  return f;
}

// Fetches (once per URL) OCSP responses and CRLs for the certificates of `chain` that have no
// usable data in `in`. Only called when the caller asked for online checking.
void fetchMissing(STACK_OF(X509) * chain, TimePoint at, RevocationInputs& in, const VerifyOptions& options,
                  std::vector<std::string>& warnings) {
  const int n = sk_X509_num(chain);
  for (int i = 0; i + 1 < n; ++i) {
    X509* cert = sk_X509_value(chain, i);
    X509* issuer = sk_X509_value(chain, i + 1);
    std::vector<std::string> ignored;
    auto have = ocspFor(in, cert, issuer, at, ignored);
    if (have.good || have.revokedBy || crlFor(in, issuer, at)) continue;
    internal::FetchLimits limits;
    limits.timeout = options.fetchTimeout;
    limits.tlsCaFile = options.tlsCaFile;
    limits.maxBytes = options.maxOcspBytes;
    for (const auto& url : internal::ocspUrls(cert)) {
      if (!in.fetchedUrls.insert("ocsp " + url + " " + internal::certName(cert)).second) continue;
      auto der = internal::fetchOcspResponse(url, cert, issuer, limits);
      if (!der) {
        warnings.push_back("online: OCSP " + der.error().message);
        continue;
      }
      in.ocsps.push_back(OcspInput{std::move(*der), RevSource::FetchedOcsp});
      auto now = ocspFor(in, cert, issuer, at, ignored);
      if (now.good || now.revokedBy) break;
    }
    auto after = ocspFor(in, cert, issuer, at, ignored);
    if (after.good || after.revokedBy) continue;
    limits.maxBytes = options.maxCrlBytes;
    for (const auto& url : internal::crlUrls(cert)) {
      if (!in.fetchedUrls.insert("crl " + url).second) continue;
      auto body = internal::httpGet(url, limits);
      if (!body) {
        warnings.push_back("online: CRL " + body.error().message);
        continue;
      }
      X509_CRL* crl = nullptr;
      if (body->find("-----BEGIN X509 CRL-----") != std::string::npos) {
        std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(body->data(), static_cast<int>(body->size())),
                                                      BIO_free);
        crl = bio ? PEM_read_bio_X509_CRL(bio.get(), nullptr, nullptr, nullptr) : nullptr;
      } else {
        const auto* p = reinterpret_cast<const unsigned char*>(body->data());
        crl = d2i_X509_CRL(nullptr, &p, static_cast<long>(body->size()));
      }
      ERR_clear_error();
      if (crl == nullptr) {
        warnings.push_back("online: " + url + " did not return a CRL");
        continue;
      }
      CrlInput c;
      c.crl.reset(crl);
      c.source = RevSource::FetchedCrl;
      in.crls.push_back(std::move(c));
      if (crlFor(in, issuer, at)) break;
    }
  }
}

// The revocation check of the chain of `leaf` (`what`: "seal certificate", "TSA certificate").
ChainRevocation checkChainRevocation(X509_STORE* store, X509* leaf, STACK_OF(X509) * untrusted, TimePoint at,
                                     RevocationInputs& in, const VerifyOptions& options, std::string_view what) {
  ChainRevocation out;
  std::unique_ptr<STACK_OF(X509), CertStackFree> chain;
  auto crlStack = [&in] {
    std::unique_ptr<STACK_OF(X509_CRL), CrlStackFree> crls(sk_X509_CRL_new_null());
    for (const auto& c : in.crls)
      if (X509_CRL_up_ref(c.crl.get()) == 1) sk_X509_CRL_push(crls.get(), c.crl.get());
    return crls;
  };
  // CRLs only (the common case): one OpenSSL pass, as before OCSP support; the general path
  // below only when that pass cannot decide (a certificate without a CRL, e.g. the anchor).
  if (in.ocsps.empty() && !options.online && !in.crls.empty()) {
    auto crls = crlStack();
    out.err = verifyChain(store, leaf, untrusted, at, crls.get(), nullptr, &chain);
    if (out.err == X509_V_OK && chain) {
      out.checked = true;
      const int n = sk_X509_num(chain.get());
      for (int i = 0; i + 1 < n; ++i) {
        X509* cert = sk_X509_value(chain.get(), i);
        if (const CrlInput* c = crlFor(in, sk_X509_value(chain.get(), i + 1), at))
          out.sources.push_back((i == 0 ? std::string(what) : std::string(what) + " chain") + " \"" +
                                internal::certName(cert) + "\": " + std::string(revSourceName(c->source)));
      }
      return out;
    }
    if (out.err != X509_V_ERR_UNABLE_TO_GET_CRL && out.err != X509_V_ERR_CRL_NOT_YET_VALID &&
        out.err != X509_V_ERR_CRL_HAS_EXPIRED && out.err != X509_V_ERR_UNABLE_TO_GET_CRL_ISSUER)
      return out;
  }
  out.err = verifyChain(store, leaf, untrusted, at, nullptr, nullptr, &chain);
  if (out.err != X509_V_OK || !chain) return out;
  if (options.online) fetchMissing(chain.get(), at, in, options, out.warnings);
  if (in.empty()) return out;
  const int n = sk_X509_num(chain.get());
  CoveredCerts covered;
  std::vector<std::string> sources;
  bool allOcsp = true;
  // The error callback is installed only when a covered certificate has no CRL of its own: a
  // custom callback turns off the chain verification cache (chain_cache.h).
  bool needCallback = false;
  for (int i = 0; i < n; ++i) {
    X509* cert = sk_X509_value(chain.get(), i);
    X509* issuer = sk_X509_value(chain.get(), i + 1 < n ? i + 1 : i);
    const std::string label = i == 0 ? std::string(what) : std::string(what) + " chain";
    auto f = ocspFor(in, cert, issuer, at, out.warnings);
    if (f.revokedBy) {
      out.revoked = "\"" + internal::certName(cert) + "\" (" + label + ") is revoked" +
                    (f.revocationTime ? " since " + formatRfc3339(*f.revocationTime, false) : std::string()) + " (" +
                    std::string(revSourceName(f.revokedBy->source)) + ")";
      return out;
    }
    if (f.good) {
      covered.certs.push_back(cert);
      sources.push_back(label + " \"" + internal::certName(cert) + "\": " + std::string(revSourceName(f.good->source)));
      needCallback = needCallback || crlFor(in, issuer, at) == nullptr;
    } else if (i + 1 == n) {
      covered.certs.push_back(cert);  // the trust anchor: exempt unless a CRL speaks for it
      needCallback = needCallback || crlFor(in, issuer, at) == nullptr;
    } else {
      allOcsp = false;
      if (const CrlInput* c = crlFor(in, issuer, at))
        sources.push_back(label + " \"" + internal::certName(cert) + "\": " + std::string(revSourceName(c->source)));
    }
  }
  if (in.crls.empty()) {
    out.checked = allOcsp;
    if (out.checked) out.sources = std::move(sources);
    return out;
  }
  auto crls = crlStack();
  out.err = verifyChain(store, leaf, untrusted, at, crls.get(), needCallback ? &covered : nullptr, nullptr);
  if (out.err == X509_V_OK) {
    out.checked = true;
    out.sources = std::move(sources);
  }
  return out;
}
}  // namespace

// A parsed certificate and what the verifier derives from it. OpenSSL 3 decodes the public key
// through its provider machinery on every d2i_X509 (about as costly as an ECDSA verification), and
// the same seal and TSA certificates come back in every evidence, so they are parsed once.
namespace {
struct ParsedCert {
  X509Ptr x509;
  std::string subject;
  std::optional<std::string> issuerSerialV2;
};

constexpr std::size_t kMaxCachedCerts = 256;
constexpr std::size_t kMaxCachedCertBytes = 16 * 1024;
}  // namespace

struct EvidenceVerifier::State {
  std::mutex certMutex;
  std::map<std::string, std::shared_ptr<const ParsedCert>, std::less<>> certs;
  // The cached parse of `der` (null when it is not a certificate).
  std::shared_ptr<const ParsedCert> cert(const std::string& der) {
    {
      std::lock_guard lock(certMutex);
      if (auto it = certs.find(der); it != certs.end()) return it->second;
    }
    auto parsed = std::make_shared<ParsedCert>();
    parsed->x509 = parseDer(der);
    if (!parsed->x509) {
      ERR_clear_error();
      return nullptr;
    }
    parsed->subject = internal::certificateSubject(der);
    if (auto is = internal::issuerSerialV2Der(der)) parsed->issuerSerialV2 = std::move(*is);
    if (der.size() > kMaxCachedCertBytes) return parsed;  // hostile input: bounded memory
    std::lock_guard lock(certMutex);
    if (certs.size() >= kMaxCachedCerts) certs.clear();
    return certs.emplace(der, std::move(parsed)).first->second;
  }
  std::unique_ptr<X509_STORE, StoreFree> sealStore;
  std::unique_ptr<X509_STORE, StoreFree> tsaStore;  // to tell "untrusted TSA" from a bad token
  std::shared_ptr<const TimestampVerifier> tsaVerifier;
  OcspCache ocspCache;
};

EvidenceVerifier::EvidenceVerifier(std::unique_ptr<State> state) : state_(std::move(state)) {}
EvidenceVerifier::~EvidenceVerifier() = default;

Result<std::shared_ptr<const EvidenceVerifier>> EvidenceVerifier::create(const VerifierTrust& trust) {
  ERDS_RETURN_IF_ERROR(internal::ensureXmlsecInitialised());
  auto state = std::make_unique<State>();
  state->sealStore.reset(X509_STORE_new());
  if (!state->sealStore) return Error::internal("X509_STORE_new failed");
  internal::installChainVerifyCache(state->sealStore.get());
  int anchors = 0;
  for (const auto& pem : trust.sealAnchorsPem)
    for (auto& c : parsePemCerts(pem)) {
      if (X509_STORE_add_cert(state->sealStore.get(), c.get()) != 1) ERR_clear_error();
      ++anchors;
    }
  if (anchors == 0) return Error::invalidInput("evidence verifier: no seal trust anchor certificate parsed");
  std::string tsaPem;
  state->tsaStore.reset(X509_STORE_new());
  if (!state->tsaStore) return Error::internal("X509_STORE_new failed");
  internal::installChainVerifyCache(state->tsaStore.get());  // the TSA chain's revocation check
  for (const auto& pem : trust.tsaAnchorsPem.empty() ? trust.sealAnchorsPem : trust.tsaAnchorsPem) {
    tsaPem += pem + "\n";
    for (auto& c : parsePemCerts(pem))
      if (X509_STORE_add_cert(state->tsaStore.get(), c.get()) != 1) ERR_clear_error();
  }
  auto tsa = TimestampVerifier::fromPem(tsaPem);
  if (!tsa) return Error::invalidInput("evidence verifier: TSA trust anchors: " + tsa.error().message);
  state->tsaVerifier = std::move(*tsa);
  return std::shared_ptr<const EvidenceVerifier>(new EvidenceVerifier(std::move(state)));
}

Result<std::shared_ptr<const EvidenceVerifier>> EvidenceVerifier::fromPemFiles(const std::vector<std::string>& sealAnchors,
                                                                              const std::vector<std::string>& tsaAnchors) {
  VerifierTrust trust;
  for (const auto* list : {&sealAnchors, &tsaAnchors})
    for (const auto& path : *list) {
      bool ok = false;
      std::string text = readFileText(path, ok);
      if (!ok) return Error::notFound("cannot read trust anchor file " + path);
      if (parsePemCerts(text).empty()) return Error::invalidInput("no PEM certificate in " + path);
      (list == &sealAnchors ? trust.sealAnchorsPem : trust.tsaAnchorsPem).push_back(std::move(text));
    }
  return create(trust);
}

Result<VerificationReport> EvidenceVerifier::verify(std::string_view xml, const VerifyOptions& options) const {
  ERDS_RETURN_IF_ERROR(internal::ensureXmlsecInitialised());
  Outcome o;
  VerificationReport& r = o.report;

  // 1. Hardened parse into the model (refuses DOCTYPE/entities, size limit, schema order).
  internal::XmlDocPtr parsed;
  auto model = internal::readEvidenceXmlKeepingDoc(xml, ReadLimits{options.maxBytes}, &parsed);
  if (!model) return o.invalid("not a well-formed EN 319 522-3 evidence: " + model.error().message);
  r.event = std::string(eventName(model->event));
  if (!model->reasons.empty()) r.reasonCode = model->reasons.front().code;
  r.eventTime = model->eventTime;
  r.sender = identifierText(model->sender);
  for (const auto& rc : model->recipients) r.recipients.push_back(identifierText(rc));
  r.evidence = *model;

  // 2. xmlsec works on the reader's own hardened parse (no second parse of the same bytes).
  std::unique_ptr<xmlDoc, DocFree> doc(parsed.release());
  if (!doc || doc->intSubset != nullptr || doc->extSubset != nullptr)
    return o.invalid("document could not be parsed for signature verification");
  xmlNode* root = xmlDocGetRootElement(doc.get());
  if (!isElement(root, kErdsNamespace, "Evidence")) return o.invalid("root element is not tns:Evidence");

  // 3. Structure and anti-wrapping: one ds:Signature, child of the root, unique Ids.
  std::vector<xmlNode*> signatures;
  std::set<std::string> ids;
  std::string duplicateId;
  scanDocument(root, signatures, ids, duplicateId);
  if (signatures.empty()) return o.invalid("no ds:Signature: the evidence is not sealed");
  if (signatures.size() != 1)
    return o.invalid("expected exactly one ds:Signature, found " + std::to_string(signatures.size()));
  xmlNode* sig = signatures.front();
  if (sig->parent != root) return o.invalid("the ds:Signature is not a child of the Evidence root");
  if (!duplicateId.empty()) return o.invalid("duplicate Id attribute value \"" + duplicateId + "\"");

  const auto sigChildren = childElements(sig);
  if (sigChildren.size() < 2 || !isElement(sigChildren[0], kDs, "SignedInfo") ||
      !isElement(sigChildren[1], kDs, "SignatureValue"))
    return o.invalid("ds:Signature must start with ds:SignedInfo and ds:SignatureValue");
  xmlNode* signedInfo = sigChildren[0];
  xmlNode* signatureValue = sigChildren[1];
  xmlNode* keyInfo = nullptr;
  xmlNode* qualifying = nullptr;
  int qualifyingCount = 0;
  for (std::size_t i = 2; i < sigChildren.size(); ++i) {
    xmlNode* c = sigChildren[i];
    if (isElement(c, kDs, "KeyInfo")) {
      if (keyInfo != nullptr || i != 2) return o.invalid("misplaced or repeated ds:KeyInfo");
      keyInfo = c;
    } else if (isElement(c, kDs, "Object")) {
      for (xmlNode* q : childElements(c))
        if (isElement(q, kXades, "QualifyingProperties")) {
          ++qualifyingCount;
          qualifying = q;
        }
    } else {
      return o.invalid("unexpected element in ds:Signature");
    }
  }
  if (qualifyingCount != 1) return o.invalid("expected exactly one xades:QualifyingProperties (XAdES 1.3.2)");
  const std::string sigId = attribute(sig, "Id");
  if (sigId.empty() || attribute(qualifying, "Target") != "#" + sigId)
    return o.invalid("xades:QualifyingProperties/@Target does not name this ds:Signature");
  int count = 0;
  xmlNode* signedProps = onlyChild(qualifying, kXades, "SignedProperties", count);
  if (count != 1) return o.invalid("expected exactly one xades:SignedProperties");
  const std::string spId = attribute(signedProps, "Id");
  if (spId.empty()) return o.invalid("xades:SignedProperties has no Id");
  // Register the Id for same-document references (no DTD declares it; xmlsec registers only Ids it
  // knows). Ids are unique (checked above), so "#spId" can resolve to this element only.
  if (xmlAttr* spIdAttr = xmlHasNsProp(signedProps, BAD_CAST "Id", nullptr); xmlGetID(doc.get(), BAD_CAST spId.c_str()) == nullptr)
    xmlAddID(nullptr, doc.get(), BAD_CAST spId.c_str(), spIdAttr);
  else if (xmlGetID(doc.get(), BAD_CAST spId.c_str()) != spIdAttr)
    return o.invalid("the SignedProperties Id resolves to another element");

  // SignedInfo: exactly two references, one over the whole document, one over SignedProperties.
  std::vector<xmlNode*> references;
  xmlNode* signatureMethod = nullptr;
  for (xmlNode* c : childElements(signedInfo)) {
    if (isElement(c, kDs, "Reference")) references.push_back(c);
    if (isElement(c, kDs, "SignatureMethod")) signatureMethod = c;
  }
  if (signatureMethod != nullptr) r.signatureMethod = attribute(signatureMethod, "Algorithm");
  if (references.size() != 2)
    return o.invalid("expected exactly two ds:Reference (whole evidence + SignedProperties), found " +
                     std::to_string(references.size()));
  xmlNode* wholeRef = nullptr;
  xmlNode* propsRef = nullptr;
  for (xmlNode* ref : references) {
    if (!hasAttribute(ref, "URI")) return o.invalid("a ds:Reference has no URI");
    const std::string uri = attribute(ref, "URI");
    if (uri.empty()) {
      if (wholeRef != nullptr) return o.invalid("two references with URI=\"\"");
      wholeRef = ref;
    } else if (uri == "#" + spId && attribute(ref, "Type") == kXadesSignedPropertiesType) {
      if (propsRef != nullptr) return o.invalid("two references to the SignedProperties");
      propsRef = ref;
    } else {
      return o.invalid("unexpected ds:Reference URI \"" + uri + "\"");
    }
  }
  if (wholeRef == nullptr) return o.invalid("no reference covers the whole evidence (URI=\"\")");
  if (propsRef == nullptr) return o.invalid("no reference of type SignedProperties to #" + spId);
  if (auto why = checkWholeDocumentTransforms(doc.get(), wholeRef)) return o.invalid(*why);

  // 4. The signing certificate: the KeyInfo certificate whose digest SigningCertificateV2 names.
  xmlNode* ssp = nullptr;
  for (xmlNode* c : childElements(signedProps))
    if (isElement(c, kXades, "SignedSignatureProperties")) ssp = c;
  if (ssp == nullptr) return o.invalid("no xades:SignedSignatureProperties");
  xmlNode* signingCertV2 = nullptr;
  for (xmlNode* c : childElements(ssp)) {
    if (isElement(c, kXades, "SigningTime")) {
      if (auto t = internal::parseDateTime(internal::textOf(c))) r.signingTime = *t;
    }
    if (isElement(c, kXades, "SigningCertificateV2")) signingCertV2 = c;
  }
  if (signingCertV2 == nullptr) return o.invalid("no xades:SigningCertificateV2");
  std::vector<std::string> keyInfoCerts;
  if (keyInfo != nullptr)
    for (xmlNode* d : childElements(keyInfo))
      if (isElement(d, kDs, "X509Data"))
        for (xmlNode* c : childElements(d))
          if (isElement(c, kDs, "X509Certificate")) {
            auto der = internal::base64Decode(internal::textOf(c));
            if (!der) return o.invalid("ds:X509Certificate is not base64");
            keyInfoCerts.push_back(std::move(*der));
          }
  if (keyInfoCerts.empty()) return o.invalid("no signing certificate in ds:KeyInfo/ds:X509Data");
  const auto certEntries = childElements(signingCertV2);
  if (certEntries.empty()) return o.invalid("xades:SigningCertificateV2 has no xades:Cert");
  // The first Cert identifies the signing certificate (EN 319 132-1 5.2.2).
  xmlNode* cert = certEntries.front();
  xmlNode* certDigest = nullptr;
  xmlNode* issuerSerial = nullptr;
  for (xmlNode* c : childElements(cert)) {
    if (isElement(c, kXades, "CertDigest")) certDigest = c;
    if (isElement(c, kXades, "IssuerSerialV2")) issuerSerial = c;
  }
  if (certDigest == nullptr) return o.invalid("xades:Cert has no xades:CertDigest");
  std::string digestAlg, digestValue;
  for (xmlNode* c : childElements(certDigest)) {
    if (isElement(c, kDs, "DigestMethod")) digestAlg = attribute(c, "Algorithm");
    if (isElement(c, kDs, "DigestValue")) {
      auto v = internal::base64Decode(internal::textOf(c));
      if (!v) return o.invalid("CertDigest DigestValue is not base64");
      digestValue = *v;
    }
  }
  const std::string* signingCertDer = nullptr;
  for (const auto& c : keyInfoCerts) {
    auto d = internal::digestFor(digestAlg, c);
    if (!d) return o.invalid("unsupported CertDigest algorithm " + digestAlg);
    if (*d == digestValue) {
      signingCertDer = &c;
      break;
    }
  }
  if (signingCertDer == nullptr)
    return o.invalid("SigningCertificateV2 CertDigest matches no ds:KeyInfo certificate (certificate swapped?)");
  std::shared_ptr<const ParsedCert> signingParsed = state_->cert(*signingCertDer);
  if (!signingParsed) return o.invalid("the signing certificate is not valid DER");
  if (issuerSerial != nullptr) {
    const auto& expected = signingParsed->issuerSerialV2;
    auto given = internal::base64Decode(internal::textOf(issuerSerial));
    if (!expected || !given || *expected != *given)
      return o.invalid("SigningCertificateV2 IssuerSerialV2 does not match the signing certificate");
  }
  X509* signingCert = signingParsed->x509.get();
  r.signerSubject = signingParsed->subject;

  // 5. XMLDSig core validation through xmlsec, with the key of the signing certificate only.
  {
    std::unique_ptr<xmlSecDSigCtx, DsigCtxFree> ctx(xmlSecDSigCtxCreate(nullptr));
    if (!ctx) return Error::internal("xmlSecDSigCtxCreate failed");
    EVP_PKEY* pub = X509_get_pubkey(signingCert);  // new reference, adopted below
    if (pub == nullptr) return o.invalid("cannot read the public key of the signing certificate");
    xmlSecKeyDataPtr data = xmlSecOpenSSLEvpKeyAdopt(pub);
    if (data == nullptr) {
      EVP_PKEY_free(pub);
      return o.invalid("unsupported signing key type");
    }
    xmlSecKeyPtr key = xmlSecKeyCreate();
    if (key == nullptr || xmlSecKeySetValue(key, data) < 0) {
      if (key != nullptr) xmlSecKeyDestroy(key);
      xmlSecKeyDataDestroy(data);
      return Error::internal("xmlSecKeyCreate failed");
    }
    ctx->signKey = key;  // owned by ctx
    ctx->enabledReferenceUris = xmlSecTransformUriTypeEmpty | xmlSecTransformUriTypeSameDocument;
    ctx->flags |= XMLSEC_DSIG_FLAGS_IGNORE_MANIFESTS;
    for (xmlSecTransformId id :
         {xmlSecTransformExclC14NId, xmlSecTransformExclC14NWithCommentsId, xmlSecTransformInclC14NId,
          xmlSecTransformInclC14N11Id, xmlSecTransformEnvelopedId, xmlSecTransformXPath2Id,
          xmlSecTransformSha256Id, xmlSecTransformSha384Id, xmlSecTransformSha512Id}) {
      if (xmlSecDSigCtxEnableReferenceTransform(ctx.get(), id) < 0) return Error::internal("xmlsec enable transform");
    }
    for (xmlSecTransformId id :
         {xmlSecTransformExclC14NId, xmlSecTransformInclC14NId, xmlSecTransformInclC14N11Id,
          xmlSecTransformEcdsaSha256Id, xmlSecTransformEcdsaSha384Id, xmlSecTransformEcdsaSha512Id,
          xmlSecTransformRsaSha256Id, xmlSecTransformRsaSha384Id, xmlSecTransformRsaSha512Id}) {
      if (xmlSecDSigCtxEnableSignatureTransform(ctx.get(), id) < 0) return Error::internal("xmlsec enable transform");
    }
    internal::takeXmlsecErrors();
    const int rc = xmlSecDSigCtxVerify(ctx.get(), sig);
    const std::string xmlsecErrors = internal::takeXmlsecErrors();
    // Which references xmlsec actually processed, and how.
    std::string failedRef;
    bool sawWhole = false, sawProps = false;
    const xmlSecSize n = xmlSecPtrListGetSize(&ctx->signedInfoReferences);
    for (xmlSecSize i = 0; i < n; ++i) {
      auto* ref = static_cast<xmlSecDSigReferenceCtxPtr>(xmlSecPtrListGetItem(&ctx->signedInfoReferences, i));
      if (ref == nullptr) continue;
      const std::string uri = ref->uri ? reinterpret_cast<const char*>(ref->uri) : "";
      const std::string type = ref->type ? reinterpret_cast<const char*>(ref->type) : "";
      if (ref->status != xmlSecDSigStatusSucceeded && failedRef.empty())
        failedRef = uri.empty() ? "the whole-evidence reference (URI=\"\")" : "the SignedProperties reference (" + uri + ")";
      if (ref->status == xmlSecDSigStatusSucceeded && uri.empty()) sawWhole = true;
      if (ref->status == xmlSecDSigStatusSucceeded && uri == "#" + spId && type == kXadesSignedPropertiesType) sawProps = true;
    }
    if (rc < 0)
      return o.invalid("XMLDSig signature could not be processed" + (failedRef.empty() ? "" : " at " + failedRef) +
                       (xmlsecErrors.empty() ? "" : ": " + xmlsecErrors));
    if (ctx->status != xmlSecDSigStatusSucceeded) {
      if (!failedRef.empty()) return o.invalid("digest mismatch in " + failedRef + ": signed content was altered");
      return o.invalid("ds:SignatureValue does not verify with the signing certificate's key");
    }
    if (!sawWhole || !sawProps || n != 2)
      return o.invalid("xmlsec did not verify both the whole evidence and the SignedProperties");
  }

  // 6. The SignatureTimeStamp over the canonical ds:SignatureValue.
  xmlNode* tsNode = nullptr;
  // Validation data the sealer kept (EN 319 132-1 5.5): certificates and CRLs, unsigned.
  std::vector<std::string> embeddedCertDers;
  std::vector<std::string> embeddedCrlDers;
  std::vector<std::string> embeddedOcspDers;  // unsigned too: each response carries its own signature
  for (xmlNode* u : childElements(qualifying))
    if (isElement(u, kXades, "UnsignedProperties"))
      for (xmlNode* usp : childElements(u))
        if (isElement(usp, kXades, "UnsignedSignatureProperties"))
          for (xmlNode* t : childElements(usp)) {
            if (isElement(t, kXades, "SignatureTimeStamp") && tsNode == nullptr) tsNode = t;
            if (isElement(t, kXades, "CertificateValues"))
              for (xmlNode* c : childElements(t))
                if (isElement(c, kXades, "EncapsulatedX509Certificate")) {
                  auto der = internal::base64Decode(internal::textOf(c));
                  if (!der) return o.invalid("xades:EncapsulatedX509Certificate is not base64");
                  embeddedCertDers.push_back(std::move(*der));
                }
            if (isElement(t, kXades, "RevocationValues"))
              for (xmlNode* v : childElements(t)) {
                if (isElement(v, kXades, "CRLValues"))
                  for (xmlNode* c : childElements(v))
                    if (isElement(c, kXades, "EncapsulatedCRLValue")) {
                      auto der = internal::base64Decode(internal::textOf(c));
                      if (!der) return o.invalid("xades:EncapsulatedCRLValue is not base64");
                      embeddedCrlDers.push_back(std::move(*der));
                    }
                if (isElement(v, kXades, "OCSPValues"))
                  for (xmlNode* c : childElements(v))
                    if (isElement(c, kXades, "EncapsulatedOCSPValue")) {
                      auto der = internal::base64Decode(internal::textOf(c));
                      if (!der) return o.invalid("xades:EncapsulatedOCSPValue is not base64");
                      embeddedOcspDers.push_back(std::move(*der));
                    }
              }
          }
  if (tsNode == nullptr) return o.invalid("no xades:SignatureTimeStamp (XAdES-B-T required)");
  // Each OCSP response may cost a signature check: hostile evidence cannot make that unbounded.
  constexpr std::size_t kMaxEmbeddedRevocationValues = 32;
  if (embeddedOcspDers.size() > kMaxEmbeddedRevocationValues || embeddedCrlDers.size() > kMaxEmbeddedRevocationValues) {
    r.warnings.push_back("more than " + std::to_string(kMaxEmbeddedRevocationValues) +
                         " embedded CRLs or OCSP responses: only the first ones are used");
    if (embeddedOcspDers.size() > kMaxEmbeddedRevocationValues) embeddedOcspDers.resize(kMaxEmbeddedRevocationValues);
    if (embeddedCrlDers.size() > kMaxEmbeddedRevocationValues) embeddedCrlDers.resize(kMaxEmbeddedRevocationValues);
  }
  std::string c14nMethod(kInclC14nUri);  // XAdES default when none is named
  std::string tokenDer;
  for (xmlNode* c : childElements(tsNode)) {
    if (isElement(c, kDs, "CanonicalizationMethod")) c14nMethod = attribute(c, "Algorithm");
    if (isElement(c, kXades, "EncapsulatedTimeStamp") && tokenDer.empty()) {
      auto der = internal::base64Decode(internal::textOf(c));
      if (!der) return o.invalid("EncapsulatedTimeStamp is not base64");
      tokenDer = std::move(*der);
    }
  }
  if (tokenDer.empty()) return o.invalid("SignatureTimeStamp has no EncapsulatedTimeStamp");
  auto canonicalValue = internal::canonicalizeSubtree(doc.get(), signatureValue, c14nMethod);
  if (!canonicalValue) return o.invalid("SignatureTimeStamp: " + canonicalValue.error().message);
  TimestampVerifyOptions tsOptions;
  tsOptions.asOfGenTime = true;
  tsOptions.requireQualified = options.requireQualifiedTimestamp;
  // One parse of the token: the imprint is computed with the token's own hash algorithm.
  auto ts = state_->tsaVerifier->verifyData(tokenDer, *canonicalValue, tsOptions);
  std::string tsaCertDer;  // set when the token verified
  if (!ts) {
    auto inspected = TimestampVerifier::inspect(tokenDer);
    if (!inspected) return o.invalid("SignatureTimeStamp token cannot be parsed: " + inspected.error().message);
    r.timestampTime = inspected->genTime;
    r.tsaSubject = inspected->tsaSubject;
    const std::string& m = ts.error().message;
    if (m.find("is not supported") != std::string::npos)
      return o.invalid("SignatureTimeStamp imprint algorithm " + inspected->hashAlgorithmOid + " is not supported");
    if (m.find("imprint") != std::string::npos)
      return o.invalid("SignatureTimeStamp does not cover this ds:SignatureValue: " + m);
    X509Ptr tsaCert = parseDer(inspected->tsaCertificateDer);
    const int err = tsaCert ? chainError(state_->tsaStore.get(), tsaCert.get(), nullptr, inspected->genTime, nullptr)
                            : X509_V_ERR_UNSPECIFIED;
    if (isNoChainError(err))
      o.markIndeterminate("SignatureTimeStamp: the TSA certificate does not chain to a trust anchor (" +
                          x509ErrorText(err) + ")");
    else
      return o.invalid("SignatureTimeStamp: " + m);
  } else {
    r.timestampTime = ts->genTime;
    r.tsaSubject = ts->tsaSubject;
    tsaCertDer = ts->tsaCertificateDer;
  }

  // 7. The seal certificate chain and revocation, as of the time-stamp time.
  {
    std::unique_ptr<STACK_OF(X509), CertStackFree> untrusted(sk_X509_new_null());
    for (const auto& c : keyInfoCerts)
      if (&c != signingCertDer)
        if (auto parsed = state_->cert(c); parsed && X509_up_ref(parsed->x509.get()) == 1)
          sk_X509_push(untrusted.get(), parsed->x509.get());
    for (const auto& c : embeddedCertDers)
      if (auto parsed = state_->cert(c); parsed && X509_up_ref(parsed->x509.get()) == 1)
        sk_X509_push(untrusted.get(), parsed->x509.get());
    for (auto& x : parsePemCerts(options.untrustedPem)) sk_X509_push(untrusted.get(), x.release());
    RevocationInputs revInputs;
    revInputs.cache = &state_->ocspCache;
    for (const auto& der : embeddedCrlDers) {
      const auto* p = reinterpret_cast<const unsigned char*>(der.data());
      X509_CRL* crl = d2i_X509_CRL(nullptr, &p, static_cast<long>(der.size()));
      if (crl == nullptr) {
        ERR_clear_error();
        return o.invalid("xades:EncapsulatedCRLValue is not a DER CRL");
      }
      CrlInput c;
      c.crl.reset(crl);
      revInputs.crls.push_back(std::move(c));
    }
    for (const auto& pem : options.crlsPem) {
      std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), BIO_free);
      while (bio) {
        X509_CRL* crl = PEM_read_bio_X509_CRL(bio.get(), nullptr, nullptr, nullptr);
        if (crl == nullptr) break;
        CrlInput c;
        c.crl.reset(crl);
        c.source = RevSource::FileCrl;
        revInputs.crls.push_back(std::move(c));
      }
      ERR_clear_error();
    }
    for (auto& der : embeddedOcspDers) revInputs.ocsps.push_back(OcspInput{std::move(der), RevSource::EmbeddedOcsp});
    for (const auto& text : options.ocspResponses)
      for (auto& der : internal::splitOcspResponses(text))
        revInputs.ocsps.push_back(OcspInput{std::move(der), RevSource::FileOcsp});
    const TimePoint at = options.validationTime ? *options.validationTime : r.timestampTime.value_or(TimePoint{});
    const bool suppliedData = !options.crlsPem.empty() || !options.ocspResponses.empty() || options.online;
    ChainRevocation cr =
        checkChainRevocation(state_->sealStore.get(), signingCert, untrusted.get(), at, revInputs, options, "seal certificate");
    for (auto& w : cr.warnings) r.warnings.push_back(std::move(w));
    if (!cr.revoked.empty()) return o.invalid("seal certificate revoked: " + cr.revoked);
    int err = cr.err;
    // Embedded revocation data that does not speak for the time-stamp time (another issuer, not
    // yet issued, expired) is no revocation information: under a policy that does not require it
    // the result is the same as without it (valid with a warning), as for evidence without any.
    const bool unknownRevocation = err == X509_V_ERR_UNABLE_TO_GET_CRL || err == X509_V_ERR_CRL_NOT_YET_VALID ||
                                   err == X509_V_ERR_CRL_HAS_EXPIRED;
    bool revocationIgnored = false;  // then the TSA is not checked against it either
    if (unknownRevocation && !suppliedData && !options.requireRevocation) {
      r.warnings.push_back("embedded revocation data not usable at the time-stamp time (" + x509ErrorText(err) + ")");
      err = chainError(state_->sealStore.get(), signingCert, untrusted.get(), at, nullptr);
      cr.checked = false;
      revocationIgnored = true;
    }
    if (err != X509_V_OK) {
      switch (err) {
        case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
        case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
        case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
        case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
          o.markIndeterminate("seal certificate does not chain to a trust anchor (" + x509ErrorText(err) + ")");
          break;
        case X509_V_ERR_UNABLE_TO_GET_CRL:
        case X509_V_ERR_CRL_NOT_YET_VALID:
        case X509_V_ERR_CRL_HAS_EXPIRED:
          o.markIndeterminate("revocation status of the seal certificate unknown: " + x509ErrorText(err));
          break;
        case X509_V_ERR_CERT_REVOKED:
          return o.invalid("seal certificate revoked (CRL)");
        default:
          return o.invalid("seal certificate chain invalid at the time-stamp time: " + x509ErrorText(err));
      }
    } else if (cr.checked) {
      r.revocationChecked = true;
      for (auto& src : cr.sources) r.revocationSources.push_back(std::move(src));
    }
    const uint32_t flags = X509_get_extension_flags(signingCert);
    if ((flags & EXFLAG_KUSAGE) != 0 &&
        (X509_get_key_usage(signingCert) & (KU_DIGITAL_SIGNATURE | KU_NON_REPUDIATION)) == 0)
      return o.invalid("seal certificate keyUsage allows neither digitalSignature nor nonRepudiation");
    if (!r.revocationChecked) {
      if (options.requireRevocation)
        o.markIndeterminate("revocation information for the seal certificate is required but unavailable");
      else
        r.warnings.push_back("revocation not checked (no CRL supplied)");
    }

    // 7b. The TSA certificate's chain at the time-stamp time, when revocation data is at hand or
    // required (the token itself was verified in step 6 without revocation).
    if (!tsaCertDer.empty() && ((!revInputs.empty() && !revocationIgnored) || options.requireRevocation || options.online)) {
      std::shared_ptr<const ParsedCert> tsaParsed = state_->cert(tsaCertDer);
      if (tsaParsed) {
        ChainRevocation tr = checkChainRevocation(state_->tsaStore.get(), tsaParsed->x509.get(), untrusted.get(), at,
                                                  revInputs, options, "TSA certificate");
        for (auto& w : tr.warnings) r.warnings.push_back(std::move(w));
        if (!tr.revoked.empty()) return o.invalid("TSA certificate revoked: " + tr.revoked);
        if (tr.err == X509_V_ERR_CERT_REVOKED) return o.invalid("TSA certificate revoked (CRL): \"" + tsaParsed->subject + "\"");
        if (tr.checked) {
          r.tsaRevocationChecked = true;
          for (auto& src : tr.sources) r.revocationSources.push_back(std::move(src));
        } else if (options.requireRevocation) {
          o.markIndeterminate("revocation status of the TSA certificate unknown" +
                              (tr.err != X509_V_OK ? ": " + x509ErrorText(tr.err) : std::string()));
        } else {
          r.warnings.push_back("TSA certificate revocation not checked");
        }
      }
    }
  }

  // 8. EventTime against the time stamp (EN 319 532-4: times aligned to the one time stamp).
  if (r.timestampTime) {
    const auto skew = model->eventTime > *r.timestampTime ? model->eventTime - *r.timestampTime
                                                          : *r.timestampTime - model->eventTime;
    if (skew > options.maxEventTimeSkew)
      return o.invalid("EventTime " + formatRfc3339(model->eventTime, false) + " is more than " +
                       std::to_string(options.maxEventTimeSkew.count()) + " s from the time-stamp time " +
                       formatRfc3339(*r.timestampTime, false));
  }
  return o.finish();
}

}  // namespace erds::evidence
