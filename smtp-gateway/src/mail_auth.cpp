// SPF, DKIM and DMARC checks of inbound mail. Everything here reads untrusted input (DNS answers,
// message headers): every outcome is a result value, no exception, bounded work (10 SPF lookups,
// 5 DKIM signatures, header section <= 256 KiB, body streamed).
#include "erds/smtp/mail_auth.h"

#include <arpa/inet.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <ctime>
#include <map>
#include <memory>
#include <optional>

#include "base64.h"
#include "erds/smtp/core_submission_sink.h"
#include "mime_raw.h"

namespace erds::smtp {

using internal::iequals;
using internal::toLower;

std::string_view spfResultName(SpfResult r) {
  switch (r) {
    case SpfResult::None: return "none";
    case SpfResult::Neutral: return "neutral";
    case SpfResult::Pass: return "pass";
    case SpfResult::Fail: return "fail";
    case SpfResult::SoftFail: return "softfail";
    case SpfResult::TempError: return "temperror";
    case SpfResult::PermError: return "permerror";
  }
  return "none";
}
std::string_view dkimResultName(DkimResult r) {
  switch (r) {
    case DkimResult::None: return "none";
    case DkimResult::Pass: return "pass";
    case DkimResult::Fail: return "fail";
    case DkimResult::Neutral: return "neutral";
    case DkimResult::TempError: return "temperror";
    case DkimResult::PermError: return "permerror";
  }
  return "none";
}
std::string_view dmarcResultName(DmarcResult r) {
  switch (r) {
    case DmarcResult::None: return "none";
    case DmarcResult::Pass: return "pass";
    case DmarcResult::Fail: return "fail";
    case DmarcResult::TempError: return "temperror";
    case DmarcResult::PermError: return "permerror";
  }
  return "none";
}

namespace {

bool isWsp(char c) { return c == ' ' || c == '\t'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && (isWsp(s.front()) || s.front() == '\r' || s.front() == '\n')) s.remove_prefix(1);
  while (!s.empty() && (isWsp(s.back()) || s.back() == '\r' || s.back() == '\n')) s.remove_suffix(1);
  return s;
}

std::string stripDot(std::string s) {
  while (!s.empty() && s.back() == '.') s.pop_back();
  return toLower(s);
}

// A DNS name we are willing to query: labels of [A-Za-z0-9_-], 1..63, total <= 253, >= 2 labels.
bool plausibleDomain(std::string_view d) {
  if (d.empty() || d.size() > 253 || d.find('.') == std::string_view::npos) return false;
  std::size_t label = 0;
  for (char c : d) {
    if (c == '.') {
      if (label == 0) return false;
      label = 0;
      continue;
    }
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_')) return false;
    if (++label > 63) return false;
  }
  return label > 0;
}

// ---------------------------------------------------------------- IP addresses
struct Ip {
  int family = 0;  // AF_INET or AF_INET6
  std::array<unsigned char, 16> b{};
};

std::optional<Ip> parseIp(std::string_view text) {
  std::string t(text);
  Ip ip;
  if (inet_pton(AF_INET, t.c_str(), ip.b.data()) == 1) {
    ip.family = AF_INET;
    return ip;
  }
  if (inet_pton(AF_INET6, t.c_str(), ip.b.data()) == 1) {
    static const unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(ip.b.data(), kMapped, 12) == 0) {  // ::ffff:a.b.c.d is IPv4 for SPF
      std::memmove(ip.b.data(), ip.b.data() + 12, 4);
      ip.family = AF_INET;
      return ip;
    }
    ip.family = AF_INET6;
    return ip;
  }
  return std::nullopt;
}

bool inNet(const Ip& ip, const Ip& net, int prefix) {
  if (ip.family != net.family) return false;
  const int bits = ip.family == AF_INET ? 32 : 128;
  if (prefix < 0 || prefix > bits) return false;
  for (int i = 0; i < prefix; ++i) {
    const int byte = i / 8, bit = 7 - i % 8;
    if (((ip.b[static_cast<std::size_t>(byte)] >> bit) & 1) != ((net.b[static_cast<std::size_t>(byte)] >> bit) & 1))
      return false;
  }
  return true;
}

std::optional<int> parseNumber(std::string_view s, int max) {
  if (s.empty() || s.size() > 3) return std::nullopt;
  int v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  if (v > max) return std::nullopt;
  return v;
}

// ---------------------------------------------------------------- SPF
struct SpfCtx {
  DnsResolver& dns;
  Ip ip;
  std::string ipText;
  std::string sender;  // local@domain
  std::string helo;
  int lookups = 0;
  int voids = 0;
  bool error = false;  // temporary DNS error seen
};

