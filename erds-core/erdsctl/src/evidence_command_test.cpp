// End-to-end tests of `erdsctl evidence issue|verify|events` (the built binary): every event is
// issued with a PKI from `erdsctl pki init` and verifies with erdsctl and with xmlsec1; tampering,
// untrusted roots, usage errors and the AgID conformance sample behave as documented.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <thread>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "erds/evidence/event.h"

#include "test_support.h"

#ifndef ERDSCTL_PATH
#error "ERDSCTL_PATH must name the built erdsctl binary"
#endif
#ifndef ERDS_CONFORMANCE_DIR
#error "ERDS_CONFORMANCE_DIR must name ../shared/conformance"
#endif

namespace erds::ctl {
namespace {

namespace fs = std::filesystem;
namespace ev = erds::evidence;
using ::testing::HasSubstr;
using ::testing::Not;
using testsupport::CliRun;
using testsupport::readFile;
using testsupport::TempDir;
using testsupport::writeFile;
using testsupport::erdsctl;

extern "C" char** environ;

// A listening socket on 127.0.0.1 that never accepts: a connection attempt shows up as pending.
struct ListeningTrap {
  int fd = -1;
  int port = 0;
  ListeningTrap() {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(::listen(fd, 8), 0);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
  }
  ~ListeningTrap() { close(); }
  void close() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
  bool contacted() const {
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, 0) > 0;
  }
};

// `openssl ocsp` (a responder we did not write) serving DIR/index.txt on `port` until destroyed.
class OpensslOcspResponder {
 public:
  OpensslOcspResponder(const std::string& pki, int port, const std::string& log) {
    const std::vector<std::string> argv = {"openssl", "ocsp", "-index", pki + "/index.txt", "-CA", pki + "/root-ca.pem",
                                           "-rsigner", pki + "/ocsp.pem", "-rkey", pki + "/ocsp.key", "-port",
                                           std::to_string(port), "-ndays", "1"};
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    if (posix_spawnp(&pid_, "openssl", &fa, nullptr, args.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&fa);
    // Ready when it says so (a probe connection would block this one-connection-at-a-time server).
    for (int i = 0; i < 200 && pid_ > 0 && !ready_; ++i) {
      ready_ = readFile(log).find("waiting for OCSP client connections") != std::string::npos;
      if (!ready_) std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
  }
  ~OpensslOcspResponder() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
  }
  bool ready() const { return ready_; }

 private:
  pid_t pid_ = -1;
  bool ready_ = false;
};

int lineCount(const std::string& s) {
  return static_cast<int>(std::count(s.begin(), s.end(), '\n'));
}

// One development PKI for the whole suite (key generation is the slow part).
class EvidenceCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    CliRun r = erdsctl({"pki", "init", "--dir", dir_->file("pki")});
    ASSERT_EQ(r.rc, 0) << r.err;
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  static std::string pki() { return dir_->file("pki"); }
  static std::string root() { return dir_->file("pki") + "/root-ca.pem"; }

  // Issues `event` into `out` with the options the event needs.
  static CliRun issue(ev::Event event, const std::string& out,
                      std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"evidence",    "issue",
                                     "--pki",       pki(),
                                     "--event",     std::string(ev::eventName(event)),
                                     "--sender",    "mailto:alice@example.test",
                                     "--recipient", "mailto:bob@example.test",
                                     "--out",       out};
    if (ev::eventGroup(event) == 'B') {
      args.insert(args.end(), {"--external-erds", "https://rems.other.test/"});
    }
    if (ev::eventGroup(event) == 'F') {
      args.insert(args.end(), {"--external-system", "smtp://mx.plain-mail.test"});
    }
    args.insert(args.end(), extra.begin(), extra.end());
    return erdsctl(args);
  }

  static TempDir* dir_;
};

TempDir* EvidenceCli::dir_ = nullptr;

