// Route-level tests of the message API against a real database (TestDatabase), with a fake
// authenticator, directory and evidence issuer.
#include "erds/api/message_routes.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <set>
#include <thread>

#include "erds/api/identity_adapters.h"
#include "erds/api/worker_pool.h"
#include "erds/base/migrations.h"
#include "erds/http/problem.h"
#include "erds/migrations/migrations.h"
#include "fake_clock.h"
#include "fake_evidence_issuer.h"
#include "test_database.h"

namespace erds::api {
namespace {

// "X-Test-Party: <party>" authenticates; the authentication is strong and substantial.
class FakeAuth final : public CallerAuthenticator {
 public:
  Result<Caller> authenticate(const http::Request& r) const override {
    const std::string* p = r.header("X-Test-Party");
    if (p == nullptr) return Error::unauthorized("authentication required");
    Caller c;
    c.partyId = *p;
    c.authentication.level = identity::LevelOfAssurance::Substantial;
    c.authentication.methods = {identity::AuthenticationMethod::PasswordTotp};
    return c;
  }
};

class FakeDirectory final : public PartyDirectory {
 public:
  std::map<std::string, std::string> bound = {{"mailto:alice@example.test", "alice"},
                                              {"mailto:bob@example.test", "bob"},
                                              {"mailto:eve@example.test", "eve"}};
  std::set<std::string> identified = {"alice", "bob"};
  Result<std::optional<std::string>> partyBoundTo(const std::string& id) override {
    auto it = bound.find(id);
    return it == bound.end() ? std::optional<std::string>() : std::optional<std::string>(it->second);
  }
  Result<std::vector<identity::Identification>> identificationsOf(const std::string& party) override {
    std::vector<identity::Identification> out;
    if (identified.count(party)) {
      identity::Identification i;
      i.partyId = party;
      i.method = identity::IdentificationMethod::PhysicalPresence;
      i.level = identity::LevelOfAssurance::Substantial;
      out.push_back(i);
    }
    return out;
  }
  Result<std::string> senderIdentifierOf(const std::string& party) override { return "mailto:" + party + "@example.test"; }
};

// The body of a streaming route, served in small pieces.
class StringReader final : public http::BodyReader {
 public:
  explicit StringReader(std::string data) : data_(std::move(data)) {}
  Result<std::size_t> read(char* buf, std::size_t n) override {
    const std::size_t k = std::min({n, data_.size() - pos_, std::size_t{4096}});
    std::copy_n(data_.data() + pos_, k, buf);
    pos_ += k;
    return k;
  }
  bool limitExceeded() const override { return false; }
  int64_t limit() const override { return 1 << 30; }

 private:
  std::string data_;
  std::size_t pos_ = 0;
};

struct Reply {
  int status = 0;
  std::string body;
  std::string contentType;
  http::Headers headers;
};

class MessageRoutesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = erds::testing::TestDatabase::create();
    ASSERT_TRUE(db.has_value()) << db.error().message;
    db_ = std::move(db).value();
    auto c = pg::Connection::connect(db_->ownerConninfo());
    ASSERT_TRUE(c.has_value()) << c.error().message;
    owner_ = std::move(c).value();
    ASSERT_TRUE(pg::applyMigrations(*owner_, allMigrations(), db_->appRole()).has_value());
    pg::PoolOptions o;
    o.conninfo = db_->appConninfo();
    o.size = 4;
    pool_ = std::make_unique<pg::Pool>(o);
    kek_.emplace(crypto::KeyEncryptionKey::fromSecret(Secret(std::string(32, '\x42'))).value());
    vault_ = std::make_unique<core::ContentVault>(*pool_, *kek_, clock_, audit_);
    jobs_ = std::make_unique<core::JobQueue>(*pool_, clock_);
    store_ = std::make_unique<core::DeliveryStore>(*pool_, issuer_, *jobs_, clock_, audit_);
    MessageRoutesDeps d{store_.get(), vault_.get(), pool_.get(), &auth_, &dir_, &gate_, &clock_, &audit_, nullptr};
    MessageRoutesOptions opt;
    opt.maxContentBytes = 1000;
    routes_ = std::make_unique<MessageRoutes>(d, opt);
    ASSERT_TRUE(routes_->registerRoutes(router_).has_value());
    workers_ = std::make_unique<WorkerPool>(WorkerPoolDeps{jobs_.get(), store_.get(), vault_.get(), &notifier_, &clock_});
  }

