// POST /tsa and external time-stamp sources, end to end: the built-in unit of one node served over
// real TLS (http::Server) to authenticated clients (real identity HttpAuthenticator + sessions),
// used as the EXTERNAL TSA of a second node's SealingEvidenceIssuer; checked by OpenSSL's CLI.
#include "erds/api/tsa_routes.h"

#include <Poco/Net/Context.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/HTTPSClientSession.h>
#include <Poco/StreamCopier.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "erds/api/identity_adapters.h"
#include "erds/api/sealing_evidence_issuer.h"
#include "erds/base/config.h"
#include "erds/base/log.h"
#include "erds/base/metrics.h"
#include "erds/evidence/evidence_verifier.h"
#include "erds/evidence/evidence_xml.h"
#include "erds/evidence/file_key_signer.h"
#include "erds/evidence/rfc3161_tsu.h"
#include "erds/evidence/timestamp_verify.h"
#include "erds/http/server.h"
#include "erds/identity/http_auth.h"
#include "erds/identity/session.h"
#include "erds/identity/testing/in_memory_session_store.h"

#include "../../http/testing/test_pki.h"  // TLS server certificate for 127.0.0.1
#include "test_http_tsa.h"  // evidence/crypto/testing: plain-HTTP time-stamp endpoint
#include "test_pki.h"  // evidence/crypto/testing: TestPki with timeStamping / qcStatement options

