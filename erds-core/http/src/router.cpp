// Route table, path-template matching and OpenAPI 3.1 generation.
#include "erds/http/router.h"

#include <Poco/Dynamic/Var.h>
#include <Poco/Exception.h>
#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>

#include <algorithm>
#include <set>
#include <sstream>

#include "erds/http/problem.h"

namespace erds::http {

namespace {

struct Segment {
  bool param = false;
  std::string text;  // literal text or parameter name
};

struct Route {
  RouteSpec spec;
  Handler handler;
  std::vector<Segment> segments;
};

const std::set<std::string> kMethods = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"};

// "/" -> {}, "/a/b" -> {"a","b"}, "/a/" -> {"a",""}.
std::vector<std::string_view> splitPath(std::string_view path) {
  std::vector<std::string_view> out;
  if (path.empty() || path.front() != '/') return out;
  path.remove_prefix(1);
  if (path.empty()) return out;
  while (true) {
    std::size_t slash = path.find('/');
    out.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return out;
}

bool validParamName(std::string_view s) {
  if (s.empty()) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' ||
              (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

bool validLiteral(std::string_view s) {
  if (s.empty()) return false;
  static const std::string_view kExtra = "-._~!$&'()*+,;=:@";
  for (char c : s) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              kExtra.find(c) != std::string_view::npos;
    if (!ok) return false;
  }
  return true;
}

Result<std::vector<Segment>> parseTemplate(const std::string& path) {
  if (path.empty() || path.front() != '/')
    return Error::invalidInput("route template must start with '/': " + path);
  std::vector<Segment> segs;
  std::set<std::string> names;
  for (std::string_view part : splitPath(path)) {
    if (part.size() >= 2 && part.front() == '{' && part.back() == '}') {
      std::string name(part.substr(1, part.size() - 2));
      if (!validParamName(name))
        return Error::invalidInput("bad parameter name in route template: " + path);
      if (!names.insert(name).second)
        return Error::invalidInput("duplicate parameter in route template: " + path);
      segs.push_back({true, name});
    } else if (validLiteral(part)) {
      segs.push_back({false, std::string(part)});
    } else {
      return Error::invalidInput("bad segment in route template: " + path);
    }
  }
  return segs;
}

// Same shape and literals: templates that would match the same requests.
bool sameShape(const std::vector<Segment>& a, const std::vector<Segment>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].param != b[i].param) return false;
    if (!a[i].param && a[i].text != b[i].text) return false;
  }
  return true;
}

// True if `a` is more specific than `b`: the first differing position is a literal in `a`.
bool moreSpecific(const std::vector<Segment>& a, const std::vector<Segment>& b) {
  for (std::size_t i = 0; i < a.size() && i < b.size(); ++i) {
    if (a[i].param != b[i].param) return !a[i].param;
  }
  return false;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

Result<Poco::JSON::Object::Ptr> parseObject(const std::string& json, const std::string& what) {
  try {
    Poco::JSON::Parser parser;
    Poco::Dynamic::Var v = parser.parse(json);
    auto obj = v.extract<Poco::JSON::Object::Ptr>();
    if (!obj) return Error::invalidInput(what + " is not a JSON object");
    return obj;
  } catch (const Poco::Exception& e) {
    return Error::invalidInput(what + " is not valid JSON: " + e.displayText());
  } catch (const std::exception& e) {
    return Error::invalidInput(what + " is not a JSON object: " + e.what());
  }
}

Poco::JSON::Object::Ptr newObject() {
  return new Poco::JSON::Object(Poco::JSON_PRESERVE_KEY_ORDER);
}

Poco::JSON::Object::Ptr problemSchema() {
  auto props = newObject();
  auto typeProp = newObject();
  typeProp->set("type", "string");
  typeProp->set("format", "uri-reference");
  Poco::JSON::Array::Ptr examples = new Poco::JSON::Array;
  std::set<std::string_view> seen;
  for (const auto& p : allProblemTypes()) {
    if (seen.insert(p.type).second) examples->add(std::string(p.type));
  }
  typeProp->set("examples", examples);
  props->set("type", typeProp);
  auto str = [] {
    auto o = newObject();
    o->set("type", "string");
    return o;
  };
  props->set("title", str());
  auto status = newObject();
  status->set("type", "integer");
  props->set("status", status);
  props->set("detail", str());
  props->set("instance", str());
  props->set("request_id", str());
  auto schema = newObject();
  schema->set("type", "object");
  schema->set("description",
              "RFC 9457 problem details; request_id matches the X-Request-Id header.");
  schema->set("properties", props);
  Poco::JSON::Array::Ptr required = new Poco::JSON::Array;
  for (const char* r : {"type", "title", "status", "request_id"})
    required->add(std::string(r));
  schema->set("required", required);
  return schema;
}

Poco::JSON::Object::Ptr schemaRef(const std::string& name) {
  auto o = newObject();
  o->set("$ref", "#/components/schemas/" + name);
  return o;
}

std::string mediaTypeOnly(std::string_view mt) {
  std::size_t semi = mt.find(';');
  std::string_view t = mt.substr(0, semi);
  while (!t.empty() && (t.back() == ' ' || t.back() == '\t'))
    t.remove_suffix(1);
  while (!t.empty() && (t.front() == ' ' || t.front() == '\t'))
    t.remove_prefix(1);
  return lower(std::string(t));
}

}  // namespace

std::vector<std::string> RouteSpec::acceptedMediaTypes() const {
  std::vector<std::string> out;
  auto add = [&out](const std::string& mt) {
    if (mt.empty()) return;
    std::string t = mediaTypeOnly(mt);
    if (std::find(out.begin(), out.end(), t) == out.end()) out.push_back(std::move(t));
  };
  add(requestMediaType);
  for (const auto& m : requestMediaTypes)
    add(m.mediaType);
  return out;
}

struct Router::Impl {
  std::vector<Route> routes;
  std::vector<std::pair<std::string, Poco::JSON::Object::Ptr>> schemas;
  std::vector<std::pair<std::string, Poco::JSON::Object::Ptr>> securitySchemes;

