#include "erds/base/pg.h"

#include <gtest/gtest.h>

#include <thread>

#include "test_database.h"

namespace erds::pg {
namespace {

class PgTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = testing::TestDatabase::create();
    ASSERT_TRUE(db.has_value()) << db.error().message;
    db_ = std::move(db).value();
    auto c = Connection::connect(db_->ownerConninfo());
    ASSERT_TRUE(c.has_value()) << c.error().message;
    conn_ = std::move(c).value();
  }
  std::unique_ptr<testing::TestDatabase> db_;
  std::unique_ptr<Connection> conn_;
};

TEST_F(PgTest, ConnectsAsTheRolesOfTheTestDatabase) {
  auto who = conn_->exec("SELECT current_user, current_database()");
  ASSERT_TRUE(who.has_value()) << who.error().message;
  EXPECT_EQ(who->get(0, 0), db_->ownerRole());
  EXPECT_EQ(who->get(0, 1), db_->databaseName());
  auto app = Connection::connect(db_->appConninfo());
  ASSERT_TRUE(app.has_value()) << app.error().message;
  EXPECT_EQ((*app)->exec("SELECT current_user")->get(0, 0), db_->appRole());
  EXPECT_TRUE((*app)->healthy());
  EXPECT_FALSE((*app)->id().empty());
  EXPECT_NE((*app)->id(), conn_->id());
}

TEST_F(PgTest, ConninfoWithoutPasswordTakesAPasswordParameter) {
  EXPECT_EQ(db_->appConninfo(false).find("password"), std::string::npos);
  auto c = Connection::connect(db_->appConninfo(false), db_->appPassword());
  ASSERT_TRUE(c.has_value()) << c.error().message;
  EXPECT_EQ((*c)->exec("SELECT current_user")->get(0, 0), db_->appRole());
}

TEST_F(PgTest, ConnectFailureIsUnavailable) {
  auto c = Connection::connect("host=/nonexistent-socket-dir port=1 dbname=x", {}, std::chrono::seconds(1));
  ASSERT_FALSE(c.has_value());
  EXPECT_TRUE(c.error().is(ErrorCode::Unavailable));
  EXPECT_NE(c.error().message.find("database connection failed"), std::string::npos);
}

TEST_F(PgTest, TextBinaryNullParamsAndByteaRoundTrip) {
  ASSERT_TRUE(conn_->exec("CREATE TABLE t (id bigint primary key, name text, data bytea)").has_value());
  std::string bin;
  for (int i = 0; i < 256; ++i) bin += static_cast<char>(i);
  bin += std::string("\0\0\\x'\"", 7);
  auto ins = conn_->execParams("INSERT INTO t VALUES ($1, $2, $3), ($4, $5, $6)",
                               {Param::integer(1), Param::text("zoë 'quoted'"), Param::bytes(bin),
                                Param::integer(-2), Param::null(), Param::null()});
  ASSERT_TRUE(ins.has_value()) << ins.error().message;
  EXPECT_EQ(ins->affectedRows(), 2);
  auto sel = conn_->execParams("SELECT id, name, data FROM t ORDER BY id DESC", {});
  ASSERT_TRUE(sel.has_value());
  ASSERT_EQ(sel->rows(), 2);
  EXPECT_EQ(sel->columns(), 3);
  EXPECT_EQ(sel->columnIndex("data"), 2);
  EXPECT_EQ(sel->columnIndex("nope"), -1);
  EXPECT_EQ(sel->getInt(0, 0), 1);
  EXPECT_EQ(sel->get(0, 1), "zoë 'quoted'");
  EXPECT_EQ(sel->getBytea(0, 2), bin);
  EXPECT_EQ(sel->getInt(1, 0), -2);
  EXPECT_TRUE(sel->isNull(1, 1));
  EXPECT_EQ(sel->get(1, 1), "");
  EXPECT_TRUE(sel->isNull(1, 2));
  // A bytea param compared server-side, so the binary really arrived unchanged.
  auto eq = conn_->execParams("SELECT data = $1 FROM t WHERE id = 1", {Param::bytes(bin)});
  ASSERT_TRUE(eq.has_value());
  EXPECT_EQ(eq->get(0, 0), "t");
  EXPECT_EQ(conn_->execParams("SELECT octet_length($1::bytea)", {Param::bytes(bin)})->getInt(0, 0),
            static_cast<int64_t>(bin.size()));
}

