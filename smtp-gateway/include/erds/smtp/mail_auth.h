// Sender authentication of inbound mail on the MX listener: SPF (RFC 7208), DKIM verification
// (RFC 6376, rsa-sha256 and ed25519-sha256 of RFC 8463) and DMARC (RFC 7489, simplified
// organisational domain: the From domain, then its parent), with the Authentication-Results header
// (RFC 8601) that records them. Every outcome is a value; DNS comes through the DnsResolver port.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "erds/smtp/dns_resolver.h"
#include "erds/smtp/message_data.h"

namespace erds::smtp {

enum class SpfResult { None, Neutral, Pass, Fail, SoftFail, TempError, PermError };
enum class DkimResult { None, Pass, Fail, Neutral, TempError, PermError };
enum class DmarcResult { None, Pass, Fail, TempError, PermError };
std::string_view spfResultName(SpfResult r);    // "pass", "softfail", ...
std::string_view dkimResultName(DkimResult r);
std::string_view dmarcResultName(DmarcResult r);

// check_host() of RFC 7208 for `ip` (text, v4 or v6), `domain` and the MAIL FROM `sender`
// ("local@domain"; for the null reverse-path pass "postmaster@<helo>"). At most 10 DNS-querying
// terms (permerror beyond), at most 2 void lookups; mechanisms ip4, ip6, a, mx, include, exists,
// all, ptr (never matches: RFC 7208 5.5 says do not use), modifier redirect; macros %{s l o d i h v}
// without transformers (others: permerror). `helo` feeds %{h}. Thread-safe if `dns` is.
SpfResult checkSpf(DnsResolver& dns, std::string_view ip, std::string_view domain, std::string_view sender,
                   std::string_view helo);

struct DkimVerification {
  DkimResult result = DkimResult::None;
  std::string domain;     // d=
  std::string selector;   // s=
  std::string algorithm;  // a=
  std::string reason;     // short, for the header comment and the audit record ("" on pass)
};

struct DkimOptions {
  std::size_t maxSignatures = 5;  // further DKIM-Signature fields are ignored
  // l= (body length): honoured as RFC 6376 6.1.1 allows, but a signature whose l= leaves part of
  // the body unsigned is reported as policy/neutral ("unsigned body content") when false.
  bool acceptPartialBody = false;
};

// Verifies every DKIM-Signature of `message` (at most options.maxSignatures): tags of RFC 6376
// 3.5, canonicalisation simple/relaxed of header and body (the body streamed from the spool file),
// key from <s>._domainkey.<d> TXT (k=rsa: SubjectPublicKeyInfo or RSAPublicKey; k=ed25519: the raw
// 32-byte key), signature with OpenSSL EVP. rsa-sha1 is refused (permerror, RFC 8301); RSA keys
// below 1024 bits too. No signature: empty vector. Thread-safe if `dns` is.
std::vector<DkimVerification> verifyDkim(DnsResolver& dns, const MessageData& message, DkimOptions options = {});

struct DmarcVerification {
  DmarcResult result = DmarcResult::None;
  std::string fromDomain;  // RFC5322.From domain ("" if none or several)
  std::string policy;      // p= (or sp= when the record came from the parent): none|quarantine|reject, "" if none
  std::string recordDomain;
};

// DMARC for the From domain: the record at _dmarc.<from> or else _dmarc.<parent of from>; pass if
// SPF passed for an aligned MAIL FROM domain or a DKIM signature passed for an aligned d=
// (adkim/aspf r = same organisational domain, the last two labels; s = equal).
DmarcVerification checkDmarc(DnsResolver& dns, std::string_view fromDomain, SpfResult spf, std::string_view spfDomain,
                             const std::vector<DkimVerification>& dkim);

// The RFC5322.From domain of the message header ("" if there is no From, several From fields or
// several addresses, or no domain).
std::string fromDomainOf(const MessageData& message);

struct MailAuthInput {
  std::string clientIp;  // text form
  std::string helo;
  std::string mailFrom;  // "" for <>
};

struct MailAuthResults {
  SpfResult spf = SpfResult::None;
  std::string spfDomain;  // the MAIL FROM domain (or HELO for <>)
  std::vector<DkimVerification> dkim;
  DmarcVerification dmarc;
  // DMARC failed and the domain's policy is reject.
  bool dmarcReject() const { return dmarc.result == DmarcResult::Fail && dmarc.policy == "reject"; }
  // "spf=pass dkim=pass dmarc=pass" style summary for the audit record.
  std::string summary() const;
};

// SPF, then DKIM, then DMARC for one received message.
MailAuthResults authenticateMail(DnsResolver& dns, const MailAuthInput& input, const MessageData& message,
                                 DkimOptions dkimOptions = {});

// The Authentication-Results field (RFC 8601), "Authentication-Results: <authservId>; ...\r\n",
// folded below 998 bytes, with every untrusted value reduced to a safe token.
std::string authenticationResultsHeader(std::string_view authservId, const MailAuthResults& results);

}  // namespace erds::smtp
