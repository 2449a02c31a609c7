// Integration, service.mode = qualified: the real erds-smtpd (two instances: application tokens
// allowed by identity.smtp_app_tokens = true, and the qualified default, not allowed) and the real
// erds-signer against a private PostgreSQL, with swaks and Python's smtplib as clients.
//
// Qualified mode refuses the DEVELOPMENT PKI of `erdsctl pki init` in the signer and requires a
// built-in time-stamping unit whose certificate carries the EN 319 422 qcStatement
// esi4-qtstStatement-1 and chains to tsa.qualified_trust_anchors, so this test builds its own small
// PKI with the openssl CLI (root CA, seal, TSU with the qcStatement; a client-certificate CA with
// one certificate per user). Parties, bound addresses, the certificate registry entry and the
// application tokens are written through the identity library as the daemon role (what erdsd's
// routes do; those routes have their own tests in identity_service_test.cpp).
//
// Cases (EN 319 522-1 5.2.2-03/-04): certificate of the party + password AUTH -> 250, evidence
// records both; password AUTH without certificate -> refused; application token without
// certificate -> 250 where the policy allows it (evidence records the token and the factors of the
// session that created it), refused where it does not; revoked token -> refused (audited);
// another party's certificate + AUTH -> refused.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <thread>

#include "erds/base/aead.h"
#include "erds/base/migrations.h"
#include "erds/base/pg.h"
#include "erds/evidence/evidence_xml.h"
#include "erds/identity/app_token.h"
#include "erds/identity/document_store.h"
#include "erds/identity/password_hasher.h"
#include "erds/identity/postgres_stores.h"
#include "erds/migrations/migrations.h"

#include "process.h"
#include "smtpd_test_support.h"
#include "test_database.h"

namespace erds::itest {
namespace {

using namespace std::chrono_literals;

// A non-DEVELOPMENT PKI for qualified mode, in the layout of `erdsctl pki init` (keys/: seal.pem
// + seal.key, tsu.pem + tsu.key with the chain, root-ca.pem), plus a client-certificate CA and a
// client certificate per user (email SAN <user>@example.test, clientAuth).
constexpr const char* kPkiScript = R"SH(
set -eu
D=$1
mkdir -p "$D/keys"
cd "$D"
cat > ext.cnf <<'CNF'
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[seal]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,nonRepudiation
authorityKeyIdentifier = keyid
[tsu]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = critical,timeStamping
authorityKeyIdentifier = keyid
1.3.6.1.5.5.7.1.3 = ASN1:SEQUENCE:qcs
[qcs]
s1 = SEQUENCE:qtst
[qtst]
id = OID:0.4.0.19422.1.1
[client_alice]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
subjectAltName = email:alice@example.test
[client_bob]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
subjectAltName = email:bob@example.test
CNF
O=/usr/bin/openssl
serial() { od -An -N8 -tx1 /dev/urandom | tr -d ' \n'; }
$O req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout root-ca.key -out root-ca.pem -days 30 \
  -subj "/CN=erds itest Qualified Root/O=erds itest" -addext "basicConstraints=critical,CA:TRUE" \
  -addext "keyUsage=critical,keyCertSign,cRLSign"
$O req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout client-ca.key -out client-ca.pem -days 30 \
  -subj "/CN=erds itest Client CA/O=erds itest" -addext "basicConstraints=critical,CA:TRUE" \
  -addext "keyUsage=critical,keyCertSign,cRLSign"
for L in seal tsu; do
  $O req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout keys/$L.key -out $L.csr \
    -subj "/CN=erds itest $L/O=erds itest" -config /dev/null
  $O x509 -req -in $L.csr -CA root-ca.pem -CAkey root-ca.key -set_serial 0x$(serial) -days 30 \
    -extfile ext.cnf -extensions $L -out $L.cert
  cat $L.cert root-ca.pem > keys/$L.pem
  chmod 600 keys/$L.key
done
cp root-ca.pem keys/root-ca.pem
for U in alice bob; do
  $O req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout $U.key -out $U.csr \
    -subj "/CN=$U test user/O=erds itest" -config /dev/null
  $O x509 -req -in $U.csr -CA client-ca.pem -CAkey client-ca.key -set_serial 0x$(serial) -days 30 \
    -extfile ext.cnf -extensions client_$U -out $U.pem
  $O x509 -in $U.pem -outform DER -out $U.der
done
rm -f ./*.csr ./*.cert ext.cnf
)SH";

constexpr const char* kAlicePassword = "alice-qualified-password";
constexpr const char* kBobPassword = "bob-qualified-password";

class SmtpQualifiedTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir("erds-smtp-qtest");
    const std::string d = dir_->path;
    auto pg = erds::testing::PrivatePostgres::start(/*durable=*/false);
    ASSERT_TRUE(pg) << pg.error().toString();
    pg_ = pg->release();
    auto roles = pg_->createDatabaseAndRoles("erds_smtp_qtest");
    ASSERT_TRUE(roles) << roles.error().toString();
    superConninfo_ = pg_->superuserConninfo("erds_smtp_qtest");
    {
      auto owner = pg::Connection::connect(roles->ownerConninfo);
      ASSERT_TRUE(owner) << owner.error().toString();
      auto applied = pg::applyMigrations(**owner, allMigrations(), roles->appRole);
      ASSERT_TRUE(applied) << applied.error().toString();
    }

