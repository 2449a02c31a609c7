#include "openssl_util.h"

#include <openssl/err.h>
#include <openssl/objects.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <sstream>

namespace erds::evidence::internal {

std::string drainErrors(std::string_view what) {
  std::string out(what);
  unsigned long e = 0;
  bool first = true;
  while ((e = ERR_get_error()) != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    out += first ? ": " : "; ";
    out += buf;
    first = false;
  }
  return out;
}

Error opensslError(ErrorCode code, std::string_view what) {
  return Error{code, drainErrors(what)};
}

void clearErrors() {
  ERR_clear_error();
}

Result<std::vector<X509Ptr>> parsePemCertificates(std::string_view pem, std::string_view what) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return opensslError(ErrorCode::Internal, "BIO_new_mem_buf");
  std::vector<X509Ptr> certs;
  while (X509* c = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr))
    certs.emplace_back(c);
  clearErrors();  // the loop always ends with a "no start line" error
  if (certs.empty()) return Error::invalidInput(std::string(what) + ": no PEM certificate found");
  return certs;
}

Result<std::vector<X509Ptr>> parseDerCertificates(std::string_view der, std::string_view what) {
  std::vector<X509Ptr> certs;
  auto* p = reinterpret_cast<const unsigned char*>(der.data());
  const auto* end = p + der.size();
  while (p < end) {
    X509* c = d2i_X509(nullptr, &p, end - p);
    if (c == nullptr)
      return opensslError(ErrorCode::InvalidInput, std::string(what) + ": bad DER certificate");
    certs.emplace_back(c);
  }
  return certs;
}

Result<X509Ptr> parseDerCertificate(std::string_view der) {
  auto* p = reinterpret_cast<const unsigned char*>(der.data());
  X509Ptr c(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
  if (!c) return opensslError(ErrorCode::InvalidInput, "bad DER certificate");
  return c;
}

std::string certificateDer(X509* cert) {
  return toDer(cert, i2d_X509);
}

std::string subjectOneLine(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  X509_NAME_print_ex(bio.get(), X509_get_subject_name(cert), 0, XN_FLAG_RFC2253);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(n));
}

Result<TimePoint> fromGeneralizedTime(const ASN1_GENERALIZEDTIME* t) {
  if (t == nullptr) return Error::invalidInput("missing time");
  struct tm tm {};
  if (ASN1_TIME_to_tm(t, &tm) != 1)
    return opensslError(ErrorCode::InvalidInput, "bad GeneralizedTime");
  std::time_t secs = timegm(&tm);
  long long micros = 0;
  // ASN1_TIME_to_tm drops the fraction (YYYYMMDDHHMMSS.fff...Z); keep up to microseconds.
  std::string_view s(reinterpret_cast<const char*>(ASN1_STRING_get0_data(t)),
                     static_cast<std::size_t>(ASN1_STRING_length(t)));
  if (auto dot = s.find('.'); dot != std::string_view::npos) {
    int digits = 0;
    for (std::size_t i = dot + 1; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i) {
      if (digits < 6) {
        micros = micros * 10 + (s[i] - '0');
        ++digits;
      }
    }
    for (; digits < 6; ++digits)
      micros *= 10;
  }
  return TimePoint(std::chrono::seconds(secs) + std::chrono::microseconds(micros));
}

std::string integerHex(const ASN1_INTEGER* i) {
  BnPtr bn(ASN1_INTEGER_to_BN(i, nullptr));
  if (!bn) return {};
  char* hex = BN_bn2hex(bn.get());
  std::string out(hex == nullptr ? "" : hex);
  OPENSSL_free(hex);
  for (auto& c : out)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string objectText(const ASN1_OBJECT* o) {
  char buf[128];
  int n = OBJ_obj2txt(buf, sizeof buf, o, 1);
  if (n <= 0) return {};
  return std::string(buf, std::min<std::size_t>(static_cast<std::size_t>(n), sizeof buf - 1));
}

Result<std::string> readFile(const std::string& path, std::size_t maxBytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error::notFound("cannot open " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  if (s.size() > maxBytes) return Error::invalidInput(path + ": file too large");
  return s;
}

}  // namespace erds::evidence::internal