TEST_F(PgTest, PreparedStatementsAreReused) {
  for (int i = 0; i < 3; ++i) {
    auto r = conn_->execPrepared("add", "SELECT $1::int + $2::int", {Param::integer(i), Param::integer(10)});
    ASSERT_TRUE(r.has_value()) << r.error().message;
    EXPECT_EQ(r->getInt(0, 0), i + 10);
  }
  auto n = conn_->exec("SELECT count(*) FROM pg_prepared_statements WHERE name = 'add'");
  ASSERT_TRUE(n.has_value());
  EXPECT_EQ(n->getInt(0, 0), 1);
}

// Pipelined statements: one answer each, in order; after a failure the rest are not run and the
// transaction is left aborted for the caller's ROLLBACK; the connection works normally after.
TEST_F(PgTest, PipelinedStatementsAnswerInOrder) {
  ASSERT_TRUE(conn_->exec("CREATE TABLE p (k int primary key, v text)").has_value());
  const std::string insert = "INSERT INTO p VALUES ($1, $2) RETURNING k * 10";
  std::vector<std::vector<Param>> params;
  for (int i = 1; i <= 5; ++i) params.push_back({Param::integer(i), Param::text("v" + std::to_string(i))});
  std::vector<Connection::Statement> st = {{"", "BEGIN", nullptr}};
  for (const auto& p : params) st.push_back({"pipe_insert", insert, &p});
  auto r = conn_->execPipelined(st);
  ASSERT_EQ(r.size(), 6u);
  for (std::size_t i = 0; i < r.size(); ++i) ASSERT_TRUE(r[i].has_value()) << i << ": " << r[i].error().message;
  for (int i = 1; i <= 5; ++i) EXPECT_EQ(r[static_cast<std::size_t>(i)]->getInt(0, 0), i * 10);
  EXPECT_TRUE(conn_->inTransaction());
  ASSERT_TRUE(conn_->commit().has_value());
  EXPECT_EQ(conn_->exec("SELECT count(*) FROM p")->getInt(0, 0), 5);

  // A duplicate key in the middle: the statements after it are not run, nothing is kept.
  std::vector<std::vector<Param>> more = {{Param::integer(6), Param::text("x")},
                                          {Param::integer(3), Param::text("dup")},
                                          {Param::integer(7), Param::text("y")}};
  st = {{"", "BEGIN", nullptr}};
  for (const auto& p : more) st.push_back({"pipe_insert", insert, &p});
  r = conn_->execPipelined(st);
  ASSERT_EQ(r.size(), 4u);
  EXPECT_TRUE(r[0].has_value());
  EXPECT_TRUE(r[1].has_value());
  ASSERT_FALSE(r[2].has_value());
  EXPECT_TRUE(r[2].error().is(ErrorCode::Conflict)) << r[2].error().toString();
  ASSERT_FALSE(r[3].has_value());
  EXPECT_NE(r[3].error().message.find("not run"), std::string::npos);
  EXPECT_EQ(conn_->lastSqlState(), "23505");
  EXPECT_TRUE(conn_->inTransaction());
  ASSERT_TRUE(conn_->rollback().has_value());
  EXPECT_FALSE(conn_->inTransaction());
  EXPECT_EQ(conn_->exec("SELECT count(*) FROM p")->getInt(0, 0), 5);
  // Normal statements and prepared ones afterwards, and an empty pipeline.
  EXPECT_TRUE(conn_->execPipelined({}).empty());
  auto after = conn_->execPrepared("pipe_insert", insert, {Param::integer(8), Param::text("z")});
  ASSERT_TRUE(after.has_value()) << after.error().message;
  EXPECT_EQ(after->getInt(0, 0), 80);
  EXPECT_TRUE(conn_->healthy());
}