  Reply call(const std::string& method, const std::string& target, const std::string& party,
             const std::string& body = {}, const std::string& contentType = {}, http::Headers extra = {}) {
    http::Request r;
    r.method = method;
    const auto q = target.find('?');
    r.path = target.substr(0, q);
    if (q != std::string::npos) r.query = target.substr(q + 1);
    http::Router& router = active_ != nullptr ? *active_ : router_;
    auto m = router.match(method, r.path);
    EXPECT_EQ(m.status, http::Router::MatchStatus::Found) << method << " " << target;
    if (m.status != http::Router::MatchStatus::Found) return {};
    r.routeTemplate = m.spec->path;
    r.pathParams = m.params;
    if (!party.empty()) r.headers.emplace_back("X-Test-Party", party);
    if (!contentType.empty()) r.headers.emplace_back("Content-Type", contentType);
    for (auto& h : extra) r.headers.push_back(h);
    StringReader reader(body);
    if (!body.empty()) {
      if (m.spec->streamRequestBody) {
        r.bodyReader = &reader;
      } else {
        r.body = body;
      }
      std::string mt = contentType.substr(0, contentType.find(';'));
      for (auto& ch : mt) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      r.mediaType = mt;
    }
    r.requestId = "test";
    auto res = (*m.handler)(r);
    if (!res) return {http::problemType(res.error().code).status, res.error().message, "problem", {}};
    std::string out = res->body;
    if (res->producer) {
      struct Collect final : http::BodyWriter {
        std::string s;
        Result<void> write(std::string_view b) override {
          s += b;
          return ok();
        }
      } w;
      auto produced = res->producer(w);
      if (!produced) return {-1, w.s, "aborted", {}};
      if (res->contentLength) {
        EXPECT_EQ(static_cast<int64_t>(w.s.size()), *res->contentLength);
      }
      out = w.s;
    }
    return {res->status, out, res->contentType, res->headers};
  }

  static std::string field(const std::string& json, const std::string& name) {
    const std::string k = "\"" + name + "\":\"";
    auto p = json.find(k);
    if (p == std::string::npos) return "";
    p += k.size();
    return json.substr(p, json.find('"', p) - p);
  }

  std::string inlineBody(const std::string& mode = "basic", const std::string& recipient = "mailto:bob@example.test",
                         const std::string& filename = "hello.txt") {
    return R"({"subject":"Contract","recipients":[")" + recipient + R"("],"consignment_mode":")" + mode +
           R"(","content":{"filename":")" + filename + R"(","media_type":"text/plain","data_base64":"aGVsbG8gd29ybGQ="}})";
  }

  static std::string multipart(const std::string& filename, const std::string& data) {
    return "--B0undary\r\nContent-Disposition: form-data; name=\"metadata\"\r\nContent-Type: application/json\r\n\r\n"
           R"({"recipients":["mailto:bob@example.test"],"consignment_mode":"consent"})"
           "\r\n--B0undary\r\nContent-Disposition: form-data; name=\"file\"; filename=\"" +
           filename + "\"\r\nContent-Type: application/pdf\r\n\r\n" + data + "\r\n--B0undary--\r\n";
  }
  const std::string kMultipartType = "multipart/form-data; boundary=B0undary";

  int64_t count(const std::string& sql) { return owner_->exec(sql).value().getInt(0, 0); }
  void runJobs() {
    for (int i = 0; i < 10; ++i) {
      auto n = workers_->runOnce("test-worker");
      ASSERT_TRUE(n.has_value()) << n.error().message;
      if (*n == 0) return;
    }
  }

  erds::testing::FakeClock clock_{TimePoint(std::chrono::seconds(1795773600))};
  AuditLog audit_{clock_};
  core::testing::FakeEvidenceIssuer issuer_;
  FakeAuth auth_;
  FakeDirectory dir_;
  identity::IdentityGate gate_{identity::builtinGatePolicy(ServiceMode::Development)};
  LogDeliveryNotifier notifier_;
  std::unique_ptr<erds::testing::TestDatabase> db_;
  std::unique_ptr<pg::Connection> owner_;
  std::unique_ptr<pg::Pool> pool_;
  std::optional<crypto::KeyEncryptionKey> kek_;
  std::unique_ptr<core::ContentVault> vault_;
  std::unique_ptr<core::JobQueue> jobs_;
  std::unique_ptr<core::DeliveryStore> store_;
  std::unique_ptr<MessageRoutes> routes_;
  std::unique_ptr<WorkerPool> workers_;
  http::Router router_;
  http::Router* active_ = nullptr;  // another router to call instead of router_
};

