#include "erds/evidence/signer_client.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <thread>

#include "erds/evidence/forwarding_key.h"
#include "erds/evidence/rfc3161_tsu.h"
#include "erds/evidence/signer_protocol.h"
#include "erds/evidence/timestamp_verify.h"

#include "crypto_test_util.h"
#include "fake_clock.h"

namespace erds::evidence {
namespace {

using namespace erds::evidence::testing;
namespace sp = signer_protocol;

bool readExact(int fd, std::size_t n, std::string& out) {
  out.resize(n);
  std::size_t got = 0;
  while (got < n) {
    ssize_t r = ::read(fd, out.data() + got, n - got);
    if (r <= 0) return false;
    got += static_cast<std::size_t>(r);
  }
  return true;
}

// A minimal erds-signer stand-in: one thread, serves frames with signer_protocol::handleRequest.
class TestSignerServer {
 public:
  TestSignerServer(std::shared_ptr<Signer> signer, std::string path, bool closeAfterEachRequest)
      : signer_(std::move(signer)), path_(std::move(path)), oneShot_(closeAfterEachRequest) {
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path_.c_str(), sizeof addr.sun_path - 1);
    ERDS_CHECK(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0, "bind");
    ERDS_CHECK(::listen(fd_, 16) == 0, "listen");
    thread_ = std::thread([this] { run(); });
  }
  ~TestSignerServer() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
    ::unlink(path_.c_str());
  }
  std::atomic<int> requests{0};

 private:
  void run() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) continue;
      std::string header, payload;
      while (readExact(c, sp::kHeaderBytes, header)) {
        auto h = sp::decodeHeader(header, sp::kMaxRequestPayload);
        if (!h) break;  // the real signer drops the connection on a bad header
        if (!readExact(c, h->length, payload)) break;
        ++requests;
        const std::string reply = sp::handleRequest(*signer_, *h, payload);
        if (::write(c, reply.data(), reply.size()) != static_cast<ssize_t>(reply.size())) break;
        if (oneShot_) break;
      }
      ::close(c);
    }
  }
  std::shared_ptr<Signer> signer_;
  std::string path_;
  bool oneShot_;
  int fd_ = -1;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

struct SignerFixture {
  TempDir dir;
  TestCert seal;
  TestCert tsu;
  std::shared_ptr<Signer> fileSigner;
  SignerFixture() {
    seal = pki().issue({});
    TestCertOptions t;
    t.timeStamping = true;
    t.keyType = TestKeyType::Rsa2048;
    tsu = pki().issue(t);
    writeKeyFiles(dir.path, "seal", seal);
    writeKeyFiles(dir.path, "tsu", tsu);
    writeFile(dir.path + "/root-ca.pem", pki().root().certPem);
    auto s = FileKeySigner::fromDirectory(dir.path, {"seal", "tsu"});
    ERDS_CHECK(s.has_value(), "file signer");
    fileSigner = std::move(*s);
  }
  std::string socket() const { return dir.path + "/signer.sock"; }
  std::shared_ptr<SignerClient> client() const {
    auto c = SignerClient::create({socket(), std::chrono::milliseconds(2000), 4});
    ERDS_CHECK(c.has_value(), "client");
    return std::move(*c);
  }
};

