#include "erds/http/problem.h"

#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <gtest/gtest.h>

#include <set>

namespace erds::http {
namespace {

TEST(ProblemTable, ErrorCodes) {
  struct Case {
    ErrorCode code;
    int status;
  } cases[] = {
      {ErrorCode::InvalidInput, 400}, {ErrorCode::NotFound, 404},
      {ErrorCode::Conflict, 409},     {ErrorCode::Unauthorized, 401},
      {ErrorCode::Unavailable, 503},  {ErrorCode::IntegrityFailure, 422},
      {ErrorCode::Internal, 500},
  };
  for (const auto& c : cases) {
    const ProblemType& t = problemType(c.code);
    EXPECT_EQ(t.status, c.status) << errorCodeName(c.code);
    EXPECT_EQ(t.type.rfind("urn:erds:problem:", 0), 0u);
    EXPECT_FALSE(t.title.empty());
  }
}

TEST(ProblemTable, FrameworkErrors) {
  struct Case {
    FrameworkError e;
    int status;
  } cases[] = {
      {FrameworkError::BadRequest, 400},       {FrameworkError::Forbidden, 403},
      {FrameworkError::RouteNotFound, 404},
      {FrameworkError::MethodNotAllowed, 405}, {FrameworkError::RequestTimeout, 408},
      {FrameworkError::PayloadTooLarge, 413},  {FrameworkError::UnsupportedMediaType, 415},
      {FrameworkError::TooManyRequests, 429},  {FrameworkError::HeadersTooLarge, 431},
      {FrameworkError::InternalError, 500},
  };
  for (const auto& c : cases)
    EXPECT_EQ(problemType(c.e).status, c.status);
}

TEST(ProblemTable, TypeUrisAreDistinctPerStatusAndTitle) {
  std::set<std::string_view> types;
  for (const auto& p : allProblemTypes()) {
    // InternalError shares the Internal entry; everything else is distinct.
    types.insert(p.type);
  }
  EXPECT_EQ(types.size(), allProblemTypes().size());
}

TEST(PublicDetail, HidesServerSideMessages) {
  EXPECT_EQ(publicDetail(Error::invalidInput("field 'to' missing")), "field 'to' missing");
  EXPECT_EQ(publicDetail(Error::notFound("no message 7")), "no message 7");
  EXPECT_EQ(publicDetail(Error::internal("sqlstate 42P01: relation x")), "");
  std::string unavailable = publicDetail(Error::unavailable("connect to host=/secret/dir failed"));
  EXPECT_EQ(unavailable.find("secret"), std::string::npos);
  EXPECT_FALSE(unavailable.empty());
}

TEST(RenderProblem, IsValidJsonWithAllMembers) {
  std::string body = renderProblem(problemType(ErrorCode::Conflict),
                                   "quote \" and \\ and \n newline", "/api/v1/x", "rid-1");
  Poco::JSON::Parser parser;
  auto obj = parser.parse(body).extract<Poco::JSON::Object::Ptr>();
  EXPECT_EQ(obj->getValue<std::string>("type"), "urn:erds:problem:conflict");
  EXPECT_EQ(obj->getValue<std::string>("title"), "Conflict");
  EXPECT_EQ(obj->getValue<int>("status"), 409);
  EXPECT_EQ(obj->getValue<std::string>("detail"), "quote \" and \\ and \n newline");
  EXPECT_EQ(obj->getValue<std::string>("instance"), "/api/v1/x");
  EXPECT_EQ(obj->getValue<std::string>("request_id"), "rid-1");
}

TEST(RenderProblem, OmitsEmptyDetailAndInstance) {
  std::string body = renderProblem(problemType(ErrorCode::Internal), "", "", "rid");
  Poco::JSON::Parser parser;
  auto obj = parser.parse(body).extract<Poco::JSON::Object::Ptr>();
  EXPECT_FALSE(obj->has("detail"));
  EXPECT_FALSE(obj->has("instance"));
  EXPECT_EQ(obj->getValue<std::string>("request_id"), "rid");
}

}  // namespace
}  // namespace erds::http