TEST_F(PgTest, SqlStatesAreClassified) {
  ASSERT_TRUE(conn_->exec("CREATE TABLE u (k text primary key)").has_value());
  ASSERT_TRUE(conn_->execParams("INSERT INTO u VALUES ($1)", {Param::text("a")}).has_value());
  auto dup = conn_->execParams("INSERT INTO u VALUES ($1)", {Param::text("a")});
  ASSERT_FALSE(dup.has_value());
  EXPECT_TRUE(dup.error().is(ErrorCode::Conflict));
  EXPECT_EQ(dup.error().message.rfind("sqlstate 23505: ", 0), 0u) << dup.error().message;
  EXPECT_EQ(conn_->lastSqlState(), "23505");

  auto bad = conn_->exec("SELECT 1/0");
  ASSERT_FALSE(bad.has_value());
  EXPECT_TRUE(bad.error().is(ErrorCode::InvalidInput));
  EXPECT_EQ(conn_->lastSqlState(), "22012");

  auto syntax = conn_->exec("SELEC 1");
  ASSERT_FALSE(syntax.has_value());
  EXPECT_TRUE(syntax.error().is(ErrorCode::Internal));
  EXPECT_EQ(conn_->lastSqlState(), "42601");

  auto app = Connection::connect(db_->appConninfo());
  ASSERT_TRUE(app.has_value());
  auto denied = (*app)->exec("SELECT * FROM u");
  ASSERT_FALSE(denied.has_value());
  EXPECT_TRUE(denied.error().is(ErrorCode::Unauthorized));
  EXPECT_NE(denied.error().message.find("sqlstate 42501"), std::string::npos);

  auto ok = conn_->exec("SELECT 1");
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(conn_->lastSqlState(), "");
}

TEST_F(PgTest, TransactionsAndFailedCommit) {
  ASSERT_TRUE(conn_->exec("CREATE TABLE t (v int)").has_value());
  ASSERT_TRUE(conn_->begin().has_value());
  EXPECT_TRUE(conn_->inTransaction());
  ASSERT_TRUE(conn_->exec("INSERT INTO t VALUES (1)").has_value());
  ASSERT_TRUE(conn_->rollback().has_value());
  EXPECT_FALSE(conn_->inTransaction());
  EXPECT_EQ(conn_->exec("SELECT count(*) FROM t")->getInt(0, 0), 0);

  ASSERT_TRUE(conn_->begin().has_value());
  ASSERT_TRUE(conn_->exec("INSERT INTO t VALUES (2)").has_value());
  EXPECT_FALSE(conn_->exec("SELECT 1/0").has_value());
  EXPECT_TRUE(conn_->inTransaction());  // failed, awaiting ROLLBACK
  auto c = conn_->commit();
  ASSERT_FALSE(c.has_value()) << "COMMIT of an aborted transaction must not look like success";
  EXPECT_FALSE(conn_->inTransaction());
  EXPECT_EQ(conn_->exec("SELECT count(*) FROM t")->getInt(0, 0), 0);
}

