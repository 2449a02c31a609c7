#include "erds/base/audit.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <set>
#include <thread>

#include "erds/base/aead.h"
#include "erds/base/log.h"
#include "erds/base/migrations.h"
#include "erds/migrations/migrations.h"
#include "fake_clock.h"
#include "test_database.h"

namespace erds {
namespace {

class AuditTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = testing::TestDatabase::create();
    ASSERT_TRUE(db.has_value()) << db.error().message;
    db_ = std::move(db).value();
    auto c = pg::Connection::connect(db_->ownerConninfo());
    ASSERT_TRUE(c.has_value()) << c.error().message;
    owner_ = std::move(c).value();
    auto m = pg::applyMigrations(*owner_, allMigrations(), db_->appRole());
    ASSERT_TRUE(m.has_value()) << m.error().message;
  }
  std::unique_ptr<pg::Connection> app() {
    auto c = pg::Connection::connect(db_->appConninfo());
    EXPECT_TRUE(c.has_value());
    return c ? std::move(c).value() : nullptr;
  }
  static AuditEvent event(const std::string& action, const std::string& details = "{}") {
    return AuditEvent{"party:1", action, "message:9", "success", "", details};
  }
  AuditVerifyReport verify() {
    auto r = AuditLog::verify(*owner_);
    EXPECT_TRUE(r.has_value()) << r.error().message;
    return r ? *r : AuditVerifyReport{};
  }

  testing::FakeClock clock_{TimePoint(std::chrono::microseconds(1795773600123456))};
  std::unique_ptr<testing::TestDatabase> db_;
  std::unique_ptr<pg::Connection> owner_;
};

TEST_F(AuditTest, TwoWritersInterleavedVerify) {
  AuditLog audit(clock_);
  auto w1 = app();
  auto w2 = app();
  ASSERT_TRUE(w1 && w2);
  for (int i = 0; i < 5; ++i) {
    auto a = audit.append(*w1, event("auth.login", "{\"i\": " + std::to_string(i) + ", \"b\": [1, 2]}"));
    ASSERT_TRUE(a.has_value()) << a.error().message;
    EXPECT_EQ(a->seq, i + 1);
    EXPECT_EQ(a->writerId, w1->id());
    clock_.advance(std::chrono::microseconds(7));
    auto b = audit.append(*w2, event("evidence.issued"));
    ASSERT_TRUE(b.has_value()) << b.error().message;
    EXPECT_EQ(b->seq, i + 1);
  }
  auto rep = verify();
  EXPECT_TRUE(rep.ok) << rep.firstProblem;
  EXPECT_EQ(rep.rows, 10);
  EXPECT_EQ(rep.writers, 2);
}

TEST_F(AuditTest, RecordChainsAndFields) {
  AuditLog audit(clock_);
  auto w = app();
  log::ScopedRequestId rid("req-abc");
  auto r1 = audit.append(*w, event("a", "{\"z\":1,   \"a\":2}"));
  ASSERT_TRUE(r1.has_value()) << r1.error().message;
  EXPECT_EQ(r1->prevHash, std::string(32, '\0'));
  EXPECT_EQ(r1->hash.size(), 32u);
  EXPECT_EQ(r1->event.requestId, "req-abc");
  EXPECT_EQ(r1->at, clock_.now());
  EXPECT_EQ(r1->hash, AuditLog::computeHash(*r1));
  auto r2 = audit.append(*w, AuditEvent{"operator:root", "b", "", "denied", "explicit", "{}"});
  ASSERT_TRUE(r2.has_value());
  EXPECT_EQ(r2->prevHash, r1->hash);
  EXPECT_EQ(r2->event.requestId, "explicit");
  auto row = owner_->execParams(
      "SELECT request_id, (extract(epoch FROM at) * 1000000)::bigint FROM audit_log WHERE id = $1",
      {pg::Param::integer(r1->id)});
  ASSERT_TRUE(row.has_value());
  EXPECT_EQ(row->get(0, 0), "req-abc");
  EXPECT_EQ(row->getInt(0, 1), 1795773600123456);
  EXPECT_TRUE(verify().ok);
}

TEST_F(AuditTest, HashCoversEveryField) {
  AuditRecord base;
  base.writerId = "w";
  base.seq = 3;
  base.at = clock_.now();
  base.event = event("x");
  base.prevHash = std::string(32, 'p');
  const std::string h = AuditLog::computeHash(base);
  std::vector<AuditRecord> variants(9, base);
  variants[0].writerId = "w2";
  variants[1].seq = 4;
  variants[2].at += std::chrono::microseconds(1);
  variants[3].event.actor = "party:2";
  variants[4].event.action = "y";
  variants[5].event.object = "message:8";
  variants[6].event.outcome = "failure";
  variants[7].event.requestId = "r";
  variants[8].event.detailsJson = "{\"a\": 1}";
  for (const auto& v : variants) EXPECT_NE(AuditLog::computeHash(v), h);
  // Length prefixes: moving a character between adjacent fields changes the hash.
  AuditRecord shifted2 = base;
  shifted2.event.actor = base.event.actor + base.event.action.substr(0, 1);
  shifted2.event.action = base.event.action.substr(1);
  EXPECT_NE(AuditLog::computeHash(shifted2), h);
}

