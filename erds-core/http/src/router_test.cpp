#include "erds/http/router.h"

#include <gtest/gtest.h>

namespace erds::http {
namespace {

Handler ok200(std::string tag) {
  return [tag](const Request&) -> Result<Response> { return Response::text(200, tag); };
}

RouteSpec spec(std::string method, std::string path, std::string op) {
  RouteSpec s;
  s.method = std::move(method);
  s.path = std::move(path);
  s.operationId = std::move(op);
  return s;
}

class RouterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(router.add(spec("GET", "/api/v1/messages", "listMessages"), ok200("list")));
    ASSERT_TRUE(router.add(spec("POST", "/api/v1/messages", "submitMessage"), ok200("submit")));
    ASSERT_TRUE(router.add(spec("GET", "/api/v1/messages/{id}", "getMessage"), ok200("get")));
    ASSERT_TRUE(
        router.add(spec("DELETE", "/api/v1/messages/{id}", "deleteMessage"), ok200("delete")));
    ASSERT_TRUE(
        router.add(spec("GET", "/api/v1/messages/search", "searchMessages"), ok200("search")));
    ASSERT_TRUE(router.add(spec("GET", "/api/v1/messages/{id}/evidence/{eid}", "getEvidence"),
                           ok200("ev")));
    ASSERT_TRUE(router.add(spec("GET", "/", "root"), ok200("root")));
  }
  std::string call(const Router::Match& m) {
    Request r;
    return (*m.handler)(r)->body;
  }
  Router router;
};

TEST_F(RouterTest, MatchesLiteralAndParameterRoutes) {
  struct Case {
    std::string method, path, tag;
  } cases[] = {
      {"GET", "/api/v1/messages", "list"},
      {"POST", "/api/v1/messages", "submit"},
      {"GET", "/api/v1/messages/abc", "get"},
      {"DELETE", "/api/v1/messages/abc", "delete"},
      {"GET", "/api/v1/messages/search", "search"},  // literal wins over {id}
      {"GET", "/api/v1/messages/1/evidence/2", "ev"},
      {"GET", "/", "root"},
  };
  for (const auto& c : cases) {
    auto m = router.match(c.method, c.path);
    ASSERT_EQ(m.status, Router::MatchStatus::Found) << c.method << " " << c.path;
    EXPECT_EQ(call(m), c.tag) << c.path;
  }
}

TEST_F(RouterTest, ExtractsAndDecodesParameters) {
  auto m = router.match("GET", "/api/v1/messages/a%2Fb%20c/evidence/x");
  ASSERT_EQ(m.status, Router::MatchStatus::Found);
  EXPECT_EQ(m.params.at("id"), "a/b c");
  EXPECT_EQ(m.params.at("eid"), "x");
  EXPECT_EQ(m.spec->operationId, "getEvidence");
}

TEST_F(RouterTest, NotFoundCases) {
  for (const char* p : {"/api/v1/messages/", "/api/v1", "/api/v1/messages/1/2", "/nope",
                        "/api/v1/messages//evidence/x", "/API/v1/messages"}) {
    EXPECT_EQ(router.match("GET", p).status, Router::MatchStatus::NotFound) << p;
  }
}

TEST_F(RouterTest, MethodNotAllowedListsAllowedMethods) {
  auto m = router.match("PUT", "/api/v1/messages/7");
  ASSERT_EQ(m.status, Router::MatchStatus::MethodNotAllowed);
  EXPECT_EQ(m.allowed, (std::vector<std::string>{"DELETE", "GET"}));
  auto m2 = router.match("PATCH", "/api/v1/messages");
  EXPECT_EQ(m2.allowed, (std::vector<std::string>{"GET", "POST"}));
}

TEST_F(RouterTest, BadEscapeInParameterIsBadPath) {
  EXPECT_EQ(router.match("GET", "/api/v1/messages/%zz").status, Router::MatchStatus::BadPath);
  EXPECT_EQ(router.match("GET", "/api/v1/messages/%00").status, Router::MatchStatus::BadPath);
  EXPECT_EQ(router.match("GET", "relative").status, Router::MatchStatus::BadPath);
}

TEST_F(RouterTest, RejectsDuplicatesAndBadSpecs) {
  auto dup = router.add(spec("GET", "/api/v1/messages/{other}", "x1"), ok200(""));
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().code, ErrorCode::Conflict);
  auto dupOp = router.add(spec("PUT", "/x", "getMessage"), ok200(""));
  ASSERT_FALSE(dupOp);
  EXPECT_EQ(dupOp.error().code, ErrorCode::Conflict);

  struct Case {
    RouteSpec s;
  } bad[] = {
      {spec("GET", "no-slash", "b1")},   {spec("GET", "/a/{1x}", "b2")},
      {spec("GET", "/a/{x}/{x}", "b3")}, {spec("GET", "/a//b", "b4")},
      {spec("GET", "/a/x{y}", "b5")},    {spec("FETCH", "/a", "b6")},
      {spec("GET", "/a", "")},           {spec("GET", "/a/b c", "b7")},
  };
  for (auto& c : bad) {
    auto r = router.add(c.s, ok200(""));
    ASSERT_FALSE(r) << c.s.path;
    EXPECT_EQ(r.error().code, ErrorCode::InvalidInput) << c.s.path;
  }
  RouteSpec unknownSchema = spec("POST", "/b", "b8");
  unknownSchema.requestMediaType = "application/json";
  unknownSchema.requestSchemaRef = "Nope";
  EXPECT_FALSE(router.add(unknownSchema, ok200("")));
  RouteSpec unknownScheme = spec("GET", "/c", "b9");
  unknownScheme.security = {"session"};
  EXPECT_FALSE(router.add(unknownScheme, ok200("")));
  RouteSpec badParam = spec("GET", "/d", "b10");
  badParam.parameters = {{"id", "path", true, "", "string"}};
  EXPECT_FALSE(router.add(badParam, ok200("")));
  EXPECT_FALSE(router.add(spec("GET", "/e", "b11"), Handler{}));
}

TEST_F(RouterTest, RouteListIsSorted) {
  auto list = router.routeList();
  std::vector<std::string> expected = {
      "GET /",
      "GET /api/v1/messages",
      "POST /api/v1/messages",
      "GET /api/v1/messages/search",
      "GET /api/v1/messages/{id}",
      "DELETE /api/v1/messages/{id}",
      "GET /api/v1/messages/{id}/evidence/{eid}",
  };
  std::sort(expected.begin(), expected.end(), [](const std::string& a, const std::string& b) {
    auto pa = a.substr(a.find(' ') + 1), pb = b.substr(b.find(' ') + 1);
    return pa != pb ? pa < pb : a.substr(0, a.find(' ')) < b.substr(0, b.find(' '));
  });
  EXPECT_EQ(list, expected);
}

TEST(RouterSchemas, RejectInvalidJsonAndDuplicates) {
  Router r;
  EXPECT_FALSE(r.addSchema("Problem", "{}"));  // predefined
  EXPECT_FALSE(r.addSchema("X", "not json"));
  EXPECT_FALSE(r.addSchema("Y", "[1,2]"));
  EXPECT_FALSE(r.addSchema("bad name", "{}"));
  EXPECT_TRUE(r.addSchema("Z", R"({"type":"object"})"));
  EXPECT_FALSE(r.addSchema("Z", R"({"type":"object"})"));
  EXPECT_TRUE(
      r.addSecurityScheme("session", R"({"type":"apiKey","in":"cookie","name":"erds_session"})"));
  EXPECT_FALSE(r.addSecurityScheme("session", R"({"type":"http"})"));
}

}  // namespace
}  // namespace erds::http
