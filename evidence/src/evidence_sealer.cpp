// XAdES-B-T seal for evidence, built as canonical strings. The document form of each element is
// its exclusive-C14N form minus the namespace declarations it inherits, so the bytes we digest
// and sign are exactly what libxml2/xmlsec compute from the final document (checked by tests).
#include "erds/evidence/evidence_sealer.h"

#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <thread>
#include <ctime>
#include <optional>
#include <type_traits>

#include "erds/base/log.h"
#include "erds/evidence/timestamp_verify.h"
#include "revocation.h"
#include "xades_util.h"
#include "xml_text.h"

namespace erds::evidence {

namespace {

std::string sha256(std::string_view data) { return internal::sha256Digest(data); }

constexpr std::string_view kDsNsDecl = " xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"";
constexpr std::string_view kXadesNsDecl = " xmlns:xades=\"http://uri.etsi.org/01903/v1.3.2#\"";
constexpr std::string_view kSha256Uri = "http://www.w3.org/2001/04/xmlenc#sha256";

struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct CrlFree {
  void operator()(X509_CRL* c) const { X509_CRL_free(c); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;
using CrlPtr = std::unique_ptr<X509_CRL, CrlFree>;

X509Ptr parseDerCert(std::string_view der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  return X509Ptr(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
}

template <typename T, typename Read>
std::vector<std::unique_ptr<T, std::conditional_t<std::is_same_v<T, X509>, X509Free, CrlFree>>> readPem(
    std::string_view pem, Read read) {
  std::vector<std::unique_ptr<T, std::conditional_t<std::is_same_v<T, X509>, X509Free, CrlFree>>> out;
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), BIO_free);
  while (bio) {
    T* x = read(bio.get(), nullptr, nullptr, nullptr);
    if (x == nullptr) break;
    out.emplace_back(x);
  }
  ERR_clear_error();
  return out;
}

std::string derOf(X509* x) {
  const int n = i2d_X509(x, nullptr);
  if (n <= 0) return {};
  std::string out(static_cast<std::size_t>(n), '\0');
  auto* p = reinterpret_cast<unsigned char*>(out.data());
  i2d_X509(x, &p);
  return out;
}

std::string derOf(X509_CRL* c) {
  const int n = i2d_X509_CRL(c, nullptr);
  if (n <= 0) return {};
  std::string out(static_cast<std::size_t>(n), '\0');
  auto* p = reinterpret_cast<unsigned char*>(out.data());
  i2d_X509_CRL(c, &p);
  return out;
}

std::optional<TimePoint> timeOf(const ASN1_TIME* t) {
  std::tm tm{};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) return std::nullopt;
  return std::chrono::time_point_cast<TimePoint::duration>(std::chrono::system_clock::from_time_t(timegm(&tm)));
}

std::string subjectOf(X509* x) {
  char buf[512];
  X509_NAME_oneline(X509_get_subject_name(x), buf, sizeof buf);
  return buf;
}

}  // namespace

// The revocation material embedded in every evidence sealed with one key and one TSU.
struct RevocationMaterial {
  std::string xml;  // xades:CertificateValues (when needed) + xades:RevocationValues
  std::string der;  // the CRLs, DER, concatenated
  std::vector<std::string> ocspDers;  // the OCSP responses embedded
  TimePoint validFrom{};   // latest thisUpdate
  TimePoint validUntil{};  // earliest nextUpdate
};

namespace {

using Path = std::vector<X509Ptr>;  // leaf first, self-signed anchor last

struct CrlEntry {
  CrlPtr crl;
  std::string der;
};

X509Ptr upRef(X509* x) {
  X509_up_ref(x);
  return X509Ptr(x);
}

// The chain of `leafDer` up to a self-signed anchor, issuers taken from `pool`.
Result<Path> buildPath(std::string_view leafDer, const std::vector<X509*>& pool, std::string_view what) {
  X509Ptr leaf = parseDerCert(leafDer);
  if (!leaf) return Error::invalidInput(std::string(what) + " certificate is not valid DER");
  Path path;
  path.push_back(std::move(leaf));
  for (int depth = 0; depth < 8; ++depth) {
    X509* cur = path.back().get();
    if (X509_check_issued(cur, cur) == X509_V_OK) break;
    X509* issuer = nullptr;
    for (X509* candidate : pool)
      if (X509_check_issued(candidate, cur) == X509_V_OK) issuer = candidate;
    ERR_clear_error();
    if (issuer == nullptr)
      return Error::invalidInput(std::string(what) + " revocation data: no issuer certificate for \"" + subjectOf(cur) +
                                 "\" (configure the CA certificates, e.g. root-ca.pem)");
    path.push_back(upRef(issuer));
  }
  ERR_clear_error();
  if (X509_check_issued(path.back().get(), path.back().get()) != X509_V_OK)
    return Error::invalidInput(std::string(what) + " revocation data: the chain does not end in a self-signed anchor");
  return path;
}

// Accumulates what covers the certificates of one or more paths, then renders the XML.
struct CoverageBuilder {
  const std::vector<CrlEntry>& crls;
  const std::vector<std::string>& ocsps;
  TimePoint now;
  RevocationMaterial m;
  bool first = true;
  std::vector<const CrlEntry*> usedCrls;
  std::vector<const std::string*> usedOcsps;
  std::vector<std::string> certValueDers;

