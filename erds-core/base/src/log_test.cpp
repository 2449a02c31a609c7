#include "erds/base/log.h"

#include <gtest/gtest.h>

#include <set>
#include <thread>

#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>

namespace erds::log {
namespace {

class LogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    init("erds-test", Level::Debug);
    setSinkForTest(&sink_);
  }
  void TearDown() override {
    setSinkForTest(nullptr);
    init("erds-test", Level::Info);
  }
  std::vector<std::string> lines() const {
    std::vector<std::string> out;
    std::size_t pos = 0;
    while (pos < sink_.size()) {
      auto nl = sink_.find('\n', pos);
      out.push_back(sink_.substr(pos, nl - pos));
      pos = nl + 1;
    }
    return out;
  }
  static Poco::JSON::Object::Ptr parse(const std::string& line) {
    Poco::JSON::Parser p;
    return p.parse(line).extract<Poco::JSON::Object::Ptr>();
  }
  std::string sink_;
};

TEST_F(LogTest, WritesOneJsonObjectPerLine) {
  info("http.request", {{"status", 200}, {"path", "/a\"b\n"}, {"ok", true}, {"ms", 1.5}});
  auto ls = lines();
  ASSERT_EQ(ls.size(), 1u);
  auto o = parse(ls[0]);
  EXPECT_EQ(o->getValue<std::string>("level"), "info");
  EXPECT_EQ(o->getValue<std::string>("component"), "erds-test");
  EXPECT_EQ(o->getValue<std::string>("event"), "http.request");
  EXPECT_EQ(o->getValue<int>("status"), 200);
  EXPECT_EQ(o->getValue<std::string>("path"), "/a\"b\n");
  EXPECT_TRUE(o->getValue<bool>("ok"));
  EXPECT_DOUBLE_EQ(o->getValue<double>("ms"), 1.5);
  const std::string ts = o->getValue<std::string>("ts");
  ASSERT_EQ(ts.size(), 27u);  // 2026-01-01T00:00:00.000000Z
  EXPECT_EQ(ts[10], 'T');
  EXPECT_EQ(ts.back(), 'Z');
  EXPECT_FALSE(o->has("request_id"));
}

TEST_F(LogTest, FiltersByLevel) {
  init("erds-test", Level::Warn);
  debug("a");
  info("b");
  warn("c");
  error("d");
  auto ls = lines();
  ASSERT_EQ(ls.size(), 2u);
  EXPECT_EQ(parse(ls[0])->getValue<std::string>("event"), "c");
  EXPECT_EQ(parse(ls[1])->getValue<std::string>("level"), "error");
}

TEST_F(LogTest, ScopedRequestIdIsPerThreadAndRestored) {
  EXPECT_EQ(currentRequestId(), "");
  {
    ScopedRequestId outer("req-1");
    {
      ScopedRequestId inner("req-2");
      info("inner");
      std::thread([] { info("other-thread"); }).join();
    }
    info("outer");
  }
  info("none");
  auto ls = lines();
  ASSERT_EQ(ls.size(), 4u);
  EXPECT_EQ(parse(ls[0])->getValue<std::string>("request_id"), "req-2");
  EXPECT_FALSE(parse(ls[1])->has("request_id"));
  EXPECT_EQ(parse(ls[2])->getValue<std::string>("request_id"), "req-1");
  EXPECT_FALSE(parse(ls[3])->has("request_id"));
}

TEST_F(LogTest, ReservedKeysCannotBeOverwritten) {
  info("real", {{"event", "fake"}, {"level", "debug"}});
  auto o = parse(lines().at(0));
  EXPECT_EQ(o->getValue<std::string>("event"), "real");
  EXPECT_EQ(o->getValue<std::string>("field_event"), "fake");
  EXPECT_EQ(o->getValue<std::string>("level"), "info");
}

TEST_F(LogTest, ConcurrentWritersNeverInterleave) {
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t)
    ts.emplace_back([t] {
      for (int i = 0; i < 200; ++i) info("tick", {{"thread", t}, {"i", i}, {"pad", std::string(100, 'x')}});
    });
  for (auto& t : ts) t.join();
  auto ls = lines();
  ASSERT_EQ(ls.size(), 800u);
  for (const auto& l : ls) EXPECT_NO_THROW(parse(l)) << l;
}

TEST(LogHelpersTest, JsonEscape) {
  const std::pair<std::string, std::string> kCases[] = {
      {"plain", "plain"},
      {"q\"b\\", "q\\\"b\\\\"},
      {"\n\r\t\b\f", "\\n\\r\\t\\b\\f"},
      {std::string("\x01\x1f", 2), "\\u0001\\u001f"},
      {"caf\xc3\xa9", "caf\xc3\xa9"},
      {"\xf0\x9f\x93\xa8", "\xf0\x9f\x93\xa8"},             // 4-byte sequence kept
      {"a\xaf" "b", "a\\ufffdb"},                              // stray continuation byte
      {"\xc3", "\\ufffd"},                                    // truncated sequence
      {"\xc0\xaf", "\\ufffd\\ufffd"},                        // overlong encoding of '/'
      {"\xed\xa0\x80", "\\ufffd\\ufffd\\ufffd"},            // UTF-16 surrogate
      {"\xf4\x90\x80\x80", "\\ufffd\\ufffd\\ufffd\\ufffd"},  // above U+10FFFF
  };
  for (const auto& [in, want] : kCases) EXPECT_EQ(jsonEscape(in), want);
}

TEST(LogHelpersTest, ParseLevelAndRequestIds) {
  EXPECT_EQ(parseLevel("debug"), Level::Debug);
  EXPECT_EQ(parseLevel("warn"), Level::Warn);
  EXPECT_EQ(parseLevel("error"), Level::Error);
  EXPECT_EQ(parseLevel("nonsense", Level::Error), Level::Error);
  std::set<std::string> ids;
  for (int i = 0; i < 100; ++i) {
    std::string id = newRequestId();
    EXPECT_EQ(id.size(), 16u);
    EXPECT_EQ(id.find_first_not_of("0123456789abcdef"), std::string::npos);
    ids.insert(id);
  }
  EXPECT_EQ(ids.size(), 100u);
}

}  // namespace
}  // namespace erds::log