TEST_F(EvidenceCli, EveryEventIssuesAndVerifiesWithErdsctlAndXmlsec1) {
  ASSERT_EQ(std::system("command -v xmlsec1 >/dev/null 2>&1"), 0)
      << "xmlsec1 is not installed (apt-get install xmlsec1): it is the independent verifier here";
  TempDir out;
  int issued = 0;
  for (ev::Event e : ev::kAllEvents) {
    const std::string name(ev::eventName(e));
    const std::string file = out.file(name + ".xml");
    CliRun r = issue(e, file, {"--subject", "Order #1 & <friends>"});
    ASSERT_EQ(r.rc, 0) << name << ": " << r.err;
    EXPECT_THAT(r.out, HasSubstr("wrote " + file));
    const std::string defaultReason(ev::reasonCode(ev::defaultReason(e)));
    EXPECT_THAT(r.out, HasSubstr("reason:     " + defaultReason)) << name;
    ++issued;

    r = erdsctl({"evidence", "verify", file, "--trust", root()});
    EXPECT_EQ(r.rc, 0) << name << ": " << r.out << r.err;
    EXPECT_THAT(r.out, HasSubstr("result:      VALID\n")) << name;
    EXPECT_THAT(r.out,
                HasSubstr("event:       " + name + " (" + std::string(ev::eventCode(e)) + ")"));
    EXPECT_THAT(r.out, HasSubstr("reason:      " + defaultReason)) << name;
    EXPECT_THAT(r.out, HasSubstr("sender:      mailto:alice@example.test"));
    EXPECT_THAT(r.out, HasSubstr("recipient:   mailto:bob@example.test"));
    EXPECT_THAT(r.out, HasSubstr("signer:      CN=erds DEVELOPMENT Evidence Seal"));
    EXPECT_THAT(r.out, HasSubstr("TSA:         CN=erds DEVELOPMENT Time-Stamping Unit"));

    r = testsupport::runProgram("xmlsec1", {"--verify", "--trusted-pem", root(), file});
    EXPECT_EQ(r.rc, 0) << name << ": " << r.err;
    EXPECT_THAT(r.out + r.err, HasSubstr("OK")) << name;
    EXPECT_THAT(r.out + r.err, HasSubstr("SignedInfo References (ok/all): 2/2")) << name;
  }
  EXPECT_EQ(issued, 19);
}

TEST_F(EvidenceCli, ContentDigestReasonAndJsonReport) {
  TempDir out;
  writeFile(out.file("message.eml"), "Subject: hello\r\n\r\nbody\r\n", 0600);
  CliRun r = issue(ev::Event::SubmissionRejection, out.file("a2.xml"),
                   {"--reason", "RA02", "--content", out.file("message.eml")});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("reason:     RA02"));
  const std::string xml = readFile(out.file("a2.xml"));
  // base64(SHA-256("Subject: hello\r\n\r\nbody\r\n")), computed independently with
  // `printf 'Subject: hello\r\n\r\nbody\r\n' | openssl dgst -sha256 -binary | base64`.
  CliRun digest = testsupport::runProgram(
      "sh", {"-c", "openssl dgst -sha256 -binary " +
                       testsupport::shellQuote(out.file("message.eml")) + " | base64"});
  ASSERT_EQ(digest.rc, 0);
  std::string b64 = digest.out;
  while (!b64.empty() && b64.back() == '\n')
    b64.pop_back();
  ASSERT_FALSE(b64.empty());
  EXPECT_THAT(xml, HasSubstr(b64));
  EXPECT_THAT(xml, HasSubstr("urn:oid:1.3.6.1.7"));

  r = erdsctl({"evidence", "verify", "--json", out.file("a2.xml"), "--trust", root()});
  EXPECT_EQ(r.rc, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("\"result\":\"valid\""));
  EXPECT_THAT(r.out, HasSubstr("\"event\":\"SubmissionRejection\""));
  EXPECT_THAT(r.out, HasSubstr("\"eventReason\":\"" + ev::reasonUri(ev::Reason::RA02) + "\""))
      << r.out;
  EXPECT_EQ(lineCount(r.out), 1);
}

