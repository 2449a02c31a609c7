#include "erds/base/config.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace erds {
namespace {

namespace fs = std::filesystem;

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/erds-config-test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string write(const std::string& name, const std::string& content, mode_t mode = 0644) {
    std::string p = dir_ + "/" + name;
    fs::create_directories(fs::path(p).parent_path());
    {
      std::ofstream f(p, std::ios::trunc);
      f << content;
    }
    ::chmod(p.c_str(), mode);
    return p;
  }
  std::string dir_;
};

TEST_F(ConfigTest, DefaultsWithoutFile) {
  auto c = Config::load("", {});
  ASSERT_TRUE(c.has_value()) << c.error().message;
  EXPECT_EQ(c->mode(), ServiceMode::Development);
  EXPECT_EQ(c->getString("service.name"), "erds");
  EXPECT_EQ(c->getString("service.domains"), "example.test");
  EXPECT_FALSE(c->getBool("service.demo_accounts"));
  EXPECT_EQ(c->getString("http.address"), "127.0.0.1");
  EXPECT_EQ(c->getInt("http.port"), 8443);
  EXPECT_EQ(c->getBytes("http.max_body_bytes"), 64 * 1024 * 1024);
  EXPECT_EQ(c->getBytes("http.max_header_bytes"), 16 * 1024);
  EXPECT_EQ(c->getInt("http.max_headers"), 100);
  EXPECT_EQ(c->getInt("http.threads"), 16);
  EXPECT_EQ(c->getInt("http.max_queued"), 128);
  EXPECT_EQ(c->getMillis("http.request_timeout"), 30000);
  EXPECT_EQ(c->getString("database.conninfo"), "");
  EXPECT_EQ(c->getInt("database.pool_size"), 8);
  EXPECT_EQ(c->getMillis("database.acquire_timeout"), 2000);
  EXPECT_EQ(c->getString("database.app_role"), "erds_app");
  EXPECT_TRUE(c->getBool("metrics.enabled"));
  EXPECT_EQ(c->getString("log.level"), "info");
  EXPECT_FALSE(c->isSet("secrets.kek_file"));
  EXPECT_EQ(c->getPath("secrets.kek_file"), "");
  EXPECT_EQ(c->sourceOf("http.port"), "default");
}

TEST_F(ConfigTest, FileValuesCommentsQuotesAndRelativePaths) {
  std::string p = write("etc/erds.ini",
                        "\xEF\xBB\xBF# a comment\n"
                        "; another\n"
                        "[service]\n"
                        "mode = Basic\n"
                        "name = \"My ERDS # not a comment\"\n"
                        "[http]\n"
                        "port=9443   # inline comment\n"
                        "tls_certificate = pki/tls.pem\n"
                        "max_body_bytes = 10MiB\n"
                        "request_timeout = 500ms\n"
                        "\n"
                        "[database]\n"
                        "password_file = /run/secrets/db\n"
                        "conninfo = host=/tmp dbname=erds\n"
                        "[metrics]\n"
                        "enabled = off\n");
  auto c = Config::load(p, {});
  ASSERT_TRUE(c.has_value()) << c.error().message;
  EXPECT_EQ(c->mode(), ServiceMode::Basic);
  EXPECT_EQ(c->getString("service.name"), "My ERDS # not a comment");
  EXPECT_EQ(c->getInt("http.port"), 9443);
  EXPECT_EQ(c->getPath("http.tls_certificate"), dir_ + "/etc/pki/tls.pem");
  EXPECT_EQ(c->getPath("database.password_file"), "/run/secrets/db");
  EXPECT_EQ(c->getBytes("http.max_body_bytes"), 10 * 1024 * 1024);
  EXPECT_EQ(c->getMillis("http.request_timeout"), 500);
  EXPECT_EQ(c->getString("database.conninfo"), "host=/tmp dbname=erds");
  EXPECT_FALSE(c->getBool("metrics.enabled"));
  EXPECT_EQ(c->sourceOf("http.port"), p);
  EXPECT_EQ(c->sourceOf("http.address"), "default");
  EXPECT_EQ(c->filePath(), p);
}

TEST_F(ConfigTest, EnvironmentOverridesFile) {
  std::string p = write("erds.ini", "[http]\nport = 9443\n");
  auto c = Config::load(p, {{"ERDS_HTTP_PORT", "8080"}, {"ERDS_LOG_LEVEL", "debug"}, {"PATH", "/bin"},
                            {"ERDS_CONFIG", "/etc/erds.ini"}});
  ASSERT_TRUE(c.has_value()) << c.error().message;
  EXPECT_EQ(c->getInt("http.port"), 8080);
  EXPECT_EQ(c->sourceOf("http.port"), "env:ERDS_HTTP_PORT");
  EXPECT_EQ(c->getString("log.level"), "debug");
}

