#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>

#include "erds/http/router.h"

namespace erds::http {
namespace {

Poco::JSON::Object::Ptr parse(const std::string& s) {
  Poco::JSON::Parser p;
  return p.parse(s).extract<Poco::JSON::Object::Ptr>();
}

class OpenApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(
        router.addSchema("Message", R"({"type":"object","properties":{"id":{"type":"string"}}})"));
    ASSERT_TRUE(router.addSecurityScheme(
        "session", R"({"type":"apiKey","in":"cookie","name":"erds_session"})"));
    RouteSpec get;
    get.method = "GET";
    get.path = "/api/v1/messages/{id}";
    get.operationId = "getMessage";
    get.summary = "Get a message";
    get.tags = {"messages"};
    get.parameters = {{"fields", "query", false, "fields to return", "string"}};
    get.responses = {{200, "The message", "application/json", "Message"}};
    get.security = {"session"};
    ASSERT_TRUE(router.add(get, handler));
    RouteSpec post;
    post.method = "POST";
    post.path = "/api/v1/messages";
    post.operationId = "submitMessage";
    post.requestMediaType = "application/json; charset=utf-8";
    post.requestSchemaRef = "Message";
    post.responses = {{201, "Accepted", "application/json", "Message"}};
    post.security = {"session"};
    ASSERT_TRUE(router.add(post, handler));
    RouteSpec health;
    health.method = "GET";
    health.path = "/healthz";
    health.operationId = "getHealth";
    ASSERT_TRUE(router.add(health, handler));
  }
  Handler handler = [](const Request&) -> Result<Response> { return Response::noContent(); };
  Router router;
};

TEST_F(OpenApiTest, DocumentIsOpenApi31WithInfo) {
  auto doc = parse(router.openApiDocument(ApiInfo{"erds API", "1.2.3", "desc"}));
  EXPECT_EQ(doc->getValue<std::string>("openapi"), "3.1.0");
  EXPECT_EQ(doc->getObject("info")->getValue<std::string>("title"), "erds API");
  EXPECT_EQ(doc->getObject("info")->getValue<std::string>("version"), "1.2.3");
}

TEST_F(OpenApiTest, PathsAndMethodsEqualRouteList) {
  auto doc = parse(router.openApiDocument(ApiInfo{}));
  std::vector<std::string> fromDoc;
  auto paths = doc->getObject("paths");
  for (const auto& [path, item] : *paths) {
    auto ops = item.extract<Poco::JSON::Object::Ptr>();
    for (const auto& [method, op] : *ops) {
      std::string m = method;
      std::transform(m.begin(), m.end(), m.begin(),
                     [](unsigned char c) { return std::toupper(c); });
      fromDoc.push_back(m + " " + path);
    }
  }
  std::sort(fromDoc.begin(), fromDoc.end());
  auto list = router.routeList();
  std::sort(list.begin(), list.end());
  EXPECT_EQ(fromDoc, list);
}

TEST_F(OpenApiTest, OperationCarriesMetadata) {
  auto doc = parse(router.openApiDocument(ApiInfo{}));
  auto op = doc->getObject("paths")->getObject("/api/v1/messages/{id}")->getObject("get");
  EXPECT_EQ(op->getValue<std::string>("operationId"), "getMessage");
  EXPECT_EQ(op->getValue<std::string>("summary"), "Get a message");
  EXPECT_EQ(op->getArray("tags")->getElement<std::string>(0), "messages");
  auto params = op->getArray("parameters");
  ASSERT_EQ(params->size(), 2u);  // declared query param + automatic path param
  auto p0 = params->getObject(0);
  EXPECT_EQ(p0->getValue<std::string>("name"), "fields");
  EXPECT_EQ(p0->getValue<std::string>("in"), "query");
  EXPECT_FALSE(p0->getValue<bool>("required"));
  auto p1 = params->getObject(1);
  EXPECT_EQ(p1->getValue<std::string>("name"), "id");
  EXPECT_EQ(p1->getValue<std::string>("in"), "path");
  EXPECT_TRUE(p1->getValue<bool>("required"));
  auto responses = op->getObject("responses");
  EXPECT_EQ(responses->getObject("200")
                ->getObject("content")
                ->getObject("application/json")
                ->getObject("schema")
                ->getValue<std::string>("$ref"),
            "#/components/schemas/Message");
  EXPECT_EQ(responses->getObject("default")
                ->getObject("content")
                ->getObject("application/problem+json")
                ->getObject("schema")
                ->getValue<std::string>("$ref"),
            "#/components/schemas/Problem");
  auto security = op->getArray("security");
  ASSERT_EQ(security->size(), 1u);
  EXPECT_TRUE(security->getObject(0)->has("session"));
}