TEST_F(EvidenceCli, TamperedByteIsInvalidWithTheReason) {
  TempDir out;
  ASSERT_EQ(issue(ev::Event::SubmissionAcceptance, out.file("sa.xml")).rc, 0);
  std::string xml = readFile(out.file("sa.xml"));
  const std::size_t at = xml.find("alice@example.test");
  ASSERT_NE(at, std::string::npos);
  xml[at] = 'A';
  writeFile(out.file("tampered.xml"), xml, 0600);
  CliRun r = erdsctl({"evidence", "verify", out.file("tampered.xml"), "--trust", root()});
  EXPECT_EQ(r.rc, 1) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("result:      INVALID: digest mismatch"));
  EXPECT_THAT(r.out, HasSubstr("altered"));

  // xmlsec1, independently, rejects it too.
  r = testsupport::runProgram("xmlsec1",
                              {"--verify", "--trusted-pem", root(), out.file("tampered.xml")});
  EXPECT_NE(r.rc, 0);
  EXPECT_THAT(r.out + r.err, HasSubstr("FAIL"));
}

TEST_F(EvidenceCli, UntrustedRootIsIndeterminate) {
  TempDir other;
  ASSERT_EQ(erdsctl({"pki", "init", "--dir", other.file("pki")}).rc, 0);
  TempDir out;
  ASSERT_EQ(issue(ev::Event::ContentHandover, out.file("e1.xml")).rc, 0);
  // EN 319 102-1: a chain to no known anchor is INDETERMINATE (NO_CERTIFICATE_CHAIN_FOUND), not
  // INVALID. The verifier checks the time-stamp's chain first.
  CliRun r =
      erdsctl({"evidence", "verify", out.file("e1.xml"), "--trust", other.file("pki/root-ca.pem")});
  EXPECT_EQ(r.rc, 3) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("result:      INDETERMINATE: "));
  EXPECT_THAT(r.out, HasSubstr("does not chain to a trust anchor"));

  // Seal trusted, TSA anchored elsewhere: still indeterminate, naming the time-stamp.
  r = erdsctl({"evidence", "verify", out.file("e1.xml"), "--trust", root(), "--tsa-trust",
               other.file("pki/root-ca.pem")});
  EXPECT_EQ(r.rc, 3) << r.out;
  EXPECT_THAT(r.out, HasSubstr("INDETERMINATE: SignatureTimeStamp"));

  // Several anchors (a PEM file holding two roots, and repeated --trust) are accepted.
  writeFile(out.file("both.pem"), readFile(other.file("pki/root-ca.pem")) + readFile(root()), 0644);
  EXPECT_EQ(erdsctl({"evidence", "verify", out.file("e1.xml"), "--trust", out.file("both.pem")}).rc,
            0);
  EXPECT_EQ(erdsctl({"evidence", "verify", out.file("e1.xml"), "--trust",
                     other.file("pki/root-ca.pem"), "--trust", root()})
                .rc,
            0);
}

