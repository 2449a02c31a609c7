// Integration: the message API end to end through the real erdsd (development mode, demo
// accounts, in-process signer, built-in TSU) over verified TLS with a private durable PostgreSQL:
// JSON and multipart submissions, sealed evidence verified with xmlsec1, idempotency, 401/404/413,
// consent -> download -> ContentHandover, the parts list, TWO erdsd processes on one database (both
// running workers), one of them SIGKILLed mid-run and restarted: every evidence exactly once; and
// PostgreSQL going away mid-request (stopped during an upload, or the backend terminated inside
// the submission transaction): 503 problem+json, nothing half written, the next submission works.
#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <Poco/Net/Context.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/HTTPSClientSession.h>
#include <Poco/Net/SSLManager.h>
#include <Poco/StreamCopier.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <mutex>
#include <regex>
#include <sstream>
#include <thread>

#include "erds/base/pg.h"

#include "harness.h"
#include "https_client.h"

namespace erds::itest {
namespace {

using namespace std::chrono_literals;

Poco::JSON::Object::Ptr json(const std::string& s) {
  Poco::JSON::Parser p;
  return p.parse(s).extract<Poco::JSON::Object::Ptr>();
}

using Reply = HttpReply;

class Client {
 public:
  Client(const std::string& caFile, uint16_t port) : port_(port), ctx_(clientContext(caFile)) {}
  Reply call(const std::string& method, const std::string& target, const std::string& body = "",
             const std::string& token = "", const std::string& contentType = "application/json",
             const std::vector<std::pair<std::string, std::string>>& headers = {}) {
    Reply r;
    try {
      Poco::Net::HTTPRequest req(method, target, Poco::Net::HTTPMessage::HTTP_1_1);
      if (!token.empty()) req.set("Authorization", "Bearer " + token);
      for (const auto& [k, v] : headers) req.set(k, v);
      if (!body.empty() || method == "POST") {
        req.setContentType(contentType);
        req.setContentLength64(static_cast<int64_t>(body.size()));
      }
      r = httpsExchange(ctx_, port_, req, &body, std::chrono::seconds(60));
    } catch (const Poco::Exception& e) {
      r.transportError = true;
      r.body = e.displayText();
    }
    return r;
  }
  // Sends only the head announcing `length` bytes and reads the answer (413 must come unread).
  Reply announce(const std::string& target, int64_t length, const std::string& token) {
    Poco::Net::HTTPRequest req("POST", target, Poco::Net::HTTPMessage::HTTP_1_1);
    req.set("Authorization", "Bearer " + token);
    req.setContentType("multipart/form-data; boundary=x");
    req.setContentLength64(length);
    return httpsExchange(ctx_, port_, req, nullptr, std::chrono::seconds(30));
  }

 private:
  uint16_t port_;
  Poco::Net::Context::Ptr ctx_;
};

std::string inlineBody(const std::string& recipient, const std::string& mode, const std::string& data = "hello",
                       const std::string& subject = "Contract") {
  std::string b64;
  {
    static const char* k = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::size_t i = 0;
    for (; i + 2 < data.size(); i += 3) {
      uint32_t v = (uint8_t(data[i]) << 16) | (uint8_t(data[i + 1]) << 8) | uint8_t(data[i + 2]);
      b64 += {k[v >> 18], k[(v >> 12) & 63], k[(v >> 6) & 63], k[v & 63]};
    }
    if (data.size() - i == 1) {
      uint32_t v = uint8_t(data[i]) << 16;
      b64 += {k[v >> 18], k[(v >> 12) & 63], '=', '='};
    } else if (data.size() - i == 2) {
      uint32_t v = (uint8_t(data[i]) << 16) | (uint8_t(data[i + 1]) << 8);
      b64 += {k[v >> 18], k[(v >> 12) & 63], k[(v >> 6) & 63], '='};
    }
  }
  return R"({"subject":")" + subject + R"(","recipients":[")" + recipient + R"("],"consignment_mode":")" + mode +
         R"(","required_recipient_level":"low","content":{"filename":"hello.txt","media_type":"text/plain","data_base64":")" +
         b64 + "\"}}";
}

const std::string kBoundary = "itest-b0undary";
std::string multipartBody(const std::string& recipient, const std::string& mode, const std::string& data,
                          const std::string& subject = "") {
  return "--" + kBoundary + "\r\nContent-Disposition: form-data; name=\"metadata\"\r\nContent-Type: application/json\r\n\r\n" +
         R"({"subject":")" + subject + R"(","recipients":[")" + recipient + R"("],"consignment_mode":")" + mode +
         R"(","required_recipient_level":"low"})" + "\r\n--" + kBoundary +
         "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"report.pdf\"\r\nContent-Type: application/pdf\r\n\r\n" +
         data + "\r\n--" + kBoundary + "--\r\n";
}

class MessagesIntegrationTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    Poco::Net::initializeSSL();
    dir_ = new TempDir("erds-msgtest");
    auto db = startMigratedDatabase(/*durable=*/true, "erds_msgtest");
    ASSERT_TRUE(db) << db.error().toString();
    pg_ = db->pg.release();
    owner_ = db->owner.release();
    ownerConninfo_ = db->roles.ownerConninfo;
    const std::string pki = dir_->path + "/pki";
#ifdef ERDSCTL_PATH
    auto made = runToCompletion({ERDSCTL_PATH, "pki", "init", "--dir", pki});
    ASSERT_EQ(made.exitCode, 0) << made.out;
#else
    GTEST_FAIL() << "erdsctl is needed to make the development PKI";
#endif
    auto [conninfo, password] = splitPassword(db->roles.appConninfo);
    writeFile(dir_->path + "/db.password", password + "\n", 0600);
    // One KEK for both daemons: content written by one is read by the other.
    writeFile(dir_->path + "/kek", std::string(64, 'a'), 0600);
    config_ = dir_->path + "/erds.ini";
    writeFile(config_, "[service]\nmode = development\ndemo_accounts = true\ndomains = example.test\n"
                       "[log]\nlevel = info\n"
                       "[http]\naddress = 127.0.0.1\nport = 0\nmax_body_bytes = 8MiB\ntls_certificate = " +
                           pki + "/tls.pem\ntls_key = " + pki + "/tls.key\n" +
                           "[database]\nconninfo = " + conninfo + "\npassword_file = " + dir_->path +
                           "/db.password\npool_size = 8\n"
                           "[secrets]\nkek_file = " + dir_->path + "/kek\n"
                           "[signer]\nmode = inprocess\nkey_dir = " + pki + "\n"
                           "[tsa]\nrequire_synced_clock = false\n"
                           "[identity]\nargon2_t_cost = 1\nargon2_m_cost_kib = 8192\n");
    a_ = startErdsd(portA_);
    ASSERT_NE(portA_, 0) << "erdsd did not start";
    // The demo accounts are seeded at start-up; sign-in works once they are logged.
    auto seeded = a_->waitForLine(
        [](const std::string& l) {
          return l.find("\"identity.demo_account\"") != std::string::npos && l.find("recipient@example.test") != std::string::npos;
        },
        60s);
    ASSERT_TRUE(seeded) << "no demo accounts logged";
  }

  static ChildProcess* startErdsd(uint16_t& port) {
    auto* p = new ChildProcess({ERDSD_PATH, "--config", config_}, {});
    port = 0;
    auto listening = waitForPort(*p, 60s);
    if (!listening) {
      for (const auto& l : p->stderrLines()) std::cerr << l << "\n";
      return p;
    }
    port = *listening;
    return p;
  }

  static void TearDownTestSuite() {
    for (ChildProcess** p : {&a_, &b_}) {
      if (*p) {
        stopGracefully(**p);
        delete *p;
        *p = nullptr;
      }
    }
    delete owner_;
    owner_ = nullptr;
    delete pg_;
    pg_ = nullptr;
    delete dir_;
    dir_ = nullptr;
  }

  void SetUp() override { ASSERT_NE(portA_, 0) << "suite set-up failed"; }

  static Client client(uint16_t port) { return Client(dir_->path + "/pki/root-ca.pem", port); }
  static std::string token(uint16_t port, const std::string& who) {
    const std::string body = "{\"identifier\":\"mailto:" + who + "@example.test\",\"password\":\"" + who +
                             "-demo-password\"}";
    Reply r = client(port).call("POST", "/api/v1/sessions", body);
    EXPECT_EQ(r.status, 201) << r.body;
    if (r.status != 201 && r.status != 200) return "";
    return json(r.body)->getValue<std::string>("token");
  }
  static int64_t sql(const std::string& q) {
    auto r = owner_->exec(q);
    EXPECT_TRUE(r) << q << ": " << (r ? "" : r.error().toString());
    return r ? r->getInt(0, 0) : -1;
  }
  // Polls until `q` returns `want` (or the timeout).
  static int64_t waitSql(const std::string& q, int64_t want, std::chrono::seconds timeout = 90s) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    int64_t got = -1;
    while (std::chrono::steady_clock::now() < end) {
      got = sql(q);
      if (got == want) return got;
      std::this_thread::sleep_for(200ms);
    }
    return got;
  }

  static inline TempDir* dir_ = nullptr;
  static inline erds::testing::PrivatePostgres* pg_ = nullptr;
  static inline pg::Connection* owner_ = nullptr;
  static inline std::string config_;
  static inline std::string ownerConninfo_;
  static inline ChildProcess* a_ = nullptr;
  static inline ChildProcess* b_ = nullptr;
  static inline uint16_t portA_ = 0;
  static inline uint16_t portB_ = 0;
};