    // PKI: ours for the signer, TSA anchors and client certificates; erdsctl's for STARTTLS only
    // (erds-smtpd does not care who issued its server certificate).
    auto pki = runToCompletion({"/bin/sh", "-c", kPkiScript, "mkpki", d + "/pki"});
    ASSERT_EQ(pki.exitCode, 0) << pki.out << joined(pki.err);
    auto dev = runToCompletion({ERDSCTL_PATH, "pki", "init", "--dir", d + "/dev"});
    ASSERT_EQ(dev.exitCode, 0) << dev.out << joined(dev.err);
    // The signer, started as root, switches to `nobody`: its key directory must be that user's,
    // mode 0700 (the key files stay root's, mode 0600, read before the switch).
    ASSERT_EQ(::chown((d + "/pki/keys").c_str(), 65534, static_cast<gid_t>(-1)), 0);
    ASSERT_EQ(::chmod((d + "/pki/keys").c_str(), 0700), 0);
    ::mkdir((d + "/run").c_str(), 0755);

    auto [conninfo, password] = splitPassword(roles->appConninfo);
    writeFile(d + "/db.password", password + "\n", 0600);
    const std::string kek = std::string(64, 'b');
    writeFile(d + "/kek", kek + "\n", 0600);
    const std::string common =
        "[service]\nmode = qualified\ndomains = example.test\n"
        "[log]\nlevel = info\n"
        "[http]\ntls_certificate = " +
        d + "/dev/tls.pem\ntls_key = " + d +
        "/dev/tls.key\n"
        "[secrets]\nkek_file = " +
        d + "/kek\n";
    writeFile(d + "/signer.ini", common + "[signer]\nsocket = " + d +
                                     "/run/signer.sock\nkey_dir = " + d +
                                     "/pki/keys\nuser = nobody\n");
    const std::string smtpd =
        common + "[database]\nconninfo = " + conninfo + "\npassword_file = " + d +
        "/db.password\n" + "[signer]\nsocket = " + d + "/run/signer.sock\n" +
        "[tsa]\nqualified_trust_anchors = " + d + "/pki/root-ca.pem\n" +
        // Test machines need not run NTP; production keeps the check (tsa.require_synced_clock).
        "require_synced_clock = false\n" +
        "[smtp]\naddress = 127.0.0.1\nsubmission_port = 0\nmx_port = 0\ntls_certificate = " + d +
        "/dev/tls.pem\ntls_key = " + d + "/dev/tls.key\n" +
        "[identity]\nargon2_t_cost = 1\nargon2_m_cost_kib = 1024\n" + "client_ca_file = " + d +
        "/pki/client-ca.pem\n";
    writeFile(d + "/tokens-on.ini", smtpd + "smtp_app_tokens = true\n");
    writeFile(d + "/tokens-off.ini", smtpd);  // the qualified default: no tokens for SMTP