  void window(TimePoint from, TimePoint until) {
    if (first || from > m.validFrom) m.validFrom = from;
    if (first || until < m.validUntil) m.validUntil = until;
    first = false;
  }

  // Checks every certificate of `path`. `what` names the chain in messages ("seal", "TSU");
  // `revokedCode` is the error for a revoked or uncovered certificate.
  Result<void> cover(const Path& path, std::string_view what, ErrorCode failCode) {
    for (std::size_t i = 0; i < path.size(); ++i) {
      X509* cert = path[i].get();
      X509* issuer = i + 1 < path.size() ? path[i + 1].get() : cert;
      const bool anchor = i + 1 == path.size();
      std::string ocspProblem;
      const std::string* ocspUsed = nullptr;
      for (const auto& der : ocsps) {
        auto st = internal::checkOcspResponse(der, cert, issuer, now);
        if (!st) {
          if (!st.error().is(ErrorCode::NotFound) && ocspProblem.empty()) ocspProblem = st.error().message;
          continue;
        }
        if (st->thisUpdate > now + internal::kOcspClockSkew || now >= st->validUntil()) {
          if (ocspProblem.empty())
            ocspProblem = "the OCSP response for \"" + subjectOf(cert) + "\" is not current (thisUpdate " +
                          internal::formatDateTime(std::chrono::time_point_cast<std::chrono::seconds>(st->thisUpdate)) +
                          ", nextUpdate " +
                          internal::formatDateTime(std::chrono::time_point_cast<std::chrono::seconds>(st->validUntil())) +
                          ")";
          continue;
        }
        if (st->status == internal::OcspCertStatus::Revoked)
          return Error{failCode, std::string(what) + " revocation data: \"" + subjectOf(cert) +
                                     "\" is revoked (OCSP, responder \"" + st->responder + "\")"};
        if (st->status != internal::OcspCertStatus::Good) {
          if (ocspProblem.empty()) ocspProblem = "the OCSP responder answers \"unknown\" for \"" + subjectOf(cert) + "\"";
          continue;
        }
        ocspUsed = &der;
        window(st->thisUpdate - internal::kOcspClockSkew, st->validUntil());
        break;
      }
      const CrlEntry* crlUsed = nullptr;
      EVP_PKEY* issuerKey = X509_get0_pubkey(issuer);
      for (const auto& e : crls) {
        X509_CRL* crl = e.crl.get();
        if (X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(issuer)) != 0) continue;
        if (issuerKey == nullptr || X509_CRL_verify(crl, issuerKey) != 1) continue;
        const auto thisUpdate = timeOf(X509_CRL_get0_lastUpdate(crl));
        const auto nextUpdate = timeOf(X509_CRL_get0_nextUpdate(crl));
        if (!thisUpdate || !nextUpdate || *thisUpdate > now || *nextUpdate <= now) continue;
        X509_REVOKED* revoked = nullptr;
        if (X509_CRL_get0_by_cert(crl, &revoked, cert) == 1) {
          ERR_clear_error();
          return Error{failCode, std::string(what) + " revocation data: \"" + subjectOf(cert) + "\" is revoked"};
        }
        if (ocspUsed == nullptr) {
          crlUsed = &e;
          window(*thisUpdate, *nextUpdate);
        }
        break;
      }
      ERR_clear_error();
      if (ocspUsed == nullptr && crlUsed == nullptr) {
        // A trust anchor is not part of the validated path (RFC 5280 6.1): checked when data
        // about it is configured, exempt otherwise.
        if (anchor && ocspProblem.empty()) continue;
        std::string msg = std::string(what) + " revocation data: no current CRL signed by \"" + subjectOf(issuer) +
                          "\" covers \"" + subjectOf(cert) + "\"";
        if (!ocsps.empty()) msg += ", and no valid OCSP response does";
        if (!ocspProblem.empty()) msg += " (" + ocspProblem + ")";
        return Error{failCode, std::move(msg)};
      }
      if (crlUsed && std::find(usedCrls.begin(), usedCrls.end(), crlUsed) == usedCrls.end()) usedCrls.push_back(crlUsed);
      if (ocspUsed && std::find(usedOcsps.begin(), usedOcsps.end(), ocspUsed) == usedOcsps.end())
        usedOcsps.push_back(ocspUsed);
    }
    return ok();
  }