namespace erds::api {
namespace {

namespace et = erds::evidence::testing;

const Clock& sysClock() {
  return SystemClock::instance();
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// An account store with one enabled party ("p-client"); nothing else is needed by
// HttpAuthenticator.
class OnePartyAccounts final : public identity::AccountStore {
 public:
  Result<void> createAccount(const identity::Party&, const std::string&,
                             const std::string&) override {
    return Error::conflict("read-only");
  }
  Result<identity::Party> findParty(const std::string& partyId, bool* disabled) override {
    if (partyId != "p-client") return Error::notFound("no such party");
    if (disabled != nullptr) *disabled = false;
    identity::Party p;
    p.id = partyId;
    p.kind = identity::PartyKind::Legal;
    return p;
  }
  Result<std::vector<identity::Party>> listParties(int, int) override {
    return std::vector<identity::Party>{};
  }
  Result<void> setRoles(const std::string&, identity::RoleSet) override {
    return Error::notFound("x");
  }
  Result<void> setDisabled(const std::string&, bool) override { return Error::notFound("x"); }
  Result<std::string> loginIdentifierOf(const std::string&) override {
    return Error::notFound("x");
  }
  Result<bool> totpConfirmed(const std::string&) override { return Error::notFound("x"); }
  Result<void> confirmTotp(const std::string&) override { return Error::notFound("x"); }
  Result<identity::IdentifierBinding> claimIdentifier(const std::string&, const std::string&,
                                                      const std::string&, TimePoint,
                                                      TimePoint) override {
    return Error::notFound("x");
  }
  Result<std::vector<identity::IdentifierBinding>> bindingsOf(const std::string&) override {
    return std::vector<identity::IdentifierBinding>{};
  }
  Result<identity::IdentifierBinding> confirmIdentifier(const std::string&, const std::string&,
                                                        const std::string&, TimePoint) override {
    return Error::notFound("x");
  }
  Result<std::optional<std::string>> partyBoundTo(const std::string&) override {
    return std::optional<std::string>{};
  }
  Result<void> recordIdentification(const identity::Identification&) override {
    return Error::notFound("x");
  }
  Result<std::vector<identity::VerificationRequest>> verificationRequestsOf(
      const std::string&) override {
    return std::vector<identity::VerificationRequest>{};
  }
};

// The identity side as erdsd has it: sessions (in memory here) + the HTTP authentication helper.
struct Identity {
  identity::testing::InMemorySessionStore sessions;
  identity::SessionManager manager{sessions, sysClock()};
  OnePartyAccounts accounts;
  identity::HttpAuthenticator http{manager, accounts};
  IdentityCallerAuthenticator caller{http};
  std::string newToken() {
    identity::AuthenticationContext ctx;
    ctx.level = identity::LevelOfAssurance::Substantial;
    ctx.at = sysClock().now();
    auto s = manager.create("p-client", ctx);
    ERDS_CHECK(s.has_value(), "session");
    return std::string(s->token.reveal());
  }
};

// The PKIs (P-256 roots) every test shares: the trusted one and a rogue one.
const et::TestPki& trustedPki() {
  static const et::TestPki p("erds DEVELOPMENT trusted TSA root");
  return p;
}
const et::TestPki& roguePki() {
  static const et::TestPki p("erds DEVELOPMENT rogue TSA root");
  return p;
}

// Writes seal + tsu keys (layout of erdsctl pki init) into `dir`.
void writeNodeKeys(const std::string& dir, const et::TestPki& pki, bool qualifiedTsu) {
  et::TestCertOptions seal;
  seal.commonName = "erds DEVELOPMENT seal";
  et::writeKeyFiles(dir, "seal", pki.issue(seal), pki.root().certPem);
  et::TestCertOptions tsu;
  tsu.commonName = qualifiedTsu ? "erds DEVELOPMENT qualified tsu" : "erds DEVELOPMENT tsu";
  tsu.timeStamping = true;
  tsu.qtstStatement = qualifiedTsu;
  et::writeKeyFiles(dir, "tsu", pki.issue(tsu), pki.root().certPem);
}

Config loadConfig(const std::string& path, std::string text) {
  // Qualified mode requires these keys at load; the tests here never read them.
  if (text.find("mode = qualified") != std::string::npos)
    text +=
        "[http]\ntls_certificate = /nonexistent/tls.pem\ntls_key = /nonexistent/tls.key\n"
        "[secrets]\nkek_file = /nonexistent/kek\n";
  et::writeFile(path, text, 0600);
  auto c = Config::load(path, {});
  if (!c) ADD_FAILURE() << c.error().toString();
  ERDS_CHECK(c.has_value(), "test config");
  return std::move(*c);
}

// A node serving its built-in unit at POST /tsa over TLS on 127.0.0.1 (port 0).
class TsaNode {
 public:
  TsaNode(const std::string& dir, const et::TestPki& pki, bool qualifiedTsu, Identity& id)
      : dir_(dir) {
    std::filesystem::create_directories(dir_ + "/keys");
    std::filesystem::create_directories(dir_ + "/tls");
    writeNodeKeys(dir_ + "/keys", pki, qualifiedTsu);
    auto tls = erds::testing::writeTestPki(dir_ + "/tls");
    ERDS_CHECK(tls.has_value(), "tls pki");
    tls_ = *tls;
    Config config =
        loadConfig(dir_ + "/node.conf",
                   "[service]\nmode = development\n[signer]\nmode = inprocess\nkey_dir = " + dir_ +
                       "/keys\n[tsa]\nsource = builtin\nserve = true\n");
    auto issuer = SealingEvidenceIssuer::fromConfig(config, sysClock(), nullptr);
    ERDS_CHECK(issuer.has_value(), "node issuer");
    issuer_ = std::move(*issuer);
    routes_ = std::make_unique<TsaRoutes>(TsaRoutesDeps{&id.caller, issuer_->builtinResponder()});
    router_ = std::make_shared<http::Router>();
    ERDS_CHECK(router_->addSecurityScheme("bearerAuth", R"({"type":"http","scheme":"bearer"})")
                   .has_value(),
               "scheme");
    ERDS_CHECK(routes_->registerRoutes(*router_).has_value(), "routes");
    http::ServerOptions o;
    o.port = 0;
    o.certificateFile = tls_.tlsCert;
    o.privateKeyPem = Secret(slurp(tls_.tlsKey));
    o.privateKeySource = tls_.tlsKey;
    o.threads = 4;
    auto s = http::Server::create(std::move(o), router_, registry_);
    ERDS_CHECK(s.has_value(), "server");
    server_ = std::move(*s);
    server_->start();
  }
  ~TsaNode() { server_->stop(std::chrono::milliseconds(2000)); }

  std::string url() const {
    return "https://127.0.0.1:" + std::to_string(server_->port()) + "/tsa";
  }
  uint16_t port() const { return server_->port(); }
  const std::string& tlsRoot() const { return tls_.rootCa; }
  const http::Router& router() const { return *router_; }

 private:
  std::string dir_;
  erds::testing::TestPkiFiles tls_;
  std::unique_ptr<SealingEvidenceIssuer> issuer_;
  std::unique_ptr<TsaRoutes> routes_;
  std::shared_ptr<http::Router> router_;
  metrics::Registry registry_;
  std::unique_ptr<http::Server> server_;
};

// A TSA without authentication over plain HTTP (like public TSAs), answering with `responder`
// (HTTP 500 when it fails).
class PlainHttpTsa {
 public:
  explicit PlainHttpTsa(TimestampResponder responder)
      : server_([r = std::move(responder)](const std::string& body) -> std::pair<int, std::string> {
          auto reply = r(body);
          return reply ? std::pair<int, std::string>{200, *reply} : std::pair<int, std::string>{500, ""};
        }) {}
  std::string url() const { return server_.url(); }

 private:
  evidence::testing::TestHttpTsa server_;
};

std::string deadUrl() { return evidence::testing::TestHttpTsa::deadUrl("https"); }

struct Reply {
  int status = 0;
  std::string contentType;
  std::string body;
};

Reply post(uint16_t port, const std::string& caFile, const std::string& body,
           const std::string& contentType, const std::string& authorization,
           std::streamsize announcedLength = -1) {
  Poco::Net::Context::Ptr ctx =
      new Poco::Net::Context(Poco::Net::Context::TLS_CLIENT_USE, "", "", caFile,
                             Poco::Net::Context::VERIFY_STRICT, 9, false, "ALL");
  Poco::Net::HTTPSClientSession session("127.0.0.1", port, ctx);
  Poco::Net::HTTPRequest req(Poco::Net::HTTPRequest::HTTP_POST, "/tsa",
                             Poco::Net::HTTPMessage::HTTP_1_1);
  req.setContentType(contentType);
  req.setContentLength(announcedLength >= 0 ? announcedLength
                                            : static_cast<std::streamsize>(body.size()));
  if (!authorization.empty()) req.set("Authorization", authorization);
  std::ostream& os = session.sendRequest(req);
  if (announcedLength < 0) os << body;  // else: only the head, as a client waiting for the verdict
  Poco::Net::HTTPResponse resp;
  std::istream& in = session.receiveResponse(resp);
  Reply r;
  r.status = static_cast<int>(resp.getStatus());
  r.contentType = resp.getContentType();
  std::ostringstream out;
  Poco::StreamCopier::copyStream(in, out);
  r.body = out.str();
  return r;
}

// Runs a shell command; returns (exit status, stdout+stderr).
std::pair<int, std::string> run(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (p == nullptr) return {-1, ""};
  char buf[4096];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, p))
    out.append(buf, n);
  const int st = ::pclose(p);
  return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, out};
}

class TsaRoutesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    log::init("test", log::Level::Error);
    dir_ = et::makeTempDir("erds-api-tsa");
    et::writeFile(dir_ + "/trusted-root.pem", trustedPki().root().certPem);
    et::writeFile(dir_ + "/rogue-root.pem", roguePki().root().certPem);
    std::filesystem::create_directories(dir_ + "/client-keys");
    writeNodeKeys(dir_ + "/client-keys", trustedPki(), false);
    token_ = id_.newToken();
    et::writeFile(dir_ + "/token", token_ + "\n", 0600);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<TsaNode> node(const std::string& name, const et::TestPki& pki,
                                bool qualified = false) {
    return std::make_unique<TsaNode>(dir_ + "/" + name, pki, qualified, id_);
  }

  // A client config: external TSAs at `urls` (the TLS root of `tlsRootOf`'s server trusted).
  std::string clientConfig(const std::string& mode, const std::string& urls,
                           const std::string& tlsRoot,
                           const std::string& anchorsKey = "trust_anchors",
                           const std::string& anchors = "") {
    return "[service]\nmode = " + mode + "\n[signer]\nmode = inprocess\nkey_dir = " + dir_ +
           "/client-keys\n[tsa]\nsource = external\nurls = " + urls + "\n" + anchorsKey + " = " +
           (anchors.empty() ? dir_ + "/trusted-root.pem" : anchors) + "\ntls_ca_file = " + tlsRoot +
           "\nauth_token_file = " + dir_ + "/token\ntimeout = 3s\n";
  }

  std::shared_ptr<evidence::Signer> clientSigner() {
    auto s = evidence::FileKeySigner::fromDirectory(dir_ + "/client-keys", {"seal", "tsu"});
    ERDS_CHECK(s.has_value(), "client signer");
    return std::shared_ptr<evidence::Signer>(std::move(*s));
  }

  core::EvidenceRequest request() {
    core::EvidenceRequest r;
    r.event = core::Event::SubmissionAcceptance;
    r.message.messageId = "5f0c1b7e-3a55-4c0e-9b1d-2a7f6e1c9d20";
    r.message.senderIdentifier = "mailto:alice@example.test";
    r.message.recipientIdentifiers = {"mailto:bob@example.test"};
    r.message.contentDigest = std::string(32, '\x22');
    r.message.submittedAt = sysClock().now();
    r.eventTime = sysClock().now();
    return r;
  }

  std::string digest() const { return std::string(32, '\x5a'); }

  std::string dir_;
  Identity id_;
  std::string token_;
};