    signer_ = new ChildProcess({ERDS_SIGNER_PATH, "--config", d + "/signer.ini"}, {});
    auto up = signer_->waitForLine(
        [](const std::string& l) { return l.find("signer.listening") != std::string::npos; }, 30s);
    ASSERT_TRUE(up) << "erds-signer did not start in qualified mode:\n"
                    << joined(signer_->stderrLines());

    // Parties, addresses, the certificate registry and tokens, as the daemon role.
    pg::PoolOptions po;
    po.conninfo = roles->appConninfo;
    po.size = 2;
    pool_ = new pg::Pool(po);
    ASSERT_NO_FATAL_FAILURE(seed());

    for (auto [ini, ports] : {std::pair{"tokens-on", &on_}, std::pair{"tokens-off", &off_}}) {
      auto* child = new ChildProcess({ERDS_SMTPD_PATH, "--config", d + "/" + ini + ".ini",
                                      "--port-file", d + "/" + ini + ".ports"},
                                     {});
      (ini == std::string("tokens-on") ? smtpdOn_ : smtpdOff_) = child;
      auto p = readPorts(d + "/" + ini + ".ports", 60s);
      ASSERT_TRUE(p) << "erds-smtpd (" << ini << ") did not start:\n"
                     << joined(child->stderrLines());
      *ports = *p;
    }
  }

  static void seed() {
    identity::PostgresAccountStore accounts(*pool_);
    identity::Argon2Params a;
    a.timeCost = 1;
    a.memoryKiB = 1024;
    auto hasher = identity::PasswordHasher::create(a);
    ASSERT_TRUE(hasher) << hasher.error().toString();
    const TimePoint now = SystemClock::instance().now();
    for (auto [id, pw] : {std::pair{"alice", kAlicePassword}, std::pair{"bob", kBobPassword}}) {
      identity::Party p;
      p.id = id;
      p.createdAt = now;
      const std::string identifier = std::string("mailto:") + id + "@example.test";
      auto phc = hasher->hash(pw);
      ASSERT_TRUE(phc) << phc.error().toString();
      ASSERT_TRUE(accounts.createAccount(p, identifier, *phc)) << id;
      auto claim = accounts.claimIdentifier(id, identifier, std::string(32, 'c'), now + 10min, now);
      ASSERT_TRUE(claim) << claim.error().toString();
      auto bound = accounts.confirmIdentifier(id, claim->id, std::string(32, 'c'), now);
      ASSERT_TRUE(bound) << bound.error().toString();
    }
    // Alice's certificate in the registry (POST /api/v1/me/certificates stores exactly this);
    // Bob's is his through the bound address in its SAN.
    identity::PostgresPartyCertificateStore certs(*pool_);
    identity::PartyCertificate c;
    c.id = "crt_alice";
    c.partyId = "alice";
    c.sha256Hex = crypto::toHex(crypto::sha256(readFile(dir_->path + "/pki/alice.der")));
    c.subject = "CN=alice test user";
    c.issuer = "CN=erds itest Client CA";
    c.serialHex = "01";
    c.notAfter = now + std::chrono::hours(24 * 30);
    c.addedAt = now;
    ASSERT_TRUE(certs.add(c));

    // Tokens created in a multi-factor session (password + TOTP), as POST /api/v1/me/app-tokens
    // does; the hash key is derived from the same KEK file as erds-smtpd's.
    tokenStore_ = new identity::PostgresAppTokenStore(*pool_);
    auto key = identity::AppTokenManager::deriveHashKey(Secret(std::string(64, 'b')));
    ASSERT_TRUE(key);
    tokens_ = new identity::AppTokenManager(*tokenStore_, SystemClock::instance(), std::move(*key));
    const identity::AuthenticationContext mfa{identity::LevelOfAssurance::Substantial,
                                              {identity::AuthenticationMethod::PasswordTotp},
                                              now - 1min};
    auto live = tokens_->create("alice", "thunderbird", identity::kScopeSmtpSubmit, std::nullopt,
                                mfa, "session:itest");
    ASSERT_TRUE(live) << live.error().toString();
    aliceToken_ = std::string(live->token.reveal());
    aliceTokenId_ = live->record.id;
    auto revoked = tokens_->create("alice", "old laptop", identity::kScopeSmtpSubmit, std::nullopt,
                                   mfa, "session:itest");
    ASSERT_TRUE(revoked) << revoked.error().toString();
    revokedToken_ = std::string(revoked->token.reveal());
    ASSERT_TRUE(tokens_->revoke("alice", revoked->record.id));
  }

  static void TearDownTestSuite() {
    for (ChildProcess** c : {&smtpdOn_, &smtpdOff_, &signer_}) {
      if (*c) {
        (*c)->signal(SIGTERM);
        (*c)->wait(20s);
        delete *c;
        *c = nullptr;
      }
    }
    delete tokens_;
    tokens_ = nullptr;
    delete tokenStore_;
    tokenStore_ = nullptr;
    delete pool_;
    pool_ = nullptr;
    delete pg_;
    pg_ = nullptr;
    delete dir_;
    dir_ = nullptr;
  }

  void SetUp() override { ASSERT_NE(on_.submission, 0) << "suite set-up failed"; }

  static std::string scalar(const std::string& sql) { return scalarQuery(superConninfo_, sql); }

  struct Client {
    std::string certUser;  // "" = no client certificate
    std::string user = "alice@example.test";
    std::string secret;
  };
  // swaks: STARTTLS (with the client certificate of `c.certUser`) + AUTH PLAIN, alice -> bob.
  static RunResult swaks(uint16_t port, const Client& c, const std::string& subject,
                         bool quitAfterAuth = false) {
    std::vector<std::string> argv = {"/usr/bin/swaks",
                                     "--server",
                                     "127.0.0.1",
                                     "--port",
                                     std::to_string(port),
                                     "--from",
                                     "alice@example.test",
                                     "--to",
                                     "bob@example.test",
                                     "--header",
                                     "Subject: " + subject,
                                     "--body",
                                     "Hello, qualified.",
                                     "--hide-informational",
                                     "--timeout",
                                     "60",
                                     "--tls",
                                     "--auth",
                                     "PLAIN",
                                     "--auth-user",
                                     c.user,
                                     "--auth-password",
                                     c.secret};
    if (quitAfterAuth) {
      argv.push_back("--quit-after");
      argv.push_back("AUTH");
    }
    if (!c.certUser.empty()) {
      for (const std::string& a :
           {std::string("--tls-cert"), dir_->path + "/pki/" + c.certUser + ".pem",
            std::string("--tls-key"), dir_->path + "/pki/" + c.certUser + ".key"})
        argv.push_back(a);
    }
    return runToCompletion(argv);
  }

  static std::string acceptedId(const std::string& out) {
    std::smatch m;
    if (!std::regex_search(out, m, std::regex("<~  250 2\\.0\\.0 [^\\n]*?([0-9a-f-]{36})")))
      return "";
    return m[1];
  }

  // The I10 authentication method and level of the message's SubmissionAcceptance.
  static std::pair<std::string, std::string> senderAuthentication(const std::string& id) {
    const std::string xml =
        scalar("SELECT convert_from(xml, 'UTF8') FROM evidence WHERE message_id = '" + id +
               "' AND event = 'SubmissionAcceptance'");
    auto ev = evidence::readEvidenceXml(xml);
    if (!ev) return {"unreadable: " + ev.error().toString(), ""};
    if (!ev->sender.assurance || !ev->sender.assurance->authentication) return {"none", ""};
    return {ev->sender.assurance->authentication->method, ev->sender.assurance->global.level};
  }

  static inline TempDir* dir_ = nullptr;
  static inline erds::testing::PrivatePostgres* pg_ = nullptr;
  static inline pg::Pool* pool_ = nullptr;
  static inline identity::PostgresAppTokenStore* tokenStore_ = nullptr;
  static inline identity::AppTokenManager* tokens_ = nullptr;
  static inline ChildProcess* signer_ = nullptr;
  static inline ChildProcess* smtpdOn_ = nullptr;
  static inline ChildProcess* smtpdOff_ = nullptr;
  static inline std::string superConninfo_;
  static inline std::string aliceToken_, aliceTokenId_, revokedToken_;
  static inline Ports on_, off_;
};

