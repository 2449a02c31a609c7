#include "erds/base/migrations.h"

#include <gtest/gtest.h>

#include <thread>

#include "erds/migrations/migrations.h"
#include "test_database.h"

namespace erds::pg {
namespace {

class MigrationsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = testing::TestDatabase::create();
    ASSERT_TRUE(db.has_value()) << db.error().message;
    db_ = std::move(db).value();
    auto c = Connection::connect(db_->ownerConninfo());
    ASSERT_TRUE(c.has_value()) << c.error().message;
    owner_ = std::move(c).value();
  }
  std::unique_ptr<Connection> app() {
    auto c = Connection::connect(db_->appConninfo());
    EXPECT_TRUE(c.has_value());
    return c ? std::move(c).value() : nullptr;
  }
  std::unique_ptr<testing::TestDatabase> db_;
  std::unique_ptr<Connection> owner_;
};

TEST_F(MigrationsTest, EmbeddedMigrationsAreNumberedFromOne) {
  const auto& all = allMigrations();
  ASSERT_FALSE(all.empty());
  for (std::size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(all[i].version, static_cast<int>(i + 1));
    EXPECT_FALSE(all[i].sql.empty());
  }
  EXPECT_EQ(all[0].name, "0001_base");
}

TEST_F(MigrationsTest, ApplyThenRerunIsANoOp) {
  auto before = schemaStatus(*owner_, allMigrations());
  ASSERT_TRUE(before.has_value()) << before.error().message;
  EXPECT_EQ(before->current, 0);
  EXPECT_FALSE(before->upToDate());

  auto applied = applyMigrations(*owner_, allMigrations(), db_->appRole());
  ASSERT_TRUE(applied.has_value()) << applied.error().message;
  ASSERT_EQ(applied->size(), allMigrations().size());
  EXPECT_EQ(applied->front(), 1);

  auto after = schemaStatus(*owner_, allMigrations());
  ASSERT_TRUE(after.has_value());
  EXPECT_TRUE(after->upToDate());
  EXPECT_EQ(after->current, allMigrations().back().version);

  auto again = applyMigrations(*owner_, allMigrations(), db_->appRole());
  ASSERT_TRUE(again.has_value()) << again.error().message;
  EXPECT_TRUE(again->empty());
  auto rows = owner_->exec("SELECT version, name, applied_at IS NOT NULL FROM schema_migrations ORDER BY version");
  ASSERT_TRUE(rows.has_value());
  EXPECT_EQ(rows->rows(), static_cast<int>(allMigrations().size()));
  EXPECT_EQ(rows->get(0, 1), "0001_base");
  EXPECT_EQ(rows->get(0, 2), "t");
}

TEST_F(MigrationsTest, FailedMigrationRollsBackAlone) {
  std::vector<Migration> ms = {{1, "0001_a", "CREATE TABLE a (x int)"},
                               {2, "0002_bad", "CREATE TABLE b (x int); SELECT no_such_function()"},
                               {3, "0003_c", "CREATE TABLE c (x int)"}};
  auto r = applyMigrations(*owner_, ms, db_->appRole());
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("migration 0002_bad"), std::string::npos) << r.error().message;
  EXPECT_EQ(owner_->exec("SELECT to_regclass('a') IS NOT NULL, to_regclass('b') IS NULL, to_regclass('c') IS NULL")
                ->get(0, 0),
            "t");
  auto st = schemaStatus(*owner_, ms);
  ASSERT_TRUE(st.has_value());
  EXPECT_EQ(st->current, 1);
  EXPECT_FALSE(owner_->inTransaction());
}