  bool hasSchema(const std::string& n) const {
    return std::any_of(schemas.begin(), schemas.end(), [&](const auto& p) { return p.first == n; });
  }
  bool hasSecurityScheme(const std::string& n) const {
    return std::any_of(securitySchemes.begin(), securitySchemes.end(),
                       [&](const auto& p) { return p.first == n; });
  }
};

Router::Router() : impl_(std::make_unique<Impl>()) {
  impl_->schemas.emplace_back("Problem", problemSchema());
}
Router::~Router() = default;

Result<void> Router::add(RouteSpec spec, Handler handler) {
  if (!kMethods.count(spec.method))
    return Error::invalidInput("unsupported method: " + spec.method);
  if (spec.operationId.empty())
    return Error::invalidInput("route " + spec.method + " " + spec.path + " has no operationId");
  if (!handler) return Error::invalidInput("route " + spec.operationId + " has no handler");
  auto segs = parseTemplate(spec.path);
  if (!segs) return segs.error();
  for (const auto& p : spec.parameters) {
    if (p.in != "path" && p.in != "query" && p.in != "header")
      return Error::invalidInput("parameter " + p.name + " of " + spec.operationId + ": bad 'in'");
    if (p.in == "path" && std::none_of(segs->begin(), segs->end(), [&](const Segment& s) {
          return s.param && s.text == p.name;
        }))
      return Error::invalidInput("path parameter " + p.name + " not in template " + spec.path);
  }
  if (!spec.requestSchemaRef.empty() && !impl_->hasSchema(spec.requestSchemaRef))
    return Error::invalidInput("unknown schema " + spec.requestSchemaRef);
  if (!spec.requestSchemaRef.empty() && spec.requestMediaType.empty())
    return Error::invalidInput("request schema without media type in " + spec.operationId);
  for (const auto& m : spec.requestMediaTypes) {
    if (mediaTypeOnly(m.mediaType).find('/') == std::string::npos)
      return Error::invalidInput("malformed request media type in " + spec.operationId);
    if (!m.schemaRef.empty() && !impl_->hasSchema(m.schemaRef))
      return Error::invalidInput("unknown schema " + m.schemaRef);
  }
  for (const auto& r : spec.responses) {
    if (r.status < 100 || r.status > 599)
      return Error::invalidInput("bad response status in " + spec.operationId);
    if (!r.schemaRef.empty() && !impl_->hasSchema(r.schemaRef))
      return Error::invalidInput("unknown schema " + r.schemaRef);
  }
  for (const auto& s : spec.security) {
    if (!impl_->hasSecurityScheme(s)) return Error::invalidInput("unknown security scheme " + s);
  }
  if (spec.maxBodyBytes < 0)
    return Error::invalidInput("negative maxBodyBytes in " + spec.operationId);
  for (const auto& r : impl_->routes) {
    if (r.spec.method == spec.method && sameShape(r.segments, *segs))
      return Error::conflict("duplicate route " + spec.method + " " + spec.path + " (already " +
                             r.spec.path + ")");
    if (r.spec.operationId == spec.operationId)
      return Error::conflict("duplicate operationId " + spec.operationId);
  }
  impl_->routes.push_back(Route{std::move(spec), std::move(handler), std::move(*segs)});
  return ok();
}

Result<void> Router::addSchema(const std::string& name, const std::string& jsonSchema) {
  if (!validParamName(name)) return Error::invalidInput("bad schema name: " + name);
  if (impl_->hasSchema(name)) return Error::conflict("schema exists: " + name);
  auto obj = parseObject(jsonSchema, "schema " + name);
  if (!obj) return obj.error();
  impl_->schemas.emplace_back(name, *obj);
  return ok();
}

Result<void> Router::addSecurityScheme(const std::string& name, const std::string& json) {
  if (!validParamName(name)) return Error::invalidInput("bad security scheme name: " + name);
  if (impl_->hasSecurityScheme(name)) return Error::conflict("security scheme exists: " + name);
  auto obj = parseObject(json, "security scheme " + name);
  if (!obj) return obj.error();
  impl_->securitySchemes.emplace_back(name, *obj);
  return ok();
}

Router::Match Router::match(std::string_view method, std::string_view path) const {
  Match m;
  if (path.empty() || path.front() != '/') {
    m.status = MatchStatus::BadPath;
    return m;
  }
  auto parts = splitPath(path);
  const Route* best = nullptr;
  std::set<std::string> allowed;
  for (const auto& r : impl_->routes) {
    if (r.segments.size() != parts.size()) continue;
    bool matches = true;
    for (std::size_t i = 0; i < parts.size() && matches; ++i) {
      if (r.segments[i].param) {
        matches = !parts[i].empty();
      } else {
        matches = r.segments[i].text == parts[i];
      }
    }
    if (!matches) continue;
    if (r.spec.method != method) {
      allowed.insert(r.spec.method);
      continue;
    }
    if (!best || moreSpecific(r.segments, best->segments)) best = &r;
  }
  if (!best) {
    if (allowed.empty()) {
      m.status = MatchStatus::NotFound;
    } else {
      m.status = MatchStatus::MethodNotAllowed;
      m.allowed.assign(allowed.begin(), allowed.end());
    }
    return m;
  }
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (!best->segments[i].param) continue;
    auto decoded = percentDecode(parts[i]);
    if (!decoded) {
      m.status = MatchStatus::BadPath;
      m.params.clear();
      return m;
    }
    m.params[best->segments[i].text] = std::move(*decoded);
  }
  m.status = MatchStatus::Found;
  m.spec = &best->spec;
  m.handler = &best->handler;
  return m;
}