TEST_F(SmtpQualifiedTest, CertificateOfThePartyPlusPasswordIsAcceptedAndTheEvidenceRecordsBoth) {
  for (uint16_t port : {off_.submission, on_.submission}) {
    auto r = swaks(port, {"alice", "alice@example.test", kAlicePassword}, "qtest-cert");
    ASSERT_EQ(r.exitCode, 0) << r.out << joined(r.err) << joined(smtpdOff_->stderrLines());
    const std::string id = acceptedId(r.out);
    ASSERT_FALSE(id.empty()) << r.out;
    EXPECT_EQ(
        scalar("SELECT status || ' ' || sender_identifier FROM messages WHERE id = '" + id + "'"),
        "accepted mailto:alice@example.test");
    auto [method, level] = senderAuthentication(id);
    EXPECT_EQ(method, "urn:erds:authn:password+client_certificate");
    EXPECT_EQ(level, "http://eidas.europa.eu/LoA/substantial")
        << "two factors: password and certificate";
  }
}

TEST_F(SmtpQualifiedTest, PasswordWithoutCertificateIsRefused) {
  const std::string before = scalar("SELECT count(*) FROM messages");
  // Tokens not allowed: AUTH itself needs the certificate.
  auto off =
      swaks(off_.submission, {"", "alice@example.test", kAlicePassword}, "qtest-password-off");
  EXPECT_NE(off.exitCode, 0);
  EXPECT_NE(off.out.find("530 5.7.0"), std::string::npos) << off.out;
  // Tokens allowed: AUTH proceeds, but only a token can succeed without a certificate.
  auto on = swaks(on_.submission, {"", "alice@example.test", kAlicePassword}, "qtest-password-on");
  EXPECT_NE(on.exitCode, 0);
  EXPECT_NE(on.out.find("535 5.7.8"), std::string::npos) << on.out;
  EXPECT_EQ(scalar("SELECT count(*) FROM messages"), before);
}