// Macro expansion (RFC 7208 7), transformers included; nullopt on a syntax error.
std::optional<std::string> expand(std::string_view spec, const SpfCtx& c, const std::string& domain) {
  std::string out;
  for (std::size_t i = 0; i < spec.size(); ++i) {
    if (spec[i] != '%') {
      out += spec[i];
      continue;
    }
    if (++i >= spec.size()) return std::nullopt;
    if (spec[i] == '%') { out += '%'; continue; }
    if (spec[i] == '_') { out += ' '; continue; }
    if (spec[i] == '-') { out += "%20"; continue; }
    if (spec[i] != '{') return std::nullopt;
    const auto close = spec.find('}', i);
    if (close == std::string_view::npos || close == i + 1) return std::nullopt;
    std::string_view m = spec.substr(i + 1, close - i - 1);
    i = close;
    const char letter = static_cast<char>(std::tolower(static_cast<unsigned char>(m[0])));
    m.remove_prefix(1);
    std::string value;
    const auto at = c.sender.rfind('@');
    switch (letter) {
      case 's': value = c.sender; break;
      case 'l': value = at == std::string::npos ? "postmaster" : c.sender.substr(0, at); break;
      case 'o': value = at == std::string::npos ? c.sender : c.sender.substr(at + 1); break;
      case 'd': value = domain; break;
      case 'h': value = c.helo; break;
      case 'v': value = c.ip.family == AF_INET ? "in-addr" : "ip6"; break;
      case 'i':
        if (c.ip.family == AF_INET) {
          value = c.ipText;
        } else {
          static const char* kHex = "0123456789abcdef";
          for (std::size_t k = 0; k < 16; ++k) {
            if (k) value += '.';
            value += kHex[c.ip.b[k] >> 4];
            value += '.';
            value += kHex[c.ip.b[k] & 15];
          }
        }
        break;
      default: return std::nullopt;
    }
    std::size_t digits = 0;
    while (digits < m.size() && m[digits] >= '0' && m[digits] <= '9') ++digits;
    int keep = 0;
    if (digits) {
      auto n = parseNumber(m.substr(0, digits), 128);
      if (!n || *n == 0) return std::nullopt;
      keep = *n;
    }
    m.remove_prefix(digits);
    bool reverse = false;
    if (!m.empty() && (m[0] == 'r' || m[0] == 'R')) {
      reverse = true;
      m.remove_prefix(1);
    }
    std::string delims = ".";
    if (!m.empty()) {
      if (m.find_first_not_of(".-+,/_=") != std::string_view::npos) return std::nullopt;
      delims = std::string(m);
    }
    std::vector<std::string> parts{""};
    for (char ch : value) {
      if (delims.find(ch) != std::string::npos) parts.emplace_back();
      else parts.back() += ch;
    }
    if (reverse) std::reverse(parts.begin(), parts.end());
    if (keep && static_cast<std::size_t>(keep) < parts.size()) parts.erase(parts.begin(), parts.end() - keep);
    std::string joined;
    for (std::size_t k = 0; k < parts.size(); ++k) joined += (k ? "." : "") + parts[k];
    out += joined;
  }
  return out;
}

// Splits "target/cidr4//cidr6" of a and mx.
struct Target {
  std::string domain;
  int cidr4 = 32;
  int cidr6 = 128;
  bool ok = true;
};
Target parseTarget(std::string_view arg, const std::string& current, const SpfCtx& c) {
  Target t;
  std::string_view dom = arg;
  const auto slash = arg.find('/');
  if (slash != std::string_view::npos) {
    dom = arg.substr(0, slash);
    std::string_view rest = arg.substr(slash);
    const auto dbl = rest.find("//");
    std::string_view c4 = dbl == std::string_view::npos ? rest : rest.substr(0, dbl);
    std::string_view c6 = dbl == std::string_view::npos ? std::string_view() : rest.substr(dbl + 2);
    if (!c4.empty()) {
      auto n = parseNumber(c4.substr(1), 32);
      if (!n || c4[0] != '/') t.ok = false;
      else t.cidr4 = *n;
    }
    if (dbl != std::string_view::npos) {
      auto n = parseNumber(c6, 128);
      if (!n) t.ok = false;
      else t.cidr6 = *n;
    }
  }
  if (dom.empty()) {
    t.domain = current;
  } else {
    auto e = expand(dom, c, current);
    if (!e) t.ok = false;
    else t.domain = stripDot(*e);
  }
  return t;
}

enum class Match { No, Yes, TempError, PermError };

Match matchHost(SpfCtx& c, const std::string& host, const Target& t, bool countVoid) {
  auto addrs = c.ip.family == AF_INET ? c.dns.a(host) : c.dns.aaaa(host);
  if (!addrs) return Match::TempError;
  if (addrs->empty() && countVoid && ++c.voids > 2) return Match::PermError;
  for (const auto& a : *addrs) {
    auto net = parseIp(a);
    if (net && inNet(c.ip, *net, c.ip.family == AF_INET ? t.cidr4 : t.cidr6)) return Match::Yes;
  }
  return Match::No;
}

SpfResult evalSpf(SpfCtx& c, const std::string& domain, int depth);