TEST_F(AuditTest, AppendJoinsTheCallersTransaction) {
  AuditLog audit(clock_);
  auto w = app();
  ASSERT_TRUE(w->begin().has_value());
  ASSERT_TRUE(audit.append(*w, event("rolled.back")).has_value());
  ASSERT_TRUE(w->rollback().has_value());
  EXPECT_EQ(owner_->exec("SELECT count(*) FROM audit_log")->getInt(0, 0), 0);
  auto r = audit.append(*w, event("kept"));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->seq, 1);  // the rolled-back row did not consume a seq
  EXPECT_FALSE(w->inTransaction());
  EXPECT_EQ(owner_->exec("SELECT count(*) FROM audit_log")->getInt(0, 0), 1);
}

TEST_F(AuditTest, AppendManyContinuesTheChainWithTheRecordsAppendWouldWrite) {
  AuditLog audit(clock_);
  auto w = app();
  ASSERT_TRUE(audit.append(*w, event("first")).has_value());
  clock_.advance(std::chrono::seconds(1));
  std::vector<AuditEvent> many = {
      event("many.one", "{\"z\": 1,   \"a\": \"quote \\\" and backslash \\\\ and , { } \"}"),
      AuditEvent{"operator:root", "many.two", "", "denied", "explicit-request", "{}"},
      event("many.three", "{\"unicode\": \"\u00e9\u20ac\", \"nested\": {\"b\": [1, 2, {\"c\": null}]}}"),
      event("many.four", "")};
  auto r = audit.appendMany(*w, many);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  ASSERT_EQ(r->size(), 4u);
  EXPECT_FALSE(w->inTransaction());
  for (std::size_t i = 0; i < r->size(); ++i) {
    const auto& rec = (*r)[i];
    EXPECT_EQ(rec.seq, static_cast<int64_t>(i) + 2);
    EXPECT_GT(rec.id, 0);
    EXPECT_EQ(rec.hash, AuditLog::computeHash(rec));
    if (i > 0) {
      EXPECT_EQ(rec.prevHash, (*r)[i - 1].hash);
    }
  }
  EXPECT_EQ((*r)[1].event.requestId, "explicit-request");
  EXPECT_EQ((*r)[3].event.detailsJson, "{}");
  // The details are stored normalised, exactly as hashed.
  auto stored = owner_->exec("SELECT details::text, id FROM audit_log WHERE action = 'many.one'");
  ASSERT_TRUE(stored.has_value());
  EXPECT_EQ(stored->get(0, 0), (*r)[0].event.detailsJson);
  EXPECT_EQ(stored->getInt(0, 1), (*r)[0].id);
  auto next = audit.append(*w, event("after"));
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(next->seq, 6);
  EXPECT_EQ(next->prevHash, (*r)[3].hash);
  const auto report = verify();
  EXPECT_TRUE(report.ok) << report.firstProblem;
  EXPECT_EQ(report.rows, 6);
  // A changed row inside the batch is found.
  ASSERT_TRUE(owner_->exec("UPDATE audit_log SET outcome = 'success' WHERE action = 'many.two'").has_value());
  EXPECT_FALSE(verify().ok);
}