TEST_F(TsaRoutesTest, BuiltinUnitBehindPostTsaIsTheExternalTsaOfAnotherIssuer) {
  auto server = node("tsa", trustedPki());
  Config config = loadConfig(dir_ + "/client.conf",
                             clientConfig("development", server->url(), server->tlsRoot()));
  auto issuer = SealingEvidenceIssuer::fromConfig(config, sysClock(), nullptr);
  ASSERT_TRUE(issuer.has_value()) << issuer.error().toString();
  auto out = (*issuer)->issue(request());
  ASSERT_TRUE(out.has_value()) << out.error().toString();
  // The token names the serving node's TSU, not the client's own unit.
  auto parsed = evidence::readEvidenceXml(out->xml);
  ASSERT_TRUE(parsed.has_value()) << parsed.error().message;
  EXPECT_TRUE(parsed->hasSignature);
  evidence::VerifierTrust trust;
  trust.sealAnchorsPem = {trustedPki().root().certPem};
  auto verifier = evidence::EvidenceVerifier::create(trust);
  ASSERT_TRUE(verifier.has_value()) << verifier.error().toString();
  auto report = (*verifier)->verify(out->xml);
  ASSERT_TRUE(report.has_value()) << report.error().toString();
  EXPECT_EQ(report->status, evidence::VerifyStatus::Valid) << report->reason;
  EXPECT_NE(out->xml.find("SignatureTimeStamp"), std::string::npos);
  // The audit anchorer shares the same source.
  auto token = (*issuer)->timestampAuthority()->timestamp(digest());
  ASSERT_TRUE(token.has_value()) << token.error().toString();
  auto info = evidence::TimestampVerifier::inspect(token->der);
  ASSERT_TRUE(info.has_value());
  EXPECT_NE(info->tsaSubject.find("erds DEVELOPMENT tsu"), std::string::npos) << info->tsaSubject;
}

TEST_F(TsaRoutesTest, FailsOverToTheNextUrl) {
  auto server = node("tsa", trustedPki());
  Config config =
      loadConfig(dir_ + "/client.conf",
                 clientConfig("development", deadUrl() + ", " + server->url(), server->tlsRoot()));
  auto issuer = SealingEvidenceIssuer::fromConfig(config, sysClock(), nullptr);
  ASSERT_TRUE(issuer.has_value()) << issuer.error().toString();
  auto out = (*issuer)->issue(request());
  ASSERT_TRUE(out.has_value()) << out.error().toString();
}

TEST_F(TsaRoutesTest, AllTsasDeadMeansUnavailableAndNothingSealed) {
  Config config = loadConfig(
      dir_ + "/client.conf",
      clientConfig("development", deadUrl() + "," + deadUrl(), dir_ + "/trusted-root.pem"));
  auto issuer = SealingEvidenceIssuer::fromConfig(config, sysClock(), nullptr);
  ASSERT_TRUE(issuer.has_value()) << issuer.error().toString();
  auto out = (*issuer)->issue(request());
  ASSERT_FALSE(out.has_value());
  EXPECT_TRUE(out.error().is(ErrorCode::Unavailable)) << out.error().toString();
}

