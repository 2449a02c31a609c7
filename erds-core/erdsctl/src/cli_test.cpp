// End-to-end tests of the built erdsctl binary: help, exit codes, pki init, config check and
// db migrate/status against a throwaway database (erds::testing::TestDatabase).
#include <algorithm>
#include <string>
#include <vector>

#include "test_support.h"  // checks that ERDSCTL_PATH names the built erdsctl

namespace erds::ctl {
namespace {

using namespace clitest;

int lineCount(const std::string& s) {
  return static_cast<int>(std::count(s.begin(), s.end(), '\n'));
}

TEST(ErdsctlBinary, HelpListsAllSubcommands) {
  CliRun r = erdsctl({"--help"});
  EXPECT_EQ(r.rc, 0);
  for (const char* cmd : {"pki init", "db migrate", "db status", "config check", "evidence verify",
                          "evidence issue", "evidence events", "audit verify", "user add", "user list",
                          "user show", "user set-role", "user reset-password", "user revoke-tokens", "pki ocsp"}) {
    EXPECT_THAT(r.out, HasSubstr(cmd));
  }
  r = erdsctl({"pki", "init", "--help"});
  EXPECT_EQ(r.rc, 0);
  EXPECT_THAT(r.out,
              HasSubstr("usage: erdsctl pki init --dir DIR [--algorithm p256|rsa3072] [--crl-url URL] [--ocsp-url URL] "
                        "[--force]"));
}

TEST(ErdsctlBinary, UsageErrorsExitTwoWithOneLine) {
  const std::vector<std::vector<std::string>> cases = {
      {"frobnicate"},
      {"pki", "init"},
      {"pki", "init", "--dir", "/nonexistent-erds", "--algorithm", "rsa1024"},
      {"db", "migrate"},
      {"config", "check", "--config"},
  };
  for (const auto& args : cases) {
    CliRun r = erdsctl(args);
    EXPECT_EQ(r.rc, 2) << args[0];
    EXPECT_EQ(lineCount(r.err), 1) << r.err;
    EXPECT_TRUE(r.out.empty()) << r.out;
  }
  EXPECT_THAT(erdsctl({"pki", "init"}).err, HasSubstr("--dir"));
  EXPECT_THAT(erdsctl({"frobnicate"}).err, HasSubstr("unknown command 'frobnicate'"));
}

TEST(ErdsctlBinary, PkiInitWritesRefusesAndForces) {
  TempDir dir;
  const std::string pki = dir.file("var/pki");
  CliRun r = erdsctl({"pki", "init", "--dir", pki});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_TRUE(r.err.empty()) << r.err;
  for (const char* stem : {"root-ca", "seal", "tsu", "tls"}) {
    EXPECT_THAT(r.out, HasSubstr(pki + "/" + stem + ".pem"));
    EXPECT_THAT(r.out, HasSubstr(pki + "/" + stem + ".key"));
    EXPECT_EQ(fileMode(pki + "/" + stem + ".key"), 0600);
    EXPECT_EQ(fileMode(pki + "/" + stem + ".pem"), 0644);
  }
  EXPECT_THAT(r.out, HasSubstr("CN=erds DEVELOPMENT Root CA"));
  EXPECT_THAT(r.out, HasSubstr("ECDSA P-256"));
  EXPECT_THAT(r.out, HasSubstr("validity: "));
  EXPECT_EQ(fileMode(pki), 0700);
  // Private key material never reaches the terminal.
  EXPECT_THAT(r.out, Not(HasSubstr("PRIVATE KEY")));

  const std::string before = readFile(pki + "/seal.pem");
  r = erdsctl({"pki", "init", "--dir", pki});
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(lineCount(r.err), 1) << r.err;
  EXPECT_THAT(r.err, HasSubstr(pki + "/root-ca.pem"));
  EXPECT_EQ(readFile(pki + "/seal.pem"), before);

  r = erdsctl({"pki", "init", "--dir", pki, "--force"});
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(readFile(pki + "/seal.pem"), before);
}

TEST(ErdsctlBinary, ConfigCheckPrintsValuesAndSourcesButNoSecrets) {
  TempDir dir;
  const std::string canary = "s3cr3t-canary-value";
  writeFile(dir.file("owner.pw"), canary + "\n", 0600);
  writeFile(dir.file("erds.ini"),
            "[http]\nport = 9443\n[database]\nowner_password_file = " + dir.file("owner.pw") + "\n",
            0644);
  CliRun r = erdsctl({"config", "check", "--config", dir.file("erds.ini")}, "ERDS_HTTP_THREADS=7");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("http.port = 9443"));
  EXPECT_THAT(r.out, HasSubstr(dir.file("erds.ini")));  // source of http.port
  EXPECT_THAT(r.out, HasSubstr("http.threads = 7"));
  EXPECT_THAT(r.out, HasSubstr("env:ERDS_HTTP_THREADS"));
  EXPECT_THAT(r.out, HasSubstr("service.mode = development"));
  EXPECT_THAT(r.out, HasSubstr("database.owner_password_file = " + dir.file("owner.pw")));
  EXPECT_THAT(r.out + r.err, Not(HasSubstr(canary)));
}

TEST(ErdsctlBinary, ConfigCheckErrorsExitTwoNamingKeyAndFile) {
  TempDir dir;
  writeFile(dir.file("bad-key.ini"), "[http]\nprot = 1\n", 0644);
  writeFile(dir.file("bad-port.ini"), "[http]\nport = 99999\n", 0644);
  writeFile(dir.file("pw"), "x\n", 0644);  // readable by others: refused
  writeFile(dir.file("open-secret.ini"),
            "[database]\nowner_password_file = " + dir.file("pw") + "\n", 0644);
  struct Case {
    std::string file;
    std::string key;
  };
  for (const Case& tc : {Case{"bad-key.ini", "http.prot"}, Case{"bad-port.ini", "http.port"},
                         Case{"open-secret.ini", "database.owner_password_file"}}) {
    CliRun r = erdsctl({"config", "check", "--config", dir.file(tc.file)});
    EXPECT_EQ(r.rc, 2) << tc.file;
    EXPECT_EQ(lineCount(r.err), 1) << r.err;
    EXPECT_THAT(r.err, HasSubstr(tc.key)) << tc.file;
  }
  CliRun r = erdsctl({"config", "check", "--config", dir.file("missing.ini")});
  EXPECT_EQ(r.rc, 2);
  EXPECT_THAT(r.err, HasSubstr(dir.file("missing.ini")));
}

TEST(ErdsctlBinary, DbMigrateAppliesThenIsUpToDate) {
  auto db = testsupport::testDatabase(/*migrate=*/false);
  ASSERT_TRUE(db.has_value()) << db.error().message;
  TempDir dir;
  writeFile(dir.file("erds.ini"), databaseSection(**db, DbRole::Owner, dir), 0644);
  ASSERT_THAT(readFile(dir.file("erds.ini")), Not(HasSubstr((*db)->ownerPassword())));

  CliRun r = erdsctl({"db", "status", "--config", dir.file("erds.ini")});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("current version: 0"));
  EXPECT_THAT(r.out, HasSubstr("pending: 0001_"));

  r = erdsctl({"db", "migrate", "--config", dir.file("erds.ini")});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("applied 0001_"));
  EXPECT_THAT(r.out, HasSubstr("schema now at version"));

  r = erdsctl({"db", "migrate", "--config", dir.file("erds.ini")});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_THAT(r.out, ::testing::MatchesRegex("schema up to date \\(version [1-9][0-9]*\\)\n"));

  r = erdsctl({"db", "status", "--config", dir.file("erds.ini")});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("schema up to date"));
  EXPECT_THAT(r.out + r.err, Not(HasSubstr((*db)->ownerPassword())));
}

TEST(ErdsctlBinary, DbMigrateUnreachableDatabaseExitsOne) {
  TempDir dir;
  // A socket directory with no server: libpq fails fast, no network involved.
  writeFile(dir.file("erds.ini"),
            "[database]\nowner_conninfo = host=" + dir.path() +
                " port=1 dbname=x user=x connect_timeout=2\n",
            0644);
  CliRun r = erdsctl({"db", "migrate", "--config", dir.file("erds.ini")});
  EXPECT_EQ(r.rc, 1);
  EXPECT_THAT(r.err, HasSubstr("database.owner_conninfo"));
}

}  // namespace
}  // namespace erds::ctl