TEST_F(SmtpQualifiedTest, ApplicationTokenWithoutCertificateIsAcceptedWhenThePolicyAllowsIt) {
  auto r = swaks(on_.submission, {"", "alice@example.test", aliceToken_}, "qtest-token");
  ASSERT_EQ(r.exitCode, 0) << r.out << joined(r.err) << joined(smtpdOn_->stderrLines());
  const std::string id = acceptedId(r.out);
  ASSERT_FALSE(id.empty()) << r.out;
  EXPECT_EQ(scalar("SELECT count(*) FROM evidence WHERE message_id = '" + id +
                   "' AND event = 'SubmissionAcceptance'"),
            "1");
  auto [method, level] = senderAuthentication(id);
  // The token and the factors of the session that created it, honestly: not "client_certificate".
  EXPECT_EQ(method, "urn:erds:authn:application_token+password_totp");
  EXPECT_EQ(level, "http://eidas.europa.eu/LoA/substantial");
  const std::string note = scalar(
      "SELECT details::text FROM audit_log WHERE action = 'message.submitted' AND object = "
      "'message:" +
      id + "'");
  EXPECT_NE(note.find("auth=application_token+password_totp"), std::string::npos) << note;
  EXPECT_NE(scalar("SELECT count(*) FROM audit_log WHERE action = 'identity.app_token.use' AND "
                   "outcome = 'success' "
                   "AND details->>'token_id' = '" +
                   aliceTokenId_ + "'"),
            "0");
  EXPECT_EQ(
      scalar("SELECT last_used_at IS NOT NULL FROM app_tokens WHERE id = '" + aliceTokenId_ + "'"),
      "t");
  // The token never reaches the logs or the audit trail.
  EXPECT_EQ(joined(smtpdOn_->stderrLines()).find(aliceToken_.substr(8)), std::string::npos);
  EXPECT_EQ(scalar("SELECT count(*) FROM audit_log WHERE details::text LIKE '%" +
                   aliceToken_.substr(8) + "%'"),
            "0");
}