  // Chain certificates a verifier may lack: not in ds:KeyInfo (`known`) and not `skip`.
  void addCertValues(const Path& path, const std::vector<std::string>& known, std::size_t skipFirst) {
    for (std::size_t i = skipFirst; i < path.size(); ++i) {
      std::string der = derOf(path[i].get());
      if (std::find(known.begin(), known.end(), der) != known.end()) continue;
      if (std::find(certValueDers.begin(), certValueDers.end(), der) != certValueDers.end()) continue;
      certValueDers.push_back(std::move(der));
    }
  }

  RevocationMaterial finish() {
    if (!certValueDers.empty()) {
      m.xml = "<xades:CertificateValues>";
      for (const auto& der : certValueDers)
        m.xml += "<xades:EncapsulatedX509Certificate>" + internal::base64Encode(der) +
                 "</xades:EncapsulatedX509Certificate>";
      m.xml += "</xades:CertificateValues>";
    }
    // EN 319 132-1 RevocationValuesType: CRLValues before OCSPValues.
    m.xml += "<xades:RevocationValues>";
    if (!usedCrls.empty()) {
      m.xml += "<xades:CRLValues>";
      for (const CrlEntry* e : usedCrls) {
        m.der += e->der;
        m.xml += "<xades:EncapsulatedCRLValue>" + internal::base64Encode(e->der) + "</xades:EncapsulatedCRLValue>";
      }
      m.xml += "</xades:CRLValues>";
    }
    if (!usedOcsps.empty()) {
      m.xml += "<xades:OCSPValues>";
      for (const std::string* der : usedOcsps) {
        m.ocspDers.push_back(*der);
        m.xml += "<xades:EncapsulatedOCSPValue>" + internal::base64Encode(*der) + "</xades:EncapsulatedOCSPValue>";
      }
      m.xml += "</xades:OCSPValues>";
    }
    m.xml += "</xades:RevocationValues>";
    if (first) {  // nothing but exempt anchors: no window constraint
      m.validFrom = TimePoint::min();
      m.validUntil = TimePoint::max();
    }
    return std::move(m);
  }
};

}  // namespace

// An OCSP response fetched from a certificate's AIA URL and refreshed in the background.
struct FetchTarget {
  X509Ptr cert;
  X509Ptr issuer;
  std::string certDer;
  std::string url;
  // Guarded by RevocationState::mu.
  std::string der;
  TimePoint refreshAt{};
  std::string lastError;
};

struct TsuEntry {
  std::string certDer;
  Path path;
};

struct EvidenceSealer::RevocationState {
  std::vector<CrlEntry> crls;
  std::vector<X509Ptr> pool;  // CA certificates (SealerOptions::caCertificatesPem)
  std::vector<std::string> configuredOcsps;
  bool fetch = false;
  std::chrono::seconds refreshInterval{3600};
  std::chrono::milliseconds timeout{5000};

  std::mutex mu;
  std::condition_variable cv;
  bool stop = false;
  std::thread worker;
  std::uint64_t generation = 0;                         // bumped when an OCSP response changes
  std::vector<std::shared_ptr<FetchTarget>> targets;    // fetchOcsp only
  std::vector<std::shared_ptr<const TsuEntry>> tsus;    // TSU certificates seen in tokens
  struct Cached {
    std::uint64_t generation = 0;
    std::shared_ptr<const RevocationMaterial> material;
    std::optional<Error> error;
  };
  std::map<std::string, Cached, std::less<>> materials;  // key label + '\0' + TSU certificate DER

  ~RevocationState() {
    {
      std::lock_guard lock(mu);
      stop = true;
    }
    cv.notify_all();
    if (worker.joinable()) worker.join();
  }