TEST_F(MessageRoutesTest, JsonSubmissionIsAcceptedWithEvidence) {
  auto r = call("POST", "/api/v1/messages", "alice", inlineBody(), "application/json");
  ASSERT_EQ(r.status, 201) << r.body;
  const std::string id = field(r.body, "message_id");
  ASSERT_FALSE(id.empty());
  bool location = false;
  for (auto& [k, v] : r.headers) location |= (k == "Location" && v == "/api/v1/messages/" + id);
  EXPECT_TRUE(location);
  auto s = call("GET", "/api/v1/messages/" + id, "alice");
  ASSERT_EQ(s.status, 200) << s.body;
  EXPECT_NE(s.body.find("\"event\":\"SubmissionAcceptance\""), std::string::npos) << s.body;
  EXPECT_NE(s.body.find("mailto:bob@example.test"), std::string::npos);
  // The bound recipient sees it too; anybody else gets 404, exactly like a missing message.
  EXPECT_EQ(call("GET", "/api/v1/messages/" + id, "bob").status, 200);
  auto eve = call("GET", "/api/v1/messages/" + id, "eve");
  auto missing = call("GET", "/api/v1/messages/00000000-0000-4000-8000-000000000000", "eve");
  EXPECT_EQ(eve.status, 404);
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(eve.body, missing.body);
  // Lists.
  auto sent = call("GET", "/api/v1/messages?box=sent", "alice");
  EXPECT_NE(sent.body.find(id), std::string::npos);
  auto inbox = call("GET", "/api/v1/messages?box=inbox&state=submitted", "bob");
  EXPECT_NE(inbox.body.find(id), std::string::npos) << inbox.body;
  EXPECT_EQ(call("GET", "/api/v1/messages?box=inbox", "eve").body.find(id), std::string::npos);
  EXPECT_EQ(call("GET", "/api/v1/messages?box=nope", "alice").status, 400);
  // Evidence XML.
  const std::string ev = field(r.body, "evidence_id");
  auto x = call("GET", "/api/v1/evidence/" + ev, "bob");
  EXPECT_EQ(x.status, 200);
  EXPECT_EQ(x.contentType, "application/xml");
  EXPECT_EQ(call("GET", "/api/v1/evidence/" + ev, "eve").status, 404);
}

TEST_F(MessageRoutesTest, UnauthenticatedGets401AndNoEvidence) {
  EXPECT_EQ(call("POST", "/api/v1/messages", "", inlineBody(), "application/json").status, 401);
  EXPECT_EQ(issuer_.calls(), 0);
  EXPECT_EQ(count("SELECT count(*) FROM messages"), 0);
}