// The one-statement append stores the details as hashed only if canonicalJsonb() is exactly
// PostgreSQL's jsonb text: every accepted input is compared with $1::jsonb::text.
TEST_F(AuditTest, CanonicalJsonbIsPostgresJsonbText) {
  std::vector<std::string> inputs = {
      "{}", " { } ", "{\"a\":1}", "{\"b\":\"x\",\"a\":\"y\"}", "{\"bb\":1,\"a\":2,\"ccc\":3,\"ab\":4}",
      "{\"t\":true,\"f\":false,\"n\":null}", "{\"neg\":-12,\"zero\":0,\"big\":123456789012345678}",
      "{\"s\":\"quote \\\" backslash \\\\ slash \\/ tab \\t nl \\n cr \\r bs \\b ff \\f\"}",
      "{\"k\" : \"v\" ,\n\t\"key_label\":\"seal\",\"digest\":\"00ff\",\"peer_uid\":0,\"peer_pid\":42}",
      "{\"evidence_id\":\"ev-1\",\"recipients\":1,\"reason\":\"RF04\",\"note\":\"spf=none dkim=none tls=no\"}",
      "{\"Z\":1,\"a\":2,\"_\":3,\"~\":4,\" \":5}",
      // Nested arrays and objects (erds-signer's batch records among them).
      "{\"key_label\":\"seal\",\"peer_uid\":0,\"count\":2,\"signatures\":[{\"digest\":\"00ff\",\"peer_pid\":42},"
      "{\"digest\":\"ab\",\"peer_pid\":43,\"error\":\"not_found\"}]}",
      "{\"a\":[1]}", "{\"a\":{}}", "{\"a\":[]}", "{\"a\" : [ ] , \"b\" : { } }", "{\"a\":[[],[[]],{}]}",
      "{\"a\":[1,2,\"x\",true,false,null,-3]}", "{\"a\":{\"bb\":1,\"a\":{\"z\":[],\"y\":{\"b\":1,\"a\":2}}}}",
      "{\"b\":[{\"b\":1,\"a\":2},{\"a\":1}],\"a\":{\"x\":[{\"k\":\"v\"}]}}",
      "{ \"a\" :\n[ 1 ,\t2 ] }", "{\"a\":{\"a\":1},\"b\":{\"a\":1}}",
      "{\"a\":[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]}",
      // Outside the subset (left to PostgreSQL): must come back nullopt.
      "{\"a\":1.5}", "{\"a\":1e3}", "{\"a\":-0}", "{\"a\":01}", "{\"a\":1234567890123456789}",
      "{\"a\":[1.5]}", "{\"a\":{\"b\":1,\"b\":2}}", "{\"a\":[1,]}", "{\"a\":[1 2]}", "{\"a\":[}", "{\"a\":]}",
      "{\"a\":[{\"b\":\"\\u00e9\"}]}", "{\"a\":{\"b\":1}", "{\"a\":[1]]}", "[]", "\"x\"", "1",
      "{\"a\":\"\\u00e9\"}", "{\"a\":\"\xc3\xa9\"}", "{\"a\":1,\"a\":2}", "[1]", "{\"a\":1,}", "{\"a\"}",
      "{\"a\":1} x", "{\"a\":tru}", "{\"a\":\"tab\there\"}", "", "{"};
  // Random flat objects from the subset's alphabet, including awkward keys and escapes.
  uint32_t seed = 12345;
  auto next = [&] { return seed = seed * 1103515245u + 12345u, (seed >> 8) & 0xffff; };
  const std::string alphabet = "ab_Z~ 09\\\"/-:,{}";
  for (int n = 0; n < 300; ++n) {
    std::string json = "{";
    const int members = static_cast<int>(next() % 6);
    for (int m = 0; m < members; ++m) {
      if (m > 0) json += ",";
      std::string key;
      for (int k = 0, len = 1 + static_cast<int>(next() % 4); k < len; ++k) key += alphabet[next() % 8];
      json += "\"" + key + "\":";
      switch (next() % 4) {
        case 0: json += std::to_string(static_cast<int64_t>(next()) - 30000); break;
        case 1: json += next() % 2 ? "true" : "null"; break;
        default: {
          std::string v;
          for (int k = 0, len = static_cast<int>(next() % 8); k < len; ++k) {
            const char c = alphabet[next() % alphabet.size()];
            if (c == '\\' || c == '"') v += '\\';
            v += c;
          }
          json += "\"" + v + "\"";
        }
      }
    }
    inputs.push_back(json + "}");
  }
  // Random nested documents: objects and arrays of the same scalars, with optional whitespace.
  bool container = false;
  std::function<std::string(int)> value = [&](int depth) -> std::string {
    auto gap = [&] {
      return next() % 4 == 0 ? std::string(" \n\t\r").substr(next() % 4, 1) : std::string();
    };
    const uint32_t kind = depth >= 4 ? 2 + next() % 4 : next() % 6;
    switch (kind) {
      case 0: {  // object
        container = true;
        std::string out = "{" + gap();
        for (int m = 0, n = static_cast<int>(next() % 5); m < n; ++m) {
          if (m > 0) out += "," + gap();
          std::string key;
          for (int k = 0, len = static_cast<int>(next() % 4); k < len; ++k)
            key += alphabet[next() % 8];
          out += "\"" + key + "\"" + gap() + ":" + gap() + value(depth + 1) + gap();
        }
        return out + "}";
      }
      case 1: {  // array
        container = true;
        std::string out = "[" + gap();
        for (int m = 0, n = static_cast<int>(next() % 5); m < n; ++m) {
          if (m > 0) out += "," + gap();
          out += value(depth + 1) + gap();
        }
        return out + "]";
      }
      case 2: return std::to_string(static_cast<int64_t>(next()) - 30000);
      case 3: {
        const char* words[] = {"true", "false", "null"};
        return words[next() % 3];
      }
      default: {
        std::string v;
        for (int k = 0, len = static_cast<int>(next() % 8); k < len; ++k) {
          const char c = alphabet[next() % alphabet.size()];
          if (c == '\\' || c == '"') v += '\\';
          v += c;
        }
        return "\"" + v + "\"";
      }
    }
  };
  std::set<std::string> nested;
  for (int n = 0; n < 600; ++n) {
    container = false;
    std::string json = "{";
    for (int m = 0, members = 1 + static_cast<int>(next() % 4); m < members; ++m) {
      if (m > 0) json += ",";
      json += "\"" + std::string(1, alphabet[next() % 5]) + std::to_string(m % 3) + "\":";
      json += value(1);
    }
    json += "}";
    if (container) nested.insert(json);
    inputs.push_back(json);
  }
  EXPECT_GT(nested.size(), 300u);
  int accepted = 0;
  int acceptedNested = 0;
  for (const auto& in : inputs) {
    auto mine = AuditLog::canonicalJsonb(in);
    if (!mine) continue;
    ++accepted;
    if (nested.count(in) != 0) ++acceptedNested;
    auto pgText = owner_->execParams("SELECT $1::jsonb::text", {pg::Param::text(in)});
    ASSERT_TRUE(pgText.has_value()) << in << ": " << pgText.error().message;
    EXPECT_EQ(*mine, pgText->get(0, 0)) << in;
  }
  EXPECT_GT(accepted, 600);
  EXPECT_GT(acceptedNested, 250);
  for (const char* outside :
       {"{\"a\":1.5}", "{\"a\":-0}", "{\"a\":[1.5]}", "{\"a\":\"\\u00e9\"}", "{\"a\":1,\"a\":2}",
        "{\"a\":{\"b\":1,\"b\":2}}", "{\"a\":[{\"b\":\"\\u00e9\"}]}", "{\"a\":[1,]}",
        "{\"a\":[1]]}", "[1]", "[]", "{\"a\":1,}", "{\"a\":1} x", ""}) {
    EXPECT_FALSE(AuditLog::canonicalJsonb(outside).has_value()) << outside;
  }
  // Nesting beyond 32 levels is left to PostgreSQL (bounded recursion for hostile input).
  auto deep = [](int n) { return "{\"a\":" + std::string(n, '[') + std::string(n, ']') + "}"; };
  EXPECT_TRUE(AuditLog::canonicalJsonb(deep(31)).has_value());
  EXPECT_FALSE(AuditLog::canonicalJsonb(deep(40)).has_value());
  EXPECT_FALSE(AuditLog::canonicalJsonb(std::string(100000, '[')).has_value());
  // The records our daemons write most are in the subset (so they take the one-statement path).
  EXPECT_TRUE(AuditLog::canonicalJsonb(inputs[8]).has_value());
  EXPECT_TRUE(AuditLog::canonicalJsonb(inputs[9]).has_value());
  EXPECT_TRUE(AuditLog::canonicalJsonb(inputs[11]).has_value());
}