TEST_F(MessagesIntegrationTest, JsonAndMultipartSubmissionsWithVerifiableEvidence) {
  const std::string t = token(portA_, "sender");
  ASSERT_FALSE(t.empty());
  for (bool multipart : {false, true}) {
    Reply r = multipart ? client(portA_).call("POST", "/api/v1/messages",
                                              multipartBody("mailto:recipient@example.test", "basic", "%PDF-1.7 x"), t,
                                              "multipart/form-data; boundary=" + kBoundary)
                        : client(portA_).call("POST", "/api/v1/messages",
                                              inlineBody("mailto:recipient@example.test", "basic"), t);
    ASSERT_EQ(r.status, 201) << r.body;
    const std::string id = json(r.body)->getValue<std::string>("message_id");
    const std::string ev = json(r.body)->getValue<std::string>("evidence_id");
    Reply st = client(portA_).call("GET", "/api/v1/messages/" + id, "", t);
    ASSERT_EQ(st.status, 200) << st.body;
    EXPECT_NE(st.body.find("\"SubmissionAcceptance\""), std::string::npos) << st.body;
    Reply x = client(portA_).call("GET", "/api/v1/evidence/" + ev, "", t);
    ASSERT_EQ(x.status, 200);
    EXPECT_EQ(x.contentType, "application/xml");
    const std::string file = dir_->path + "/ev-" + ev + ".xml";
    writeFile(file, x.body);
    auto v = runToCompletion({"/usr/bin/xmlsec1", "--verify", "--trusted-pem", dir_->path + "/pki/root-ca.pem", file});
    std::string err;
    for (const auto& l : v.err) err += l + "\n";
    EXPECT_EQ(v.exitCode, 0) << err;
    EXPECT_NE(err.find("OK"), std::string::npos) << err;
    // The recipients come from the store (EvidenceSubject::recipientIdentifiers).
    EXPECT_NE(x.body.find("recipient@example.test"), std::string::npos) << x.body.substr(0, 2000);
  }
}