TEST_F(EvidenceCli, RequireRevocationUsesTheEmbeddedCrlOrIsIndeterminateWithout) {
  TempDir out;
  // `pki init` wrote root-ca.crl.pem; `evidence issue` keeps it in the evidence.
  CliRun issued = issue(ev::Event::SubmissionAcceptance, out.file("sa.xml"));
  ASSERT_EQ(issued.rc, 0) << issued.err;
  EXPECT_THAT(issued.out, HasSubstr("revocation: CRL kept in the evidence"));
  EXPECT_THAT(readFile(out.file("sa.xml")), HasSubstr("<xades:EncapsulatedCRLValue>"));
  CliRun r = erdsctl(
      {"evidence", "verify", out.file("sa.xml"), "--trust", root(), "--require-revocation"});
  EXPECT_EQ(r.rc, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("revocation:  checked"));
  // --crl adds the same CRL again: still valid.
  r = erdsctl({"evidence", "verify", out.file("sa.xml"), "--trust", root(), "--crl",
               pki() + "/root-ca.crl.pem", "--require-revocation"});
  EXPECT_EQ(r.rc, 0) << r.out;

  // A PKI directory without the CRL seals without revocation data: indeterminate when required.
  const std::string bare = out.file("bare");
  std::filesystem::create_directory(bare);
  for (const std::string name : {"root-ca.pem", "seal.pem", "seal.key", "tsu.pem", "tsu.key"})
    std::filesystem::copy_file(pki() + "/" + name, bare + "/" + name);
  CliRun plain = erdsctl({"evidence", "issue", "--pki", bare, "--event", "SubmissionAcceptance",
                          "--sender", "mailto:alice@example.test", "--recipient",
                          "mailto:bob@example.test", "--out", out.file("plain.xml")});
  ASSERT_EQ(plain.rc, 0) << plain.err;
  EXPECT_THAT(plain.out, HasSubstr("revocation: none kept"));
  r = erdsctl(
      {"evidence", "verify", out.file("plain.xml"), "--trust", root(), "--require-revocation"});
  EXPECT_EQ(r.rc, 3) << r.out;
  EXPECT_THAT(r.out, HasSubstr("INDETERMINATE"));
  // ... and valid again with the CRL file given on the command line.
  r = erdsctl({"evidence", "verify", out.file("plain.xml"), "--trust", root(), "--crl",
               pki() + "/root-ca.crl.pem", "--require-revocation"});
  EXPECT_EQ(r.rc, 0) << r.out;
}

TEST_F(EvidenceCli, IssueUsageErrorsExitTwoWithOneLine) {
  TempDir out;
  struct Case {
    std::vector<std::string> args;
    std::string mention;
  };
  const std::string pkiDir = pki();
  const std::vector<std::string> base = {"--pki",       pkiDir,
                                         "--sender",    "mailto:a@example.test",
                                         "--recipient", "mailto:b@example.test",
                                         "--out",       out.file("x.xml")};
  auto with = [&](std::vector<std::string> v) {
    std::vector<std::string> args = {"evidence", "issue"};
    args.insert(args.end(), base.begin(), base.end());
    args.insert(args.end(), v.begin(), v.end());
    return args;
  };
  const std::vector<Case> cases = {
      {with({"--event", "RelayAcceptance"}), "--external-erds"},
      {with({"--event", "B.3"}), "--external-erds"},
      {with({"--event", "RelayToNonERDS"}), "--external-system"},
      {with({"--event", "SubmissionAcceptance", "--external-erds", "https://x.test/"}), "B.x"},
      {with({"--event", "Frobnicated"}), "unknown event"},
      {with({"--event", "SubmissionAcceptance", "--reason", "RC01"}), "does not apply"},
      {with({"--event", "SubmissionAcceptance", "--reason", "XX99"}), "unknown reason"},
      {{"evidence", "issue", "--event", "SubmissionAcceptance", "--sender", "alice", "--recipient",
        "mailto:b@example.test", "--pki", pkiDir, "--out", out.file("x.xml")},
       "--sender"},
      {{"evidence", "issue", "--event", "SubmissionAcceptance", "--sender", "mailto:a@example.test",
        "--recipient", "mailto:b@example.test", "--pki", out.file("no-pki"), "--out",
        out.file("x.xml")},
       "--pki"},
  };
  for (const auto& tc : cases) {
    CliRun r = erdsctl(tc.args);
    EXPECT_EQ(r.rc, 2) << tc.mention << ": " << r.err;
    EXPECT_EQ(lineCount(r.err), 1) << r.err;
    EXPECT_THAT(r.err, HasSubstr(tc.mention));
    EXPECT_TRUE(r.out.empty()) << r.out;
  }
  EXPECT_FALSE(fs::exists(out.file("x.xml")));
}