TEST_F(TsaRoutesTest, TokenFromAnUntrustedTsaIsRefused) {
  auto rogue = node("rogue", roguePki());
  Config config = loadConfig(dir_ + "/client.conf",
                             clientConfig("development", rogue->url(), rogue->tlsRoot()));
  auto issuer = SealingEvidenceIssuer::fromConfig(config, sysClock(), nullptr);
  ASSERT_TRUE(issuer.has_value()) << issuer.error().toString();
  auto out = (*issuer)->issue(request());
  ASSERT_FALSE(out.has_value());
  EXPECT_TRUE(out.error().is(ErrorCode::Unavailable)) << out.error().toString();
  EXPECT_NE(out.error().message.find("verification failed"), std::string::npos)
      << out.error().message;
}

TEST_F(TsaRoutesTest, ExternalTsaWithoutAuthenticationOverPlainHttp) {
  // A TSA like the public ones: HTTP, no token (tsa.auth_token_file unset:
  // evidence::HttpTsaClient).
  const std::string keys = dir_ + "/plain-keys";
  std::filesystem::create_directories(keys);
  writeNodeKeys(keys, trustedPki(), false);
  Config nodeConfig = loadConfig(dir_ + "/plain.conf",
                                 "[service]\nmode = development\n[signer]\nmode = inprocess\n"
                                 "key_dir = " +
                                     keys + "\n");
  auto nodeIssuer = SealingEvidenceIssuer::fromConfig(nodeConfig, sysClock(), nullptr);
  ASSERT_TRUE(nodeIssuer.has_value()) << nodeIssuer.error().toString();
  ASSERT_TRUE((*nodeIssuer)->builtinResponder());
  PlainHttpTsa tsa((*nodeIssuer)->builtinResponder());
  Config config = loadConfig(dir_ + "/client.conf",
                             "[service]\nmode = development\n[signer]\nmode = inprocess\n"
                             "key_dir = " +
                                 dir_ +
                                 "/client-keys\n[tsa]\nsource = external\n"
                                 "urls = " +
                                 deadUrl() + "," + tsa.url() +
                                 "\n"
                                 "trust_anchors = " +
                                 dir_ + "/trusted-root.pem\ntimeout = 3s\n");
  auto issuer = SealingEvidenceIssuer::fromConfig(config, sysClock(), nullptr);
  ASSERT_TRUE(issuer.has_value()) << issuer.error().toString();
  auto out = (*issuer)->issue(request());
  ASSERT_TRUE(out.has_value()) << out.error().toString();
  // The same TSA under an anchor we do not trust: nothing is sealed.
  Config rogue = loadConfig(dir_ + "/rogue.conf",
                            "[signer]\nmode = inprocess\nkey_dir = " + dir_ +
                                "/client-keys\n[tsa]\nsource = external\nurls = " + tsa.url() +
                                "\ntrust_anchors = " + dir_ + "/rogue-root.pem\n");
  auto refused = SealingEvidenceIssuer::fromConfig(rogue, sysClock(), nullptr);
  ASSERT_TRUE(refused.has_value()) << refused.error().toString();
  EXPECT_TRUE((*refused)->issue(request()).error().is(ErrorCode::Unavailable));
}