TEST_F(MessagesIntegrationTest, IdempotencyUnauthenticatedForeignAndTooLarge) {
  const std::string t = token(portA_, "sender");
  const std::vector<std::pair<std::string, std::string>> key = {{"Idempotency-Key", "itest-key-1"}};
  Reply a = client(portA_).call("POST", "/api/v1/messages", inlineBody("mailto:recipient@example.test", "basic"), t,
                                "application/json", key);
  ASSERT_EQ(a.status, 201) << a.body;
  Reply b = client(portA_).call("POST", "/api/v1/messages", inlineBody("mailto:recipient@example.test", "basic"), t,
                                "application/json", key);
  EXPECT_EQ(b.status, 201);
  EXPECT_EQ(json(b.body)->getValue<std::string>("message_id"), json(a.body)->getValue<std::string>("message_id"));
  Reply c = client(portA_).call("POST", "/api/v1/messages", inlineBody("mailto:recipient@example.test", "consent"), t,
                                "application/json", key);
  EXPECT_EQ(c.status, 409) << c.body;
  EXPECT_EQ(c.contentType, "application/problem+json");

  const int64_t before = sql("SELECT count(*) FROM evidence");
  Reply u = client(portA_).call("POST", "/api/v1/messages", inlineBody("mailto:recipient@example.test", "basic"));
  EXPECT_EQ(u.status, 401);
  EXPECT_EQ(sql("SELECT count(*) FROM evidence"), before);

  // Another party: the recipient is not the sender and not a recipient of this message.
  Reply own = client(portA_).call("POST", "/api/v1/messages", inlineBody("mailto:sender@example.test", "basic"), t);
  ASSERT_EQ(own.status, 201) << own.body;
  const std::string id = json(own.body)->getValue<std::string>("message_id");
  const std::string other = token(portA_, "recipient");
  ASSERT_FALSE(other.empty());
  EXPECT_EQ(client(portA_).call("GET", "/api/v1/messages/" + id, "", other).status, 404);
  EXPECT_EQ(client(portA_).call("GET", "/api/v1/messages/" + id + "/content", "", other).status, 404);
  EXPECT_EQ(client(portA_).call("GET", "/api/v1/messages/00000000-0000-4000-8000-000000000000", "", t).status, 404);

  // 413 before the body is read (only the head is sent).
  Reply big = client(portA_).announce("/api/v1/messages", 9LL << 20, t);
  EXPECT_EQ(big.status, 413) << big.body;
}

TEST_F(MessagesIntegrationTest, ConsentAcceptDownloadHandover) {
  const std::string t = token(portA_, "sender");
  std::string data(3 * 1024 * 1024 + 17, '\0');  // several chunks
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>((i * 131 + 7) % 251);
  Reply r = client(portA_).call("POST", "/api/v1/messages", multipartBody("mailto:sender@example.test", "consent", data),
                                t, "multipart/form-data; boundary=" + kBoundary);
  ASSERT_EQ(r.status, 201) << r.body;
  const std::string id = json(r.body)->getValue<std::string>("message_id");
  EXPECT_EQ(waitSql("SELECT count(*) FROM evidence WHERE message_id = '" + id +
                        "' AND event = 'NotificationForAcceptance'",
                    1),
            1);
  Reply acc = client(portA_).call("POST", "/api/v1/messages/" + id + "/accept", "", t);
  ASSERT_EQ(acc.status, 200) << acc.body;
  EXPECT_EQ(waitSql("SELECT count(*) FROM deliveries WHERE message_id = '" + id + "' AND state = 'consigned'", 1), 1);
  Reply dl = client(portA_).call("GET", "/api/v1/messages/" + id + "/content", "", t);
  ASSERT_EQ(dl.status, 200) << dl.body.substr(0, 500);
  EXPECT_EQ(dl.body.size(), data.size());
  EXPECT_TRUE(dl.body == data);
  EXPECT_EQ(sql("SELECT count(*) FROM evidence WHERE message_id = '" + id + "' AND event = 'ContentHandover'"), 1);
  Reply st = client(portA_).call("GET", "/api/v1/messages/" + id, "", t);
  EXPECT_NE(st.body.find("ContentHandover"), std::string::npos);
  // I10: the party's authentication for its own step (a password session here) is in the
  // SubmissionAcceptance (sender) and in the recipient's ConsignmentAcceptance and ContentHandover;
  // not in the worker's events.
  for (const char* event : {"SubmissionAcceptance", "ConsignmentAcceptance", "ContentHandover"}) {
    EXPECT_EQ(sql("SELECT count(*) FROM evidence WHERE message_id = '" + id + "' AND event = '" + event +
                  "' AND position('urn:erds:authn:password'::bytea in xml) > 0 "
                  "AND position('http://eidas.europa.eu/LoA/'::bytea in xml) > 0"),
              1)
        << event;
  }
  EXPECT_EQ(sql("SELECT count(*) FROM evidence WHERE message_id = '" + id +
                "' AND event = 'NotificationForAcceptance' AND position('urn:erds:authn:'::bytea in xml) > 0"),
            0);
}