  // All OCSP responses currently known (configured + fetched). Caller holds mu.
  std::vector<std::string> ocspsLocked() const {
    std::vector<std::string> out = configuredOcsps;
    for (const auto& t : targets)
      if (!t->der.empty()) out.push_back(t->der);
    return out;
  }

  // Fetches and validates one target's response (no lock held during the network I/O).
  void fetchOne(const std::shared_ptr<FetchTarget>& t, TimePoint now) {
    internal::FetchLimits limits;
    limits.timeout = timeout;
    limits.maxBytes = internal::kMaxOcspResponseBytes;
    auto der = internal::fetchOcspResponse(t->url, t->cert.get(), t->issuer.get(), limits);
    std::optional<internal::OcspStatus> st;
    std::string error;
    if (!der) {
      error = der.error().message;
    } else if (auto checked = internal::checkOcspResponse(*der, t->cert.get(), t->issuer.get(), now); !checked) {
      error = "response from " + t->url + " unusable: " + checked.error().message;
    } else {
      st = *checked;
    }
    std::lock_guard lock(mu);
    if (!st) {
      t->lastError = error;
      t->refreshAt = now + std::min<std::chrono::seconds>(refreshInterval, std::chrono::seconds(30));
      log::warn("evidence.ocsp_fetch_failed", {{"certificate", subjectOf(t->cert.get())}, {"error", error}});
      return;
    }
    t->lastError.clear();
    if (t->der != *der) {
      t->der = std::move(*der);
      ++generation;
    }
    // Refresh at half the response's validity, at the latest after the configured interval.
    TimePoint at = st->thisUpdate + (st->validUntil() - st->thisUpdate) / 2;
    at = std::min(at, now + refreshInterval);
    t->refreshAt = std::max(at, now + std::chrono::seconds(10));
  }

  void refreshLoop(const Clock& clock) {
    std::unique_lock lock(mu);
    while (!stop) {
      cv.wait_for(lock, std::chrono::seconds(1));
      if (stop) break;
      const TimePoint now = clock.now();
      std::vector<std::shared_ptr<FetchTarget>> due;
      for (const auto& t : targets)
        if (now >= t->refreshAt) due.push_back(t);
      if (due.empty()) continue;
      lock.unlock();
      for (const auto& t : due) fetchOne(t, now);
      lock.lock();
    }
  }

  // Registers the fetch targets of `path` (non-anchor certificates with an AIA OCSP URL) and
  // fetches new ones synchronously, once. Starts the refresh thread.
  void registerTargets(const Path& path, const Clock& clock) {
    std::vector<std::shared_ptr<FetchTarget>> fresh;
    {
      std::lock_guard lock(mu);
      for (std::size_t i = 0; i + 1 < path.size(); ++i) {
        std::string der = derOf(path[i].get());
        bool known = false;
        for (const auto& t : targets) known = known || t->certDer == der;
        if (known) continue;
        auto urls = internal::ocspUrls(path[i].get());
        if (urls.empty()) continue;
        auto t = std::make_shared<FetchTarget>();
        t->cert = upRef(path[i].get());
        t->issuer = upRef(path[i + 1].get());
        t->certDer = std::move(der);
        t->url = urls.front();
        targets.push_back(t);
        fresh.push_back(std::move(t));
      }
    }
    for (const auto& t : fresh) fetchOne(t, clock.now());
    std::lock_guard lock(mu);
    if (!fresh.empty()) ++generation;
    if (!worker.joinable() && !targets.empty()) worker = std::thread([this, &clock] { refreshLoop(clock); });
  }
};

struct EvidenceSealer::KeyMaterial {
  KeyAlgorithm algorithm = KeyAlgorithm::EcdsaP256;
  std::string signatureMethodUri;
  std::string certDigestB64;      // SHA-256 of the certificate
  std::string issuerSerialV2B64;  // IssuerSerialV2 DER, base64
  std::string keyInfoXml;         // <ds:KeyInfo>...</ds:KeyInfo>
  std::vector<std::string> keyInfoDers;
  std::vector<std::string> chainDers;  // the signer's chain (issuer candidates for the TSU too)
  Path sealPath;  // when the sealer has revocation data
};

EvidenceSealer::EvidenceSealer(std::shared_ptr<Signer> signer, std::shared_ptr<TimestampAuthority> tsa,
                               const Clock& clock, SealerOptions options)
    : signer_(std::move(signer)), tsa_(std::move(tsa)), clock_(clock), options_(std::move(options)) {}

EvidenceSealer::~EvidenceSealer() = default;