// After a connection wrote the head, appends are one INSERT that checks the remembered head; a
// stale head (the caller rolled back, or any other mismatch) writes nothing and falls back, so
// the chain stays whole.
TEST_F(AuditTest, RememberedHeadIsCheckedNotTrusted) {
  AuditLog audit(clock_);
  auto w = app();
  auto first = audit.append(*w, event("first", "{\"n\":1}"));
  ASSERT_TRUE(first.has_value());
  ASSERT_TRUE(w->auditHead().has_value());
  EXPECT_EQ(w->auditHead()->seq, 1);
  EXPECT_EQ(w->auditHead()->hash, first->hash);
  auto second = audit.appendMany(*w, {event("second", "{\"b\":2,\"a\":1}"), event("third")});
  ASSERT_TRUE(second.has_value()) << second.error().message;
  EXPECT_EQ(second->back().seq, 3);
  EXPECT_EQ(second->front().event.detailsJson, "{\"a\": 1, \"b\": 2}");
  EXPECT_EQ(w->auditHead()->seq, 3);
  EXPECT_FALSE(w->inTransaction());
  // Written in the caller's transaction, then rolled back: the remembered head is stale.
  ASSERT_TRUE(w->begin().has_value());
  ASSERT_TRUE(audit.append(*w, event("rolled.back")).has_value());
  EXPECT_EQ(w->auditHead()->seq, 4);
  ASSERT_TRUE(w->rollback().has_value());
  auto after = audit.append(*w, event("after.rollback"));
  ASSERT_TRUE(after.has_value()) << after.error().message;
  EXPECT_EQ(after->seq, 4);
  EXPECT_EQ(after->prevHash, second->back().hash);
  // Same seq, wrong hash: refused by the statement, then read from the table.
  w->auditHead() = pg::Connection::AuditHead{4, std::string(32, 'x')};
  auto wrongHash = audit.append(*w, event("wrong.hash"));
  ASSERT_TRUE(wrongHash.has_value()) << wrongHash.error().message;
  EXPECT_EQ(wrongHash->seq, 5);
  EXPECT_EQ(wrongHash->prevHash, after->hash);
  // A head ahead of the table (seq 99): the same.
  w->auditHead() = pg::Connection::AuditHead{99, wrongHash->hash};
  auto ahead = audit.append(*w, event("ahead"));
  ASSERT_TRUE(ahead.has_value());
  EXPECT_EQ(ahead->seq, 6);
  // Details outside canonicalJsonb's subset still go through PostgreSQL's normalisation.
  auto unicode = audit.append(*w, event("unicode", "{\"b\": \"\\u00e9\", \"a\": 1.50}"));
  ASSERT_TRUE(unicode.has_value()) << unicode.error().message;
  EXPECT_EQ(unicode->seq, 7);
  EXPECT_EQ(unicode->event.detailsJson, "{\"a\": 1.50, \"b\": \"\u00e9\"}");
  // Two connections keep two chains and two heads.
  auto v = app();
  ASSERT_TRUE(audit.append(*v, event("other.writer")).has_value());
  ASSERT_TRUE(audit.append(*w, event("back.to.w")).has_value());
  ASSERT_TRUE(audit.append(*v, event("other.again")).has_value());
  EXPECT_EQ(v->auditHead()->seq, 2);
  EXPECT_EQ(w->auditHead()->seq, 8);
  const auto report = verify();
  EXPECT_TRUE(report.ok) << report.firstProblem;
  EXPECT_EQ(report.rows, 10);
  EXPECT_EQ(report.writers, 2);
}