TEST_F(SmtpQualifiedTest, ApplicationTokenIsRefusedWhenThePolicyDoesNotAllowIt) {
  const std::string before = scalar("SELECT count(*) FROM messages");
  auto r = swaks(off_.submission, {"", "alice@example.test", aliceToken_}, "qtest-token-off");
  EXPECT_NE(r.exitCode, 0);
  EXPECT_NE(r.out.find("530 5.7.0"), std::string::npos) << r.out;
  // Even with the party's certificate, a token is no password substitute where tokens are off.
  auto withCert =
      swaks(off_.submission, {"alice", "alice@example.test", aliceToken_}, "qtest-token-off-cert");
  EXPECT_NE(withCert.exitCode, 0);
  EXPECT_NE(withCert.out.find("535 5.7.8"), std::string::npos) << withCert.out;
  EXPECT_EQ(scalar("SELECT count(*) FROM messages"), before);
}

TEST_F(SmtpQualifiedTest, RevokedTokenIsRefusedAndAudited) {
  const std::string before = scalar("SELECT count(*) FROM messages");
  auto r = swaks(on_.submission, {"", "alice@example.test", revokedToken_}, "qtest-revoked");
  EXPECT_NE(r.exitCode, 0);
  EXPECT_NE(r.out.find("535 5.7.8"), std::string::npos) << r.out;
  EXPECT_EQ(scalar("SELECT count(*) FROM messages"), before);
  EXPECT_NE(scalar("SELECT count(*) FROM audit_log WHERE action = 'identity.app_token.use' AND "
                   "outcome = 'denied' "
                   "AND details->>'reason' = 'revoked'"),
            "0");
  // Alice's token does not authenticate Bob.
  auto other =
      swaks(on_.submission, {"", "bob@example.test", aliceToken_}, "qtest-token-other-user");
  EXPECT_NE(other.exitCode, 0);
  EXPECT_NE(other.out.find("535 5.7.8"), std::string::npos) << other.out;
}

TEST_F(SmtpQualifiedTest, AnotherPartysCertificateWithAuthIsRefused) {
  const std::string before = scalar("SELECT count(*) FROM messages");
  for (uint16_t port : {off_.submission, on_.submission}) {
    auto pw = swaks(port, {"bob", "alice@example.test", kAlicePassword}, "qtest-bob-cert");
    EXPECT_NE(pw.exitCode, 0);
    EXPECT_NE(pw.out.find("535 5.7.8"), std::string::npos) << pw.out;
  }
  auto token =
      swaks(on_.submission, {"bob", "alice@example.test", aliceToken_}, "qtest-bob-cert-token");
  EXPECT_NE(token.exitCode, 0);
  EXPECT_NE(token.out.find("535 5.7.8"), std::string::npos) << token.out;
  EXPECT_EQ(scalar("SELECT count(*) FROM messages"), before);
}