Result<std::unique_ptr<EvidenceSealer>> EvidenceSealer::create(std::shared_ptr<Signer> signer,
                                                               std::shared_ptr<TimestampAuthority> tsa,
                                                               const Clock& clock, SealerOptions options) {
  if (!signer || !tsa) return Error::invalidInput("EvidenceSealer needs a signer and a time-stamp authority");
  std::unique_ptr<RevocationState> rev;
  if (options.hasRevocationData()) {
    rev = std::make_unique<RevocationState>();
    for (const auto& pem : options.crlsPem) {
      auto list = readPem<X509_CRL>(pem, PEM_read_bio_X509_CRL);
      if (list.empty()) return Error::invalidInput("EvidenceSealer: a configured CRL is not PEM (X509 CRL)");
      for (auto& c : list) {
        CrlEntry e;
        e.der = derOf(c.get());
        e.crl = std::move(c);
        rev->crls.push_back(std::move(e));
      }
    }
    for (const auto& text : options.ocspResponses) {
      auto list = internal::splitOcspResponses(text);
      if (list.empty()) return Error::invalidInput("EvidenceSealer: a configured OCSP response is empty or not PEM");
      for (auto& der : list) {
        const auto* p = reinterpret_cast<const unsigned char*>(der.data());
        std::unique_ptr<OCSP_RESPONSE, decltype(&OCSP_RESPONSE_free)> r(
            d2i_OCSP_RESPONSE(nullptr, &p, static_cast<long>(der.size())), OCSP_RESPONSE_free);
        ERR_clear_error();
        if (!r) return Error::invalidInput("EvidenceSealer: a configured OCSP response is not a DER OCSPResponse");
        rev->configuredOcsps.push_back(std::move(der));
      }
    }
    rev->pool = readPem<X509>(options.caCertificatesPem, PEM_read_bio_X509);
    rev->fetch = options.fetchOcsp;
    rev->refreshInterval = std::max(options.ocspRefreshInterval, std::chrono::seconds(10));
    rev->timeout = options.fetchTimeout;
  }
  if (!options.caCertificatesPem.empty() && readPem<X509>(options.caCertificatesPem, PEM_read_bio_X509).empty())
    return Error::invalidInput("EvidenceSealer: the configured CA certificates are not PEM");
  std::unique_ptr<EvidenceSealer> out(new EvidenceSealer(std::move(signer), std::move(tsa), clock, std::move(options)));
  out->rev_ = std::move(rev);
  return out;
}

Result<std::shared_ptr<const EvidenceSealer::KeyMaterial>> EvidenceSealer::keyMaterial(std::string_view keyLabel) {
  {
    std::lock_guard lock(mu_);
    auto it = keys_.find(keyLabel);
    if (it != keys_.end()) return it->second;
  }
  auto info = signer_->keyInfo(keyLabel);
  if (!info) return std::move(info).error();
  auto km = std::make_shared<KeyMaterial>();
  km->algorithm = info->algorithm;
  switch (info->algorithm) {
    case KeyAlgorithm::EcdsaP256:
      if (info->bits != 256) return Error::invalidInput("only P-256 EC seal keys are supported");
      km->signatureMethodUri = std::string(kEcdsaSha256Uri);
      break;
    case KeyAlgorithm::Rsa:
      if (info->bits < 2048) return Error::invalidInput("RSA seal keys must have at least 2048 bits");
      km->signatureMethodUri = std::string(kRsaSha256Uri);
      break;
  }
  auto issuerSerial = internal::issuerSerialV2Der(info->certificateDer);
  if (!issuerSerial) return std::move(issuerSerial).error();
  km->certDigestB64 = internal::base64Encode(sha256(info->certificateDer));
  km->issuerSerialV2B64 = internal::base64Encode(*issuerSerial);
  auto chain = internal::splitDerCertificates(info->chainDer);
  if (!chain) return std::move(chain).error();
  km->chainDers = *chain;
  km->keyInfoXml = "<ds:KeyInfo><ds:X509Data><ds:X509Certificate>" +
                   internal::base64Encode(info->certificateDer) + "</ds:X509Certificate>";
  // Intermediates help verifiers build the path; a root is useless here (it must be trusted).
  km->keyInfoDers.push_back(info->certificateDer);
  for (const auto& c : *chain) {
    if (internal::isSelfIssued(c) || c == info->certificateDer) continue;
    km->keyInfoXml += "<ds:X509Certificate>" + internal::base64Encode(c) + "</ds:X509Certificate>";
    km->keyInfoDers.push_back(c);
  }
  km->keyInfoXml += "</ds:X509Data></ds:KeyInfo>";
  if (rev_) {
    std::vector<X509Ptr> chainCerts;
    for (const auto& c : *chain)
      if (auto x = parseDerCert(c)) chainCerts.push_back(std::move(x));
    std::vector<X509*> pool;
    for (auto& x : chainCerts) pool.push_back(x.get());
    for (auto& x : rev_->pool) pool.push_back(x.get());
    auto path = buildPath(info->certificateDer, pool, "seal");
    if (!path) return std::move(path).error();
    km->sealPath = std::move(*path);
    if (rev_->fetch) rev_->registerTargets(km->sealPath, clock_);
  }
  std::lock_guard lock(mu_);
  auto [it, inserted] = keys_.emplace(std::string(keyLabel), std::move(km));
  return it->second;
}