TEST_F(AuditTest, AppendManyIsAllOrNothing) {
  AuditLog audit(clock_);
  auto w = app();
  for (const auto& bad : {AuditEvent{"x", "a", "", "maybe", "", "{}"}, AuditEvent{"x", "a", "", "success", "", "[1]"},
                          AuditEvent{"x", "a", "", "success", "", "not json"}, AuditEvent{"", "a", "", "success", "", "{}"}}) {
    auto r = audit.appendMany(*w, {event("good.one"), bad, event("good.two")});
    ASSERT_FALSE(r.has_value()) << bad.detailsJson;
    EXPECT_TRUE(r.error().is(ErrorCode::InvalidInput)) << r.error().toString();
    EXPECT_FALSE(w->inTransaction());
  }
  EXPECT_EQ(owner_->exec("SELECT count(*) FROM audit_log")->getInt(0, 0), 0);
  // Inside the caller's transaction: rolled back with it.
  ASSERT_TRUE(w->begin().has_value());
  ASSERT_TRUE(audit.appendMany(*w, {event("a"), event("b")}).has_value());
  ASSERT_TRUE(w->rollback().has_value());
  EXPECT_EQ(owner_->exec("SELECT count(*) FROM audit_log")->getInt(0, 0), 0);
  auto empty = audit.appendMany(*w, {});
  ASSERT_TRUE(empty.has_value());
  EXPECT_TRUE(empty->empty());
  auto r = audit.appendMany(*w, {event("a"), event("b")});
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->front().seq, 1);
  EXPECT_TRUE(verify().ok);
}

TEST_F(AuditTest, AppendThroughPool) {
  AuditLog audit(clock_);
  pg::Pool pool({db_->appConninfo(), "", 2, std::chrono::milliseconds(1000), std::chrono::seconds(3)});
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(audit.append(pool, event("pooled")).has_value());
  EXPECT_TRUE(verify().ok);
}

TEST_F(AuditTest, RejectsBadEvents) {
  AuditLog audit(clock_);
  auto w = app();
  struct Case {
    AuditEvent e;
  };
  const Case kCases[] = {{{"", "a", "", "success", "", "{}"}},
                         {{"x", "", "", "success", "", "{}"}},
                         {{"x", "a", "", "maybe", "", "{}"}},
                         {{"x", "a", "", "success", "", "[1,2]"}},
                         {{"x", "a", "", "success", "", "not json"}}};
  for (const auto& c : kCases) {
    auto r = audit.append(*w, c.e);
    ASSERT_FALSE(r.has_value()) << c.e.actor << "/" << c.e.action << "/" << c.e.outcome << "/" << c.e.detailsJson;
    EXPECT_TRUE(r.error().is(ErrorCode::InvalidInput)) << r.error().toString();
    EXPECT_FALSE(w->inTransaction());
  }
  EXPECT_EQ(owner_->exec("SELECT count(*) FROM audit_log")->getInt(0, 0), 0);
}

class AuditTamperTest : public AuditTest {
 protected:
  void SetUp() override {
    AuditTest::SetUp();
    if (HasFatalFailure()) return;
    AuditLog audit(clock_);
    auto w1 = app();
    auto w2 = app();
    for (int i = 0; i < 4; ++i) {
      auto a = audit.append(*w1, event("one." + std::to_string(i)));
      ASSERT_TRUE(a.has_value());
      ids_.push_back(a->id);
      writer_ = a->writerId;
      ASSERT_TRUE(audit.append(*w2, event("two." + std::to_string(i))).has_value());
    }
    ASSERT_TRUE(verify().ok);
  }
  void tamper(const std::string& sql) {
    auto r = owner_->exec(sql);
    ASSERT_TRUE(r.has_value()) << sql << ": " << r.error().message;
  }
  std::vector<int64_t> ids_;  // writer 1's rows, seq 1..4
  std::string writer_;
};

TEST_F(AuditTamperTest, EditedRowIsNamed) {
  tamper("UPDATE audit_log SET outcome = 'failure' WHERE id = " + std::to_string(ids_[2]));
  auto rep = verify();
  EXPECT_FALSE(rep.ok);
  EXPECT_EQ(rep.firstProblem,
            "writer " + writer_ + ": row id " + std::to_string(ids_[2]) + " (seq 3) changed: hash mismatch");
  EXPECT_EQ(rep.rows, 8);
}

TEST_F(AuditTamperTest, EditedDetailsAreDetected) {
  tamper("UPDATE audit_log SET details = '{\"x\": 1}' WHERE id = " + std::to_string(ids_[0]));
  auto rep = verify();
  EXPECT_FALSE(rep.ok);
  EXPECT_NE(rep.firstProblem.find("row id " + std::to_string(ids_[0]) + " (seq 1) changed"), std::string::npos)
      << rep.firstProblem;
}

TEST_F(AuditTamperTest, DeletedMiddleRowIsDetected) {
  tamper("DELETE FROM audit_log WHERE id = " + std::to_string(ids_[1]));
  auto rep = verify();
  EXPECT_FALSE(rep.ok);
  EXPECT_EQ(rep.firstProblem, "writer " + writer_ + ": row id " + std::to_string(ids_[2]) +
                                  " (seq 3): rows with seq 2 are missing (deleted)");
}