TEST_F(ConfigTest, ValueKindsTable) {
  struct Case {
    const char* key;
    const char* value;
    bool ok;
  };
  const Case kCases[] = {
      {"http.port", "0", true},          {"http.port", "65535", true},     {"http.port", "65536", false},
      {"http.port", "-1", false},        {"http.port", "abc", false},      {"http.port", "", false},
      {"http.port", "80x", false},       {"http.threads", "4", true},      {"http.threads", "0", false},
      {"http.threads", "1.5", false},    {"database.pool_size", "-3", false},
      {"service.demo_accounts", "yes", true}, {"service.demo_accounts", "ON", true},
      {"service.demo_accounts", "maybe", false},
      {"http.request_timeout", "500ms", true}, {"http.request_timeout", "30s", true},
      {"http.request_timeout", "10m", true},   {"http.request_timeout", "2h", true},
      {"http.request_timeout", "15d", true},   {"http.request_timeout", "30", false},
      {"http.request_timeout", "1w", false},   {"http.request_timeout", "-5s", false},
      {"http.request_timeout", "99999999999999999999s", false},
      {"http.max_body_bytes", "1048576", true}, {"http.max_body_bytes", "512KiB", true},
      {"http.max_body_bytes", "1GiB", true},    {"http.max_body_bytes", "10MB", false},
      {"http.max_body_bytes", "lots", false},
      {"service.mode", "qualified", false /* needs TLS + KEK files, see below */},
      {"service.mode", "basic", true},          {"service.mode", "production", false},
      {"log.level", "warn", true},              {"log.level", "trace", false},
      {"database.conninfo", "host=db dbname=erds", true},
      {"database.conninfo", "host=db password=hunter2", false},
      {"database.conninfo", "postgresql://erds:hunter2@db/erds", false},
      {"database.conninfo", "postgresql://erds@db/erds", true},
  };
  for (const auto& c : kCases) {
    const std::string section = std::string(c.key).substr(0, std::string(c.key).find('.'));
    const std::string name = std::string(c.key).substr(section.size() + 1);
    std::string p = write("t.ini", "[" + section + "]\n" + name + " = " + c.value + "\n");
    auto r = Config::load(p, {});
    EXPECT_EQ(r.has_value(), c.ok) << c.key << " = '" << c.value << "'"
                                   << (r.has_value() ? "" : ": " + r.error().message);
    if (!r.has_value()) {
      EXPECT_TRUE(r.error().is(ErrorCode::InvalidInput));
      EXPECT_EQ(r.error().message.find('\n'), std::string::npos) << "errors are one line";
      EXPECT_NE(r.error().message.find(p), std::string::npos) << r.error().message;
      EXPECT_NE(r.error().message.find(c.key), std::string::npos) << r.error().message;
    }
    // The same through the environment.
    std::string env = "ERDS_" + section + "_" + name;
    for (auto& ch : env) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    auto e = Config::load("", {{env, c.value}});
    EXPECT_EQ(e.has_value(), c.ok) << env << "=" << c.value;
  }
}

TEST_F(ConfigTest, ExactErrorLineForBadPort) {
  std::string p = write("erds.ini", "[http]\nport = abc\n");
  auto r = Config::load(p, {});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().message, p + ": key 'http.port': expected a port number 0-65535, got 'abc'");
}

TEST_F(ConfigTest, MalformedFilesNameFileAndLine) {
  struct Case {
    const char* content;
    const char* want;
  };
  const Case kCases[] = {
      {"[http]\nport 8443\n", ":2: malformed line"},
      {"port = 1\n", ":1: key 'port' outside any [section]"},
      {"[http\nport = 1\n", ":1: malformed section header"},
      {"[http]\nprot = 1\n", ":2: unknown key 'http.prot'"},
      {"[nosuch]\nkey = 1\n", ":2: unknown key 'nosuch.key'"},
      {"[http]\nport = 1\nport = 2\n", ":3: key 'http.port' set twice (first on line 2)"},
      {"[service]\nname = \"unterminated\n", ":2: key 'service.name': malformed quoted value"},
      {"[HTTP]\nport = 1\n", ":1: malformed section header"},
      {"[database]\npassword = hunter2\n",
       ":2: secret database.password cannot be written in the config file; name a file in database.password_file"},
      {"[secrets]\nkek = 00\n", ":2: secret secrets.kek cannot be written in the config file; name a file in secrets.kek_file"},
  };
  for (const auto& c : kCases) {
    std::string p = write("bad.ini", c.content);
    auto r = Config::load(p, {});
    ASSERT_FALSE(r.has_value()) << c.content;
    EXPECT_EQ(r.error().message.rfind(p, 0), 0u) << r.error().message;
    EXPECT_NE(r.error().message.find(c.want), std::string::npos) << r.error().message;
    EXPECT_EQ(r.error().message.find("hunter2"), std::string::npos) << "never echo secrets";
  }
}

