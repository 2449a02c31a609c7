// Migration runner: one transaction per migration, serialised across processes by a transaction
// advisory lock, refusing databases newer than the binary.
#include "erds/base/migrations.h"

#include <algorithm>

#include "erds/base/log.h"

namespace erds::pg {
namespace {

// Arbitrary but fixed: "erds" in ASCII, shared by every erds binary that migrates.
constexpr const char* kLockKey = "1701995635";

int latestOf(const std::vector<Migration>& known) {
  int latest = 0;
  for (const auto& m : known) latest = std::max(latest, m.version);
  return latest;
}

Error newerThanBinary(int current, int latest) {
  return Error::conflict("database schema is at version " + std::to_string(current) +
                         " but this binary knows only up to " + std::to_string(latest) + "; upgrade erds");
}

Result<int> currentVersion(Connection& conn) {
  auto exists = conn.exec("SELECT to_regclass('schema_migrations') IS NOT NULL");
  if (!exists) return std::move(exists).error();
  if (exists->get(0, 0) != "t") return 0;
  auto r = conn.exec("SELECT coalesce(max(version), 0) FROM schema_migrations");
  if (!r) return std::move(r).error();
  return static_cast<int>(r->getInt(0, 0));
}

std::string substituteRole(const std::string& sql, const std::string& quotedRole) {
  static const std::string kPlaceholder = "{{app_role}}";
  std::string out;
  out.reserve(sql.size() + 64);
  std::size_t pos = 0;
  for (;;) {
    auto at = sql.find(kPlaceholder, pos);
    if (at == std::string::npos) {
      out.append(sql, pos, std::string::npos);
      return out;
    }
    out.append(sql, pos, at - pos);
    out += quotedRole;
    pos = at + kPlaceholder.size();
  }
}

// Runs `body` inside BEGIN ... COMMIT, rolling back on any error.
template <typename F>
Result<void> inTransaction(Connection& conn, F&& body) {
  ERDS_RETURN_IF_ERROR(conn.begin());
  auto r = body();
  if (!r) {
    (void)conn.rollback();
    return r;
  }
  auto c = conn.commit();
  if (!c) {
    (void)conn.rollback();
    return c;
  }
  return ok();
}

}  // namespace

Result<SchemaStatus> schemaStatus(Connection& conn, const std::vector<Migration>& known) {
  SchemaStatus st;
  st.latest = latestOf(known);
  auto cur = currentVersion(conn);
  if (!cur) return std::move(cur).error();
  st.current = *cur;
  if (st.current > st.latest) return newerThanBinary(st.current, st.latest);
  return st;
}

Result<std::vector<int>> applyMigrations(Connection& conn, const std::vector<Migration>& known,
                                         const std::string& appRole) {
  if (appRole.empty()) return Error::invalidInput("database.app_role is empty");
  if (conn.inTransaction()) return Error::internal("applyMigrations needs a connection outside a transaction");
  std::vector<const Migration*> ordered;
  for (const auto& m : known) ordered.push_back(&m);
  std::sort(ordered.begin(), ordered.end(), [](const Migration* a, const Migration* b) { return a->version < b->version; });
  for (std::size_t i = 0; i < ordered.size(); ++i) {
    if (ordered[i]->version <= 0 || (i > 0 && ordered[i]->version == ordered[i - 1]->version))
      return Error::internal("migration list is invalid: duplicate or non-positive version " +
                             std::to_string(ordered[i]->version));
  }
  const int latest = latestOf(known);
  const std::string lock = std::string("SELECT pg_advisory_xact_lock(") + kLockKey + ")";

  ERDS_RETURN_IF_ERROR(inTransaction(conn, [&]() -> Result<void> {
    auto l = conn.exec(lock);
    if (!l) return std::move(l).error();
    auto c = conn.exec(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version integer PRIMARY KEY,"
        " name text NOT NULL,"
        " applied_at timestamptz NOT NULL DEFAULT now())");
    if (!c) return std::move(c).error();
    return ok();
  }));

  const std::string quotedRole = quoteIdentifier(appRole);
  std::vector<int> applied;
  for (const Migration* m : ordered) {
    bool didApply = false;
    auto r = inTransaction(conn, [&]() -> Result<void> {
      auto l = conn.exec(lock);
      if (!l) return std::move(l).error();
      // Re-read under the lock: another process may have migrated meanwhile.
      auto cur = currentVersion(conn);
      if (!cur) return std::move(cur).error();
      if (*cur > latest) return newerThanBinary(*cur, latest);
      auto have = conn.execParams("SELECT 1 FROM schema_migrations WHERE version = $1", {Param::integer(m->version)});
      if (!have) return std::move(have).error();
      if (have->rows() > 0) return ok();
      auto e = conn.exec(substituteRole(m->sql, quotedRole));
      if (!e) return Error{e.error().code, "migration " + m->name + ": " + e.error().message};
      auto ins = conn.execParams("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                                 {Param::integer(m->version), Param::text(m->name)});
      if (!ins) return std::move(ins).error();
      didApply = true;
      return ok();
    });
    if (!r) return std::move(r).error();
    if (didApply) {
      applied.push_back(m->version);
      log::info("db.migration_applied", {{"version", m->version}, {"name", m->name}});
    }
  }
  return applied;
}

}  // namespace erds::pg
