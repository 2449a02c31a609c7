// Router: method + path template ("/api/v1/messages/{id}") -> handler, with the OpenAPI metadata
// of every route. The OpenAPI 3.1 document is generated from the registered routes, so the
// document and the server cannot disagree. Components (identity, core, portal) register their
// routes through RouteProvider.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "erds/base/result.h"
#include "erds/http/message.h"

namespace erds::http {

struct ParameterSpec {
  std::string name;
  std::string in = "query";  // "path" | "query" | "header"
  bool required = false;     // path parameters are always required
  std::string description;
  std::string type = "string";  // JSON Schema type
};

struct ResponseSpec {
  int status = 200;
  std::string description;
  std::string mediaType;  // "" = no body
  std::string schemaRef;  // name of a schema added with Router::addSchema ("" = none)
};

struct RequestMediaType {
  std::string mediaType;  // "multipart/form-data"
  std::string schemaRef;  // "" = none
};

// Metadata + behaviour of one operation.
struct RouteSpec {
  std::string method;       // upper case: GET, POST, PUT, PATCH, DELETE
  std::string path;         // template: literal segments and whole-segment "{name}" parameters
  std::string operationId;  // unique across the router
  std::string summary;
  std::string description;
  std::vector<std::string> tags;
  // Query/header parameters, and optionally descriptions of path parameters. Path parameters of
  // the template that are not listed are added automatically (type string).
  std::vector<ParameterSpec> parameters;
  // Accepted request body media type ("application/json"); "" = the operation takes no body (a
  // non-empty body is refused with 415) unless requestMediaTypes lists some. Compared on
  // type/subtype, parameters ignored.
  std::string requestMediaType;
  std::string requestSchemaRef;  // schema name for the body of requestMediaType ("" = none)
  // Further accepted media types, each with its own schema (e.g. multipart/form-data AND
  // application/json). The handler sees which one arrived in Request::mediaType.
  std::vector<RequestMediaType> requestMediaTypes;
  bool requestBodyRequired = true;
  // Streaming request body: the handler reads it through Request::bodyReader instead of
  // Request::body (which stays empty). The announced Content-Length is still checked against the
  // limit before anything is read (413 without reading), and a chunked body is cut off at the
  // limit. A body the handler leaves unread closes the connection after the response.
  bool streamRequestBody = false;
  std::vector<ResponseSpec> responses;  // problem responses (4xx/5xx "default") are added
  // Security scheme names added with Router::addSecurityScheme; empty = no authentication.
  std::vector<std::string> security;
  // Lower per-route body limit (bytes); 0 = the server's http.max_body_bytes.
  int64_t maxBodyBytes = 0;

  // Every accepted media type (requestMediaType first, then requestMediaTypes), lower-cased
  // type/subtype without parameters; empty = the operation takes no body.
  std::vector<std::string> acceptedMediaTypes() const;
};

struct ApiInfo {
  std::string title = "erds API";
  std::string version = "0.0.0";
  std::string description;
};

// Not thread-safe while routes are being added; all const members are thread-safe. Add every route
// before handing the router to the Server, which treats it as immutable.
class Router {
 public:
  Router();
  ~Router();
  Router(const Router&) = delete;
  Router& operator=(const Router&) = delete;

  // Registers a route. InvalidInput for a malformed template or method, a missing operationId, a
  // reference to an unknown schema or security scheme; Conflict for a duplicate method + template
  // (templates differing only in parameter names count as duplicates) or operationId.
  Result<void> add(RouteSpec spec, Handler handler);
  // Registers components/schemas/<name> (a JSON Schema object as JSON text). InvalidInput if the
  // text is not a JSON object; Conflict if the name exists. "Problem" is predefined.
  Result<void> addSchema(const std::string& name, const std::string& jsonSchema);
  // Registers components/securitySchemes/<name> (an OpenAPI Security Scheme Object as JSON text).
  Result<void> addSecurityScheme(const std::string& name, const std::string& json);

  enum class MatchStatus { Found, NotFound, MethodNotAllowed, BadPath };
  struct Match {
    MatchStatus status = MatchStatus::NotFound;
    const RouteSpec* spec = nullptr;            // when Found
    const Handler* handler = nullptr;           // when Found
    std::map<std::string, std::string> params;  // percent-decoded, when Found
    std::vector<std::string> allowed;  // methods of the path, when MethodNotAllowed (sorted)
  };
  // Matches a request path (percent-encoded, without query). Literal segments win over parameters
  // at the same position. BadPath for a malformed escape in a parameter or an empty parameter.
  Match match(std::string_view method, std::string_view path) const;

  // "GET /healthz" lines, sorted by path then method.
  std::vector<std::string> routeList() const;
  // The OpenAPI 3.1.0 document (JSON) describing every registered route.
  std::string openApiDocument(const ApiInfo& info) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// What a component implements to expose HTTP routes (called once by the composition root).
class RouteProvider {
 public:
  virtual ~RouteProvider() = default;
  virtual Result<void> registerRoutes(Router& router) = 0;
};

}  // namespace erds::http