TEST_F(EvidenceCli, IssueRefusesOverwriteWithoutForce) {
  TempDir out;
  ASSERT_EQ(issue(ev::Event::ContentConsignment, out.file("d1.xml")).rc, 0);
  const std::string before = readFile(out.file("d1.xml"));
  CliRun r = issue(ev::Event::ContentConsignment, out.file("d1.xml"));
  EXPECT_EQ(r.rc, 1);
  EXPECT_THAT(r.err, HasSubstr("exists (use --force"));
  EXPECT_EQ(readFile(out.file("d1.xml")), before);
  r = issue(ev::Event::ContentConsignment, out.file("d1.xml"), {"--force"});
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(readFile(out.file("d1.xml")), before);
  EXPECT_EQ(erdsctl({"evidence", "verify", out.file("d1.xml"), "--trust", root()}).rc, 0);
}

TEST_F(EvidenceCli, VerifyUsageAndIoErrorsExitTwo) {
  TempDir out;
  ASSERT_EQ(issue(ev::Event::SubmissionAcceptance, out.file("sa.xml")).rc, 0);
  const std::vector<std::vector<std::string>> cases = {
      {"evidence", "verify", out.file("sa.xml")},                                   // no --trust
      {"evidence", "verify", out.file("missing.xml"), "--trust", root()},           // no file
      {"evidence", "verify", out.file("sa.xml"), "--trust", out.file("none.pem")},  // no anchor
      {"evidence", "verify", out.file("sa.xml"), "--trust", root(), "--max-event-skew", "soon"},
      {"evidence", "verify", "--trust", root()},  // no FILE
  };
  for (const auto& args : cases) {
    CliRun r = erdsctl(args);
    EXPECT_EQ(r.rc, 2) << args.back() << ": " << r.err;
    EXPECT_EQ(lineCount(r.err), 1) << r.err;
  }
}

TEST_F(EvidenceCli, OversizedAndNonXmlInputIsInvalid) {
  TempDir out;
  writeFile(out.file("big.xml"), std::string(4 * 1024 * 1024 + 10, 'x'), 0600);
  CliRun r = erdsctl({"evidence", "verify", out.file("big.xml"), "--trust", root()});
  EXPECT_EQ(r.rc, 1) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("INVALID"));
  writeFile(
      out.file("xxe.xml"),
      "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]><x>&e;</x>",
      0600);
  r = erdsctl({"evidence", "verify", out.file("xxe.xml"), "--trust", root()});
  EXPECT_EQ(r.rc, 1) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("INVALID"));
  EXPECT_THAT(r.out, Not(HasSubstr("root:")));
}

TEST_F(EvidenceCli, EventsListsTheNineteenEventsWithDefaultReasons) {
  CliRun r = erdsctl({"evidence", "events"});
  ASSERT_EQ(r.rc, 0);
  EXPECT_EQ(lineCount(r.out), 20);  // header + 19
  for (ev::Event e : ev::kAllEvents) {
    EXPECT_THAT(r.out, ::testing::ContainsRegex(std::string(ev::eventCode(e)) + " +" +
                                                std::string(ev::eventName(e)) + " +" +
                                                std::string(ev::reasonCode(ev::defaultReason(e)))));
  }
  EXPECT_THAT(r.out, HasSubstr("RelayAcceptance"));
}