TEST_F(MessageRoutesTest, IdempotencyKey) {
  http::Headers key = {{"Idempotency-Key", "k-1"}};
  auto a = call("POST", "/api/v1/messages", "alice", inlineBody(), "application/json", key);
  auto b = call("POST", "/api/v1/messages", "alice", inlineBody(), "application/json", key);
  ASSERT_EQ(a.status, 201);
  ASSERT_EQ(b.status, 201);
  EXPECT_EQ(field(a.body, "message_id"), field(b.body, "message_id"));
  EXPECT_EQ(field(a.body, "evidence_id"), field(b.body, "evidence_id"));
  auto c = call("POST", "/api/v1/messages", "alice", inlineBody("consent"), "application/json", key);
  EXPECT_EQ(c.status, 409);
  EXPECT_EQ(count("SELECT count(*) FROM messages"), 1);
}

TEST_F(MessageRoutesTest, RefusalsOfAuthenticatedSenders) {
  // Malformed input before the recipients are known: 400, nothing stored.
  EXPECT_EQ(call("POST", "/api/v1/messages", "alice", "garbage", kMultipartType).status, 400);
  EXPECT_EQ(call("POST", "/api/v1/messages", "alice", "{", "application/json").status, 400);
  EXPECT_EQ(issuer_.calls(), 0);
  // A traversal file name: SubmissionRejection evidence + 400.
  auto t = call("POST", "/api/v1/messages", "alice", multipart("../../etc/passwd", "x"), kMultipartType);
  EXPECT_EQ(t.status, 400);
  EXPECT_NE(t.body.find("evidence_id"), std::string::npos) << t.body;
  EXPECT_NE(t.body.find("RA02"), std::string::npos);
  // Too large (options: 1000 bytes): 413 with evidence.
  auto big = call("POST", "/api/v1/messages", "alice", multipart("big.pdf", std::string(1001, 'x')), kMultipartType);
  EXPECT_EQ(big.status, 413);
  EXPECT_EQ(count("SELECT count(*) FROM evidence WHERE event = 'SubmissionRejection'"), 2);
  // A recipient outside our domains with no party.
  auto foreign = call("POST", "/api/v1/messages", "alice", inlineBody("basic", "mailto:x@elsewhere.example"),
                      "application/json");
  EXPECT_EQ(foreign.status, 400);
  // Gate: an unidentified sender gets 403 with what to do next, and the refusal is proven.
  auto eve = call("POST", "/api/v1/messages", "eve", inlineBody(), "application/json");
  EXPECT_EQ(eve.status, 403);
  EXPECT_NE(eve.body.find("identification_required"), std::string::npos) << eve.body;
  EXPECT_EQ(count("SELECT count(*) FROM evidence WHERE event = 'SubmissionRejection'"), 4);
  EXPECT_EQ(count("SELECT count(*) FROM evidence WHERE event = 'SubmissionAcceptance'"), 0);
}

TEST_F(MessageRoutesTest, NoTimeStampMeans503AndNothingStored) {
  issuer_.setFailing(true);
  EXPECT_EQ(call("POST", "/api/v1/messages", "alice", inlineBody(), "application/json").status, 503);
  EXPECT_EQ(count("SELECT count(*) FROM messages"), 0);
}