TEST_F(AuditTamperTest, DeletedFirstRowIsDetected) {
  tamper("DELETE FROM audit_log WHERE id = " + std::to_string(ids_[0]));
  auto rep = verify();
  EXPECT_FALSE(rep.ok);
  EXPECT_NE(rep.firstProblem.find("rows with seq 1 are missing"), std::string::npos) << rep.firstProblem;
}

TEST_F(AuditTamperTest, SwappedSeqIsDetected) {
  const std::string a = std::to_string(ids_[1]);
  const std::string b = std::to_string(ids_[2]);
  tamper("UPDATE audit_log SET seq = seq + 100 WHERE id IN (" + a + "," + b + ")");
  tamper("UPDATE audit_log SET seq = CASE WHEN id = " + a + " THEN 3 ELSE 2 END WHERE id IN (" + a + "," + b + ")");
  auto rep = verify();
  EXPECT_FALSE(rep.ok);
  // The row now at seq 2 is the old third row: its hash covered seq 3.
  EXPECT_EQ(rep.firstProblem,
            "writer " + writer_ + ": row id " + std::to_string(ids_[2]) + " (seq 2) changed: hash mismatch");
}

TEST_F(AuditTamperTest, RecomputedHashButBrokenChainIsDetected) {
  // An attacker who rewrites a row and its own hash still breaks the next row's prev_hash link...
  // unless they rewrite the rest of the chain too (see README: chain heads need external anchoring).
  AuditRecord r;
  auto row = owner_->execParams(
      "SELECT writer_id, seq, (extract(epoch FROM at) * 1000000)::bigint, actor, action, object, outcome,"
      " coalesce(request_id, ''), details::text, prev_hash FROM audit_log WHERE id = $1",
      {pg::Param::integer(ids_[1])});
  ASSERT_TRUE(row.has_value());
  r.writerId = row->get(0, 0);
  r.seq = row->getInt(0, 1);
  r.at = TimePoint(std::chrono::microseconds(row->getInt(0, 2)));
  r.event = AuditEvent{row->get(0, 3), "forged.action", row->get(0, 5), row->get(0, 6), row->get(0, 7), row->get(0, 8)};
  r.prevHash = row->getBytea(0, 9);
  std::string forged = AuditLog::computeHash(r);
  auto upd = owner_->execParams("UPDATE audit_log SET action = 'forged.action', hash = $1 WHERE id = $2",
                                {pg::Param::bytes(forged), pg::Param::integer(ids_[1])});
  ASSERT_TRUE(upd.has_value()) << upd.error().message;
  auto rep = verify();
  EXPECT_FALSE(rep.ok);
  EXPECT_EQ(rep.firstProblem, "writer " + writer_ + ": row id " + std::to_string(ids_[2]) +
                                  " (seq 3): prev_hash does not match the previous row (reordered or deleted)");
}

TEST_F(AuditTest, VerifyOfEmptyLogIsOk) {
  auto rep = verify();
  EXPECT_TRUE(rep.ok);
  EXPECT_EQ(rep.rows, 0);
  EXPECT_EQ(rep.writers, 0);
}

// --- Anchors -------------------------------------------------------------------------------------

// Stands in for the time-stamping unit: a token only this object can make (keyed SHA-256), so the
// "attacker" in these tests (the database owner) cannot produce one for a digest of its choosing.
class FakeTsa {
 public:
  AuditTimestamper timestamper() {
    return [this](std::string_view digest) -> Result<std::string> {
      ++calls;
      if (down) return Error::unavailable("tsa down");
      return std::string(digest) + mac(digest);
    };
  }
  AuditTokenChecker checker() const {
    return [this](std::string_view token, std::string_view digest) -> Result<void> {
      if (token.size() != 64) return Error::invalidInput("not a token");
      if (token.substr(32) != mac(token.substr(0, 32))) return Error::integrityFailure("bad token signature");
      if (token.substr(0, 32) != digest) return Error::integrityFailure("message imprint does not match");
      return ok();
    };
  }
  int calls = 0;
  bool down = false;

 private:
  std::string mac(std::string_view d) const { return crypto::sha256(key_ + std::string(d)); }
  std::string key_ = "tsa-private-key";
};