SpfResult qualifierResult(char q) {
  switch (q) {
    case '-': return SpfResult::Fail;
    case '~': return SpfResult::SoftFail;
    case '?': return SpfResult::Neutral;
    default: return SpfResult::Pass;
  }
}

SpfResult evalSpf(SpfCtx& c, const std::string& domain, int depth) {
  if (depth > 10) return SpfResult::PermError;
  if (!plausibleDomain(domain)) return SpfResult::None;
  auto txt = c.dns.txt(domain);
  if (!txt) return SpfResult::TempError;
  std::optional<std::string> record;
  for (const auto& r : *txt) {
    if (r.size() >= 6 && iequals(std::string_view(r).substr(0, 6), "v=spf1") && (r.size() == 6 || r[6] == ' ')) {
      if (record) return SpfResult::PermError;  // more than one record (RFC 7208 4.5)
      record = r;
    }
  }
  if (!record) return SpfResult::None;
  std::vector<std::string_view> terms;
  {
    std::string_view rest = std::string_view(*record).substr(6);
    while (!rest.empty()) {
      while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
      const auto sp = rest.find(' ');
      std::string_view term = rest.substr(0, sp);
      if (!term.empty()) terms.push_back(term);
      rest = sp == std::string_view::npos ? std::string_view() : rest.substr(sp);
    }
  }
  std::optional<std::string> redirect;
  for (auto term : terms) {
    // modifier?
    const auto eq = term.find('=');
    const auto colon = term.find_first_of(":/");
    if (eq != std::string_view::npos && (colon == std::string_view::npos || eq < colon)) {
      const std::string name = toLower(term.substr(0, eq));
      if (name == "redirect") {
        if (redirect) return SpfResult::PermError;
        auto e = expand(term.substr(eq + 1), c, domain);
        if (!e) return SpfResult::PermError;
        redirect = stripDot(*e);
      }
      continue;  // exp= and unknown modifiers are ignored
    }
    char q = '+';
    if (term[0] == '+' || term[0] == '-' || term[0] == '~' || term[0] == '?') {
      q = term[0];
      term.remove_prefix(1);
    }
    const auto sep = term.find_first_of(":/");
    const std::string mech = toLower(term.substr(0, sep));
    std::string_view arg;
    if (sep != std::string_view::npos) arg = term[sep] == ':' ? term.substr(sep + 1) : term.substr(sep);
    Match m = Match::No;
    if (mech == "all") {
      m = Match::Yes;
    } else if (mech == "ip4" || mech == "ip6") {
      if (sep == std::string_view::npos || term[sep] != ':') return SpfResult::PermError;
      std::string_view addr = arg;
      int prefix = mech == "ip4" ? 32 : 128;
      if (auto sl = arg.find('/'); sl != std::string_view::npos) {
        addr = arg.substr(0, sl);
        auto n = parseNumber(arg.substr(sl + 1), prefix);
        if (!n) return SpfResult::PermError;
        prefix = *n;
      }
      auto net = parseIp(addr);
      if (!net || (net->family == AF_INET) != (mech == "ip4")) return SpfResult::PermError;
      m = inNet(c.ip, *net, prefix) ? Match::Yes : Match::No;
    } else if (mech == "a") {
      if (++c.lookups > 10) return SpfResult::PermError;
      Target t = parseTarget(arg, domain, c);
      if (!t.ok) return SpfResult::PermError;
      m = matchHost(c, t.domain, t, true);
    } else if (mech == "mx") {
      if (++c.lookups > 10) return SpfResult::PermError;
      Target t = parseTarget(arg, domain, c);
      if (!t.ok) return SpfResult::PermError;
      auto mxs = c.dns.mx(t.domain);
      if (!mxs) {
        m = Match::TempError;
      } else {
        if (mxs->empty() && ++c.voids > 2) return SpfResult::PermError;
        if (mxs->size() > 10) return SpfResult::PermError;
        for (const auto& h : *mxs) {
          m = matchHost(c, stripDot(h.host), t, false);
          if (m != Match::No) break;
        }
      }
    } else if (mech == "include") {
      if (++c.lookups > 10) return SpfResult::PermError;
      auto e = expand(arg, c, domain);
      if (!e || e->empty()) return SpfResult::PermError;
      const SpfResult r = evalSpf(c, stripDot(*e), depth + 1);
      if (r == SpfResult::Pass) m = Match::Yes;
      else if (r == SpfResult::TempError) m = Match::TempError;
      else if (r == SpfResult::PermError || r == SpfResult::None) m = Match::PermError;
    } else if (mech == "exists") {
      if (++c.lookups > 10) return SpfResult::PermError;
      auto e = expand(arg, c, domain);
      if (!e || e->empty()) return SpfResult::PermError;
      auto a = c.dns.a(stripDot(*e));
      if (!a) m = Match::TempError;
      else if (a->empty() && ++c.voids > 2) return SpfResult::PermError;
      else m = a->empty() ? Match::No : Match::Yes;
    } else if (mech == "ptr") {
      if (++c.lookups > 10) return SpfResult::PermError;
      m = Match::No;  // RFC 7208 5.5: SHOULD NOT be used; treated as never matching
    } else {
      return SpfResult::PermError;
    }
    if (m == Match::TempError) return SpfResult::TempError;
    if (m == Match::PermError) return SpfResult::PermError;
    if (m == Match::Yes) return qualifierResult(q);
  }
  if (redirect) {
    if (++c.lookups > 10) return SpfResult::PermError;
    const SpfResult r = evalSpf(c, *redirect, depth + 1);
    return r == SpfResult::None ? SpfResult::PermError : r;
  }
  return SpfResult::Neutral;
}

