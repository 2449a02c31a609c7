// Fuzz target: the SMTP server protocol engine (erds::smtp::SmtpSession: command lines, pipelining,
// AUTH, DATA with dot-stuffing and the RFC 5322/MIME sanity check) with in-memory ports.
// Input: byte 0 selects the listener (bit 0: MX, bit 1: STARTTLS offered); the rest is what the
// client sends, cut into receive() calls at each 0xFF byte. STARTTLS "succeeds" when asked.
#include <cstdint>
#include <string>

#include "erds/smtp/smtp_session.h"
#include "fake_ports.h"
#include "fuzz_support.h"

namespace {
erds::smtp::testing::InMemoryAuthenticator* g_auth = nullptr;
}

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  erds::fuzz::quietLogs();
  g_auth = new erds::smtp::testing::InMemoryAuthenticator();
  g_auth->addUser({"alice", "secret", "party-alice", {"alice@example.test"}, ""});
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace erds::smtp;
  erds::fuzz::clearLogs();
  if (size == 0) return 0;
  SessionConfig config;
  config.listener = (data[0] & 1) != 0 ? ListenerKind::Mx : ListenerKind::Submission;
  config.tlsAvailable = (data[0] & 2) != 0;
  config.hostname = "mx.example.test";
  config.localDomains = {"example.test"};
  config.limits.maxMessageBytes = 64 * 1024;
  config.limits.memoryThreshold = 64 * 1024;  // never spool to disk while fuzzing
  testing::InMemorySubmissionSink sink;
  SmtpSession session(config, "192.0.2.1:40000", g_auth, &sink);
  (void)session.greeting();
  std::string_view rest = erds::fuzz::asView(data + 1, size - 1);
  while (!rest.empty() && !session.closed()) {
    std::size_t cut = rest.find('\xff');
    auto out = session.receive(rest.substr(0, cut));
    rest = cut == std::string_view::npos ? std::string_view{} : rest.substr(cut + 1);
    if (out.close) break;
    if (out.startTls) (void)session.tlsEstablished({"TLSv1.3", "TLS_AES_128_GCM_SHA256", "", {}});
  }
  session.connectionLost();
  return 0;
}