std::vector<std::string> Router::routeList() const {
  std::vector<std::pair<std::string, std::string>> items;
  for (const auto& r : impl_->routes)
    items.emplace_back(r.spec.path, r.spec.method);
  std::sort(items.begin(), items.end());
  std::vector<std::string> out;
  for (const auto& [path, method] : items)
    out.push_back(method + " " + path);
  return out;
}

std::string Router::openApiDocument(const ApiInfo& info) const {
  auto doc = newObject();
  doc->set("openapi", "3.1.0");
  auto infoObj = newObject();
  infoObj->set("title", info.title);
  infoObj->set("version", info.version);
  if (!info.description.empty()) infoObj->set("description", info.description);
  doc->set("info", infoObj);

  // Paths in sorted order, operations in the order they were added.
  std::vector<const Route*> sorted;
  for (const auto& r : impl_->routes)
    sorted.push_back(&r);
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const Route* a, const Route* b) { return a->spec.path < b->spec.path; });
  auto paths = newObject();
  for (const Route* r : sorted) {
    const RouteSpec& s = r->spec;
    Poco::JSON::Object::Ptr item;
    if (paths->has(s.path)) {
      item = paths->getObject(s.path);
    } else {
      item = newObject();
      paths->set(s.path, item);
    }
    auto op = newObject();
    op->set("operationId", s.operationId);
    if (!s.summary.empty()) op->set("summary", s.summary);
    if (!s.description.empty()) op->set("description", s.description);
    if (!s.tags.empty()) {
      Poco::JSON::Array::Ptr tags = new Poco::JSON::Array;
      for (const auto& t : s.tags)
        tags->add(t);
      op->set("tags", tags);
    }
    // Parameters: declared ones, plus undeclared path parameters of the template.
    std::vector<ParameterSpec> params = s.parameters;
    for (const auto& seg : r->segments) {
      if (!seg.param) continue;
      bool declared = std::any_of(params.begin(), params.end(), [&](const ParameterSpec& p) {
        return p.in == "path" && p.name == seg.text;
      });
      if (!declared) params.push_back(ParameterSpec{seg.text, "path", true, "", "string"});
    }
    if (!params.empty()) {
      Poco::JSON::Array::Ptr arr = new Poco::JSON::Array;
      for (const auto& p : params) {
        auto po = newObject();
        po->set("name", p.name);
        po->set("in", p.in);
        po->set("required", p.in == "path" ? true : p.required);
        if (!p.description.empty()) po->set("description", p.description);
        auto sch = newObject();
        sch->set("type", p.type);
        po->set("schema", sch);
        arr->add(po);
      }
      op->set("parameters", arr);
    }
    if (!s.acceptedMediaTypes().empty()) {
      auto body = newObject();
      body->set("required", s.requestBodyRequired);
      auto content = newObject();
      auto addType = [&](const std::string& type, const std::string& ref) {
        if (type.empty() || content->has(mediaTypeOnly(type))) return;
        auto mt = newObject();
        if (!ref.empty()) mt->set("schema", schemaRef(ref));
        content->set(mediaTypeOnly(type), mt);
      };
      addType(s.requestMediaType, s.requestSchemaRef);
      for (const auto& m : s.requestMediaTypes)
        addType(m.mediaType, m.schemaRef);
      body->set("content", content);
      op->set("requestBody", body);
    }
    auto responses = newObject();
    std::vector<ResponseSpec> rs = s.responses;
    if (rs.empty()) rs.push_back(ResponseSpec{200, "OK", "", ""});
    for (const auto& resp : rs) {
      auto ro = newObject();
      ro->set("description", resp.description.empty() ? std::string("Response") : resp.description);
      if (!resp.mediaType.empty()) {
        auto content = newObject();
        auto mt = newObject();
        if (!resp.schemaRef.empty()) mt->set("schema", schemaRef(resp.schemaRef));
        content->set(resp.mediaType, mt);
        ro->set("content", content);
      }
      responses->set(std::to_string(resp.status), ro);
    }
    auto def = newObject();
    def->set("description", "Error (RFC 9457 problem details)");
    auto content = newObject();
    auto mt = newObject();
    mt->set("schema", schemaRef("Problem"));
    content->set(std::string(kProblemContentType), mt);
    def->set("content", content);
    responses->set("default", def);
    op->set("responses", responses);

    Poco::JSON::Array::Ptr security = new Poco::JSON::Array;
    for (const auto& name : s.security) {
      auto req = newObject();
      req->set(name, Poco::JSON::Array::Ptr(new Poco::JSON::Array));
      security->add(req);
    }
    op->set("security", security);
    item->set(lower(s.method), op);
  }
  doc->set("paths", paths);

  auto components = newObject();
  auto schemas = newObject();
  for (const auto& [name, obj] : impl_->schemas)
    schemas->set(name, obj);
  components->set("schemas", schemas);
  if (!impl_->securitySchemes.empty()) {
    auto sec = newObject();
    for (const auto& [name, obj] : impl_->securitySchemes)
      sec->set(name, obj);
    components->set("securitySchemes", sec);
  }
  doc->set("components", components);

  std::ostringstream out;
  doc->stringify(out);
  return out.str();
}

}  // namespace erds::http