Result<std::shared_ptr<const RevocationMaterial>> EvidenceSealer::revocationFor(std::string_view keyLabel,
                                                                                const KeyMaterial& k,
                                                                                const std::string& tokenDer) {
  RevocationState& rs = *rev_;
  // The TSU certificate: one seen before whose DER the token carries (no parse per evidence), or
  // the one a parse of the token finds.
  std::shared_ptr<const TsuEntry> tsu;
  {
    std::lock_guard lock(rs.mu);
    for (const auto& t : rs.tsus)
      if (tokenDer.find(t->certDer) != std::string::npos) tsu = t;
  }
  if (!tsu) {
    auto inspected = TimestampVerifier::inspect(tokenDer);
    if (!inspected || inspected->tsaCertificateDer.empty())
      return Error::unavailable("TSU revocation check: the time-stamp token carries no TSU certificate" +
                                (inspected ? std::string() : ": " + inspected.error().message));
    std::vector<X509Ptr> chainCerts;
    for (const auto& c : k.chainDers)
      if (auto x = parseDerCert(c)) chainCerts.push_back(std::move(x));
    std::vector<X509*> pool;
    for (auto& x : chainCerts) pool.push_back(x.get());
    for (auto& x : rs.pool) pool.push_back(x.get());
    auto path = buildPath(inspected->tsaCertificateDer, pool, "TSU");
    if (!path) return Error::unavailable(path.error().message);
    auto entry = std::make_shared<TsuEntry>();
    entry->certDer = inspected->tsaCertificateDer;
    entry->path = std::move(*path);
    if (rs.fetch) rs.registerTargets(entry->path, clock_);
    std::lock_guard lock(rs.mu);
    if (rs.tsus.size() >= 16) rs.tsus.erase(rs.tsus.begin());
    rs.tsus.push_back(entry);
    tsu = std::move(entry);
  }
  std::string cacheKey(keyLabel);
  cacheKey += '\0';
  cacheKey += tsu->certDer;
  std::vector<std::string> ocsps;
  std::uint64_t generation = 0;
  {
    std::lock_guard lock(rs.mu);
    auto it = rs.materials.find(cacheKey);
    if (it != rs.materials.end() && it->second.generation == rs.generation) {
      if (it->second.error) return *it->second.error;
      return it->second.material;
    }
    ocsps = rs.ocspsLocked();
    generation = rs.generation;
  }
  // Validated once per key, TSU and set of OCSP responses (a refresh bumps the generation).
  CoverageBuilder b{rs.crls, ocsps, clock_.now(), {}, true, {}, {}, {}};
  RevocationState::Cached cached;
  cached.generation = generation;
  auto sealOk = b.cover(k.sealPath, "seal", ErrorCode::IntegrityFailure);
  if (!sealOk) {
    cached.error = sealOk.error();
  } else if (auto tsuOk = b.cover(tsu->path, "TSU", ErrorCode::Unavailable); !tsuOk) {
    cached.error = tsuOk.error();
  } else {
    b.addCertValues(k.sealPath, k.keyInfoDers, 1);
    b.addCertValues(tsu->path, k.keyInfoDers, 1);  // the TSU certificate itself is in the token
    cached.material = std::make_shared<const RevocationMaterial>(b.finish());
  }
  if (cached.error && rs.fetch) {
    // Add what the fetcher knows (it retries in the background).
    std::lock_guard lock(rs.mu);
    for (const auto& t : rs.targets)
      if (!t->lastError.empty()) cached.error->message += "; OCSP fetch for \"" + subjectOf(t->cert.get()) + "\": " + t->lastError;
  }
  std::lock_guard lock(rs.mu);
  // An error is not cached across time: the next seal re-validates (the data may become current).
  if (!cached.error) rs.materials[cacheKey] = cached;
  if (cached.error) return *cached.error;
  return cached.material;
}