// ---------------------------------------------------------------- DKIM
struct EvpPkeyFree { void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); } };
struct EvpMdCtxFree { void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); } };
using PkeyPtr = std::unique_ptr<EVP_PKEY, EvpPkeyFree>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, EvpMdCtxFree>;

// Tag list (RFC 6376 3.2): nullopt on a syntax error or a duplicate tag. Values keep inner FWS.
std::optional<std::map<std::string, std::string>> parseTags(std::string_view s) {
  std::map<std::string, std::string> out;
  while (!s.empty()) {
    const auto semi = s.find(';');
    std::string_view spec = s.substr(0, semi);
    s = semi == std::string_view::npos ? std::string_view() : s.substr(semi + 1);
    spec = trim(spec);
    if (spec.empty()) continue;
    const auto eq = spec.find('=');
    if (eq == std::string_view::npos) return std::nullopt;
    const std::string name(trim(spec.substr(0, eq)));
    if (name.empty() || out.count(name)) return std::nullopt;
    out[name] = std::string(trim(spec.substr(eq + 1)));
  }
  return out;
}

std::string withoutFws(std::string_view s) {
  std::string out;
  for (char c : s)
    if (!isWsp(c) && c != '\r' && c != '\n') out += c;
  return out;
}

struct HeaderField {
  std::string_view raw;  // including the final CRLF
  std::string name;      // lower case
};

std::vector<HeaderField> splitHeader(std::string_view block) {
  std::vector<HeaderField> out;
  std::size_t pos = 0;
  while (pos < block.size()) {
    std::size_t end = pos;
    while (true) {
      const auto crlf = block.find("\r\n", end);
      if (crlf == std::string_view::npos) {
        end = block.size();
        break;
      }
      end = crlf + 2;
      if (end >= block.size() || !isWsp(block[end])) break;
    }
    std::string_view raw = block.substr(pos, end - pos);
    const auto colon = raw.find(':');
    if (colon != std::string_view::npos) out.push_back({raw, toLower(trim(raw.substr(0, colon)))});
    pos = end;
  }
  return out;
}

std::string relaxedHeader(std::string_view raw) {
  const auto colon = raw.find(':');
  std::string out = toLower(trim(raw.substr(0, colon)));
  out += ':';
  std::string v;
  bool wsp = false;
  for (char c : raw.substr(colon + 1)) {
    if (c == '\r' || c == '\n') continue;  // unfold
    if (isWsp(c)) {
      wsp = true;
      continue;
    }
    if (wsp && !v.empty()) v += ' ';
    wsp = false;
    v += c;
  }
  out += v;
  out += "\r\n";
  return out;
}

// The DKIM-Signature field with the value of its b= tag removed (RFC 6376 3.7).
std::string withoutSignatureValue(std::string_view raw) {
  std::string s(raw);
  std::size_t i = s.find(':') + 1;
  while (i < s.size()) {
    while (i < s.size() && (isWsp(s[i]) || s[i] == '\r' || s[i] == '\n')) ++i;
    std::size_t nameEnd = i;
    while (nameEnd < s.size() && s[nameEnd] != '=' && s[nameEnd] != ';') ++nameEnd;
    const std::string_view name = trim(std::string_view(s).substr(i, nameEnd - i));
    if (nameEnd >= s.size()) break;
    if (s[nameEnd] == ';') {
      i = nameEnd + 1;
      continue;
    }
    std::size_t valEnd = s.find(';', nameEnd);
    if (name == "b") {
      std::size_t stop = valEnd == std::string::npos ? s.size() : valEnd;
      if (valEnd == std::string::npos && stop >= 2 && s.compare(stop - 2, 2, "\r\n") == 0) stop -= 2;
      s.erase(nameEnd + 1, stop - nameEnd - 1);
      break;
    }
    if (valEnd == std::string::npos) break;
    i = valEnd + 1;
  }
  return s;
}