class AuditAnchorTest : public AuditTamperTest {
 protected:
  AuditVerifyReport verifyAnchored() {
    auto r = AuditLog::verify(*owner_, tsa_.checker());
    EXPECT_TRUE(r.has_value()) << r.error().message;
    return r ? *r : AuditVerifyReport{};
  }
  std::optional<AuditAnchor> anchorNow() {
    auto a = AuditLog(clock_).anchor(*owner_, tsa_.timestamper());
    EXPECT_TRUE(a.has_value()) << a.error().message;
    return a ? *a : std::nullopt;
  }
  // What the database owner can do: change a row of `writer` at `seq`, then recompute every hash
  // from there to the writer's head so that the chain is consistent again.
  void rewriteConsistently(const std::string& writer, int64_t seq, const std::string& newAction) {
    auto rows = owner_->execParams(
        "SELECT id, seq, (extract(epoch FROM at) * 1000000)::bigint, actor, action, object, outcome,"
        " coalesce(request_id, ''), details::text, prev_hash FROM audit_log WHERE writer_id = $1 ORDER BY seq",
        {pg::Param::text(writer)});
    ASSERT_TRUE(rows.has_value()) << rows.error().message;
    std::string prev;
    for (int i = 0; i < rows->rows(); ++i) {
      AuditRecord r;
      r.writerId = writer;
      r.seq = rows->getInt(i, 1);
      r.at = TimePoint(std::chrono::microseconds(rows->getInt(i, 2)));
      r.event = AuditEvent{rows->get(i, 3), rows->get(i, 4), rows->get(i, 5), rows->get(i, 6), rows->get(i, 7),
                           rows->get(i, 8)};
      r.prevHash = rows->getBytea(i, 9);
      if (r.seq < seq) {
        prev = AuditLog::computeHash(r);
        continue;
      }
      if (r.seq == seq) r.event.action = newAction;
      r.prevHash = prev;
      std::string hash = AuditLog::computeHash(r);
      auto u = owner_->execParams("UPDATE audit_log SET action = $1, prev_hash = $2, hash = $3 WHERE id = $4",
                                  {pg::Param::text(r.event.action), pg::Param::bytes(r.prevHash),
                                   pg::Param::bytes(hash), pg::Param::integer(rows->getInt(i, 0))});
      ASSERT_TRUE(u.has_value()) << u.error().message;
      prev = hash;
    }
  }
  FakeTsa tsa_;
};

TEST_F(AuditAnchorTest, AnchorsOnlyMovedHeadsAndChainsAnchors) {
  auto first = anchorNow();
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->heads.size(), 2u);
  EXPECT_EQ(first->prevDigest, std::string(32, '\0'));
  EXPECT_EQ(first->digest, AuditLog::anchorDigest(first->prevDigest, first->heads));
  EXPECT_TRUE(std::is_sorted(first->heads.begin(), first->heads.end(),
                             [](const auto& a, const auto& b) { return a.writerId < b.writerId; }));
  for (const auto& h : first->heads) EXPECT_EQ(h.seq, 4);
  // Nothing moved: no anchor, no token requested.
  const int calls = tsa_.calls;
  EXPECT_FALSE(anchorNow().has_value());
  EXPECT_EQ(tsa_.calls, calls);

  auto w = app();
  ASSERT_TRUE(AuditLog(clock_).append(*w, event("three")).has_value());
  auto second = anchorNow();
  ASSERT_TRUE(second.has_value());
  ASSERT_EQ(second->heads.size(), 1u);
  EXPECT_EQ(second->heads[0].writerId, w->id());
  EXPECT_EQ(second->prevDigest, first->digest);

  auto rep = verifyAnchored();
  EXPECT_TRUE(rep.ok) << rep.firstProblem;
  EXPECT_EQ(rep.anchors, 2);
  EXPECT_TRUE(rep.anchorTokensChecked);
  ASSERT_TRUE(rep.lastAnchorAt.has_value());
  EXPECT_EQ(*rep.lastAnchorAt, clock_.now());
}

TEST_F(AuditAnchorTest, AnchorAsDaemonRole) {
  auto w = app();
  auto a = AuditLog(clock_).anchor(*w, tsa_.timestamper());
  ASSERT_TRUE(a.has_value()) << a.error().message;
  ASSERT_TRUE(a->has_value());
  // The daemon role can add anchors but not change or delete them.
  for (const char* sql : {"UPDATE audit_anchor SET at = now()", "DELETE FROM audit_anchor_head",
                          "DELETE FROM audit_anchor", "TRUNCATE audit_anchor CASCADE"}) {
    auto r = w->exec(sql);
    EXPECT_FALSE(r.has_value()) << sql;
  }
}

TEST_F(AuditAnchorTest, TimestamperDownWritesNothing) {
  tsa_.down = true;
  auto a = AuditLog(clock_).anchor(*owner_, tsa_.timestamper());
  ASSERT_FALSE(a.has_value());
  EXPECT_TRUE(a.error().is(ErrorCode::Unavailable)) << a.error().toString();
  EXPECT_EQ(owner_->exec("SELECT count(*) FROM audit_anchor")->getInt(0, 0), 0);
  EXPECT_FALSE(owner_->inTransaction());
}

// The attack anchoring exists for: the owner rewrites a row and recomputes the rest of the chain.
// The chains alone verify; the anchor names the writer and the rows.
TEST_F(AuditAnchorTest, ConsistentRewriteBeforeAnchorIsNamed) {
  ASSERT_TRUE(anchorNow().has_value());
  rewriteConsistently(writer_, 3, "forged.action");
  // Every hash chain is consistent again: the only problem left is the anchor's.
  auto chainsOnly = verify();
  ASSERT_EQ(chainsOnly.problems.size(), 1u);
  EXPECT_NE(chainsOnly.problems[0].find("rewritten after anchor #1"), std::string::npos) << chainsOnly.problems[0];
  auto rep = verifyAnchored();
  EXPECT_FALSE(rep.ok);
  EXPECT_EQ(rep.firstProblem, "writer " + writer_ + ": rows seq 1..4 rewritten after anchor #1 (" +
                                  formatRfc3339(clock_.now(), false) +
                                  "): the anchored head hash at seq 4 no longer matches (history changed, chain "
                                  "recomputed)");
  EXPECT_EQ(rep.problems.size(), 1u);
}