Result<void> EvidenceSealer::prepare(std::string_view keyLabel) {
  auto km = keyMaterial(keyLabel);
  if (!km) return std::move(km).error();
  if (!rev_) return ok();
  auto token = tsa_->timestamp(std::string(32, '\0'));
  if (!token) return Error::unavailable("no time-stamp token for the TSU revocation check: " + token.error().message);
  auto material = revocationFor(keyLabel, **km, token->der);
  if (!material) return std::move(material).error();
  return ok();
}

Result<SealedEvidence> EvidenceSealer::seal(const EvidenceXml& xml, std::string_view keyLabel) {
  if (xml.signatureOffset == 0 || xml.signatureOffset > xml.document.size() ||
      xml.document.compare(xml.signatureOffset, 15, "</tns:Evidence>") != 0 || xml.canonical.empty())
    return Error::invalidInput("EvidenceXml is not from writeEvidenceXml (bad signatureOffset)");
  auto km = keyMaterial(keyLabel);
  if (!km) return std::move(km).error();
  const KeyMaterial& k = **km;

  SealedEvidence out;
  const std::string suffix = internal::randomIdSuffix();
  out.signatureId = "sig-" + suffix;
  const std::string refId = "ref-" + suffix + "-1";
  const std::string spId = "xades-" + suffix;
  const std::string valueId = "value-" + suffix;
  out.signingTime = std::chrono::time_point_cast<std::chrono::seconds>(clock_.now());
  // SignedProperties: the document form omits xmlns:xades/xmlns:ds (inherited); the canonical
  // form declares xades on the apex and ds on each ds: element (not visibly used by an ancestor).
  auto signedProperties = [&](bool canonical) {
    std::string s;
    s.reserve(1024);
    s += "<xades:SignedProperties";
    if (canonical) s += kXadesNsDecl;
    s += " Id=\"" + spId + "\"><xades:SignedSignatureProperties><xades:SigningTime>";
    s += internal::formatDateTime(out.signingTime);
    s += "</xades:SigningTime><xades:SigningCertificateV2><xades:Cert><xades:CertDigest><ds:DigestMethod";
    if (canonical) s += kDsNsDecl;
    s += " Algorithm=\"";
    s += kSha256Uri;
    s += "\"></ds:DigestMethod><ds:DigestValue";
    if (canonical) s += kDsNsDecl;
    s += ">" + k.certDigestB64 + "</ds:DigestValue></xades:CertDigest><xades:IssuerSerialV2>" +
         k.issuerSerialV2B64 +
         "</xades:IssuerSerialV2></xades:Cert></xades:SigningCertificateV2></xades:SignedSignatureProperties>"
         "<xades:SignedDataObjectProperties><xades:DataObjectFormat ObjectReference=\"#" +
         refId +
         "\"><xades:MimeType>text/xml</xades:MimeType></xades:DataObjectFormat>"
         "</xades:SignedDataObjectProperties></xades:SignedProperties>";
    return s;
  };
  out.canonicalSignedProperties = signedProperties(true);
  const std::string signedPropertiesDoc = signedProperties(false);

  // SignedInfo: only its apex differs (xmlns:ds is inherited from ds:Signature in the document).
  std::string signedInfoBody;
  signedInfoBody.reserve(1200);
  signedInfoBody += "><ds:CanonicalizationMethod Algorithm=\"";
  signedInfoBody += kExcC14nUri;
  signedInfoBody += "\"></ds:CanonicalizationMethod><ds:SignatureMethod Algorithm=\"" + k.signatureMethodUri +
                    "\"></ds:SignatureMethod><ds:Reference Id=\"" + refId +
                    "\" URI=\"\"><ds:Transforms><ds:Transform Algorithm=\"";
  signedInfoBody += kEnvelopedSignatureUri;
  signedInfoBody += "\"></ds:Transform><ds:Transform Algorithm=\"";
  signedInfoBody += kExcC14nUri;
  signedInfoBody += "\"></ds:Transform></ds:Transforms><ds:DigestMethod Algorithm=\"";
  signedInfoBody += kSha256Uri;
  signedInfoBody += "\"></ds:DigestMethod><ds:DigestValue>" + internal::base64Encode(sha256(xml.canonical)) +
                    "</ds:DigestValue></ds:Reference><ds:Reference Type=\"";
  signedInfoBody += kXadesSignedPropertiesType;
  signedInfoBody += "\" URI=\"#" + spId + "\"><ds:Transforms><ds:Transform Algorithm=\"";
  signedInfoBody += kExcC14nUri;
  signedInfoBody += "\"></ds:Transform></ds:Transforms><ds:DigestMethod Algorithm=\"";
  signedInfoBody += kSha256Uri;
  signedInfoBody += "\"></ds:DigestMethod><ds:DigestValue>" +
                    internal::base64Encode(sha256(out.canonicalSignedProperties)) +
                    "</ds:DigestValue></ds:Reference></ds:SignedInfo>";
  out.canonicalSignedInfo = "<ds:SignedInfo";
  out.canonicalSignedInfo += kDsNsDecl;
  out.canonicalSignedInfo += signedInfoBody;

  auto rawSig = signer_->signDigest(keyLabel, sha256(out.canonicalSignedInfo));
  if (!rawSig) return std::move(rawSig).error();
  std::string signatureValue;
  if (k.algorithm == KeyAlgorithm::EcdsaP256) {
    auto raw = internal::ecdsaDerToRaw(*rawSig, 32);
    if (!raw) return std::move(raw).error();
    signatureValue = std::move(*raw);
  } else {
    signatureValue = std::move(*rawSig);
  }
  const std::string signatureValueB64 = internal::base64Encode(signatureValue);
  out.canonicalSignatureValue = "<ds:SignatureValue";
  out.canonicalSignatureValue += kDsNsDecl;
  out.canonicalSignatureValue += " Id=\"" + valueId + "\">" + signatureValueB64 + "</ds:SignatureValue>";

  auto token = tsa_->timestamp(sha256(out.canonicalSignatureValue));
  if (!token) {
    return Error::unavailable("no time-stamp token for the evidence seal: " + token.error().message);
  }
  out.timestamp = std::move(*token);
  std::shared_ptr<const RevocationMaterial> revocation;
  if (rev_) {
    // Revocation data is part of what the seal relies on: stale data means no seal (as no token).
    auto material = revocationFor(keyLabel, k, out.timestamp.der);
    if (!material) return std::move(material).error();
    revocation = std::move(*material);
    if (out.signingTime < revocation->validFrom - std::chrono::seconds(1) || out.signingTime >= revocation->validUntil)
      return Error::unavailable("seal revocation data is not current at " + internal::formatDateTime(out.signingTime) +
                                " (valid until " + internal::formatDateTime(std::chrono::time_point_cast<std::chrono::seconds>(revocation->validUntil)) +
                                "): refresh the CRL files / OCSP responses");
    out.revocationDataDer = revocation->der;
    out.ocspResponsesDer = revocation->ocspDers;
  }

  std::string sig;
  sig.reserve(out.canonicalSignedInfo.size() + signedPropertiesDoc.size() + k.keyInfoXml.size() +
              out.timestamp.der.size() * 4 / 3 + (revocation ? revocation->xml.size() : 0) + 1024);
  sig += "<ds:Signature";
  sig += kDsNsDecl;
  sig += " Id=\"" + out.signatureId + "\"><ds:SignedInfo" + signedInfoBody;
  sig += "<ds:SignatureValue Id=\"" + valueId + "\">" + signatureValueB64 + "</ds:SignatureValue>";
  sig += k.keyInfoXml;
  sig += "<ds:Object><xades:QualifyingProperties";
  sig += kXadesNsDecl;
  sig += " Target=\"#" + out.signatureId + "\">" + signedPropertiesDoc +
         "<xades:UnsignedProperties><xades:UnsignedSignatureProperties><xades:SignatureTimeStamp Id=\"ts-" +
         suffix + "\"><ds:CanonicalizationMethod Algorithm=\"";
  sig += kExcC14nUri;
  sig += "\"></ds:CanonicalizationMethod><xades:EncapsulatedTimeStamp>" + internal::base64Encode(out.timestamp.der) +
         "</xades:EncapsulatedTimeStamp></xades:SignatureTimeStamp>";
  if (revocation) sig += revocation->xml;
  sig += "</xades:UnsignedSignatureProperties></xades:UnsignedProperties></xades:QualifyingProperties></ds:Object>"
         "</ds:Signature>";

  out.document.reserve(xml.document.size() + sig.size());
  out.document.append(xml.document, 0, xml.signatureOffset);
  out.document += sig;
  out.document.append(xml.document, xml.signatureOffset, std::string::npos);
  return out;
}

}  // namespace erds::evidence
