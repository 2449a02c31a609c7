// Fuzz target: inbound mail authentication (erds::smtp authenticateMail: SPF record evaluation,
// DKIM-Signature parsing + key records + verification, DMARC records, From domain) and the
// Authentication-Results header built from the outcome. DNS answers are untrusted bytes served by
// the FakeDnsResolver.
// Input: byte 0 = flags (bit 0: IPv6 client, bit 1: null reverse-path, bit 2: accept l= partial
// bodies); then the DNS part up to the first NUL byte, one record per '\n'-terminated line
// "<type> <name> <value>" (type T = TXT, A, 6 = AAAA, M = MX "<pref> <host>", F = the name fails);
// then the message (bare LF/CR made CRLF and a final CRLF added, as the SMTP session delivers it).
// ERDS_FUZZ_DEBUG=1 prints the outcome (for reproducing one input by hand).
// Invariant: the Authentication-Results field is CRLF-terminated, folded lines of printable ASCII
// (or TAB) of at most 998 bytes, and its first line names the field.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "erds/smtp/mail_auth.h"
#include "erds/smtp/message_data.h"
#include "fake_dns_resolver.h"
#include "fuzz_support.h"

namespace {

using erds::smtp::testing::FakeDnsResolver;

void addRecords(FakeDnsResolver& dns, std::string_view part) {
  while (!part.empty()) {
    std::size_t eol = part.find('\n');
    std::string_view line = part.substr(0, eol);
    part = eol == std::string_view::npos ? std::string_view{} : part.substr(eol + 1);
    if (line.size() < 3 || line[1] != ' ') continue;
    std::string_view rest = line.substr(2);
    std::size_t sp = rest.find(' ');
    std::string name(rest.substr(0, sp));
    std::string value(sp == std::string_view::npos ? std::string_view{} : rest.substr(sp + 1));
    switch (line[0]) {
      case 'T': dns.addTxt(name, value); break;
      case 'A': dns.addA(name, value); break;
      case '6': dns.addAaaa(name, value); break;
      case 'M': {
        int pref = 0;
        std::size_t i = 0;
        while (i < value.size() && i < 5 && value[i] >= '0' && value[i] <= '9') pref = pref * 10 + (value[i++] - '0');
        while (i < value.size() && value[i] == ' ') ++i;
        dns.addMx(name, pref, value.substr(i));
        break;
      }
      case 'F': dns.failName(name); break;
      default: break;
    }
  }
}

// The message as MessageData holds it: CRLF line ends, ending with CRLF.
std::string crlfMessage(std::string_view in) {
  std::string out;
  out.reserve(in.size() + in.size() / 8 + 2);
  for (std::size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '\r') {
      out += "\r\n";
      if (i + 1 < in.size() && in[i + 1] == '\n') ++i;
    } else if (c == '\n') {
      out += "\r\n";
    } else {
      out += c;
    }
  }
  if (out.size() < 2 || out.compare(out.size() - 2, 2, "\r\n") != 0) out += "\r\n";
  return out;
}

void checkHeader(const std::string& h) {
  static constexpr std::string_view kName = "Authentication-Results: ";
  if (h.compare(0, kName.size(), kName) != 0) erds::fuzz::fail("Authentication-Results: wrong field name");
  if (h.size() < 2 || h.compare(h.size() - 2, 2, "\r\n") != 0)
    erds::fuzz::fail("Authentication-Results: not CRLF-terminated");
  std::size_t start = 0;
  bool first = true;
  while (start < h.size()) {
    std::size_t end = h.find("\r\n", start);
    if (end == std::string::npos) erds::fuzz::fail("Authentication-Results: bare CR or LF");
    std::string_view line(h.data() + start, end - start);
    if (line.size() > 998) erds::fuzz::fail("Authentication-Results: line over 998 bytes");
    if (line.empty()) erds::fuzz::fail("Authentication-Results: empty line (ends the header block)");
    if (!first && line[0] != ' ' && line[0] != '\t')
      erds::fuzz::fail("Authentication-Results: continuation line without leading whitespace");
    for (char c : line) {
      auto u = static_cast<unsigned char>(c);
      if (u != '\t' && (u < 0x20 || u > 0x7e)) erds::fuzz::fail("Authentication-Results: unsafe byte in the field");
    }
    first = false;
    start = end + 2;
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  erds::fuzz::quietLogs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace erds::smtp;
  erds::fuzz::clearLogs();
  if (size == 0) return 0;
  const uint8_t flags = data[0];
  std::string_view rest = erds::fuzz::asView(data + 1, size - 1);
  std::size_t nul = rest.find('\0');
  std::string_view dnsPart = rest.substr(0, nul);
  std::string_view messagePart = nul == std::string_view::npos ? std::string_view{} : rest.substr(nul + 1);

  FakeDnsResolver dns;
  addRecords(dns, dnsPart);

  MessageData message(1 << 20, "");  // the fuzzer's max_len keeps it in memory
  if (!message.append(crlfMessage(messagePart)) || !message.finish()) erds::fuzz::fail("MessageData: in-memory append failed");

  MailAuthInput input;
  input.clientIp = (flags & 1) != 0 ? "2001:db8::25" : "192.0.2.25";
  input.helo = "mx.example.test";
  input.mailFrom = (flags & 2) != 0 ? "" : "alice@example.test";
  DkimOptions options;
  options.acceptPartialBody = (flags & 4) != 0;

  MailAuthResults results = authenticateMail(dns, input, message, options);
  if (results.dkim.size() > options.maxSignatures) erds::fuzz::fail("verifyDkim: more results than maxSignatures");
  if (results.dmarc.result == DmarcResult::Pass && results.dmarc.fromDomain.empty())
    erds::fuzz::fail("checkDmarc: pass without a From domain");
  if (std::getenv("ERDS_FUZZ_DEBUG") != nullptr)  // when reproducing one input by hand
    std::fprintf(stderr, "mail_auth: %s dmarc.policy=%s\n", results.summary().c_str(), results.dmarc.policy.c_str());
  (void)results.summary();
  (void)results.dmarcReject();
  checkHeader(authenticationResultsHeader("mx.example.test", results));

  // DMARC record parsing even when the fuzzed message has no usable From field.
  DmarcVerification dmarc = checkDmarc(dns, "mail.example.test", SpfResult::Pass, "example.test", results.dkim);
  if (dmarc.result == DmarcResult::Pass && dmarc.fromDomain.empty()) erds::fuzz::fail("checkDmarc: pass without a From domain");
  // SPF of another identity (HELO), over the same records.
  (void)checkSpf(dns, input.clientIp, "example.test", "postmaster@example.test", "mx.example.test");
  return 0;
}