TEST_F(OpenApiTest, RequestBodyAndPublicOperations) {
  auto doc = parse(router.openApiDocument(ApiInfo{}));
  auto post = doc->getObject("paths")->getObject("/api/v1/messages")->getObject("post");
  auto body = post->getObject("requestBody");
  EXPECT_TRUE(body->getValue<bool>("required"));
  EXPECT_TRUE(body->getObject("content")->has("application/json"));  // parameters stripped
  auto health = doc->getObject("paths")->getObject("/healthz")->getObject("get");
  EXPECT_EQ(health->getArray("security")->size(), 0u);  // explicitly public
  EXPECT_TRUE(health->getObject("responses")->has("200"));
}

TEST_F(OpenApiTest, ComponentsHoldProblemSchemasAndSecuritySchemes) {
  auto doc = parse(router.openApiDocument(ApiInfo{}));
  auto components = doc->getObject("components");
  auto problem = components->getObject("schemas")->getObject("Problem");
  auto required = problem->getArray("required");
  std::vector<std::string> req;
  for (std::size_t i = 0; i < required->size(); ++i)
    req.push_back(required->getElement<std::string>(i));
  EXPECT_NE(std::find(req.begin(), req.end(), "request_id"), req.end());
  EXPECT_TRUE(problem->getObject("properties")->has("instance"));
  EXPECT_TRUE(components->getObject("schemas")->has("Message"));
  EXPECT_EQ(
      components->getObject("securitySchemes")->getObject("session")->getValue<std::string>("type"),
      "apiKey");
}

}  // namespace
}  // namespace erds::http

namespace erds::http {
namespace {

TEST(OpenApiMediaTypes, EveryAcceptedMediaTypeIsDocumented) {
  Router router;
  ASSERT_TRUE(router.addSchema("Meta", R"({"type":"object"})"));
  ASSERT_TRUE(router.addSchema("Inline", R"({"type":"object"})"));
  RouteSpec post;
  post.method = "POST";
  post.path = "/m";
  post.operationId = "m";
  post.requestMediaType = "multipart/form-data";
  post.requestSchemaRef = "Meta";
  post.requestMediaTypes = {{"Application/JSON; charset=utf-8", "Inline"}};
  ASSERT_TRUE(router.add(post, [](const Request&) -> Result<Response> { return Response::noContent(); }));
  EXPECT_EQ(post.acceptedMediaTypes(), (std::vector<std::string>{"multipart/form-data", "application/json"}));
  auto doc = Poco::JSON::Parser().parse(router.openApiDocument(ApiInfo{})).extract<Poco::JSON::Object::Ptr>();
  auto content = doc->getObject("paths")->getObject("/m")->getObject("post")->getObject("requestBody")->getObject("content");
  ASSERT_TRUE(content->has("multipart/form-data"));
  ASSERT_TRUE(content->has("application/json"));
  EXPECT_EQ(content->getObject("application/json")->getObject("schema")->getValue<std::string>("$ref"),
            "#/components/schemas/Inline");
  RouteSpec bad = post;
  bad.operationId = "bad";
  bad.path = "/bad";
  bad.requestMediaTypes = {{"application/json", "NoSuchSchema"}};
  EXPECT_FALSE(router.add(bad, [](const Request&) -> Result<Response> { return Response::noContent(); }));
}

}  // namespace
}  // namespace erds::http