// Streaming body canonicalisation (RFC 6376 3.4.3 / 3.4.4) into SHA-256, up to `limit` bytes.
class BodyHasher {
 public:
  BodyHasher(bool relaxed, std::optional<uint64_t> limit) : relaxed_(relaxed), limit_(limit), ctx_(EVP_MD_CTX_new()) {
    EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr);
  }
  void feed(std::string_view data) {
    for (char c : data) {
      if (c == '\n' && !line_.empty() && line_.back() == '\r') {
        line_.pop_back();
        endLine();
      } else {
        line_ += c;
      }
    }
  }
  // Returns the hash and the canonical length (before the limit).
  std::pair<std::string, uint64_t> finish() {
    if (!line_.empty()) endLine();
    if (!relaxed_ && total_ == 0) emit("\r\n");
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_DigestFinal_ex(ctx_.get(), md, &n);
    return {std::string(reinterpret_cast<char*>(md), n), total_};
  }

 private:
  void endLine() {
    std::string l;
    if (relaxed_) {
      bool wsp = false;
      for (char c : line_) {
        if (isWsp(c)) {
          wsp = true;
          continue;
        }
        if (wsp) l += ' ';
        wsp = false;
        l += c;
      }
    } else {
      l = line_;
    }
    line_.clear();
    if (l.empty()) {
      ++emptyLines_;
      return;
    }
    for (; emptyLines_ > 0; --emptyLines_) emit("\r\n");
    emit(l);
    emit("\r\n");
  }
  void emit(std::string_view s) {
    std::string_view part = s;
    if (limit_) {
      const uint64_t room = total_ >= *limit_ ? 0 : *limit_ - total_;
      if (part.size() > room) part = part.substr(0, room);
    }
    if (!part.empty()) EVP_DigestUpdate(ctx_.get(), part.data(), part.size());
    total_ += s.size();
  }
  bool relaxed_;
  std::optional<uint64_t> limit_;
  MdCtxPtr ctx_;
  std::string line_;
  std::size_t emptyLines_ = 0;
  uint64_t total_ = 0;
};

constexpr std::size_t kMaxHeaderBytes = 256 * 1024;

// The header block (lines with CRLF, without the empty line) and the body offset.
std::optional<std::pair<std::string, std::size_t>> headerBlock(const MessageData& message) {
  std::string head;
  std::size_t bodyAt = 0;
  bool found = false;
  (void)forEachChunk(message, 64 * 1024, [&](std::string_view c) -> Result<void> {
    const std::size_t before = head.size();
    head.append(c);
    const auto from = before >= 3 ? before - 3 : 0;
    const auto end = head.find("\r\n\r\n", from);
    if (end != std::string::npos) {
      head.resize(end + 2);
      bodyAt = end + 4;
      found = true;
      return Error::invalidInput("enough");
    }
    if (head.size() > kMaxHeaderBytes) return Error::invalidInput("too long");
    return {};
  });
  if (!found) {
    if (head.size() > kMaxHeaderBytes || head.empty()) return std::nullopt;
    // No body: the whole message is the header (ending with CRLF).
    if (head.size() >= 2 && head.compare(head.size() - 2, 2, "\r\n") == 0) return std::make_pair(head, head.size());
    return std::nullopt;
  }
  return std::make_pair(head, bodyAt);
}

std::string bodyHash(const MessageData& message, std::size_t bodyAt, bool relaxed, std::optional<uint64_t> limit,
                     uint64_t* canonicalLength) {
  BodyHasher h(relaxed, limit);
  std::size_t offset = 0;
  (void)forEachChunk(message, 256 * 1024, [&](std::string_view c) -> Result<void> {
    if (offset + c.size() > bodyAt) {
      const std::size_t skip = offset >= bodyAt ? 0 : bodyAt - offset;
      h.feed(c.substr(skip));
    }
    offset += c.size();
    return {};
  });
  auto [hash, len] = h.finish();
  if (canonicalLength) *canonicalLength = len;
  return hash;
}

bool verifySignature(EVP_PKEY* key, bool ed25519, const std::string& data, const std::string& sig) {
  MdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx) return false;
  if (ed25519) {
    // RFC 8463: PureEdDSA over the SHA-256 of the canonicalised header data.
    unsigned char md[32];
    unsigned int n = 0;
    if (EVP_Digest(data.data(), data.size(), md, &n, EVP_sha256(), nullptr) != 1) return false;
    if (EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key) != 1) return false;
    return EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(sig.data()), sig.size(), md, n) == 1;
  }
  if (EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key) != 1) return false;
  return EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                          reinterpret_cast<const unsigned char*>(data.data()), data.size()) == 1;
}

