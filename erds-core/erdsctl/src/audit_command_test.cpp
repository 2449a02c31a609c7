// End-to-end test of `erdsctl audit verify` (the built binary) against a throwaway database: an
// intact log is OK; a row edited by the table owner is reported (exit 1, naming the row); config
// errors exit 2.
#include <string>
#include <vector>

#include "erds/base/audit.h"
#include "erds/base/pg.h"

#include "test_support.h"  // checks that ERDSCTL_PATH names the built erdsctl

namespace erds::ctl {
namespace {

using namespace clitest;

TEST(AuditVerifyCli, IntactThenOwnerEditedRowIsNamed) {
  auto db = testsupport::testDatabase(/*migrate=*/true);
  ASSERT_TRUE(db.has_value()) << db.error().message;
  auto owner = pg::Connection::connect((*db)->ownerConninfo());
  ASSERT_TRUE(owner.has_value()) << owner.error().message;

  // Two writers (two daemon-role connections), interleaved.
  AuditLog audit(SystemClock::instance());
  auto w1 = pg::Connection::connect((*db)->appConninfo());
  auto w2 = pg::Connection::connect((*db)->appConninfo());
  ASSERT_TRUE(w1.has_value() && w2.has_value());
  std::vector<int64_t> ids;
  for (int i = 0; i < 3; ++i) {
    for (auto* w : {&**w1, &**w2}) {
      auto r = audit.append(*w, AuditEvent{"operator:test", "evidence.issued",
                                           "message:" + std::to_string(i), "success", "", "{}"});
      ASSERT_TRUE(r.has_value()) << r.error().message;
      ids.push_back(r->id);
    }
  }

  TempDir dir;
  writeFile(dir.file("erds.ini"), databaseSection(**db, DbRole::Owner, dir), 0644);
  CliRun r = erdsctl({"audit", "verify", "--config", dir.file("erds.ini")});
  ASSERT_EQ(r.rc, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("audit log: 6 rows, 2 writers"));
  EXPECT_THAT(r.out, HasSubstr("OK"));
  EXPECT_THAT(r.out + r.err, Not(HasSubstr((*db)->ownerPassword())));

  // The daemon role's credentials work too (it has SELECT on audit_log).
  writeFile(dir.file("app.ini"), databaseSection(**db, DbRole::Daemon, dir), 0644);
  r = erdsctl({"audit", "verify", "--config", dir.file("app.ini")});
  EXPECT_EQ(r.rc, 0) << r.out << r.err;

  // The owner role can UPDATE its table (REVOKE binds only the daemon role): the chain shows it.
  const int64_t edited = ids[3];
  auto upd = (*owner)->exec("UPDATE audit_log SET outcome = 'failure' WHERE id = " +
                            std::to_string(edited));
  ASSERT_TRUE(upd.has_value()) << upd.error().message;
  r = erdsctl({"audit", "verify", "--config", dir.file("erds.ini")});
  EXPECT_EQ(r.rc, 1) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("PROBLEM: "));
  EXPECT_THAT(r.out, HasSubstr("row id " + std::to_string(edited)));
  EXPECT_THAT(r.err, HasSubstr("row id " + std::to_string(edited)));
  EXPECT_THAT(r.out, Not(HasSubstr("OK:")));
}

TEST(AuditVerifyCli, ConfigErrorsExitTwoAndUnreachableDatabaseExitsOne) {
  TempDir dir;
  writeFile(dir.file("bad.ini"), "[database]\nowner_conin = x\n", 0644);
  CliRun r = erdsctl({"audit", "verify", "--config", dir.file("bad.ini")});
  EXPECT_EQ(r.rc, 2);
  EXPECT_THAT(r.err, HasSubstr("database.owner_conin"));
  writeFile(dir.file("down.ini"),
            "[database]\nowner_conninfo = host=" + dir.path() +
                " port=1 dbname=x user=x connect_timeout=2\n",
            0644);
  r = erdsctl({"audit", "verify", "--config", dir.file("down.ini")});
  EXPECT_EQ(r.rc, 1);
  EXPECT_THAT(r.err, HasSubstr("database.owner_conninfo"));
}

}  // namespace
}  // namespace erds::ctl
