// The 0002_core schema: privileges of the daemon role and the exactly-once key.
#include <gtest/gtest.h>

#include "core_test_fixture.h"

namespace erds::core {
namespace {

class SchemaTest : public CoreDbTest {
 protected:
  void insertMessage(pg::Connection& c, const std::string& id) {
    auto r = c.execParams(
        "INSERT INTO messages (id, status, sender_party_id, sender_identifier, consignment_mode, required_loa, "
        "expires_at, created_at, content_digest) VALUES ($1, 'accepted', 'p1', 'mailto:a@example.test', 'basic', "
        "'low', now() + interval '1 day', now(), $2)",
        {pg::Param::text(id), pg::Param::bytes(std::string(32, 'd'))});
    ASSERT_TRUE(r.has_value()) << r.error().message;
  }
  Result<pg::QueryResult> insertEvidence(pg::Connection& c, const std::string& id, const std::string& msg,
                                         pg::Param recipient, int seq = 0) {
    return c.execParams(
        "INSERT INTO evidence (id, message_id, recipient_index, event, reason, sequence, xml, created_at) "
        "VALUES ($1, $2, $3, 'SubmissionAcceptance', 'RA01', $4, '\\x3c783e', now())",
        {pg::Param::text(id), pg::Param::text(msg), std::move(recipient), pg::Param::integer(seq)});
  }
};

TEST_F(SchemaTest, AppRoleCannotUpdateOrDeleteEvidence) {
  auto a = app();
  ASSERT_NE(a, nullptr);
  const std::string msg = "6f1c2a8e-3b4d-4e5f-8a9b-0c1d2e3f4a5b";
  insertMessage(*a, msg);
  auto ins = insertEvidence(*a, "ev-1", msg, pg::Param::null());
  ASSERT_TRUE(ins.has_value()) << ins.error().message;
  auto sel = a->exec("SELECT count(*) FROM evidence");
  ASSERT_TRUE(sel.has_value());
  EXPECT_EQ(sel->getInt(0, 0), 1);

  for (const char* sql : {"UPDATE evidence SET xml = '\\x00'", "DELETE FROM evidence", "TRUNCATE evidence",
                          "UPDATE audit_log SET actor = 'x'", "DELETE FROM audit_log"}) {
    auto r = a->exec(sql);
    ASSERT_FALSE(r.has_value()) << sql;
    EXPECT_EQ(a->lastSqlState(), "42501") << sql << ": " << r.error().message;
    EXPECT_TRUE(r.error().is(ErrorCode::Unauthorized));
  }
  EXPECT_EQ(count("SELECT count(*) FROM evidence"), 1);
}

TEST_F(SchemaTest, AppRoleCannotChangeTheSchema) {
  auto a = app();
  ASSERT_NE(a, nullptr);
  for (const char* sql : {"DROP TABLE jobs", "ALTER TABLE evidence DROP CONSTRAINT evidence_pkey",
                          "DROP INDEX evidence_once_idx", "CREATE TABLE x (y int)"}) {
    auto r = a->exec(sql);
    ASSERT_FALSE(r.has_value()) << sql;
    EXPECT_EQ(a->lastSqlState(), "42501") << sql << ": " << r.error().message;
  }
}

// Migration 0009: the Idempotency-Key and the job dedupe key stay unique where present, and rows
// without one are not in those indexes at all.
TEST_F(SchemaTest, OptionalUniqueKeysAreIndexedOnlyWherePresent) {
  auto a = app();
  ASSERT_NE(a, nullptr);
  for (const char* index : {"messages_idempotency_idx", "jobs_dedupe_idx"}) {
    auto def = owner_->execParams("SELECT indexdef FROM pg_indexes WHERE indexname = $1", {pg::Param::text(index)});
    ASSERT_TRUE(def.has_value());
    ASSERT_EQ(def->rows(), 1) << index;
    EXPECT_NE(def->get(0, 0).find("UNIQUE"), std::string::npos) << def->get(0, 0);
    EXPECT_NE(def->get(0, 0).find("IS NOT NULL"), std::string::npos) << def->get(0, 0);
  }
  auto insert = [&](const std::string& id, const char* key) {
    return a->execParams(
        "INSERT INTO messages (id, status, sender_party_id, sender_identifier, consignment_mode, required_loa, "
        "expires_at, created_at, content_digest, idempotency_key, request_hash) VALUES ($1, 'accepted', 'p1', "
        "'mailto:a@example.test', 'basic', 'low', now() + interval '1 day', now(), $2, $3, $4)",
        {pg::Param::text(id), pg::Param::bytes(std::string(32, 'd')), key ? pg::Param::text(key) : pg::Param::null(),
         key ? pg::Param::bytes(std::string(32, 'h')) : pg::Param::null()});
  };
  EXPECT_TRUE(insert("6f1c2a8e-3b4d-4e5f-8a9b-000000000001", nullptr).has_value());
  EXPECT_TRUE(insert("6f1c2a8e-3b4d-4e5f-8a9b-000000000002", nullptr).has_value());
  EXPECT_TRUE(insert("6f1c2a8e-3b4d-4e5f-8a9b-000000000003", "k1").has_value());
  auto dup = insert("6f1c2a8e-3b4d-4e5f-8a9b-000000000004", "k1");
  ASSERT_FALSE(dup.has_value());
  EXPECT_TRUE(dup.error().is(ErrorCode::Conflict)) << dup.error().toString();
  const std::string job =
      "INSERT INTO jobs (kind, payload, dedupe_key, run_at, max_attempts, created_at) VALUES ('t', '{}', $1, now(), 1,"
      " now()) ON CONFLICT (dedupe_key) WHERE dedupe_key IS NOT NULL DO NOTHING RETURNING id";
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(a->execParams(job, {pg::Param::null()})->rows(), 1);
    EXPECT_EQ(a->execParams(job, {pg::Param::text("once")})->rows(), i == 0 ? 1 : 0);
  }
  // Only the rows with a key are index entries (VACUUM records each index's entry count; a dead
  // row makes it scan the indexes of both tables).
  ASSERT_TRUE(owner_->exec("INSERT INTO jobs (kind, dedupe_key, run_at, created_at) VALUES ('t', 'gone', now(), now());"
                           " DELETE FROM jobs WHERE dedupe_key = 'gone'")
                  .has_value());
  ASSERT_TRUE(owner_->exec("VACUUM messages, jobs").has_value());
  EXPECT_EQ(count("SELECT count(*) FROM messages"), 3);
  EXPECT_EQ(count("SELECT count(*) FROM jobs"), 3);
  EXPECT_EQ(count("SELECT reltuples::bigint FROM pg_class WHERE relname = 'messages_idempotency_idx'"), 1);
  EXPECT_EQ(count("SELECT reltuples::bigint FROM pg_class WHERE relname = 'jobs_dedupe_idx'"), 1);
}

TEST_F(SchemaTest, EvidenceKeyIsUniqueIncludingMessageLevelEvents) {
  auto a = app();
  ASSERT_NE(a, nullptr);
  const std::string msg = "6f1c2a8e-3b4d-4e5f-8a9b-0c1d2e3f4a5c";
  insertMessage(*a, msg);
  ASSERT_TRUE(insertEvidence(*a, "ev-1", msg, pg::Param::null()).has_value());
  // NULL recipient must collide too (coalesce in the unique index).
  auto dup = insertEvidence(*a, "ev-2", msg, pg::Param::null());
  ASSERT_FALSE(dup.has_value());
  EXPECT_EQ(a->lastSqlState(), "23505");
  EXPECT_TRUE(dup.error().is(ErrorCode::Conflict));
  EXPECT_TRUE(insertEvidence(*a, "ev-3", msg, pg::Param::integer(0)).has_value());
  EXPECT_FALSE(insertEvidence(*a, "ev-4", msg, pg::Param::integer(0)).has_value());
  EXPECT_TRUE(insertEvidence(*a, "ev-5", msg, pg::Param::integer(0), 1).has_value());
  EXPECT_EQ(count("SELECT count(*) FROM evidence"), 3);
}

}  // namespace
}  // namespace erds::core