DkimVerification verifyOne(DnsResolver& dns, const MessageData& message, const std::vector<HeaderField>& fields,
                           std::size_t sigIndex, std::size_t bodyAt, const DkimOptions& options,
                           std::map<std::string, std::pair<std::string, uint64_t>>& bodyCache) {
  DkimVerification v;
  v.result = DkimResult::PermError;
  const HeaderField& sigField = fields[sigIndex];
  auto tags = parseTags(sigField.raw.substr(sigField.raw.find(':') + 1));
  if (!tags) {
    v.reason = "malformed signature";
    return v;
  }
  auto& t = *tags;
  auto tag = [&](const char* n) -> std::string { auto it = t.find(n); return it == t.end() ? "" : it->second; };
  v.domain = stripDot(tag("d"));
  v.selector = toLower(tag("s"));
  v.algorithm = toLower(tag("a"));
  if (tag("v") != "1" || t.count("b") == 0 || tag("bh").empty() || tag("h").empty() || !plausibleDomain(v.domain) ||
      v.selector.empty() || v.selector.size() > 63) {
    v.reason = "missing or bad tag";
    return v;
  }
  if (v.algorithm == "rsa-sha1") {
    v.reason = "rsa-sha1 refused (RFC 8301)";
    return v;
  }
  const bool ed25519 = v.algorithm == "ed25519-sha256";
  if (!ed25519 && v.algorithm != "rsa-sha256") {
    v.reason = "unsupported algorithm";
    return v;
  }
  std::string canon = toLower(tag("c"));
  if (canon.empty()) canon = "simple/simple";
  const auto slash = canon.find('/');
  const std::string hc = canon.substr(0, slash);
  const std::string bc = slash == std::string::npos ? "simple" : canon.substr(slash + 1);
  if ((hc != "simple" && hc != "relaxed") || (bc != "simple" && bc != "relaxed")) {
    v.reason = "bad canonicalisation";
    return v;
  }
  // h= must cover From (RFC 6376 5.4).
  std::vector<std::string> signedNames;
  {
    std::string_view h = t["h"];
    while (!h.empty()) {
      const auto colon = h.find(':');
      signedNames.push_back(toLower(trim(h.substr(0, colon))));
      h = colon == std::string_view::npos ? std::string_view() : h.substr(colon + 1);
    }
  }
  if (std::find(signedNames.begin(), signedNames.end(), "from") == signedNames.end()) {
    v.reason = "From not signed";
    return v;
  }
  const std::string auid = tag("i");
  if (!auid.empty()) {
    const std::string dom = toLower(auid.substr(auid.rfind('@') + 1));
    if (dom != v.domain && (dom.size() <= v.domain.size() || dom.compare(dom.size() - v.domain.size() - 1, std::string::npos, "." + v.domain) != 0)) {
      v.reason = "i= not within d=";
      return v;
    }
  }
  if (!tag("x").empty()) {
    const auto x = std::strtoll(tag("x").c_str(), nullptr, 10);
    if (x > 0 && x < static_cast<long long>(std::time(nullptr))) {
      v.reason = "signature expired";
      return v;
    }
  }
  std::optional<uint64_t> limit;
  if (!tag("l").empty()) {
    const std::string l = tag("l");
    if (l.size() > 76 || l.find_first_not_of("0123456789") != std::string::npos) {
      v.reason = "bad l=";
      return v;
    }
    limit = std::strtoull(l.c_str(), nullptr, 10);
  }
  auto sig = internal::base64Decode(withoutFws(tag("b")), false);
  auto bh = internal::base64Decode(withoutFws(tag("bh")), false);
  if (!sig || !bh || sig->empty()) {
    v.reason = "bad base64";
    return v;
  }

  // The key.
  auto records = dns.txt(v.selector + "._domainkey." + v.domain);
  if (!records) {
    v.result = DkimResult::TempError;
    v.reason = "key lookup failed";
    return v;
  }
  PkeyPtr key;
  for (const auto& rec : *records) {
    auto kt = parseTags(rec);
    if (!kt) continue;
    auto kget = [&](const char* n) -> std::string { auto it = kt->find(n); return it == kt->end() ? "" : it->second; };
    if (kt->count("v") && kget("v") != "DKIM1") continue;
    const std::string kk = kget("k").empty() ? "rsa" : toLower(kget("k"));
    if ((kk == "ed25519") != ed25519 || (kk != "rsa" && kk != "ed25519")) continue;
    if (!kget("h").empty() && toLower(kget("h")).find("sha256") == std::string::npos) continue;
    const std::string p = withoutFws(kget("p"));
    if (p.empty()) {
      v.reason = "key revoked";
      return v;
    }
    auto der = internal::base64Decode(p, false);
    if (!der) continue;
    const auto* q = reinterpret_cast<const unsigned char*>(der->data());
    if (ed25519) {
      if (der->size() != 32) continue;
      key.reset(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, q, der->size()));
    } else {
      key.reset(d2i_PUBKEY(nullptr, &q, static_cast<long>(der->size())));
      if (!key) {
        q = reinterpret_cast<const unsigned char*>(der->data());
        key.reset(d2i_PublicKey(EVP_PKEY_RSA, nullptr, &q, static_cast<long>(der->size())));
      }
      if (key && (EVP_PKEY_base_id(key.get()) != EVP_PKEY_RSA || EVP_PKEY_bits(key.get()) < 1024)) {
        key.reset();
        v.reason = "RSA key too short";
        return v;
      }
    }
    if (key) break;
  }
  if (!key) {
    if (v.reason.empty()) v.reason = records->empty() ? "no key" : "no usable key";
    return v;
  }

  // Body hash.
  const std::string cacheKey = bc + ":" + (limit ? std::to_string(*limit) : "-");
  auto it = bodyCache.find(cacheKey);
  if (it == bodyCache.end()) {
    uint64_t len = 0;
    std::string h = bodyHash(message, bodyAt, bc == "relaxed", limit, &len);
    it = bodyCache.emplace(cacheKey, std::make_pair(h, len)).first;
  }
  if (limit && *limit > it->second.second) {
    v.reason = "l= beyond the body";
    return v;
  }
  if (it->second.first != *bh) {
    v.result = DkimResult::Fail;
    v.reason = "body hash mismatch";
    return v;
  }

  // Header hash input: each h= name picks the last not yet used field of that name.
  std::string data;
  std::vector<bool> used(fields.size(), false);
  for (const auto& name : signedNames) {
    for (std::size_t k = fields.size(); k-- > 0;) {
      if (used[k] || fields[k].name != name || k == sigIndex) continue;
      used[k] = true;
      data += hc == "relaxed" ? relaxedHeader(fields[k].raw) : std::string(fields[k].raw);
      break;
    }
  }
  std::string self = withoutSignatureValue(sigField.raw);
  if (hc == "relaxed") self = relaxedHeader(self);
  if (self.size() >= 2 && self.compare(self.size() - 2, 2, "\r\n") == 0) self.resize(self.size() - 2);
  data += self;
  if (!verifySignature(key.get(), ed25519, data, *sig)) {
    v.result = DkimResult::Fail;
    v.reason = "signature did not verify";
    return v;
  }
  if (limit && *limit < it->second.second && !options.acceptPartialBody) {
    v.result = DkimResult::Neutral;
    v.reason = "l= leaves body content unsigned";
    return v;
  }
  v.result = DkimResult::Pass;
  v.reason.clear();
  return v;
}