TEST_F(MessageRoutesTest, ConsentAcceptThenContentHandover) {
  auto r = call("POST", "/api/v1/messages", "alice", multipart("contract.pdf", "%PDF-1.7 body"), kMultipartType);
  ASSERT_EQ(r.status, 201) << r.body;
  const std::string id = field(r.body, "message_id");
  runJobs();  // NotificationForAcceptance
  EXPECT_EQ(count("SELECT count(*) FROM evidence WHERE event = 'NotificationForAcceptance'"), 1);
  // Content is not available before acceptance; the sender cannot accept; others get 404.
  EXPECT_EQ(call("GET", "/api/v1/messages/" + id + "/content", "bob").status, 409);
  EXPECT_EQ(call("POST", "/api/v1/messages/" + id + "/accept", "alice").status, 404);
  EXPECT_EQ(call("POST", "/api/v1/messages/" + id + "/accept", "eve").status, 404);
  auto acc = call("POST", "/api/v1/messages/" + id + "/accept", "bob");
  ASSERT_EQ(acc.status, 200) << acc.body;
  EXPECT_EQ(call("POST", "/api/v1/messages/" + id + "/reject", "bob").status, 409);
  runJobs();  // ContentConsignment
  auto c = call("GET", "/api/v1/messages/" + id + "/content", "bob");
  ASSERT_EQ(c.status, 200) << c.body;
  EXPECT_EQ(c.body, "%PDF-1.7 body");
  EXPECT_EQ(c.contentType, "application/pdf");
  EXPECT_EQ(count("SELECT count(*) FROM evidence WHERE event = 'ContentHandover'"), 1);
  // A second download does not issue a second handover; the sender cannot download.
  EXPECT_EQ(call("GET", "/api/v1/messages/" + id + "/content/0", "bob").status, 200);
  EXPECT_EQ(call("GET", "/api/v1/messages/" + id + "/content/1", "bob").status, 404);
  EXPECT_EQ(call("GET", "/api/v1/messages/" + id + "/content", "alice").status, 404);
  EXPECT_EQ(count("SELECT count(*) FROM evidence WHERE event = 'ContentHandover'"), 1);
  // The bundle holds every evidence and the README.
  auto z = call("GET", "/api/v1/messages/" + id + "/evidence-bundle", "alice");
  ASSERT_EQ(z.status, 200);
  EXPECT_EQ(z.body.substr(0, 2), "PK");
  EXPECT_NE(z.body.find("ContentHandover"), std::string::npos);
  EXPECT_NE(z.body.find("README.txt"), std::string::npos);
}

TEST_F(MessageRoutesTest, BasicModeAndExpiry) {
  auto r = call("POST", "/api/v1/messages", "alice", inlineBody("basic"), "application/json");
  ASSERT_EQ(r.status, 201);
  runJobs();  // ContentConsignment, ConsignmentNotification
  EXPECT_EQ(count("SELECT count(*) FROM deliveries WHERE state = 'notified'"), 1);
  clock_.advance(std::chrono::hours(24 * 16));
  runJobs();  // expiry: ContentHandoverFailure
  EXPECT_EQ(count("SELECT count(*) FROM evidence WHERE event = 'ContentHandoverFailure'"), 1);
  EXPECT_EQ(count("SELECT count(*) FROM deliveries WHERE state = 'failed'"), 1);
}

TEST_F(MessageRoutesTest, MultipartStreamsSeveralFilesAndDownloadsThemAsMultipartMixed) {
  const std::string body =
      "--B0undary\r\nContent-Disposition: form-data; name=\"metadata\"\r\nContent-Type: application/json\r\n\r\n"
      R"({"recipients":["mailto:bob@example.test"]})"
      "\r\n--B0undary\r\nContent-Disposition: form-data; name=\"a\"; filename=\"a.txt\"\r\nContent-Type: text/plain\r\n\r\n"
      "first file\r\n--B0undary\r\nContent-Disposition: form-data; name=\"b\"; filename=\"b.bin\"\r\n\r\n"
      "second\r\n--B0und file\r\n--B0undary--\r\n";
  auto r = call("POST", "/api/v1/messages", "alice", body, kMultipartType);
  ASSERT_EQ(r.status, 201) << r.body;
  const std::string id = field(r.body, "message_id");
  EXPECT_EQ(count("SELECT count(*) FROM content_parts WHERE state = 'linked'"), 2);
  runJobs();  // basic: ContentConsignment, ConsignmentNotification
  auto c = call("GET", "/api/v1/messages/" + id + "/content", "bob");
  ASSERT_EQ(c.status, 200) << c.body;
  EXPECT_EQ(c.contentType.rfind("multipart/mixed; boundary=", 0), 0u);
  EXPECT_NE(c.body.find("\r\n\r\nfirst file\r\n--erds-"), std::string::npos) << c.body;
  EXPECT_NE(c.body.find("\r\n\r\nsecond\r\n--B0und file\r\n--erds-"), std::string::npos) << c.body;
  EXPECT_NE(c.body.find("filename=\"b.bin\""), std::string::npos);
  auto one = call("GET", "/api/v1/messages/" + id + "/content/1", "bob");
  EXPECT_EQ(one.body, "second\r\n--B0und file");
}

