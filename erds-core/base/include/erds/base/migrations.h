// Schema migrations: numbered SQL files applied in order, one transaction each, recorded in
// schema_migrations. A database newer than the binary is refused.
#pragma once

#include <string>
#include <vector>

#include "erds/base/pg.h"
#include "erds/base/result.h"

namespace erds::pg {

struct Migration {
  int version;          // 1, 2, 3 ... (from the file name 0001_name.sql)
  std::string name;     // "0001_base"
  std::string sql;      // may contain {{app_role}}, replaced by the quoted daemon role name
};

struct SchemaStatus {
  int current = 0;      // highest applied version (0 = none)
  int latest = 0;       // highest version this binary knows
  bool upToDate() const { return current == latest; }
};

// Reads the state without changing anything. Conflict if the database is newer than `known`.
Result<SchemaStatus> schemaStatus(Connection& conn, const std::vector<Migration>& known);

// Applies the pending migrations as the owner role connected by `conn`, each in its own
// transaction together with its schema_migrations row; serialised with an advisory lock so two
// processes cannot apply the same migration. Returns the versions applied (empty = no-op).
// Conflict (naming both versions) if the database is newer than the binary.
Result<std::vector<int>> applyMigrations(Connection& conn, const std::vector<Migration>& known,
                                         const std::string& appRole);

}  // namespace erds::pg