std::string orgDomain(const std::string& d) {
  const auto last = d.rfind('.');
  if (last == std::string::npos || last == 0) return d;
  const auto prev = d.rfind('.', last - 1);
  return prev == std::string::npos ? d : d.substr(prev + 1);
}

bool aligned(const std::string& a, const std::string& b, bool strict) {
  if (a.empty() || b.empty()) return false;
  return strict ? a == b : orgDomain(a) == orgDomain(b);
}

// Keeps [A-Za-z0-9.-_@+] so that untrusted values cannot break the header syntax.
std::string token(std::string_view s, std::size_t max = 100) {
  std::string out;
  for (char c : s) {
    if (out.size() >= max) break;
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_' || c == '@' || c == '+')
      out += c;
  }
  return out.empty() ? "unknown" : out;
}

// Text for a header comment: printable ASCII without parentheses or backslashes.
std::string comment(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (out.size() >= 80) break;
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7f && c != '(' && c != ')' && c != '\\') out += c;
  }
  return out;
}

}  // namespace

SpfResult checkSpf(DnsResolver& dns, std::string_view ip, std::string_view domain, std::string_view sender,
                   std::string_view helo) {
  auto parsed = parseIp(ip);
  if (!parsed) return SpfResult::None;
  SpfCtx c{dns, *parsed, std::string(ip), std::string(sender), std::string(helo)};
  if (parsed->family == AF_INET) {
    char t[INET_ADDRSTRLEN];
    if (inet_ntop(AF_INET, parsed->b.data(), t, sizeof t)) c.ipText = t;
  }
  return evalSpf(c, stripDot(std::string(domain)), 0);
}

std::vector<DkimVerification> verifyDkim(DnsResolver& dns, const MessageData& message, DkimOptions options) {
  std::vector<DkimVerification> out;
  auto head = headerBlock(message);
  if (!head) return out;
  const auto fields = splitHeader(head->first);
  std::map<std::string, std::pair<std::string, uint64_t>> bodyCache;
  for (std::size_t i = 0; i < fields.size() && out.size() < options.maxSignatures; ++i) {
    if (fields[i].name != "dkim-signature") continue;
    out.push_back(verifyOne(dns, message, fields, i, head->second, options, bodyCache));
  }
  return out;
}

std::string fromDomainOf(const MessageData& message) {
  auto head = headerBlock(message);
  if (!head) return "";
  std::string from;
  int count = 0;
  for (const auto& f : splitHeader(head->first)) {
    if (f.name != "from") continue;
    ++count;
    from = relaxedHeader(f.raw).substr(5);
  }
  if (count != 1) return "";
  // One mailbox: the domain of the addr-spec in <...>, or of the bare addr-spec.
  std::string addr = from;
  const auto lt = from.rfind('<');
  if (lt != std::string::npos) {
    const auto gt = from.find('>', lt);
    if (gt == std::string::npos) return "";
    addr = from.substr(lt + 1, gt - lt - 1);
  } else if (from.find(',') != std::string::npos) {
    return "";
  }
  const auto at = addr.rfind('@');
  if (at == std::string::npos) return "";
  std::string dom(trim(addr.substr(at + 1)));
  if (!dom.empty() && dom.back() == '\r') dom.pop_back();
  dom = stripDot(std::string(trim(dom)));
  return plausibleDomain(dom) ? dom : "";
}