TEST(SignerProtocolTest, RejectsMalformedFrames) {
  const std::string good = sp::encodeSignRequest("seal", std::string(32, 'd'));
  ASSERT_TRUE(sp::decodeHeader(good.substr(0, 12), sp::kMaxRequestPayload).has_value());
  struct Case {
    std::string name;
    std::string frame;
  };
  std::string badMagic = good, badVersion = good, badType = good, reserved = good, huge = good;
  badMagic[0] = 'X';
  badVersion[4] = 2;
  badType[5] = 9;
  reserved[7] = 1;
  huge[8] = 0x7F;
  const std::vector<Case> headerCases = {{"magic", badMagic},
                                         {"version", badVersion},
                                         {"type", badType},
                                         {"reserved", reserved},
                                         {"too large", huge}};
  for (const auto& c : headerCases)
    EXPECT_FALSE(sp::decodeHeader(c.frame.substr(0, 12), sp::kMaxRequestPayload).has_value())
        << c.name;

  const std::vector<Case> payloadCases = {
      {"short digest", sp::encodeSignRequest("seal", std::string(31, 'd'))},
      {"long digest", sp::encodeSignRequest("seal", std::string(64, 'd'))},
      {"empty label", sp::encodeSignRequest("", std::string(32, 'd'))},
      {"label chars", sp::encodeSignRequest("../etc/passwd", std::string(32, 'd'))},
      {"trailing",
       [] {
         std::string f = sp::encodeSignRequest("seal", std::string(32, 'd')) + "x";
         f[11] = static_cast<char>(f[11] + 1);  // the length covers the extra byte
         return f;
       }()},
      {"algorithm",
       [] {
         std::string f = sp::encodeSignRequest("seal", std::string(32, 'd'));
         f[12 + 1 + 4] = 7;
         return f;
       }()},
  };
  for (const auto& c : payloadCases) {
    auto h = sp::decodeHeader(c.frame.substr(0, 12), sp::kMaxRequestPayload);
    ASSERT_TRUE(h.has_value()) << c.name;
    const std::string payload = c.frame.substr(12);
    ASSERT_EQ(payload.size(), h->length) << c.name;
    EXPECT_FALSE(sp::decodeRequest(*h, payload).has_value()) << c.name;
  }
  // Error frames round-trip their code.
  const std::string err = sp::encodeErrorResponse(Error::notFound("no key"));
  auto h = sp::decodeHeader(err.substr(0, 12), sp::kMaxResponsePayload);
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(sp::decodeSignResponse(*h, err.substr(12)).error().code, ErrorCode::NotFound);
}

TEST(SignerClientTest, SignsThroughSocketAndPassesErrorsThrough) {
  SignerFixture f;
  TestSignerServer server(f.fileSigner, f.socket(), false);
  auto client = f.client();
  const std::string digest = sha256Of("evidence");
  auto sig = client->signDigest("seal", digest);
  ASSERT_TRUE(sig.has_value()) << sig.error().toString();
  EXPECT_TRUE(verifyDigestSignature(f.seal.certDer, digest, *sig));
  auto info = client->keyInfo("tsu");
  ASSERT_TRUE(info.has_value()) << info.error().toString();
  EXPECT_EQ(info->certificateDer, f.tsu.certDer);
  EXPECT_EQ(info->algorithm, KeyAlgorithm::Rsa);
  EXPECT_EQ(info->bits, 2048);
  EXPECT_EQ(info->chainDer, pki().root().certDer);
  EXPECT_EQ(client->signDigest("nope", digest).error().code, ErrorCode::NotFound);
  EXPECT_EQ(client->signDigest("seal", "short").error().code, ErrorCode::InvalidInput);
  const int before = server.requests.load();
  EXPECT_TRUE(client->keyInfo("tsu").has_value());  // cached
  EXPECT_EQ(server.requests.load(), before);
}

TEST(SignerClientTest, ForwardingKeyAndTsuOverTheSignerProcess) {
  SignerFixture f;
  TestSignerServer server(f.fileSigner, f.socket(), false);
  auto client = f.client();
  erds::testing::FakeClock clock(nowSeconds());
  Rfc3161TsuOptions o;
  o.policyOid = "1.3.6.1.4.1.99999.1.1";
  o.clockSyncCheck = [] { return ok(); };
  auto tsu = Rfc3161Tsu::create(client, o, clock);
  ASSERT_TRUE(tsu.has_value()) << tsu.error().toString();
  const std::string digest = sha256Of("sealed evidence");
  auto token = (*tsu)->timestamp(digest);
  ASSERT_TRUE(token.has_value()) << token.error().toString();
  auto v = TimestampVerifier::fromPem(pki().root().certPem);
  EXPECT_TRUE((*v)->verify(token->der, digest).has_value());
}

TEST(SignerClientTest, RetriesWhenServerClosedIdleConnection) {
  SignerFixture f;
  TestSignerServer server(f.fileSigner, f.socket(), /*closeAfterEachRequest=*/true);
  auto client = f.client();
  for (int i = 0; i < 3; ++i) {
    auto sig = client->signDigest("seal", sha256Of(std::to_string(i)));
    ASSERT_TRUE(sig.has_value()) << i << ": " << sig.error().toString();
  }
}

TEST(SignerClientTest, UnreachableSignerIsUnavailable) {
  SignerFixture f;
  auto client = f.client();
  auto sig = client->signDigest("seal", sha256Of("x"));
  ASSERT_FALSE(sig.has_value());
  EXPECT_EQ(sig.error().code, ErrorCode::Unavailable);
  EXPECT_EQ(SignerClient::create({"", std::chrono::milliseconds(1), 1}).error().code,
            ErrorCode::InvalidInput);
}

}  // namespace
}  // namespace erds::evidence