TEST_F(AuditAnchorTest, LaterAnchorsNarrowTheRewrittenRange) {
  auto w = app();
  AuditLog audit(clock_);
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(audit.append(*w, event("a")).has_value());
  ASSERT_TRUE(anchorNow().has_value());  // #1: w at seq 2
  clock_.advance(std::chrono::minutes(10));
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(audit.append(*w, event("b")).has_value());
  ASSERT_TRUE(anchorNow().has_value());  // #2: w at seq 5
  ASSERT_TRUE(verifyAnchored().ok);
  rewriteConsistently(w->id(), 4, "forged");
  auto rep = verifyAnchored();
  EXPECT_FALSE(rep.ok);
  EXPECT_EQ(rep.firstProblem.rfind("writer " + w->id() + ": rows seq 3..5 rewritten after anchor #2", 0), 0u)
      << rep.firstProblem;
}

TEST_F(AuditAnchorTest, RewritingTheAnchorTooBreaksTheToken) {
  ASSERT_TRUE(anchorNow().has_value());
  rewriteConsistently(writer_, 2, "forged.action");
  // The owner also updates the anchored head and the anchor digest; only the token is out of reach.
  auto head = owner_->execParams("SELECT hash FROM audit_log WHERE writer_id = $1 AND seq = 4", {pg::Param::text(writer_)});
  ASSERT_TRUE(head.has_value());
  ASSERT_TRUE(owner_->execParams("UPDATE audit_anchor_head SET hash = $1 WHERE writer_id = $2",
                                 {pg::Param::bytes(head->getBytea(0, 0)), pg::Param::text(writer_)}).has_value());
  auto heads = owner_->exec("SELECT writer_id, seq, hash FROM audit_anchor_head ORDER BY writer_id");
  ASSERT_TRUE(heads.has_value());
  std::vector<AuditChainHead> hs;
  for (int i = 0; i < heads->rows(); ++i) hs.push_back({heads->get(i, 0), heads->getInt(i, 1), heads->getBytea(i, 2)});
  std::sort(hs.begin(), hs.end(), [](const auto& a, const auto& b) { return a.writerId < b.writerId; });
  ASSERT_TRUE(owner_->execParams("UPDATE audit_anchor SET digest = $1",
                                 {pg::Param::bytes(AuditLog::anchorDigest(std::string(32, '\0'), hs))}).has_value());
  EXPECT_TRUE(verify().ok) << "without the token check the forgery is consistent";
  auto rep = verifyAnchored();
  EXPECT_FALSE(rep.ok);
  EXPECT_NE(rep.firstProblem.find("anchor #1"), std::string::npos) << rep.firstProblem;
  EXPECT_NE(rep.firstProblem.find("time-stamp token does not cover the anchored heads: message imprint"),
            std::string::npos)
      << rep.firstProblem;
}

TEST_F(AuditAnchorTest, DeletedAnchoredTailIsNamed) {
  ASSERT_TRUE(anchorNow().has_value());
  tamper("DELETE FROM audit_log WHERE id = " + std::to_string(ids_[3]));  // writer 1, seq 4 (its head)
  auto rep = verifyAnchored();
  EXPECT_FALSE(rep.ok);
  EXPECT_EQ(rep.firstProblem, "writer " + writer_ + ": row seq 4 anchored by anchor #1 (" +
                                  formatRfc3339(clock_.now(), false) + ") is missing (deleted after it was anchored)");
}

TEST_F(AuditAnchorTest, DeletedMiddleAnchorBreaksTheAnchorChain) {
  AuditLog audit(clock_);
  auto w = app();
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(audit.append(*w, event("x")).has_value());
    ASSERT_TRUE(anchorNow().has_value());
  }
  tamper("DELETE FROM audit_anchor_head WHERE anchor_id = 2");
  tamper("DELETE FROM audit_anchor WHERE id = 2");
  auto rep = verifyAnchored();
  EXPECT_FALSE(rep.ok);
  EXPECT_EQ(rep.firstProblem.rfind("anchor #3 (", 0), 0u) << rep.firstProblem;
  EXPECT_NE(rep.firstProblem.find("does not chain to anchor #1"), std::string::npos) << rep.firstProblem;
}

TEST_F(AuditAnchorTest, AnchorerThreadAnchorsAtStart) {
  pg::Pool pool({db_->appConninfo(), "", 1, std::chrono::milliseconds(1000), std::chrono::seconds(3)});
  {
    AuditAnchorer anchorer(pool, clock_, tsa_.timestamper(), std::chrono::hours(1));
    anchorer.start();
    for (int i = 0; i < 100 && owner_->exec("SELECT count(*) FROM audit_anchor")->getInt(0, 0) == 0; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }  // the destructor stops the thread without waiting an hour
  EXPECT_EQ(owner_->exec("SELECT count(*) FROM audit_anchor")->getInt(0, 0), 1);
  EXPECT_TRUE(verifyAnchored().ok);
}

}  // namespace
}  // namespace erds