TEST_F(MessagesIntegrationTest, TwoDaemonsOneDatabaseWithAKillExactlyOnce) {
  b_ = startErdsd(portB_);
  ASSERT_NE(portB_, 0) << "second erdsd did not start";
  const std::string ta = token(portA_, "sender");
  const std::string tb = token(portB_, "sender");
  constexpr int kMessages = 24;
  std::vector<std::string> ids;  // acknowledged (201) submissions, through either daemon
  std::mutex idsMu;
  auto acknowledged = [&](const Reply& r) {
    if (r.status != 201) return;
    std::lock_guard g(idsMu);
    ids.push_back(json(r.body)->getValue<std::string>("message_id"));
  };
  // B takes submissions continuously from its own thread until it is SIGKILLed, so requests are
  // in flight (and jobs claimed by its workers) at the moment of the kill.
  std::atomic<bool> stopB{false};
  std::atomic<int> sentToB{0};
  std::thread loadB([&] {
    const uint16_t port = portB_;
    for (int i = 0; !stopB; ++i) {
      Reply r = client(port).call("POST", "/api/v1/messages",
                                  inlineBody("mailto:sender@example.test", "basic", "via B " + std::to_string(i), "b-" + std::to_string(i)),
                                  tb);
      ++sentToB;
      acknowledged(r);
      if (r.transportError) break;  // B is gone
    }
  });
  for (int i = 0; i < kMessages; ++i) {
    acknowledged(client(portA_).call("POST", "/api/v1/messages",
                                     inlineBody("mailto:sender@example.test", "basic", "via A " + std::to_string(i), "a-" + std::to_string(i)),
                                     ta));
    if (i == kMessages / 2) {
      b_->signal(SIGKILL);  // mid-run: B has requests in flight and may hold claimed jobs
      b_->wait(20s);
      delete b_;
      b_ = nullptr;
      stopB = true;
    }
  }
  stopB = true;
  loadB.join();
  EXPECT_GT(sentToB.load(), 1);
  ASSERT_GE(ids.size(), static_cast<std::size_t>(kMessages));  // all of A's, plus B's acknowledged ones
  std::cout << "[ info ] " << ids.size() << " acknowledged, " << sentToB.load() << " requests sent to B before the kill\n";
  b_ = startErdsd(portB_);
  ASSERT_NE(portB_, 0) << "restarted erdsd did not start";

  std::string list;
  for (const auto& id : ids) list += (list.empty() ? "'" : ",'") + id + "'";
  const std::string in = " message_id IN (" + list + ")";
  const int64_t n = static_cast<int64_t>(ids.size());
  // No acknowledged message lost: every one is stored with its SubmissionAcceptance.
  EXPECT_EQ(sql("SELECT count(*) FROM messages WHERE status = 'accepted' AND id IN (" + list + ")"), n);
  EXPECT_EQ(sql("SELECT count(*) FROM evidence WHERE event = 'SubmissionAcceptance' AND" + in), n);
  // Both daemons' workers finish the lifecycle (lease expiry recovers the killed one's jobs).
  EXPECT_EQ(waitSql("SELECT count(*) FROM deliveries WHERE state = 'notified' AND" + in, n, 150s), n);
  EXPECT_EQ(sql("SELECT count(*) FROM evidence WHERE event = 'ContentConsignment' AND" + in), n);
  EXPECT_EQ(sql("SELECT count(*) FROM evidence WHERE event = 'ConsignmentNotification' AND" + in), n);
  // Never twice: no duplicate evidence, and each transition applied once (one audit row each).
  EXPECT_EQ(sql("SELECT count(*) FROM (SELECT 1 FROM evidence GROUP BY message_id, coalesce(recipient_index, -1), "
                "event, sequence HAVING count(*) > 1) d"),
            0);
  EXPECT_EQ(sql("SELECT count(*) FROM audit_log WHERE action = 'delivery.ContentConsignment' AND object IN (" +
                [&] {
                  std::string o;
                  for (const auto& id : ids) o += (o.empty() ? "'" : ",'") + std::string("message:") + id + "'";
                  return o;
                }() + ")"),
            n);
  EXPECT_EQ(sql("SELECT count(*) FROM evidence WHERE" + in), 3 * n);
}