// The AgID REM sample kit: standalone evidence sealed by S1-REMS under REM-ROOT-CA, time-stamped by
// a Nowina test TSA (root extracted from the sample tokens). Its tokens are minutes after
// EventTime, so it needs --max-event-skew 30m; the chain is validated as of the token time (the
// kit's certificates have expired since).
TEST(EvidenceCliConformance, AgidSampleVerifiesAsOfTheTokenTime) {
  const fs::path kit = fs::path(ERDS_CONFORMANCE_DIR) /
                       "documento_finale_gdl_rem_versione_1.2_28.07.2022_1.latest_version";
  const std::string sample =
      (kit / "standalone-evidence" / "SubmissionAcceptance.RA01.xml").string();
  const std::string remRoot = (kit / "certificates" / "REM-ROOT-CA.crt").string();
  const std::string tsaRoot =
      (kit / "certificates" / "TSA-ROOT-CA.extracted-from-sample-tokens.pem").string();
  ASSERT_TRUE(fs::exists(sample)) << sample;
  CliRun r = erdsctl({"evidence", "verify", sample, "--trust", remRoot, "--tsa-trust", tsaRoot,
                      "--max-event-skew", "30m"});
  EXPECT_EQ(r.rc, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("event:       SubmissionAcceptance (A.1)"));
  EXPECT_THAT(r.out, HasSubstr("time-stamp:  2022-08-03T14:25:41Z"));
  EXPECT_THAT(r.out, HasSubstr("signer:      CN=S1-REMS provider"));
  EXPECT_THAT(r.out, HasSubstr("result:      VALID"));

  // The default 60 s bound rejects the kit's late time stamp (3.5 min after EventTime).
  r = erdsctl({"evidence", "verify", sample, "--trust", remRoot, "--tsa-trust", tsaRoot});
  EXPECT_EQ(r.rc, 1) << r.out;
  EXPECT_THAT(r.out, HasSubstr("more than 60 s from the time-stamp time"));

  // Without the TSA root (only REM-ROOT-CA for both), the token's chain is unknown.
  r = erdsctl({"evidence", "verify", sample, "--trust", remRoot, "--max-event-skew", "30m"});
  EXPECT_EQ(r.rc, 3) << r.out;
}