DmarcVerification checkDmarc(DnsResolver& dns, std::string_view fromDomain, SpfResult spf, std::string_view spfDomain,
                             const std::vector<DkimVerification>& dkim) {
  DmarcVerification d;
  d.fromDomain = stripDot(std::string(fromDomain));
  if (d.fromDomain.empty()) {
    d.result = DmarcResult::None;
    return d;
  }
  std::optional<std::map<std::string, std::string>> record;
  bool fromParent = false;
  for (int step = 0; step < 2 && !record; ++step) {
    std::string dom = d.fromDomain;
    if (step == 1) {
      const auto dot = dom.find('.');
      dom = dom.substr(dot + 1);
      if (dom.find('.') == std::string::npos || dom == d.fromDomain) break;  // no parent below the TLD
    }
    auto txt = dns.txt("_dmarc." + dom);
    if (!txt) {
      d.result = DmarcResult::TempError;
      return d;
    }
    int found = 0;
    for (const auto& r : *txt) {
      if (r.rfind("v=DMARC1", 0) != 0) continue;
      ++found;
      record = parseTags(r);
    }
    if (found > 1) record.reset();  // RFC 7489 6.6.3: several records -> none
    if (found == 1 && !record) {
      d.result = DmarcResult::PermError;
      return d;
    }
    if (record) {
      d.recordDomain = dom;
      fromParent = step == 1;
    }
  }
  if (!record) {
    d.result = DmarcResult::None;
    return d;
  }
  auto get = [&](const char* n) -> std::string { auto it = record->find(n); return it == record->end() ? "" : toLower(it->second); };
  std::string p = get("p");
  if (fromParent && !get("sp").empty()) p = get("sp");
  if (p != "none" && p != "quarantine" && p != "reject") {
    d.result = DmarcResult::PermError;
    return d;
  }
  d.policy = p;
  const bool strictSpf = get("aspf") == "s";
  const bool strictDkim = get("adkim") == "s";
  bool pass = spf == SpfResult::Pass && aligned(stripDot(std::string(spfDomain)), d.fromDomain, strictSpf);
  for (const auto& v : dkim)
    if (v.result == DkimResult::Pass && aligned(v.domain, d.fromDomain, strictDkim)) pass = true;
  d.result = pass ? DmarcResult::Pass : DmarcResult::Fail;
  return d;
}

std::string MailAuthResults::summary() const {
  std::string s = "spf=" + std::string(spfResultName(spf));
  if (dkim.empty()) {
    s += " dkim=none";
  } else {
    for (const auto& v : dkim) s += " dkim=" + std::string(dkimResultName(v.result)) + "(" + token(v.domain) + ")";
  }
  s += " dmarc=" + std::string(dmarcResultName(dmarc.result));
  if (!dmarc.policy.empty()) s += "(p=" + dmarc.policy + ")";
  return s;
}

MailAuthResults authenticateMail(DnsResolver& dns, const MailAuthInput& input, const MessageData& message,
                                 DkimOptions dkimOptions) {
  MailAuthResults r;
  std::string sender = input.mailFrom;
  std::string domain;
  if (sender.empty()) {
    domain = stripDot(input.helo);
    sender = "postmaster@" + domain;
  } else {
    domain = stripDot(sender.substr(sender.rfind('@') + 1));
  }
  r.spfDomain = domain;
  r.spf = checkSpf(dns, input.clientIp, domain, sender, input.helo);
  r.dkim = verifyDkim(dns, message, dkimOptions);
  r.dmarc = checkDmarc(dns, fromDomainOf(message), r.spf, r.spfDomain, r.dkim);
  return r;
}

std::string authenticationResultsHeader(std::string_view authservId, const MailAuthResults& r) {
  std::string h = "Authentication-Results: " + token(authservId) + ";\r\n\tspf=" + std::string(spfResultName(r.spf)) +
                  " smtp.mailfrom=" + token(r.spfDomain);
  if (r.dkim.empty()) h += ";\r\n\tdkim=none";
  for (const auto& v : r.dkim) {
    h += ";\r\n\tdkim=" + std::string(dkimResultName(v.result));
    if (!v.reason.empty()) h += " (" + comment(v.reason) + ")";
    h += " header.d=" + token(v.domain) + " header.s=" + token(v.selector) + " header.a=" + token(v.algorithm);
  }
  h += ";\r\n\tdmarc=" + std::string(dmarcResultName(r.dmarc.result));
  if (!r.dmarc.policy.empty()) h += " (p=" + r.dmarc.policy + ")";
  h += " header.from=" + token(r.dmarc.fromDomain);
  h += "\r\n";
  return h;
}

}  // namespace erds::smtp