// Wrong tokens count against the user name like wrong passwords (identity::LoginThrottle: 5
// failures lock it), so afterwards even Bob's valid token and his password are refused for a while.
TEST_F(SmtpQualifiedTest, WrongTokensAreThrottledLikePasswords) {
  const identity::AuthenticationContext mfa{identity::LevelOfAssurance::Substantial,
                                            {identity::AuthenticationMethod::PasswordTotp},
                                            SystemClock::instance().now()};
  auto bob = tokens_->create("bob", "bob's phone", identity::kScopeSmtpSubmit, std::nullopt, mfa,
                             "session:itest");
  ASSERT_TRUE(bob) << bob.error().toString();
  const std::string bobToken(bob->token.reveal());
  auto first = swaks(on_.submission, {"", "bob@example.test", bobToken}, "qtest-bob", true);
  ASSERT_EQ(first.exitCode, 0) << first.out;
  EXPECT_NE(first.out.find("235 2.7.0"), std::string::npos) << first.out;
  auto before = swaks(on_.submission, {"bob", "bob@example.test", kBobPassword},
                      "qtest-bob-password-ok", true);
  ASSERT_EQ(before.exitCode, 0) << before.out;
  std::string wrong = bobToken;
  wrong.back() = wrong.back() == 'A' ? 'B' : 'A';
  for (int i = 0; i < 5; ++i) {
    auto r = swaks(on_.submission, {"", "bob@example.test", wrong}, "qtest-bob-wrong", true);
    EXPECT_NE(r.out.find("535 5.7.8"), std::string::npos) << r.out;
  }
  auto locked = swaks(on_.submission, {"", "bob@example.test", bobToken}, "qtest-bob-locked", true);
  EXPECT_NE(locked.exitCode, 0);
  EXPECT_NE(locked.out.find("535 5.7.8"), std::string::npos) << locked.out;
  auto password =
      swaks(on_.submission, {"bob", "bob@example.test", kBobPassword}, "qtest-bob-password", true);
  EXPECT_NE(password.exitCode, 0);
  EXPECT_NE(password.out.find("535 5.7.8"), std::string::npos)
      << "one throttle for passwords and tokens: " << password.out;
}

// A client we did not write besides swaks: Python's smtplib (STARTTLS, AUTH with the token).
TEST_F(SmtpQualifiedTest, PythonSmtplibSubmitsWithAnApplicationToken) {
  const std::string script = dir_->path + "/submit.py";
  writeFile(script,
            "import smtplib, ssl, sys\n"
            "port, user, secret = int(sys.argv[1]), sys.argv[2], sys.argv[3]\n"
            "ctx = ssl.create_default_context()\n"
            "ctx.check_hostname = False\n"
            "ctx.verify_mode = ssl.CERT_NONE\n"
            "s = smtplib.SMTP('127.0.0.1', port, timeout=60)\n"
            "s.ehlo('python.test')\n"
            "s.starttls(context=ctx)\n"
            "s.ehlo('python.test')\n"
            "s.login(user, secret)\n"
            "s.mail('alice@example.test')\n"
            "s.rcpt('bob@example.test')\n"
            "code, resp = s.data(b'From: alice@example.test\\r\\nTo: "
            "bob@example.test\\r\\nSubject: qtest-python\\r\\n\\r\\nHi.\\r\\n')\n"
            "print(code, resp.decode())\n"
            "s.quit()\n");
  auto r = runToCompletion({"/usr/bin/python3", script, std::to_string(on_.submission),
                            "alice@example.test", aliceToken_});
  ASSERT_EQ(r.exitCode, 0) << r.out << joined(r.err);
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.out, m, std::regex("^250 2\\.0\\.0 [^\\n]*?([0-9a-f-]{36})")))
      << r.out;
  EXPECT_EQ(senderAuthentication(m[1]).first, "urn:erds:authn:application_token+password_totp");
}

}  // namespace
}  // namespace erds::itest
