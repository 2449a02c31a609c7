#include "erds/http/message.h"

#include <gtest/gtest.h>

namespace erds::http {
namespace {

TEST(PercentDecode, Table) {
  struct Case {
    std::string in;
    bool plus;
    std::optional<std::string> out;
  } cases[] = {
      {"abc", false, "abc"},
      {"a%20b", false, "a b"},
      {"a+b", false, "a+b"},
      {"a+b", true, "a b"},
      {"%2F", false, "/"},
      {"%2f%41", false, "/A"},
      {"%", false, std::nullopt},
      {"%4", false, std::nullopt},
      {"%zz", false, std::nullopt},
      {"%00", false, std::nullopt},
      {"", false, ""},
  };
  for (const auto& c : cases)
    EXPECT_EQ(percentDecode(c.in, c.plus), c.out) << c.in;
}

TEST(Request, HeaderLookupIsCaseInsensitive) {
  Request r;
  r.headers = {{"Content-Type", "application/json"}, {"x-request-id", "abc"}};
  ASSERT_NE(r.header("content-type"), nullptr);
  EXPECT_EQ(*r.header("content-type"), "application/json");
  EXPECT_EQ(*r.header("X-Request-ID"), "abc");
  EXPECT_EQ(r.header("Accept"), nullptr);
}

TEST(Request, QueryParam) {
  Request r;
  r.query = "a=1&b=hello+world&c=%41%42&flag&a=2&bad=%zz";
  EXPECT_EQ(r.queryParam("a"), "1");
  EXPECT_EQ(r.queryParam("b"), "hello world");
  EXPECT_EQ(r.queryParam("c"), "AB");
  EXPECT_EQ(r.queryParam("flag"), "");
  EXPECT_EQ(r.queryParam("missing"), std::nullopt);
  EXPECT_EQ(r.queryParam("bad"), std::nullopt);
}

TEST(Request, ParamMissingIsEmpty) {
  Request r;
  r.pathParams["id"] = "42";
  EXPECT_EQ(r.param("id"), "42");
  EXPECT_EQ(r.param("other"), "");
}

TEST(Response, Factories) {
  auto j = Response::json(201, "{}");
  EXPECT_EQ(j.status, 201);
  EXPECT_EQ(j.contentType, "application/json");
  auto t = Response::text(200, "x");
  EXPECT_EQ(t.contentType, "text/plain; charset=utf-8");
  EXPECT_EQ(Response::noContent().status, 204);
}

}  // namespace
}  // namespace erds::http