// ---- PostgreSQL going away mid-request ---------------------------------------------------------

// Rows that only a submission writes (the lifecycle workers of earlier messages keep adding their
// own evidence meanwhile); none may change for a submission answered 503.
int64_t submissionFootprint(const std::string& subject, const std::function<int64_t(const std::string&)>& sql) {
  const std::string q = "'" + subject + "'";
  return sql("SELECT (SELECT count(*) FROM messages WHERE subject = " + q + ") * 1000000 + "
             "(SELECT count(*) FROM evidence WHERE event IN ('SubmissionAcceptance', 'SubmissionRejection')) * 1000 + "
             "(SELECT count(*) FROM deliveries) + "
             "(SELECT count(*) FROM content_parts WHERE state = 'linked') * 100000000");
}

TEST_F(MessagesIntegrationTest, MessageShowsItsPartsInOrder) {
  const std::string t = token(portA_, "sender");
  const std::string body =
      "--" + kBoundary + "\r\nContent-Disposition: form-data; name=\"metadata\"\r\nContent-Type: application/json\r\n\r\n" +
      R"({"recipients":["mailto:sender@example.test"]})" + "\r\n--" + kBoundary +
      "\r\nContent-Disposition: form-data; name=\"a\"; filename=\"one.txt\"\r\nContent-Type: text/plain\r\n\r\nfirst" +
      "\r\n--" + kBoundary +
      "\r\nContent-Disposition: form-data; name=\"b\"; filename=\"two.pdf\"\r\nContent-Type: application/pdf\r\n\r\n%PDF-2" +
      "\r\n--" + kBoundary + "--\r\n";
  Reply r = client(portA_).call("POST", "/api/v1/messages", body, t, "multipart/form-data; boundary=" + kBoundary);
  ASSERT_EQ(r.status, 201) << r.body;
  const std::string id = json(r.body)->getValue<std::string>("message_id");
  Reply st = client(portA_).call("GET", "/api/v1/messages/" + id, "", t);
  ASSERT_EQ(st.status, 200) << st.body;
  auto parts = json(st.body)->getArray("parts");
  ASSERT_TRUE(parts) << st.body;
  ASSERT_EQ(parts->size(), 2u) << st.body;
  auto second = parts->getObject(1);
  EXPECT_EQ(second->getValue<int>("index"), 1);
  EXPECT_EQ(second->getValue<std::string>("name"), "two.pdf");
  EXPECT_EQ(second->getValue<std::string>("content_type"), "application/pdf");
  EXPECT_EQ(second->getValue<int64_t>("size"), 6);
  EXPECT_EQ(second->getValue<std::string>("sha256"), "468b145bbc44c6e9436af27c6aa4378a76b0e1c52829f59abd537da87572f240");  // sha256sum of "%PDF-2"
  EXPECT_EQ(parts->getObject(0)->getValue<std::string>("name"), "one.txt");
  EXPECT_EQ(parts->getObject(0)->getValue<int64_t>("size"), 5);
}

