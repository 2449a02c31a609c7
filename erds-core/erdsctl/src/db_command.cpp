// `erdsctl db migrate` and `erdsctl db status`: the schema, driven by the migrations embedded in
// this binary, through the owner role (database.owner_conninfo + database.owner_password_file).
#include <string>

#include "erds/base/migrations.h"
#include "erds/base/pg.h"
#include "erds/migrations/migrations.h"

#include "commands.h"

namespace erds::ctl::internal {
namespace {

std::string migrationName(int version) {
  for (const auto& m : allMigrations()) {
    if (m.version == version) return m.name;
  }
  return "version " + std::to_string(version);
}

int dbMigrate(const Args& args, Io& io) {
  auto config = loadConfigOrReport(args, io);
  if (!config) return kExitUsage;
  int exitCode = kExitFailure;
  auto conn = connectOrReport(*config, ownerLogin(), "db migrate", io, exitCode);
  if (!conn) return exitCode;
  auto applied =
      pg::applyMigrations(**conn, allMigrations(), config->getString("database.app_role"));
  if (!applied) {
    io.err << "erdsctl db migrate: " << oneLine(applied.error().message) << "\n";
    return kExitFailure;
  }
  if (applied->empty()) {
    auto status = pg::schemaStatus(**conn, allMigrations());
    if (!status) {
      io.err << "erdsctl db migrate: " << oneLine(status.error().message) << "\n";
      return kExitFailure;
    }
    io.out << "schema up to date (version " << status->current << ")\n";
    return kExitOk;
  }
  for (int v : *applied)
    io.out << "applied " << migrationName(v) << "\n";
  io.out << "schema now at version " << applied->back() << "\n";
  return kExitOk;
}

int dbStatus(const Args& args, Io& io) {
  auto config = loadConfigOrReport(args, io);
  if (!config) return kExitUsage;
  int exitCode = kExitFailure;
  auto conn = connectOrReport(*config, ownerLogin(), "db status", io, exitCode);
  if (!conn) return exitCode;
  auto status = pg::schemaStatus(**conn, allMigrations());
  if (!status) {
    io.err << "erdsctl db status: " << oneLine(status.error().message) << "\n";
    return kExitFailure;
  }
  io.out << "current version: " << status->current << "\n"
         << "latest version:  " << status->latest << "\n";
  if (status->upToDate()) {
    io.out << "schema up to date\n";
  } else {
    io.out << "pending:";
    for (const auto& m : allMigrations()) {
      if (m.version > status->current) io.out << " " << m.name;
    }
    io.out << "\n(run 'erdsctl db migrate --config FILE')\n";
  }
  return kExitOk;
}

}  // namespace

Command dbMigrateCommand() {
  return Command{
      .path = "db migrate",
      .help = "apply pending schema migrations as the owner role",
      .usage = "--config FILE",
      .options = {{"--config", "FILE", true}},
      .positionalNames = {},
      .details =
          "Connects with database.owner_conninfo and database.owner_password_file; grants the\n"
          "daemon role database.app_role only what the migrations grant. Refuses a database\n"
          "newer than this binary.",
      .handler = dbMigrate,
  };
}

Command dbStatusCommand() {
  return Command{
      .path = "db status",
      .help = "show the schema version in the database and the latest this binary knows",
      .usage = "--config FILE",
      .options = {{"--config", "FILE", true}},
      .positionalNames = {},
      .details =
          "Exit 0 when the status could be read (pending migrations included), 1 on a\n"
          "connection failure or a database newer than this binary.",
      .handler = dbStatus,
  };
}

}  // namespace erds::ctl::internal