TEST_F(ConfigTest, MissingFileIsAnError) {
  auto r = Config::load(dir_ + "/nope.ini", {});
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("nope.ini: cannot read"), std::string::npos);
}

TEST_F(ConfigTest, EnvironmentRules) {
  struct Case {
    const char* name;
    const char* value;
    const char* want;  // "" = accepted
  };
  const Case kCases[] = {
      {"ERDS_HTTP_PORT", "1234", ""},
      {"ERDS_HTTP_PROT", "1", "environment variable ERDS_HTTP_PROT does not name a configuration key"},
      {"ERDS_DATABASE_PASSWORD", "hunter2",
       "secret database.password cannot come from the environment; name a file in database.password_file"},
      {"ERDS_DATABASE_OWNER_PASSWORD", "hunter2",
       "secret database.owner_password cannot come from the environment; name a file in database.owner_password_file"},
      {"ERDS_SECRETS_KEK", "00", "secret secrets.kek cannot come from the environment; name a file in secrets.kek_file"},
      {"ERDS_HTTP_TLS_KEY_PEM", "-----BEGIN",
       "secret http.tls_key_pem cannot come from the environment; name a file in http.tls_key"},
      {"ERDS_DATABASE_PASSWORD_FILE", "/tmp/x",
       "environment variable ERDS_DATABASE_PASSWORD_FILE: key 'database.password_file' names a secret file"},
      {"ERDS_HTTP_TLS_KEY", "/tmp/x", "key 'http.tls_key' names a secret file"},
      {"ERDS_SECRETS_KEK_FILE", "/tmp/x", "key 'secrets.kek_file' names a secret file"},
      {"ERDS_HTTP_PORT", "abc", "environment variable ERDS_HTTP_PORT: key 'http.port': expected a port number"},
  };
  for (const auto& c : kCases) {
    auto r = Config::load("", {{c.name, c.value}});
    if (*c.want == '\0') {
      EXPECT_TRUE(r.has_value()) << c.name;
      continue;
    }
    ASSERT_FALSE(r.has_value()) << c.name;
    EXPECT_NE(r.error().message.find(c.want), std::string::npos) << r.error().message;
    EXPECT_EQ(r.error().message.find("hunter2"), std::string::npos);
  }
}

TEST_F(ConfigTest, ModeRules) {
  struct Case {
    const char* content;
    const char* want;  // "" = accepted
  };
  const Case kCases[] = {
      {"[service]\nmode = development\ndemo_accounts = true\n", ""},
      {"[service]\nmode = basic\ndemo_accounts = true\n", "key 'service.demo_accounts': demo accounts are allowed only"},
      {"[service]\nmode = qualified\n", "key 'http.tls_certificate': required when service.mode = qualified"},
      {"[service]\nmode = qualified\n[http]\ntls_certificate = a.pem\ntls_key = a.key\n",
       "key 'secrets.kek_file': required when service.mode = qualified"},
      {"[service]\nmode = qualified\n[http]\ntls_certificate = a.pem\ntls_key = a.key\n[secrets]\nkek_file = k\n", ""},
  };
  for (const auto& c : kCases) {
    std::string p = write("mode.ini", c.content);
    auto r = Config::load(p, {});
    if (*c.want == '\0') {
      ASSERT_TRUE(r.has_value()) << r.error().message;
      continue;
    }
    ASSERT_FALSE(r.has_value()) << c.content;
    EXPECT_NE(r.error().message.find(c.want), std::string::npos) << r.error().message;
  }
  // The environment can push a file into a forbidden combination too.
  std::string p = write("mode.ini", "[service]\ndemo_accounts = true\n");
  EXPECT_FALSE(Config::load(p, {{"ERDS_SERVICE_MODE", "basic"}}).has_value());
  auto q = Config::load(p, {{"ERDS_SERVICE_MODE", "QUALIFIED"}});
  ASSERT_FALSE(q.has_value());
}

TEST_F(ConfigTest, SecretFilePermissions) {
  struct Case {
    mode_t mode;
    bool ok;
  };
  const Case kCases[] = {{0600, true}, {0400, true}, {0640, false}, {0604, false}, {0644, false}, {0660, false}};
  for (const auto& c : kCases) {
    std::string secretPath = write("secrets/db", "s3cret-value\n", c.mode);
    std::string p = write("erds.ini", "[database]\npassword_file = secrets/db\n");
    auto cfg = Config::load(p, {});
    ASSERT_TRUE(cfg.has_value()) << cfg.error().message;
    EXPECT_EQ(cfg->getPath("database.password_file"), secretPath);
    auto s = cfg->readSecret("database.password_file");
    EXPECT_EQ(s.has_value(), c.ok) << std::oct << c.mode;
    if (s.has_value()) {
      EXPECT_EQ(s->reveal(), "s3cret-value");  // trailing newline stripped
    } else {
      EXPECT_NE(s.error().message.find("must be 0400 or 0600"), std::string::npos) << s.error().message;
      EXPECT_NE(s.error().message.find("database.password_file"), std::string::npos);
      EXPECT_EQ(s.error().message.find("s3cret"), std::string::npos);
    }
  }
}

