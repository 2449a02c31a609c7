// Shared fixture of the erds::core tests: a fresh database with the real migrations, an app-role
// pool, a FakeClock, a KEK and the fake evidence issuer.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>

#include "erds/base/aead.h"
#include "erds/base/audit.h"
#include "erds/base/migrations.h"
#include "erds/base/pg.h"
#include "erds/migrations/migrations.h"
#include "fake_clock.h"
#include "fake_evidence_issuer.h"
#include "test_database.h"

namespace erds::core {

class CoreDbTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = erds::testing::TestDatabase::create();
    ASSERT_TRUE(db.has_value()) << db.error().message;
    db_ = std::move(db).value();
    auto c = pg::Connection::connect(db_->ownerConninfo());
    ASSERT_TRUE(c.has_value()) << c.error().message;
    owner_ = std::move(c).value();
    auto m = pg::applyMigrations(*owner_, allMigrations(), db_->appRole());
    ASSERT_TRUE(m.has_value()) << m.error().message;
    pool_ = newPool();
    auto kek = crypto::KeyEncryptionKey::fromSecret(Secret(std::string(32, '\x42')));
    ASSERT_TRUE(kek.has_value());
    kek_.emplace(std::move(*kek));
  }

  std::unique_ptr<pg::Pool> newPool(int size = 4) {
    pg::PoolOptions o;
    o.conninfo = db_->appConninfo();
    o.size = size;
    o.acquireTimeout = std::chrono::milliseconds(10000);
    return std::make_unique<pg::Pool>(o);
  }

  std::unique_ptr<pg::Connection> app() {
    auto c = pg::Connection::connect(db_->appConninfo());
    EXPECT_TRUE(c.has_value());
    return c ? std::move(c).value() : nullptr;
  }

  // A single integer from the owner connection.
  int64_t count(const std::string& sql) {
    auto r = owner_->exec(sql);
    EXPECT_TRUE(r.has_value()) << sql << ": " << (r ? "" : r.error().message);
    return r ? r->getInt(0, 0) : -1;
  }

  erds::testing::FakeClock clock_{TimePoint(std::chrono::microseconds(1795773600000000))};  // 2026-11-27
  AuditLog audit_{clock_};
  testing::FakeEvidenceIssuer issuer_;
  std::unique_ptr<erds::testing::TestDatabase> db_;
  std::unique_ptr<pg::Connection> owner_;
  std::unique_ptr<pg::Pool> pool_;
  std::optional<crypto::KeyEncryptionKey> kek_;
};

}  // namespace erds::core