TEST_F(MessageRoutesTest, MetadataMustComeFirstInTheStream) {
  const std::string body =
      "--B0undary\r\nContent-Disposition: form-data; name=\"a\"; filename=\"a.txt\"\r\n\r\nx"
      "\r\n--B0undary\r\nContent-Disposition: form-data; name=\"metadata\"\r\n\r\n"
      R"({"recipients":["mailto:bob@example.test"]})"
      "\r\n--B0undary--\r\n";
  auto r = call("POST", "/api/v1/messages", "alice", body, kMultipartType);
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(count("SELECT count(*) FROM evidence"), 0);
  EXPECT_EQ(count("SELECT count(*) FROM content_parts"), 0);
}

TEST_F(MessageRoutesTest, AlteredChunkAbortsTheDownload) {
  auto r = call("POST", "/api/v1/messages", "alice", inlineBody("basic"), "application/json");
  ASSERT_EQ(r.status, 201) << r.body;
  const std::string id = field(r.body, "message_id");
  runJobs();
  ASSERT_TRUE(owner_->exec("UPDATE content_chunks SET ciphertext = set_byte(ciphertext, 0, get_byte(ciphertext, 0) # 1)")
                  .has_value());
  auto c = call("GET", "/api/v1/messages/" + id + "/content", "bob");
  EXPECT_EQ(c.contentType, "aborted");  // the producer failed: the transport aborts the connection
  EXPECT_EQ(c.body, "");                // no byte of the altered chunk left
  EXPECT_GE(count("SELECT count(*) FROM audit_log WHERE action = 'content.integrity_failure'"), 1);
}

TEST_F(MessageRoutesTest, OneSubmissionRouteTakesMultipartAndJson) {
  const std::string doc = router_.openApiDocument(http::ApiInfo{});
  const auto post = doc.find("\"submitMessage\"");
  ASSERT_NE(post, std::string::npos);
  const auto body = doc.find("\"requestBody\"", post);
  ASSERT_NE(body, std::string::npos);
  const std::string rb = doc.substr(body, 400);
  EXPECT_NE(rb.find("\"multipart/form-data\":{\"schema\":{\"$ref\":\"#/components/schemas/SubmissionForm\"}"), std::string::npos) << rb;
  EXPECT_NE(rb.find("\"application/json\":{\"schema\":{\"$ref\":\"#/components/schemas/InlineSubmission\"}"), std::string::npos) << rb;
  EXPECT_EQ(doc.find("/api/v1/messages/inline"), std::string::npos);
  // (GET /api/v1/messages/{id} matches the path, so POST there is 405.)
  EXPECT_NE(router_.match("POST", "/api/v1/messages/inline").status, http::Router::MatchStatus::Found);
}

std::string hexSha256(const std::string& d) { return crypto::toHex(crypto::sha256(d)); }