TEST_F(ConfigTest, SecretFileErrors) {
  auto cfg = Config::load("", {});
  ASSERT_TRUE(cfg.has_value());
  auto unset = cfg->readSecret("secrets.kek_file");
  ASSERT_FALSE(unset.has_value());
  EXPECT_NE(unset.error().message.find("not set"), std::string::npos);
  EXPECT_FALSE(cfg->readSecret("http.port").has_value());  // not a secret-file key

  ASSERT_TRUE(cfg->setForTest("secrets.kek_file", dir_ + "/missing").has_value());
  auto missing = cfg->readSecret("secrets.kek_file");
  ASSERT_FALSE(missing.has_value());
  EXPECT_NE(missing.error().message.find("cannot read secret file"), std::string::npos);

  ASSERT_TRUE(cfg->setForTest("secrets.kek_file", dir_).has_value());  // a directory
  EXPECT_FALSE(cfg->readSecret("secrets.kek_file").has_value());

  std::string crlf = write("crlf", "abc\r\n", 0400);
  auto s = readSecretFile(crlf, "x");
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->reveal(), "abc");
}

TEST_F(ConfigTest, SetForTestValidates) {
  auto cfg = Config::load("", {});
  ASSERT_TRUE(cfg.has_value());
  EXPECT_TRUE(cfg->setForTest("http.port", "0").has_value());
  EXPECT_EQ(cfg->getInt("http.port"), 0);
  EXPECT_EQ(cfg->sourceOf("http.port"), "test");
  EXPECT_FALSE(cfg->setForTest("http.port", "x").has_value());
  EXPECT_FALSE(cfg->setForTest("no.such", "1").has_value());
}

TEST_F(ConfigTest, CustomSchemaAndCopies) {
  std::vector<ConfigKeySpec> schema = {{"a.b", ConfigKind::Int, "5", "", {}},
                                       {"a.c", ConfigKind::Enum, "x", "", {"x", "y"}}};
  std::string p = write("c.ini", "[a]\nc = y\n");
  auto cfg = Config::load(p, {{"ERDS_A_B", "7"}}, &schema);
  ASSERT_TRUE(cfg.has_value()) << cfg.error().message;
  Config copy = *cfg;  // copies stay valid on their own
  cfg = Error::internal("gone");
  EXPECT_EQ(copy.getInt("a.b"), 7);
  EXPECT_EQ(copy.getString("a.c"), "y");
  EXPECT_EQ(copy.mode(), ServiceMode::Development);  // no service.mode in this schema
  EXPECT_FALSE(Config::load(p, {{"ERDS_HTTP_PORT", "1"}}, &schema).has_value());
}

TEST_F(ConfigTest, BuiltinSchemaIsConsistent) {
  auto forbidden = forbiddenSecretKeys();
  std::set<std::string> keys;
  for (const auto& s : builtinConfigSchema()) {
    EXPECT_TRUE(keys.insert(s.key).second) << "duplicate " << s.key;
    EXPECT_NE(s.key.find('.'), std::string::npos) << s.key;
    EXPECT_EQ(std::count(forbidden.begin(), forbidden.end(), s.key), 0) << s.key;
    EXPECT_FALSE(s.help.empty()) << s.key;
    if (s.kind == ConfigKind::Enum) {
      EXPECT_NE(std::find(s.choices.begin(), s.choices.end(), s.defaultValue), s.choices.end()) << s.key;
    }
  }
}

TEST(ConfigDeathTest, WrongGetterKindAborts) {
  auto cfg = Config::load("", {});
  ASSERT_TRUE(cfg.has_value());
  EXPECT_DEATH((void)cfg->getInt("service.name"), "wrong kind");
  EXPECT_DEATH((void)cfg->getString("no.such"), "not in the schema");
}

TEST(ConfigEnvTest, ProcessEnvironmentOnlyErdsVariables) {
  ::setenv("ERDS_TEST_ONLY_VARIABLE", "1", 1);
  auto env = Config::processEnvironment();
  ::unsetenv("ERDS_TEST_ONLY_VARIABLE");
  EXPECT_EQ(env.at("ERDS_TEST_ONLY_VARIABLE"), "1");
  for (const auto& [k, v] : env) EXPECT_EQ(k.rfind("ERDS_", 0), 0u) << k;
}

}  // namespace
}  // namespace erds