TEST_F(PgTest, DeadConnectionIsUnhealthyAndRollbackDoesNotFail) {
  auto victim = Connection::connect(db_->ownerConninfo());
  ASSERT_TRUE(victim.has_value());
  auto pid = (*victim)->exec("SELECT pg_backend_pid()");
  ASSERT_TRUE(pid.has_value());
  auto su = Connection::connect(db_->superuserConninfo());
  ASSERT_TRUE(su.has_value());
  ASSERT_TRUE((*su)->execParams("SELECT pg_terminate_backend($1::int)", {Param::text(pid->get(0, 0))}).has_value());
  for (int i = 0; i < 50 && (*victim)->healthy(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_FALSE((*victim)->healthy());
  auto q = (*victim)->exec("SELECT 1");
  ASSERT_FALSE(q.has_value());
  EXPECT_TRUE(q.error().is(ErrorCode::Unavailable)) << q.error().toString();
  EXPECT_TRUE((*victim)->rollback().has_value());
}

TEST(PgHelpersTest, QuoteIdentifier) {
  EXPECT_EQ(quoteIdentifier("erds_app"), "\"erds_app\"");
  EXPECT_EQ(quoteIdentifier("we\"ird"), "\"we\"\"ird\"");
  EXPECT_EQ(quoteIdentifier(""), "\"\"");
}

class PoolTest : public PgTest {};

TEST_F(PoolTest, ReusesConnectionsAndCountsStats) {
  Pool pool({db_->appConninfo(), "", 2, std::chrono::milliseconds(500), std::chrono::seconds(3)});
  std::string firstId;
  {
    auto l = pool.acquire();
    ASSERT_TRUE(l.has_value()) << l.error().message;
    firstId = (*l)->id();
    EXPECT_EQ(pool.stats().inUse, 1);
  }
  auto st = pool.stats();
  EXPECT_EQ(st.open, 1);
  EXPECT_EQ(st.idle, 1);
  EXPECT_EQ(st.inUse, 0);
  auto l2 = pool.acquire();
  ASSERT_TRUE(l2.has_value());
  EXPECT_EQ((*l2)->id(), firstId);
  EXPECT_EQ(pool.stats().acquired, 2u);
}

TEST_F(PoolTest, ExhaustionTimesOutAsUnavailable) {
  Pool pool({db_->appConninfo(), "", 2, std::chrono::milliseconds(200), std::chrono::seconds(3)});
  auto a = pool.acquire();
  auto b = pool.acquire();
  ASSERT_TRUE(a.has_value() && b.has_value());
  auto t0 = std::chrono::steady_clock::now();
  auto c = pool.acquire();
  auto waited = std::chrono::steady_clock::now() - t0;
  ASSERT_FALSE(c.has_value());
  EXPECT_TRUE(c.error().is(ErrorCode::Unavailable));
  EXPECT_NE(c.error().message.find("pool exhausted"), std::string::npos);
  EXPECT_GE(waited, std::chrono::milliseconds(190));
  EXPECT_EQ(pool.stats().timeouts, 1u);
}

TEST_F(PoolTest, WaiterGetsAReleasedConnection) {
  Pool pool({db_->appConninfo(), "", 1, std::chrono::milliseconds(5000), std::chrono::seconds(3)});
  auto a = pool.acquire();
  ASSERT_TRUE(a.has_value());
  std::thread releaser([l = std::move(a).value()]() mutable {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    Lease gone(std::move(l));
  });
  auto b = pool.acquire();
  releaser.join();
  ASSERT_TRUE(b.has_value()) << b.error().message;
  EXPECT_EQ(pool.stats().open, 1);
}

TEST_F(PoolTest, LeaseReturnedInTransactionIsRolledBack) {
  ASSERT_TRUE(conn_->exec("CREATE TABLE t (v int); GRANT SELECT, INSERT ON t TO " +
                          quoteIdentifier(db_->appRole()))
                  .has_value());
  Pool pool({db_->appConninfo(), "", 1, std::chrono::milliseconds(500), std::chrono::seconds(3)});
  {
    auto l = pool.acquire();
    ASSERT_TRUE(l.has_value());
    ASSERT_TRUE((*l)->begin().has_value());
    ASSERT_TRUE((*l)->exec("INSERT INTO t VALUES (1)").has_value());
  }  // returned with the transaction open
  auto l = pool.acquire();
  ASSERT_TRUE(l.has_value());
  EXPECT_FALSE((*l)->inTransaction());
  EXPECT_EQ((*l)->exec("SELECT count(*) FROM t")->getInt(0, 0), 0);
}

TEST_F(PoolTest, ConnectFailureIsUnavailableAndRetried) {
  Pool pool({"host=/nonexistent-socket-dir port=1 dbname=x", "", 2, std::chrono::milliseconds(100),
             std::chrono::seconds(1)});
  for (int i = 0; i < 2; ++i) {
    auto l = pool.acquire();
    ASSERT_FALSE(l.has_value());
    EXPECT_TRUE(l.error().is(ErrorCode::Unavailable));
  }
  EXPECT_EQ(pool.stats().connectFailures, 2u);
  EXPECT_EQ(pool.stats().open, 0);
}

TEST(PoolRestartTest, RecoversAfterServerRestart) {
  auto pg = testing::PrivatePostgres::start(/*durable=*/false);
  ASSERT_TRUE(pg.has_value()) << pg.error().message;
  auto roles = (*pg)->createDatabaseAndRoles("erds_restart");
  ASSERT_TRUE(roles.has_value()) << roles.error().message;
  Pool pool({roles->appConninfo, "", 2, std::chrono::milliseconds(500), std::chrono::seconds(2)});
  {
    auto l = pool.acquire();
    ASSERT_TRUE(l.has_value()) << l.error().message;
    EXPECT_EQ((*l)->exec("SELECT current_user")->get(0, 0), roles->appRole);
  }
  ASSERT_TRUE((*pg)->stop(/*immediate=*/true).has_value());
  auto down = pool.acquire();
  if (down.has_value()) {
    // The idle connection may not have noticed yet; using it must fail cleanly.
    EXPECT_FALSE((*down)->exec("SELECT 1").has_value());
  } else {
    EXPECT_TRUE(down.error().is(ErrorCode::Unavailable));
  }
  {
    auto again = std::move(down);  // release before restart
  }
  auto refused = pool.acquire();
  ASSERT_FALSE(refused.has_value());
  EXPECT_TRUE(refused.error().is(ErrorCode::Unavailable));

  ASSERT_TRUE((*pg)->restart().has_value());
  auto l = pool.acquire();
  ASSERT_TRUE(l.has_value()) << l.error().message;
  auto r = (*l)->exec("SELECT 42");
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->getInt(0, 0), 42);
}

TEST(PrivatePostgresTest, PasswordsAreEnforced) {
  auto pg = testing::PrivatePostgres::start(/*durable=*/true);
  ASSERT_TRUE(pg.has_value()) << pg.error().message;
  auto roles = (*pg)->createDatabaseAndRoles("erds_pw");
  ASSERT_TRUE(roles.has_value()) << roles.error().message;
  EXPECT_TRUE(Connection::connect(roles->ownerConninfo).has_value());
  auto wrong = Connection::connect("host=" + (*pg)->socketDir() + " port=" + std::to_string((*pg)->port()) +
                                   " dbname=erds_pw user=" + roles->appRole + " password=wrong");
  ASSERT_FALSE(wrong.has_value());
  EXPECT_TRUE(wrong.error().is(ErrorCode::Unavailable));
  // The password-less conninfo plus a separately passed password (as from a secret file).
  auto app = Connection::connect(roles->appConninfoNoPassword, roles->appPassword);
  ASSERT_TRUE(app.has_value()) << app.error().message;
  EXPECT_EQ((*app)->exec("SELECT current_user")->get(0, 0), roles->appRole);
  EXPECT_FALSE(Connection::connect(roles->appConninfoNoPassword).has_value());
  auto fsync = Connection::connect((*pg)->superuserConninfo());
  ASSERT_TRUE(fsync.has_value());
  EXPECT_EQ((*fsync)->exec("SHOW fsync")->get(0, 0), "on");
}

}  // namespace
}  // namespace erds::pg