// The same submissions through the one-transaction path (content held in memory), the streamed
// path (staged uploads) and a body that spills from memory into uploads half-way: the same
// answers, the same stored content, the same parts list, the same idempotency.
TEST_F(MessageRoutesTest, OneTransactionStreamedAndSpilledPathsAgree) {
  struct Case {
    const char* name;
    int64_t singleTransactionMaxBytes;
    // Part rows after the submission, its replay and the 409: the staging paths upload before
    // the key is checked (those parts stay unlinked until garbage collection), the one-transaction
    // path stores nothing for a replay or a conflict.
    int64_t partRows;
  };
  const Case cases[] = {{"one transaction", 1024 * 1024, 3}, {"streamed", 0, 9}, {"spills at the second file", 12, 9}};
  const std::string a = "first file", b(300, 'b'), c;  // 10 bytes, 300 bytes, empty
  const std::string body =
      "--B0undary\r\nContent-Disposition: form-data; name=\"metadata\"\r\nContent-Type: application/json\r\n\r\n"
      R"({"recipients":["mailto:bob@example.test"]})"
      "\r\n--B0undary\r\nContent-Disposition: form-data; name=\"a\"; filename=\"a.txt\"\r\nContent-Type: text/plain\r\n\r\n" +
      a + "\r\n--B0undary\r\nContent-Disposition: form-data; name=\"b\"; filename=\"b.bin\"\r\n\r\n" + b +
      "\r\n--B0undary\r\nContent-Disposition: form-data; name=\"c\"; filename=\"c.txt\"\r\nContent-Type: text/plain\r\n\r\n" +
      c + "\r\n--B0undary--\r\n";
  int n = 0;
  for (const Case& k : cases) {
    SCOPED_TRACE(k.name);
    MessageRoutesDeps d{store_.get(), vault_.get(), pool_.get(), &auth_, &dir_, &gate_, &clock_, &audit_, nullptr};
    MessageRoutesOptions opt;
    opt.maxContentBytes = 1000;
    opt.singleTransactionMaxBytes = k.singleTransactionMaxBytes;
    MessageRoutes routes(d, opt);
    http::Router router;
    ASSERT_TRUE(routes.registerRoutes(router).has_value());
    active_ = &router;
    const http::Headers key = {{"Idempotency-Key", "paths-" + std::to_string(n)}};
    const int64_t partsBefore = count("SELECT count(*) FROM content_parts");
    auto r = call("POST", "/api/v1/messages", "alice", body, kMultipartType, key);
    ASSERT_EQ(r.status, 201) << r.body;
    ++n;
    const std::string id = field(r.body, "message_id");
    EXPECT_EQ(count("SELECT count(*) FROM content_parts WHERE state <> 'linked' AND message_id = '" + id + "'"), 0);
    EXPECT_EQ(count("SELECT count(*) FROM content_parts WHERE message_id = '" + id + "'"), 3);
    // The parts list, in message order.
    auto st = call("GET", "/api/v1/messages/" + id, "alice");
    ASSERT_EQ(st.status, 200) << st.body;
    const std::string parts = st.body.substr(st.body.find("\"parts\":["));
    const std::string want =
        "\"parts\":[{\"index\":0,\"name\":\"a.txt\",\"content_type\":\"text/plain\",\"size\":10,\"sha256\":\"" +
        hexSha256(a) + "\"},{\"index\":1,\"name\":\"b.bin\",\"content_type\":\"application/octet-stream\",\"size\":300,"
        "\"sha256\":\"" + hexSha256(b) + "\"},{\"index\":2,\"name\":\"c.txt\",\"content_type\":\"text/plain\",\"size\":0,"
        "\"sha256\":\"" + hexSha256(c) + "\"}]";
    EXPECT_EQ(parts.substr(0, want.size()), want);
    // The bound recipient sees the list too.
    EXPECT_NE(call("GET", "/api/v1/messages/" + id, "bob").body.find(want), std::string::npos);
    // Idempotency: same key and body -> the first answer; another body -> 409, nothing stored.
    auto again = call("POST", "/api/v1/messages", "alice", body, kMultipartType, key);
    ASSERT_EQ(again.status, 201) << again.body;
    EXPECT_EQ(field(again.body, "message_id"), id);
    EXPECT_EQ(field(again.body, "evidence_id"), field(r.body, "evidence_id"));
    std::string other = body;
    other.replace(other.find("first file"), 10, "FIRST FILE");
    EXPECT_EQ(call("POST", "/api/v1/messages", "alice", other, kMultipartType, key).status, 409);
    EXPECT_EQ(count("SELECT count(*) FROM messages"), n);
    EXPECT_EQ(count("SELECT count(*) FROM evidence WHERE event = 'SubmissionAcceptance'"), n);
    EXPECT_EQ(count("SELECT count(*) FROM content_parts") - partsBefore, k.partRows);
    // Content round trip through the recipient's download.
    runJobs();
    EXPECT_EQ(call("GET", "/api/v1/messages/" + id + "/content/0", "bob").body, a);
    EXPECT_EQ(call("GET", "/api/v1/messages/" + id + "/content/1", "bob").body, b);
    auto empty = call("GET", "/api/v1/messages/" + id + "/content/2", "bob");
    EXPECT_EQ(empty.status, 200);
    EXPECT_EQ(empty.body, "");
    active_ = nullptr;
  }
}