TEST_F(TsaRoutesTest, WrongBearerTokenIsRefusedByTheServerSoNoToken) {
  auto server = node("tsa", trustedPki());
  et::writeFile(dir_ + "/token", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", 0600);
  Config config = loadConfig(dir_ + "/client.conf",
                             clientConfig("development", server->url(), server->tlsRoot()));
  auto sources =
      SealingEvidenceIssuer::timestampSourcesFromConfig(config, clientSigner(), sysClock());
  ASSERT_TRUE(sources.has_value()) << sources.error().toString();
  auto token = sources->authority->timestamp(digest());
  ASSERT_FALSE(token.has_value());
  EXPECT_TRUE(token.error().is(ErrorCode::Unavailable));
  EXPECT_NE(token.error().message.find("HTTP 401"), std::string::npos) << token.error().message;
}

TEST_F(TsaRoutesTest, QualifiedModeAcceptsOnlyQualifiedTokens) {
  auto plain = node("plain", trustedPki(), false);
  auto qualified = node("qualified", trustedPki(), true);
  // Not qualified: refused, whatever the chain.
  Config c1 = loadConfig(
      dir_ + "/c1.conf",
      clientConfig("qualified", plain->url(), plain->tlsRoot(), "qualified_trust_anchors"));
  auto s1 = SealingEvidenceIssuer::timestampSourcesFromConfig(c1, clientSigner(), sysClock());
  ASSERT_TRUE(s1.has_value()) << s1.error().toString();
  auto refused = s1->authority->timestamp(digest());
  ASSERT_FALSE(refused.has_value());
  EXPECT_TRUE(refused.error().is(ErrorCode::Unavailable));
  EXPECT_NE(refused.error().message.find("not qualified"), std::string::npos)
      << refused.error().message;
  // Qualified TSA under the qualified anchor: accepted.
  Config c2 = loadConfig(
      dir_ + "/c2.conf",
      clientConfig("qualified", qualified->url(), qualified->tlsRoot(), "qualified_trust_anchors"));
  auto s2 = SealingEvidenceIssuer::timestampSourcesFromConfig(c2, clientSigner(), sysClock());
  ASSERT_TRUE(s2.has_value()) << s2.error().toString();
  auto token = s2->authority->timestamp(digest());
  ASSERT_TRUE(token.has_value()) << token.error().toString();
  // Qualified TSA, but the configured qualified anchor is another root: refused.
  Config c3 = loadConfig(dir_ + "/c3.conf",
                         clientConfig("qualified", qualified->url(), qualified->tlsRoot(),
                                      "qualified_trust_anchors", dir_ + "/rogue-root.pem"));
  auto s3 = SealingEvidenceIssuer::timestampSourcesFromConfig(c3, clientSigner(), sysClock());
  ASSERT_TRUE(s3.has_value()) << s3.error().toString();
  EXPECT_TRUE(s3->authority->timestamp(digest()).error().is(ErrorCode::Unavailable));
}

TEST_F(TsaRoutesTest, QualifiedModeUsesTheBuiltinUnitOnlyIfItsCertificateIsQualified) {
  const std::string qdir = dir_ + "/qualified-keys";
  std::filesystem::create_directories(qdir);
  writeNodeKeys(qdir, trustedPki(), true);
  auto signerOf = [](const std::string& d) {
    auto s = evidence::FileKeySigner::fromDirectory(d, {"seal", "tsu"});
    ERDS_CHECK(s.has_value(), "signer");
    return std::shared_ptr<evidence::Signer>(std::move(*s));
  };
  auto builtinConfig = [&](const std::string& name, const std::string& anchors) {
    return loadConfig(dir_ + "/" + name,
                      "[service]\nmode = qualified\n[tsa]\nsource = builtin\n"
                      "require_synced_clock = false\nqualified_trust_anchors = " +
                          anchors + "\n");
  };
  // No qcStatement in the unit's certificate: a one-line configuration error at start.
  Config c1 = builtinConfig("b1.conf", dir_ + "/trusted-root.pem");
  auto s1 = SealingEvidenceIssuer::timestampSourcesFromConfig(c1, clientSigner(), sysClock());
  ASSERT_FALSE(s1.has_value());
  EXPECT_TRUE(s1.error().is(ErrorCode::InvalidInput));
  EXPECT_NE(s1.error().message.find("tsa.qualified_trust_anchors ("), std::string::npos)
      << s1.error().message;
  EXPECT_NE(s1.error().message.find("esi4-qtstStatement-1"), std::string::npos)
      << s1.error().message;
  EXPECT_EQ(s1.error().message.find('\n'), std::string::npos);
  // Qualified certificate, but not under the configured qualified anchor.
  Config c2 = builtinConfig("b2.conf", dir_ + "/rogue-root.pem");
  auto s2 = SealingEvidenceIssuer::timestampSourcesFromConfig(c2, signerOf(qdir), sysClock());
  ASSERT_FALSE(s2.has_value());
  EXPECT_NE(s2.error().message.find("does not chain"), std::string::npos) << s2.error().message;
  // Qualified and under the anchor: used, and its tokens are qualified.
  Config c3 = builtinConfig("b3.conf", dir_ + "/trusted-root.pem");
  auto s3 = SealingEvidenceIssuer::timestampSourcesFromConfig(c3, signerOf(qdir), sysClock());
  ASSERT_TRUE(s3.has_value()) << s3.error().toString();
  auto token = s3->authority->timestamp(digest());
  ASSERT_TRUE(token.has_value()) << token.error().toString();
  auto v = evidence::TimestampVerifier::fromPem(trustedPki().root().certPem);
  ASSERT_TRUE(v.has_value());
  evidence::TimestampVerifyOptions vo;
  vo.requireQualified = true;
  EXPECT_TRUE((*v)->verify(token->der, digest(), vo).has_value());
  // Without any anchor configured, qualified mode refuses to start.
  Config c4 =
      loadConfig(dir_ + "/b4.conf", "[service]\nmode = qualified\n[tsa]\nsource = builtin\n");
  auto s4 = SealingEvidenceIssuer::timestampSourcesFromConfig(c4, signerOf(qdir), sysClock());
  ASSERT_FALSE(s4.has_value());
  EXPECT_NE(s4.error().message.find("tsa.trust_anchors ("), std::string::npos)
      << s4.error().message;
}

TEST_F(TsaRoutesTest, ExternalSourceNeedsUrlsAndAnchors) {
  Config c1 = loadConfig(dir_ + "/e1.conf", "[tsa]\nsource = external\ntrust_anchors = " + dir_ +
                                                "/trusted-root.pem\n");
  auto s1 = SealingEvidenceIssuer::timestampSourcesFromConfig(c1, clientSigner(), sysClock());
  ASSERT_FALSE(s1.has_value());
  EXPECT_NE(s1.error().message.find("tsa.urls ("), std::string::npos) << s1.error().message;
  Config c2 =
      loadConfig(dir_ + "/e2.conf", "[tsa]\nsource = external\nurls = https://127.0.0.1:1/tsa\n");
  auto s2 = SealingEvidenceIssuer::timestampSourcesFromConfig(c2, clientSigner(), sysClock());
  ASSERT_FALSE(s2.has_value());
  EXPECT_NE(s2.error().message.find("tsa.trust_anchors ("), std::string::npos)
      << s2.error().message;
  Config c3 = loadConfig(dir_ + "/e3.conf",
                         "[tsa]\nsource = external\nurls = ftp://x/tsa\ntrust_anchors = " + dir_ +
                             "/trusted-root.pem\n");
  auto s3 = SealingEvidenceIssuer::timestampSourcesFromConfig(c3, clientSigner(), sysClock());
  ASSERT_FALSE(s3.has_value());
  EXPECT_TRUE(s3.error().is(ErrorCode::InvalidInput));
  // A bearer token is never sent over plain HTTP.
  Config c4 = loadConfig(dir_ + "/e4.conf", clientConfig("development", "http://127.0.0.1:1/tsa",
                                                         dir_ + "/trusted-root.pem"));
  auto s4 = SealingEvidenceIssuer::timestampSourcesFromConfig(c4, clientSigner(), sysClock());
  ASSERT_FALSE(s4.has_value());
  EXPECT_NE(s4.error().message.find("tsa.auth_token_file ("), std::string::npos)
      << s4.error().message;
}

TEST_F(TsaRoutesTest, ServedRepliesParseAndVerifyWithOpenssl) {
  auto server = node("tsa", trustedPki());
  const std::string data = dir_ + "/data.bin";
  et::writeFile(data, "the evidence's canonical SignatureValue");
  auto q = run("openssl ts -query -data " + data + " -sha256 -cert -out " + dir_ + "/q.tsq");
  ASSERT_EQ(q.first, 0) << q.second;
  Reply r = post(server->port(), server->tlsRoot(), slurp(dir_ + "/q.tsq"),
                 "application/timestamp-query", "Bearer " + token_);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.contentType, "application/timestamp-reply");
  et::writeFile(dir_ + "/r.tsr", r.body);
  auto text = run("openssl ts -reply -in " + dir_ + "/r.tsr -text");
  ASSERT_EQ(text.first, 0) << text.second;
  EXPECT_NE(text.second.find("Status: Granted."), std::string::npos) << text.second;
  EXPECT_NE(text.second.find("1.3.6.1.4.1.55555.1.1"), std::string::npos) << text.second;
  auto verify = run("openssl ts -verify -queryfile " + dir_ + "/q.tsq -in " + dir_ +
                    "/r.tsr -CAfile " + dir_ + "/trusted-root.pem");
  EXPECT_EQ(verify.first, 0) << verify.second;
  EXPECT_NE(verify.second.find("Verification: OK"), std::string::npos) << verify.second;
  // The same reply does not verify against an unrelated root.
  auto wrong = run("openssl ts -verify -queryfile " + dir_ + "/q.tsq -in " + dir_ +
                   "/r.tsr -CAfile " + dir_ + "/rogue-root.pem");
  EXPECT_NE(wrong.first, 0) << wrong.second;
}