// PostgreSQL stopped (immediate, like a crash) while the body is on its way: for a small message
// (one transaction after the body) and a streamed one (chunks already committed). erdsd answers
// 503 problem+json, stores nothing that belongs to a message, and once PostgreSQL is back the next
// submission through the SAME erdsd process succeeds.
TEST_F(MessagesIntegrationTest, PostgresStoppedDuringUploadIs503AndNothingHalfWritten) {
  struct Case {
    const char* name;
    std::size_t size;
    std::size_t sentBeforeStop;
  };
  const Case cases[] = {{"small, one transaction", 10 * 1024, 5 * 1024},
                        {"streamed, two chunks committed", 3 * 1024 * 1024, 2 * 1024 * 1024 + 512 * 1024}};
  const std::string t = token(portA_, "sender");
  ASSERT_FALSE(t.empty());
  auto sqlFn = [](const std::string& q) { return sql(q); };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    std::string data(c.size, 'x');
    const std::string subject = std::string("db-down ") + c.name;
    const std::string body = multipartBody("mailto:recipient@example.test", "basic", data, subject);
    const std::size_t split = body.size() - (c.size - c.sentBeforeStop);
    const int64_t before = submissionFootprint(subject, sqlFn);
    const int64_t messagesBefore = sql("SELECT count(*) FROM messages");

    Reply reply;
    std::string transport;
    {
      Poco::Net::HTTPSClientSession session("localhost", portA_,
                                            clientContext(dir_->path + "/pki/root-ca.pem"));
      session.setTimeout(Poco::Timespan(60, 0));
      Poco::Net::HTTPRequest req("POST", "/api/v1/messages", Poco::Net::HTTPMessage::HTTP_1_1);
      req.set("Authorization", "Bearer " + t);
      req.setContentType("multipart/form-data; boundary=" + kBoundary);
      req.setContentLength64(static_cast<int64_t>(body.size()));
      try {
        std::ostream& os = session.sendRequest(req);
        os.write(body.data(), static_cast<std::streamsize>(split));
        os.flush();
        std::this_thread::sleep_for(1500ms);  // erdsd authenticated and committed what it could
        delete owner_;
        owner_ = nullptr;
        auto stopped = pg_->stop(/*immediate=*/true);
        ASSERT_TRUE(stopped) << stopped.error().toString();
        os.write(body.data() + split, static_cast<std::streamsize>(body.size() - split));
        os.flush();
        std::istream& in = session.receiveResponse(reply.head);
        std::ostringstream out;
        Poco::StreamCopier::copyStream(in, out);
        reply.status = reply.head.getStatus();
        reply.contentType = reply.head.getContentType();
        reply.body = out.str();
      } catch (const Poco::Exception& e) {
        transport = e.displayText();
      }
    }
    if (!pg_->running()) {
      auto back = pg_->restart();
      ASSERT_TRUE(back) << back.error().toString();
    }
    auto again = pg::Connection::connect(ownerConninfo_);
    ASSERT_TRUE(again) << again.error().toString();
    owner_ = again->release();
    ASSERT_TRUE(transport.empty()) << transport;
    EXPECT_EQ(reply.status, 503) << reply.body;
    EXPECT_EQ(reply.contentType, "application/problem+json");
    EXPECT_NE(reply.body.find("urn:erds:problem:unavailable"), std::string::npos) << reply.body;
    // Nothing half written: no message, no evidence, no delivery, no linked part.
    EXPECT_EQ(submissionFootprint(subject, sqlFn), before);
    EXPECT_EQ(sql("SELECT count(*) FROM messages"), messagesBefore);
    EXPECT_EQ(sql("SELECT count(*) FROM content_parts p WHERE state = 'linked' AND NOT EXISTS "
                  "(SELECT 1 FROM messages m WHERE m.id = p.message_id)"),
              0);

    // The same erdsd serves the next submission (its pool reconnects by itself).
    Reply next = client(portA_).call("POST", "/api/v1/messages",
                                     multipartBody("mailto:recipient@example.test", "basic", data, subject + " (retry)"),
                                     t, "multipart/form-data; boundary=" + kBoundary);
    ASSERT_EQ(next.status, 201) << next.body << "\nerdsd:\n" << joined(a_->stderrLines());
    const std::string id = json(next.body)->getValue<std::string>("message_id");
    EXPECT_EQ(sql("SELECT count(*) FROM evidence WHERE event = 'SubmissionAcceptance' AND message_id = '" + id + "'"), 1);
  }
}