TEST_F(MessageRoutesTest, OpenApiDescribesTheParts) {
  const std::string doc = router_.openApiDocument(http::ApiInfo{});
  const auto status = doc.find("\"MessageStatus\"");
  ASSERT_NE(status, std::string::npos);
  const auto parts = doc.find("\"parts\":{", status);
  ASSERT_NE(parts, std::string::npos) << doc.substr(status, 2000);
  const std::string schema = doc.substr(parts, 600);
  for (const char* f : {"\"index\"", "\"name\"", "\"content_type\"", "\"size\"", "\"sha256\""})
    EXPECT_NE(schema.find(f), std::string::npos) << f << " in " << schema;
}

// The caller's identity (sender identifier, identifications) is cached for at most
// kCallerCacheTtl; changes show once it has passed.
TEST_F(MessageRoutesTest, PartyDirectoryCachesTheCallerBriefly) {
  ASSERT_TRUE(owner_->exec("INSERT INTO parties (id, kind, created_at) VALUES ('carol', 'natural', now()); "
                           "INSERT INTO credentials (party_id, login_identifier, password_hash, updated_at) "
                           "VALUES ('carol', 'mailto:carol@example.test', '$argon2id$test', now())"));
  PostgresPartyDirectory directory(*pool_, audit_);
  const auto t0 = std::chrono::steady_clock::now();
  auto sender = directory.senderIdentifierOf("carol");
  ASSERT_TRUE(sender.has_value()) << sender.error().toString();
  EXPECT_EQ(*sender, "mailto:carol@example.test");
  auto ids = directory.identificationsOf("carol");
  ASSERT_TRUE(ids.has_value());
  EXPECT_TRUE(ids->empty());
  ASSERT_TRUE(owner_->exec("UPDATE credentials SET login_identifier = 'mailto:carol2@example.test' WHERE party_id = 'carol'; "
                           "INSERT INTO identifications (id, party_id, method, level, at) "
                           "VALUES ('id-carol', 'carol', 'physical_presence', 'substantial', now())"));
  if (std::chrono::steady_clock::now() - t0 < PostgresPartyDirectory::kCallerCacheTtl / 2) {
    EXPECT_EQ(directory.senderIdentifierOf("carol").value(), "mailto:carol@example.test");  // cached
    EXPECT_TRUE(directory.identificationsOf("carol").value().empty());
  }
  std::this_thread::sleep_until(t0 + PostgresPartyDirectory::kCallerCacheTtl + std::chrono::milliseconds(50));
  EXPECT_EQ(directory.senderIdentifierOf("carol").value(), "mailto:carol2@example.test");
  auto fresh = directory.identificationsOf("carol");
  ASSERT_TRUE(fresh.has_value());
  ASSERT_EQ(fresh->size(), 1u);
  EXPECT_EQ((*fresh)[0].level, identity::LevelOfAssurance::Substantial);
  // An unknown party is an error, never cached as a value.
  EXPECT_FALSE(directory.senderIdentifierOf("nobody").has_value());
}

}  // namespace
}  // namespace erds::api