// OCSP end to end through the CLI: `pki init --ocsp-url/--crl-url`, responses made and served by
// `openssl ocsp` from the index pki init wrote, `--ocsp FILE`, `--online`, and no network without it.
TEST(EvidenceCliOcsp, OcspFilesOnlineFetchingAndNoNetworkWithoutOnline) {
  TempDir dir;
  ListeningTrap trap;  // holds the port named by the certificates until the responder takes it
  const std::string url = "http://127.0.0.1:" + std::to_string(trap.port) + "/";
  const std::string pki = dir.file("pki");
  CliRun init = erdsctl({"pki", "init", "--dir", pki, "--ocsp-url", url, "--crl-url", url + "root-ca.crl"});
  ASSERT_EQ(init.rc, 0) << init.err;
  EXPECT_THAT(init.out, HasSubstr("openssl ocsp -index"));
  // Evidence without embedded revocation data (no root-ca.crl.pem in the issuing directory).
  const std::string bare = dir.file("bare");
  fs::create_directory(bare);
  for (const std::string name : {"root-ca.pem", "seal.pem", "seal.key", "tsu.pem", "tsu.key"})
    fs::copy_file(pki + "/" + name, bare + "/" + name);
  CliRun issued = erdsctl({"evidence", "issue", "--pki", bare, "--event", "SubmissionAcceptance", "--sender",
                           "mailto:alice@example.test", "--recipient", "mailto:bob@example.test", "--out",
                           dir.file("e.xml")});
  ASSERT_EQ(issued.rc, 0) << issued.err;
  const std::string root = pki + "/root-ca.pem";

  // 1. Without --online nothing is fetched: the AIA/CDP port is never contacted, no delay.
  const auto t0 = std::chrono::steady_clock::now();
  CliRun offline = erdsctl({"evidence", "verify", dir.file("e.xml"), "--trust", root, "--require-revocation"});
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
  EXPECT_EQ(offline.rc, 3) << offline.out;
  EXPECT_FALSE(trap.contacted()) << "erdsctl evidence verify connected without --online";

  // 2. --ocsp with responses from `openssl ocsp -respout` (signed by the delegated responder).
  auto respond = [&](const std::string& stem, const std::string& out) {
    const std::string cmd = "openssl ocsp -index " + pki + "/index.txt -CA " + root + " -rsigner " + pki +
                            "/ocsp.pem -rkey " + pki + "/ocsp.key -issuer " + root + " -cert " + pki + "/" + stem +
                            ".pem -respout " + out + " -noverify -ndays 1 >/dev/null 2>&1";
    return std::system(cmd.c_str());
  };
  ASSERT_EQ(respond("seal", dir.file("seal.ocsp")), 0);
  ASSERT_EQ(respond("tsu", dir.file("tsu.ocsp")), 0);
  CliRun withFiles = erdsctl({"evidence", "verify", dir.file("e.xml"), "--trust", root, "--require-revocation",
                              "--ocsp", dir.file("seal.ocsp"), "--ocsp", dir.file("tsu.ocsp")});
  EXPECT_EQ(withFiles.rc, 0) << withFiles.out;
  EXPECT_THAT(withFiles.out, HasSubstr("revocation:  checked (seal chain), checked (TSA)"));
  EXPECT_THAT(withFiles.out, HasSubstr("Evidence Seal,O=erds DEVELOPMENT\": OCSP file"));
  CliRun json = erdsctl({"evidence", "verify", dir.file("e.xml"), "--trust", root, "--ocsp", dir.file("seal.ocsp"),
                         "--ocsp", dir.file("tsu.ocsp"), "--json"});
  EXPECT_THAT(json.out, HasSubstr("\"revocationSources\":[\"seal certificate"));

  // 3. --online: the real responder on the certificates' AIA port.
  const int port = trap.port;
  trap.close();
  {
    OpensslOcspResponder responder(pki, port, dir.file("ocsp.log"));
    ASSERT_TRUE(responder.ready()) << readFile(dir.file("ocsp.log"));
    CliRun online = erdsctl({"evidence", "verify", dir.file("e.xml"), "--trust", root, "--require-revocation",
                             "--online", "--timeout", "5s"});
    EXPECT_EQ(online.rc, 0) << online.out;
    EXPECT_THAT(online.out, HasSubstr(": fetched OCSP"));
  }

  // 4. The seal certificate revoked in the index: the response says so, exit 1 naming it.
  std::string index = readFile(pki + "/index.txt");
  const auto sealLine = index.find("Evidence Seal");
  ASSERT_NE(sealLine, std::string::npos);
  const auto lineStart = index.rfind('\n', sealLine) == std::string::npos ? 0 : index.rfind('\n', sealLine) + 1;
  const auto tab2 = index.find('\t', index.find('\t', lineStart) + 1);
  index[lineStart] = 'R';
  index.insert(tab2 + 1, "240101000000Z");
  writeFile(pki + "/index.txt", index, 0644);
  ASSERT_EQ(respond("seal", dir.file("seal-revoked.ocsp")), 0);
  CliRun revoked = erdsctl({"evidence", "verify", dir.file("e.xml"), "--trust", root, "--ocsp",
                            dir.file("seal-revoked.ocsp")});
  EXPECT_EQ(revoked.rc, 1) << revoked.out;
  EXPECT_THAT(revoked.out, HasSubstr("seal certificate revoked: \"CN=erds DEVELOPMENT Evidence Seal"));

  // Usage errors.
  EXPECT_EQ(erdsctl({"evidence", "verify", dir.file("e.xml"), "--trust", root, "--ocsp", dir.file("nope")}).rc, 2);
  EXPECT_EQ(erdsctl({"evidence", "verify", dir.file("e.xml"), "--trust", root, "--online", "--timeout", "soon"}).rc, 2);
}

}  // namespace
}  // namespace erds::ctl