TEST_F(MigrationsTest, RefusesANewerDatabase) {
  std::vector<Migration> future = {{1, "0001_a", "SELECT 1"}, {2, "0002_b", "SELECT 1"}, {3, "0003_c", "SELECT 1"},
                                   {7, "0007_d", "SELECT 1"}};
  ASSERT_TRUE(applyMigrations(*owner_, future, db_->appRole()).has_value());
  std::vector<Migration> old = {future[0], future[1], future[2]};
  auto st = schemaStatus(*owner_, old);
  ASSERT_FALSE(st.has_value());
  EXPECT_TRUE(st.error().is(ErrorCode::Conflict));
  EXPECT_EQ(st.error().message, "database schema is at version 7 but this binary knows only up to 3; upgrade erds");
  auto ap = applyMigrations(*owner_, old, db_->appRole());
  ASSERT_FALSE(ap.has_value());
  EXPECT_TRUE(ap.error().is(ErrorCode::Conflict));
  EXPECT_NE(ap.error().message.find("version 7 but this binary knows only up to 3"), std::string::npos);
}

TEST_F(MigrationsTest, AppRolePlaceholderIsQuoted) {
  std::vector<Migration> ms = {{1, "0001_t", "CREATE TABLE t (x int); GRANT SELECT ON t TO {{app_role}};"}};
  ASSERT_TRUE(applyMigrations(*owner_, ms, db_->appRole()).has_value());
  auto a = app();
  ASSERT_NE(a, nullptr);
  EXPECT_TRUE(a->exec("SELECT * FROM t").has_value());
  EXPECT_FALSE(applyMigrations(*owner_, ms, "").has_value());
}

TEST_F(MigrationsTest, ConcurrentRunnersApplyOnce) {
  auto other = Connection::connect(db_->ownerConninfo());
  ASSERT_TRUE(other.has_value());
  std::vector<Migration> ms = {{1, "0001_slow", "SELECT pg_sleep(0.3); CREATE TABLE once (x int)"}};
  Result<std::vector<int>> r1 = std::vector<int>{};
  Result<std::vector<int>> r2 = std::vector<int>{};
  std::thread t([&] { r1 = applyMigrations(*owner_, ms, db_->appRole()); });
  r2 = applyMigrations(**other, ms, db_->appRole());
  t.join();
  ASSERT_TRUE(r1.has_value()) << r1.error().message;
  ASSERT_TRUE(r2.has_value()) << r2.error().message;
  EXPECT_EQ(r1->size() + r2->size(), 1u);
}

TEST_F(MigrationsTest, AppRolePrivilegesAfterBaseMigration) {
  ASSERT_TRUE(applyMigrations(*owner_, allMigrations(), db_->appRole()).has_value());
  auto a = app();
  ASSERT_NE(a, nullptr);
  // The app role may read and append...
  auto ins = a->exec(
      "INSERT INTO audit_log (writer_id, seq, at, actor, action, outcome, prev_hash, hash)"
      " VALUES ('w', 1, now(), 'system:test', 'test', 'success', decode(repeat('00', 32), 'hex'),"
      " decode(repeat('11', 32), 'hex')) RETURNING id");
  ASSERT_TRUE(ins.has_value()) << ins.error().message;
  EXPECT_TRUE(a->exec("SELECT count(*) FROM audit_log").has_value());
  EXPECT_TRUE(a->exec("SELECT max(version) FROM schema_migrations").has_value());
  // ...but never change, delete, truncate or create.
  struct Case {
    const char* sql;
  };
  const Case kCases[] = {{"UPDATE audit_log SET actor = 'x'"},
                         {"DELETE FROM audit_log"},
                         {"TRUNCATE audit_log"},
                         {"CREATE TABLE sneaky (x int)"},
                         {"INSERT INTO schema_migrations (version, name) VALUES (99, 'x')"},
                         {"DROP TABLE audit_log"}};
  for (const auto& c : kCases) {
    auto r = a->exec(c.sql);
    ASSERT_FALSE(r.has_value()) << c.sql;
    EXPECT_EQ(a->lastSqlState(), "42501") << c.sql << ": " << r.error().message;
    EXPECT_TRUE(r.error().is(ErrorCode::Unauthorized)) << c.sql;
  }
  // The app role does not own the table.
  auto owner = owner_->exec("SELECT tableowner FROM pg_tables WHERE tablename = 'audit_log'");
  ASSERT_TRUE(owner.has_value());
  EXPECT_EQ(owner->get(0, 0), db_->ownerRole());
}

}  // namespace
}  // namespace erds::pg
