// Hardened libxml2 reader for EN 319 522-3 evidence. The parser never sees a DTD: input with a
// DOCTYPE is refused, and the SAX hooks for DTD and entity declarations stop the parser in case
// one slips past the byte check (e.g. another encoding). No entity substitution, no network.
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>

#include <cstring>
#include <memory>
#include <mutex>
#include <string>

#include "erds/evidence/evidence_xml.h"
#include "evidence_xml_reader.h"

#include "xml_text.h"

namespace erds::evidence {
namespace {

using internal::base64Decode;
using internal::parseDateTime;
using internal::parseInt;
using internal::trimXmlSpace;

struct DocFree {
  void operator()(xmlDoc* d) const { xmlFreeDoc(d); }
};
struct CtxtFree {
  void operator()(xmlParserCtxt* c) const { xmlFreeParserCtxt(c); }
};
using DocPtr = std::unique_ptr<xmlDoc, DocFree>;
using CtxtPtr = std::unique_ptr<xmlParserCtxt, CtxtFree>;

// Set through the parser context's _private while a document with a DTD is being refused.
struct RefuseState {
  bool sawDtd = false;
};

void refuseDtd(void* ctx) {
  auto* ctxt = static_cast<xmlParserCtxtPtr>(ctx);
  if (ctxt->_private) static_cast<RefuseState*>(ctxt->_private)->sawDtd = true;
  xmlStopParser(ctxt);
}
void onInternalSubset(void* ctx, const xmlChar*, const xmlChar*, const xmlChar*) {
  refuseDtd(ctx);
}
void onExternalSubset(void* ctx, const xmlChar*, const xmlChar*, const xmlChar*) {
  refuseDtd(ctx);
}
void onEntityDecl(void* ctx, const xmlChar*, int, const xmlChar*, const xmlChar*, xmlChar*) {
  refuseDtd(ctx);
}
xmlEntityPtr onGetEntity(void* ctx, const xmlChar* name) {
  // Only the five predefined entities exist in a document without a DTD.
  xmlEntityPtr e = xmlGetPredefinedEntity(name);
  if (!e) refuseDtd(ctx);
  return e;
}

std::string str(const xmlChar* s) {
  return s ? reinterpret_cast<const char*>(s) : std::string();
}

bool inNs(const xmlNode* n, std::string_view ns) {
  return n->ns && n->ns->href && std::string_view(reinterpret_cast<const char*>(n->ns->href)) == ns;
}
bool unqualified(const xmlNode* n) {
  return n->ns == nullptr;
}
std::string_view localName(const xmlNode* n) {
  return reinterpret_cast<const char*>(n->name);
}

bool is(const xmlNode* n, std::string_view ns, std::string_view name) {
  return localName(n) == name && (ns.empty() ? unqualified(n) : inNs(n, ns));
}

std::string text(const xmlNode* n) {
  xmlChar* c = xmlNodeGetContent(n);
  std::string s = str(c);
  xmlFree(c);
  return s;
}

std::string attr(const xmlNode* n, const char* name, const char* ns = nullptr) {
  xmlChar* v = ns ? xmlGetNsProp(n, reinterpret_cast<const xmlChar*>(name),
                                 reinterpret_cast<const xmlChar*>(ns))
                  : xmlGetNoNsProp(n, reinterpret_cast<const xmlChar*>(name));
  std::string s = str(v);
  xmlFree(v);
  return s;
}
bool hasAttr(const xmlNode* n, const char* name) {
  return xmlHasNsProp(n, reinterpret_cast<const xmlChar*>(name), nullptr) != nullptr;
}

template <typename F>
void forChildren(const xmlNode* n, F f) {
  for (const xmlNode* c = n->children; c; c = c->next) {
    if (c->type == XML_ELEMENT_NODE) f(c);
  }
}

const xmlNode* firstChild(const xmlNode* n, std::string_view ns, std::string_view name) {
  for (const xmlNode* c = n->children; c; c = c->next) {
    if (c->type == XML_ELEMENT_NODE && is(c, ns, name)) return c;
  }
  return nullptr;
}

Error bad(std::string m) {
  return Error::invalidInput("evidence XML: " + std::move(m));
}

Result<TimePoint> timeOf(const xmlNode* n) {
  auto t = parseDateTime(text(n));
  if (!t) return bad(std::string(localName(n)) + " is not a valid xs:dateTime with a time zone");
  return *t;
}

Result<int> intOf(const xmlNode* n) {
  auto v = parseInt(text(n));
  if (!v) return bad(std::string(localName(n)) + " is not a valid integer");
  return *v;
}

Result<std::vector<int>> intList(const xmlNode* n) {
  std::vector<int> out;
  const std::string t = text(n);
  std::size_t i = 0;
  while (i < t.size()) {
    while (i < t.size() && (t[i] == ' ' || t[i] == '\t' || t[i] == '\n' || t[i] == '\r'))
      ++i;
    std::size_t j = i;
    while (j < t.size() && !(t[j] == ' ' || t[j] == '\t' || t[j] == '\n' || t[j] == '\r'))
      ++j;
    if (j > i) {
      auto v = parseInt(std::string_view(t).substr(i, j - i));
      if (!v) return bad(std::string(localName(n)) + " is not a list of integers");
      out.push_back(*v);
    }
    i = j;
  }
  return out;
}

std::vector<SamlAttribute> readIdentity(const xmlNode* identity) {
  std::vector<SamlAttribute> out;
  forChildren(identity, [&](const xmlNode* a) {
    if (!is(a, kSamlNamespace, "Attribute")) return;
    SamlAttribute s;
    s.name = attr(a, "Name");
    s.friendlyName = attr(a, "FriendlyName");
    s.nameFormat = attr(a, "NameFormat");
    forChildren(a, [&](const xmlNode* v) {
      if (!is(v, kSamlNamespace, "AttributeValue")) return;
      const std::string type = attr(v, "type", "http://www.w3.org/2001/XMLSchema-instance");
      if (!type.empty()) s.xsiType = type;
      s.values.push_back(text(v));
    });
    out.push_back(std::move(s));
  });
  return out;
}

Result<EntityDetails> readEntity(const xmlNode* n) {
  EntityDetails e;
  const xmlNode* id = firstChild(n, kErdsNamespace, "Identity");
  if (!id) return bad(std::string(localName(n)) + " has no Identity");
  e.identity = readIdentity(id);
  if (const xmlNode* cd = firstChild(n, kErdsNamespace, "CertificateDetails")) {
    if (const xmlNode* x = firstChild(cd, "", "X509Certificate")) {
      auto der = base64Decode(text(x));
      if (!der) return bad("X509Certificate is not valid base64");
      e.x509CertificateDer = std::move(*der);
    }
  }
  return e;
}

Result<AssuranceLevel> readAssuranceLevel(const xmlNode* n) {
  AssuranceLevel l;
  const xmlNode* level = firstChild(n, "", "AssuranceLevel");
  if (!level) return bad("AssuranceLevel missing");
  l.level = std::string(trimXmlSpace(text(level)));
  if (const xmlNode* p = firstChild(n, "", "PolicyID"))
    l.policyId = std::string(trimXmlSpace(text(p)));
  if (const xmlNode* p = firstChild(n, "", "PolicyIDDetails")) l.policyIdDetails = text(p);
  return l;
}

Result<UserDetails> readUser(const xmlNode* n) {
  UserDetails u;
  if (const xmlNode* id = firstChild(n, kErdsNamespace, "Identity")) u.identity = readIdentity(id);
  if (const xmlNode* i = firstChild(n, "", "Identifier")) {
    u.identifier = Identifier{attr(i, "IdentifierSchemeName"), std::string(trimXmlSpace(text(i)))};
  }
  if (const xmlNode* a = firstChild(n, "", "AssuranceLevelsDetails")) {
    AssuranceDetails d;
    if (const xmlNode* g = firstChild(a, "", "GlobalAssuranceLevel")) {
      auto l = readAssuranceLevel(g);
      if (!l) return std::move(l).error();
      d.global = std::move(*l);
      if (const xmlNode* ad = firstChild(a, kErdsNamespace, "AuthenticationDetails")) {
        const xmlNode* t = firstChild(ad, "", "AuthenticationTime");
        const xmlNode* m = firstChild(ad, "", "AuthenticationMethod");
        if (t && m) {
          auto tt = timeOf(t);
          if (!tt) return std::move(tt).error();
          d.authentication = AuthenticationDetails{*tt, std::string(trimXmlSpace(text(m)))};
        } else {
          d.otherForm = true;
        }
      }
    } else {
      d.otherForm = true;  // the separate identity-proof / authentication levels form
    }
    u.assurance = std::move(d);
  }
  return u;
}

Result<UserContentInfo> readUserContent(const xmlNode* n) {
  UserContentInfo u;
  if (const xmlNode* a = firstChild(n, "", "AppLayerIdentifier")) u.appLayerIdentifier = text(a);
  if (const xmlNode* c = firstChild(n, "", "ComposingParts")) {
    auto v = intOf(c);
    if (!v) return std::move(v).error();
    u.composingParts = *v;
  }
  const xmlNode* parts = firstChild(n, kErdsNamespace, "PartsInfo");
  if (!parts) return bad("UserContentInfo has no PartsInfo");
  std::optional<Error> err;
  forChildren(parts, [&](const xmlNode* p) {
    if (err || !is(p, kErdsNamespace, "PartInfo")) return;
    PartInfo pi;
    if (const xmlNode* i = firstChild(p, "", "Identifier"))
      pi.identifier = std::string(trimXmlSpace(text(i)));
    if (const xmlNode* c = firstChild(p, "", "ContentType"))
      pi.contentType = std::string(trimXmlSpace(text(c)));
    if (const xmlNode* m = firstChild(p, kDsNamespace, "DigestMethod"))
      pi.digestAlgorithm = attr(m, "Algorithm");
    if (const xmlNode* v = firstChild(p, kDsNamespace, "DigestValue")) {
      auto d = base64Decode(text(v));
      if (!d) {
        err = bad("ds:DigestValue is not valid base64");
        return;
      }
      pi.digest = std::move(*d);
    }
    u.parts.push_back(std::move(pi));
  });
  if (err) return *err;
  if (u.parts.empty()) return bad("PartsInfo has no PartInfo");
  return u;
}

Result<void> readExtensions(const xmlNode* n, Evidence& ev) {
  std::optional<Error> err;
  forChildren(n, [&](const xmlNode* x) {
    if (err) return;
    if (!is(x, kErdsNamespace, "Extension")) {
      err = bad("Extensions may only contain Extension");
      return;
    }
    const bool critical =
        hasAttr(x, "isCritical") && (trimXmlSpace(attr(x, "isCritical")) == "true" ||
                                     trimXmlSpace(attr(x, "isCritical")) == "1");
    forChildren(x, [&](const xmlNode* c) {
      if (err) return;
      if (is(c, kRemNamespace, "GeneralEvidenceInfo") && !ev.generalInfo) {
        GeneralEvidenceInfo g;
        forChildren(c, [&](const xmlNode* k) {
          if (err) return;
          if (is(k, kRemNamespace, "Subject")) {
            g.subject = text(k);
          } else if (is(k, kRemNamespace, "UntrustedPathToRecipient")) {
            auto v = intOf(k);
            if (!v)
              err = std::move(v).error();
            else
              g.untrustedPathToRecipient.push_back(*v);
          }
        });
        ev.generalInfo = std::move(g);
      } else if (is(c, kRemNamespace, "RelayEvidenceInfo") && !ev.relayInfo) {
        RelayEvidenceInfo r;
        forChildren(c, [&](const xmlNode* k) {
          if (err || !is(k, kRemNamespace, "RelayEvidenceRefersTo")) return;
          auto v = intOf(k);
          if (!v)
            err = std::move(v).error();
          else
            r.relayEvidenceRefersTo.push_back(*v);
        });
        ev.relayInfo = std::move(r);
      } else {
        ev.unknownExtensions.push_back(
            UnknownExtension{c->ns && c->ns->href ? str(c->ns->href) : std::string(),
                             std::string(localName(c)), critical});
      }
    });
  });
  if (err) return *err;
  return ok();
}

// The children of Evidence in schema order. Each known element has a rank; ranks must not
// decrease, and only the repeatable ones may repeat.
struct Slot {
  std::string_view ns;  // empty: unqualified
  std::string_view name;
  int rank;
  bool repeatable;
};
constexpr Slot kSlots[] = {
    {kErdsNamespace, "EvidenceIdentifier", 1, false},
    {kErdsNamespace, "ERDSEventId", 2, false},
    {kErdsNamespace, "EventReasons", 3, false},
    {"", "EventTime", 4, false},
    {kErdsNamespace, "EvidenceIssuerPolicyID", 5, false},
    {kErdsNamespace, "EvidenceIssuerDetails", 6, false},
    {kErdsNamespace, "SenderDetails", 7, false},
    {kErdsNamespace, "SenderDelegateDetails", 8, false},
    {kErdsNamespace, "RecipientDetails", 9, true},
    {kErdsNamespace, "RecipientsDelegateDetails", 10, true},
    {kErdsNamespace, "SubmissionTime", 11, false},
    {"", "EvidenceRefersToRecipient", 12, false},
    {kErdsNamespace, "MessageIdentifier", 13, false},
    {kErdsNamespace, "UserContentInfo", 14, false},
    {"", "ForwardedToExternalSystem", 15, false},
    {"", "ExternalSystem", 15, false},
    {kErdsNamespace, "ExternalERDSDetails", 16, false},
    {kErdsNamespace, "TransactionLogInformation", 17, false},
    {kErdsNamespace, "Extensions", 18, false},
    {kDsNamespace, "Signature", 19, false},
};

Result<Evidence> readRoot(const xmlNode* root) {
  if (!is(root, kErdsNamespace, "Evidence"))
    return bad("root is not {http://uri.etsi.org/19522/v1#}Evidence");
  Evidence ev;
  ev.version = attr(root, "version");
  if (!ev.version.starts_with("EN319522v1"))
    return bad("unsupported version \"" + ev.version + "\"");
  if (hasAttr(root, "Id")) ev.xmlId = attr(root, "Id");

  int lastRank = 0;
  bool seenId = false, seenEvent = false, seenTime = false, seenIssuer = false, seenSender = false;
  for (const xmlNode* c = root->children; c; c = c->next) {
    if (c->type == XML_TEXT_NODE) {
      if (!trimXmlSpace(reinterpret_cast<const char*>(c->content)).empty())
        return bad("unexpected text in Evidence");
      continue;
    }
    if (c->type != XML_ELEMENT_NODE) continue;  // comments, processing instructions
    const Slot* slot = nullptr;
    for (const auto& s : kSlots) {
      if (is(c, s.ns, s.name)) slot = &s;
    }
    if (!slot) {
      return bad("unexpected element " +
                 (c->ns && c->ns->href ? "{" + str(c->ns->href) + "}" : std::string()) +
                 std::string(localName(c)) + " in Evidence");
    }
    if (slot->rank < lastRank || (slot->rank == lastRank && !slot->repeatable)) {
      return bad("element " + std::string(slot->name) + " out of order or repeated");
    }
    lastRank = slot->rank;
    const std::string_view name = slot->name;
    if (name == "EvidenceIdentifier") {
      ev.evidenceIdentifier = std::string(trimXmlSpace(text(c)));
      seenId = true;
    } else if (name == "ERDSEventId") {
      const std::string uri(trimXmlSpace(text(c)));
      auto e = eventFromUri(uri);
      if (!e) return bad("unknown event " + uri);
      ev.event = *e;
      seenEvent = true;
    } else if (name == "EventReasons") {
      std::optional<Error> err;
      forChildren(c, [&](const xmlNode* r) {
        if (err || !is(r, kErdsNamespace, "EventReason")) return;
        EventReason er;
        const xmlNode* code = firstChild(r, "", "Code");
        if (!code) {
          err = bad("EventReason without Code");
          return;
        }
        er.code = std::string(trimXmlSpace(text(code)));
        forChildren(r, [&](const xmlNode* d) {
          if (is(d, "", "Details")) er.details.push_back(text(d));
        });
        ev.reasons.push_back(std::move(er));
      });
      if (err) return *err;
    } else if (name == "EventTime") {
      auto t = timeOf(c);
      if (!t) return std::move(t).error();
      ev.eventTime = *t;
      seenTime = true;
    } else if (name == "EvidenceIssuerPolicyID") {
      forChildren(c, [&](const xmlNode* p) {
        if (is(p, "", "PolicyID")) ev.policyIds.emplace_back(trimXmlSpace(text(p)));
      });
    } else if (name == "EvidenceIssuerDetails") {
      auto e = readEntity(c);
      if (!e) return std::move(e).error();
      ev.issuer = std::move(*e);
      seenIssuer = true;
    } else if (name == "SenderDetails" || name == "SenderDelegateDetails" ||
               name == "RecipientDetails") {
      auto u = readUser(c);
      if (!u) return std::move(u).error();
      if (name == "SenderDetails") {
        ev.sender = std::move(*u);
        seenSender = true;
      } else if (name == "SenderDelegateDetails") {
        ev.senderDelegate = std::move(*u);
      } else {
        ev.recipients.push_back(std::move(*u));
      }
    } else if (name == "RecipientsDelegateDetails") {
      auto u = readUser(c);
      if (!u) return std::move(u).error();
      RecipientDelegateDetails d{std::move(*u), {}};
      if (const xmlNode* dr = firstChild(c, "", "DelegatingRecipients")) {
        auto l = intList(dr);
        if (!l) return std::move(l).error();
        d.delegatingRecipients = std::move(*l);
      }
      ev.recipientDelegates.push_back(std::move(d));
    } else if (name == "SubmissionTime") {
      auto t = timeOf(c);
      if (!t) return std::move(t).error();
      ev.submissionTime = *t;
    } else if (name == "EvidenceRefersToRecipient") {
      auto v = intOf(c);
      if (!v) return std::move(v).error();
      ev.evidenceRefersToRecipient = *v;
    } else if (name == "MessageIdentifier") {
      ev.messageIdentifier = std::string(trimXmlSpace(text(c)));
    } else if (name == "UserContentInfo") {
      auto u = readUserContent(c);
      if (!u) return std::move(u).error();
      ev.userContentInfo = std::move(*u);
    } else if (name == "ForwardedToExternalSystem" || name == "ExternalSystem") {
      ev.externalSystem = text(c);
    } else if (name == "ExternalERDSDetails") {
      auto e = readEntity(c);
      if (!e) return std::move(e).error();
      ev.externalErds = std::move(*e);
    } else if (name == "TransactionLogInformation") {
      forChildren(c, [&](const xmlNode* l) {
        if (is(l, kErdsNamespace, "TransactionLog")) ev.transactionLogs.push_back(text(l));
      });
    } else if (name == "Extensions") {
      ERDS_RETURN_IF_ERROR(readExtensions(c, ev));
    } else if (name == "Signature") {
      ev.hasSignature = true;
    }
  }
  if (!seenId || ev.evidenceIdentifier.empty()) return bad("EvidenceIdentifier missing");
  if (!seenEvent) return bad("ERDSEventId missing");
  if (!seenTime) return bad("EventTime missing");
  if (!seenIssuer) return bad("EvidenceIssuerDetails missing");
  if (!seenSender) return bad("SenderDetails missing");
  if (ev.recipients.empty()) return bad("RecipientDetails missing");
  return ev;
}

}  // namespace

Result<Evidence> readEvidenceXml(std::string_view xml, const ReadLimits& limits) {
  return internal::readEvidenceXmlKeepingDoc(xml, limits, nullptr);
}

Result<Evidence> internal::readEvidenceXmlKeepingDoc(std::string_view xml, const ReadLimits& limits,
                                                     XmlDocPtr* docOut) {
  if (xml.size() > limits.maxBytes)
    return bad("document larger than " + std::to_string(limits.maxBytes) + " bytes");
  if (xml.empty()) return bad("empty document");
  // Evidence is UTF-8; a NUL byte means another encoding (or garbage), which we do not accept.
  if (std::memchr(xml.data(), '\0', xml.size()) != nullptr)
    return bad("NUL byte (only UTF-8 is accepted)");
  if (xml.find("<!DOCTYPE") != std::string_view::npos) return bad("DOCTYPE is not allowed");
  if (xml.size() > static_cast<std::size_t>(INT32_MAX)) return bad("document too large");

  static std::once_flag init;
  std::call_once(init, [] { xmlInitParser(); });

  CtxtPtr ctxt(xmlNewParserCtxt());
  if (!ctxt) return Error::internal("xmlNewParserCtxt failed");
  RefuseState state;
  ctxt->_private = &state;
  ctxt->sax->internalSubset = onInternalSubset;
  ctxt->sax->externalSubset = onExternalSubset;
  ctxt->sax->entityDecl = onEntityDecl;
  ctxt->sax->getEntity = onGetEntity;
  ctxt->sax->getParameterEntity = onGetEntity;
  ctxt->sax->resolveEntity = nullptr;
  // No NOENT (no substitution), no DTDLOAD/DTDATTR/DTDVALID, no XINCLUDE, no HUGE.
  const int options = XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING | XML_PARSE_NOCDATA;
  DocPtr doc(xmlCtxtReadMemory(ctxt.get(), xml.data(), static_cast<int>(xml.size()), "evidence.xml",
                               "UTF-8", options));
  if (state.sawDtd) return bad("DTD or entity declarations are not allowed");
  if (!doc || !ctxt->wellFormed) {
    const xmlError* e = xmlCtxtGetLastError(ctxt.get());
    std::string why = e && e->message ? e->message : "not well-formed";
    while (!why.empty() && (why.back() == '\n' || why.back() == ' '))
      why.pop_back();
    return bad("not well-formed: " + why);
  }
  if (doc->intSubset || doc->extSubset) return bad("DTD is not allowed");
  const xmlNode* root = xmlDocGetRootElement(doc.get());
  if (!root) return bad("no root element");
  auto model = readRoot(root);
  if (model && docOut != nullptr) docOut->reset(doc.release());
  return model;
}

}  // namespace erds::evidence