// The submission transaction itself loses its database connection: the daemon's backend is
// terminated (pg_terminate_backend) while it waits inside the transaction, after the evidence
// was sealed. 503 problem+json, nothing of the message committed, and the next submission works.
TEST_F(MessagesIntegrationTest, BackendTerminatedInsideTheSubmissionTransactionIs503) {
  struct Case {
    const char* name;
    std::size_t size;
  };
  const Case cases[] = {{"small, one transaction", 10 * 1024}, {"streamed", 2 * 1024 * 1024 + 1}};
  const std::string t = token(portA_, "sender");
  ASSERT_FALSE(t.empty());
  auto admin = pg::Connection::connect(pg_->superuserConninfo("erds_msgtest"));
  ASSERT_TRUE(admin) << admin.error().toString();
  auto sqlFn = [](const std::string& q) { return sql(q); };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string subject = std::string("terminated ") + c.name;
    const int64_t before = submissionFootprint(subject, sqlFn);
    const int64_t auditBefore = sql("SELECT count(*) FROM audit_log WHERE action = 'message.submitted'");
    // Holding this lock makes the submission wait inside its transaction, at its message insert.
    ASSERT_TRUE((*admin)->begin());
    ASSERT_TRUE((*admin)->exec("LOCK TABLE messages IN SHARE MODE"));
    Reply reply;
    std::thread submitter([&] {
      reply = client(portA_).call("POST", "/api/v1/messages",
                                  multipartBody("mailto:recipient@example.test", "basic", std::string(c.size, 'y'), subject),
                                  t, "multipart/form-data; boundary=" + kBoundary);
    });
    int64_t terminated = 0;
    const auto end = std::chrono::steady_clock::now() + 60s;
    while (terminated == 0 && std::chrono::steady_clock::now() < end) {
      std::this_thread::sleep_for(100ms);
      auto r = (*admin)->execParams(
          // pg_locks, not pg_stat_activity.state: a statement still being prepared (Parse) waits
          // for the lock while its backend reports "idle" and the previous query.
          "SELECT count(pg_terminate_backend(pid)) FROM (SELECT DISTINCT pid FROM pg_locks WHERE NOT granted "
          "AND relation = 'messages'::regclass AND pid <> pg_backend_pid()) w",
          {});
      ASSERT_TRUE(r) << r.error().toString();
      terminated = r->getInt(0, 0);
    }
    std::string waiting;
    if (terminated == 0) {
      auto w = (*admin)->exec("SELECT string_agg(wait_event_type || ' ' || state || ': ' || left(query, 80), E'\\n') "
                              "FROM pg_stat_activity WHERE pid <> pg_backend_pid()");
      if (w) waiting = w->get(0, 0);
    }
    ASSERT_TRUE((*admin)->rollback());
    submitter.join();
    EXPECT_EQ(terminated, 1) << "the submission never reached its transaction; backends:\n" << waiting;
    EXPECT_EQ(reply.status, 503) << reply.body;
    EXPECT_EQ(reply.contentType, "application/problem+json");
    EXPECT_EQ(submissionFootprint(subject, sqlFn), before);
    EXPECT_EQ(sql("SELECT count(*) FROM audit_log WHERE action = 'message.submitted'"), auditBefore);

    Reply next = client(portA_).call("POST", "/api/v1/messages",
                                     multipartBody("mailto:recipient@example.test", "basic", "after", subject + " (retry)"),
                                     t, "multipart/form-data; boundary=" + kBoundary);
    ASSERT_EQ(next.status, 201) << next.body;
  }
}

}  // namespace
}  // namespace erds::itest