TEST_F(TsaRoutesTest, BadDerIsAnRfc3161RejectionWithHttp200) {
  auto server = node("tsa", trustedPki());
  Reply r = post(server->port(), server->tlsRoot(), "this is not DER",
                 "application/timestamp-query", "Bearer " + token_);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.contentType, "application/timestamp-reply");
  et::writeFile(dir_ + "/bad.tsr", r.body);
  auto text = run("openssl ts -reply -in " + dir_ + "/bad.tsr -text");
  ASSERT_EQ(text.first, 0) << text.second;
  EXPECT_NE(text.second.find("Status: Rejected."), std::string::npos) << text.second;
  EXPECT_NE(text.second.find("wrong format"), std::string::npos) << text.second;  // badDataFormat
}

TEST_F(TsaRoutesTest, RefusesUnauthenticatedOversizedAndWrongTypeAsProblems) {
  auto server = node("tsa", trustedPki());
  const std::string query = [&] {
    auto q = evidence::buildTimestampRequest(digest());
    ERDS_CHECK(q.has_value(), "query");
    return *q;
  }();
  Reply none = post(server->port(), server->tlsRoot(), query, "application/timestamp-query", "");
  EXPECT_EQ(none.status, 401);
  EXPECT_EQ(none.contentType, "application/problem+json");
  Reply unknown = post(server->port(), server->tlsRoot(), query, "application/timestamp-query",
                       "Bearer AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
  EXPECT_EQ(unknown.status, 401);
  EXPECT_EQ(unknown.contentType, "application/problem+json");
  // Announced over the 16 KiB query limit: 413 before any body byte is read.
  Reply big = post(server->port(), server->tlsRoot(), "", "application/timestamp-query",
                   "Bearer " + token_, 17 * 1024);
  EXPECT_EQ(big.status, 413);
  EXPECT_EQ(big.contentType, "application/problem+json");
  Reply json =
      post(server->port(), server->tlsRoot(), "{}", "application/json", "Bearer " + token_);
  EXPECT_EQ(json.status, 415);
  // A session cookie alone is not enough (no browser may spend the unit's key).
  http::Request cookieOnly;
  cookieOnly.method = "POST";
  cookieOnly.path = "/tsa";
  cookieOnly.headers = {{"Cookie", std::string(identity::kSessionCookieName) + "=" + token_}};
  cookieOnly.body = query;
  TsaRoutes routes(TsaRoutesDeps{
      &id_.caller, [](std::string_view) -> Result<std::string> { return std::string("x"); }});
  auto refused = routes.handle(cookieOnly);
  ASSERT_FALSE(refused.has_value());
  EXPECT_TRUE(refused.error().is(ErrorCode::Unauthorized));
  cookieOnly.headers = {{"Authorization", "Bearer " + token_}};
  EXPECT_TRUE(routes.handle(cookieOnly).has_value());
}

TEST_F(TsaRoutesTest, RouteIsInTheOpenApiDocumentAndNeedsBearerAuth) {
  auto server = node("tsa", trustedPki());
  const std::string doc = server->router().openApiDocument(http::ApiInfo{});
  EXPECT_NE(doc.find("\"/tsa\""), std::string::npos);
  EXPECT_NE(doc.find("application/timestamp-query"), std::string::npos);
  EXPECT_NE(doc.find("application/timestamp-reply"), std::string::npos);
  EXPECT_NE(doc.find("\"operationId\":\"timestamp\""), std::string::npos) << doc.substr(0, 400);
  // Without the identity service's bearer scheme the route cannot be registered.
  http::Router bare;
  TsaRoutes routes(TsaRoutesDeps{&id_.caller, nullptr});
  EXPECT_FALSE(routes.registerRoutes(bare).has_value());
}

}  // namespace
}  // namespace erds::api
