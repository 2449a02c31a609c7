// Test-only: a fresh migrated database (TestDatabase + all embedded migrations) and a pool of the
// daemon role, so the identity stores are exercised with the GRANTs production gets.
#pragma once

#include <gtest/gtest.h>

#include <memory>

#include "erds/base/pg.h"
#include "erds/migrations/migrations.h"
#include "test_database.h"

namespace erds::identity::testing {

struct MigratedDatabase {
  std::unique_ptr<erds::testing::TestDatabase> db;
  std::unique_ptr<pg::Pool> pool;   // app role
  std::unique_ptr<pg::Pool> owner;  // owner role (for assertions on raw rows)

  // Fails the current test (ADD_FAILURE) and returns nullptr when PostgreSQL is not available.
  static std::unique_ptr<MigratedDatabase> create() {
    auto db = erds::testing::TestDatabase::create();
    if (!db) {
      ADD_FAILURE() << "PostgreSQL needed (run through ./erds test): " << db.error().message;
      return nullptr;
    }
    auto out = std::make_unique<MigratedDatabase>();
    out->db = std::move(db).value();
    auto c = pg::Connection::connect(out->db->ownerConninfo());
    if (!c) {
      ADD_FAILURE() << c.error().message;
      return nullptr;
    }
    auto applied = pg::applyMigrations(**c, allMigrations(), out->db->appRole());
    if (!applied) {
      ADD_FAILURE() << "migrations: " << applied.error().message;
      return nullptr;
    }
    pg::PoolOptions app;
    app.conninfo = out->db->appConninfo();
    app.size = 4;
    out->pool = std::make_unique<pg::Pool>(app);
    pg::PoolOptions own;
    own.conninfo = out->db->ownerConninfo();
    own.size = 1;
    out->owner = std::make_unique<pg::Pool>(own);
    return out;
  }

  // Runs `sql` as the owner and returns the first column of the first row ("" if no row).
  std::string scalar(const std::string& sql, const std::vector<pg::Param>& params = {}) {
    auto lease = owner->acquire();
    if (!lease) return "<no connection>";
    auto q = (*lease)->execParams(sql, params);
    if (!q) return "<error: " + q.error().message + ">";
    return q->rows() == 0 ? "" : q->get(0, 0);
  }
};

}  // namespace erds::identity::testing
