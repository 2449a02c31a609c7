// Direct writer: emits the evidence document and its exclusive C14N form, one pass each, with no
// DOM. The two differ only in where namespaces are declared: the document declares them all on the
// root (as the samples do); exclusive C14N declares each on the outermost element that visibly
// uses it. Everything else is already canonical syntax (sorted attributes, no self-closing tags,
// C14N escaping, no XML declaration in the canonical form), which evidence_xml_writer_test checks
// against libxml2's xmlC14NDocDumpMemory for every event.
#include <algorithm>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "erds/evidence/evidence_builder.h"
#include "erds/evidence/evidence_xml.h"

#include "xml_text.h"

namespace erds::evidence {
namespace {

using internal::appendC14nAttr;
using internal::appendC14nText;
using internal::base64Encode;
using internal::formatDateTime;
using internal::isXmlText;

constexpr std::string_view kXsiNamespace = "http://www.w3.org/2001/XMLSchema-instance";
constexpr std::string_view kElpNamespace = "http://eidas.europa.eu/attributes/legalperson";
constexpr std::string_view kEnpNamespace = "http://eidas.europa.eu/attributes/naturalperson";

enum class Mode { Document, Canonical };

struct Ns {
  std::string_view prefix;
  std::string_view uri;
};
struct Attr {
  std::string_view name;
  std::string_view value;
};

const Ns kTnsNs{"tns", kErdsNamespace};
const Ns kDsNs{"ds", kDsNamespace};
const Ns kSamlNs{"saml", kSamlNamespace};
const Ns kExtNs{"ext", kRemNamespace};
const Ns kXsiNs{"xsi", kXsiNamespace};

class Emitter {
 public:
  explicit Emitter(Mode mode) : mode_(mode) {}

  // `canonicalNs` are declared only in canonical mode (the document root declares them).
  // `alwaysNs` are declared in both modes. Attributes must be given in C14N order (by namespace
  // URI, then local name; unqualified first).
  void start(std::string_view qname, std::vector<Ns> canonicalNs = {}, std::vector<Attr> attrs = {},
             std::vector<Ns> alwaysNs = {}) {
    open(qname, std::move(canonicalNs), std::move(attrs), std::move(alwaysNs));
    ++depth_;
    hadChild_ = false;
  }

  void end(std::string_view qname) {
    --depth_;
    if (hadChild_) newline();
    close(qname);
  }

  void leaf(std::string_view qname, std::string_view text, std::vector<Ns> canonicalNs = {},
            std::vector<Attr> attrs = {}, std::vector<Ns> alwaysNs = {}) {
    open(qname, std::move(canonicalNs), std::move(attrs), std::move(alwaysNs));
    check(text);
    appendC14nText(out_, text);
    close(qname);
  }

  void raw(std::string_view s) { out_ += s; }
  void newline() {
    out_ += '\n';
    out_.append(static_cast<std::size_t>(depth_) * 2, ' ');
  }
  std::string take() { return std::move(out_); }
  const std::optional<std::string>& error() const { return error_; }

 private:
  void open(std::string_view qname, std::vector<Ns> canonicalNs, std::vector<Attr> attrs,
            std::vector<Ns> ns) {
    if (depth_ > 0) newline();
    out_ += '<';
    out_ += qname;
    if (mode_ == Mode::Canonical) ns.insert(ns.end(), canonicalNs.begin(), canonicalNs.end());
    std::sort(ns.begin(), ns.end(), [](const Ns& a, const Ns& b) { return a.prefix < b.prefix; });
    for (const auto& n : ns) {
      out_ += " xmlns:";
      out_ += n.prefix;
      out_ += "=\"";
      appendC14nAttr(out_, n.uri);
      out_ += '"';
    }
    for (const auto& a : attrs) {
      check(a.value);
      out_ += ' ';
      out_ += a.name;
      out_ += "=\"";
      appendC14nAttr(out_, a.value);
      out_ += '"';
    }
    out_ += '>';
  }
  void close(std::string_view qname) {
    out_ += "</";
    out_ += qname;
    out_ += '>';
    hadChild_ = true;
  }
  void check(std::string_view s) {
    if (!error_ && !isXmlText(s)) error_ = "a value is not valid UTF-8 XML 1.0 text";
  }

  Mode mode_;
  std::string out_;
  int depth_ = 0;
  bool hadChild_ = false;
  std::optional<std::string> error_;
};

void writeIdentity(Emitter& w, const std::vector<SamlAttribute>& identity) {
  w.start("tns:Identity");
  for (const auto& a : identity) {
    std::vector<Attr> attrs;
    if (!a.friendlyName.empty()) attrs.push_back({"FriendlyName", a.friendlyName});
    attrs.push_back({"Name", a.name});
    if (!a.nameFormat.empty()) attrs.push_back({"NameFormat", a.nameFormat});
    w.start("saml:Attribute", {kSamlNs}, attrs);
    for (const auto& v : a.values) {
      if (a.xsiType.empty()) {
        w.leaf("saml:AttributeValue", v);
      } else {
        // xsi is declared on each value in both forms, as in the samples.
        w.leaf("saml:AttributeValue", v, {}, {{"xsi:type", a.xsiType}}, {kXsiNs});
      }
    }
    w.end("saml:Attribute");
  }
  w.end("tns:Identity");
}

void writeEntity(Emitter& w, std::string_view qname, const EntityDetails& e) {
  w.start(qname);
  writeIdentity(w, e.identity);
  if (e.x509CertificateDer) {
    w.start("tns:CertificateDetails");
    w.leaf("X509Certificate", base64Encode(*e.x509CertificateDer));
    w.end("tns:CertificateDetails");
  }
  w.end(qname);
}

void writeAssuranceLevel(Emitter& w, std::string_view name, const AssuranceLevel& l) {
  w.start(name);
  w.leaf("AssuranceLevel", l.level);
  if (l.policyId) w.leaf("PolicyID", *l.policyId);
  if (l.policyIdDetails) w.leaf("PolicyIDDetails", *l.policyIdDetails);
  w.end(name);
}

void writeUserContent(Emitter& w, const UserDetails& u) {
  if (!u.identity.empty()) writeIdentity(w, u.identity);
  if (u.identifier)
    w.leaf("Identifier", u.identifier->value, {}, {{"IdentifierSchemeName", u.identifier->scheme}});
  if (u.assurance) {
    w.start("AssuranceLevelsDetails");
    writeAssuranceLevel(w, "GlobalAssuranceLevel", u.assurance->global);
    if (u.assurance->authentication) {
      w.start("tns:AuthenticationDetails");
      w.leaf("AuthenticationTime", formatDateTime(u.assurance->authentication->time));
      w.leaf("AuthenticationMethod", u.assurance->authentication->method);
      w.end("tns:AuthenticationDetails");
    }
    w.end("AssuranceLevelsDetails");
  }
}

std::string joinInts(const std::vector<int>& v) {
  std::string s;
  for (int i : v) {
    if (!s.empty()) s += ' ';
    s += std::to_string(i);
  }
  return s;
}

std::string write(const Evidence& ev, Mode mode, std::size_t* signatureOffset) {
  Emitter w(mode);
  std::vector<Attr> rootAttrs;
  if (ev.xmlId) rootAttrs.push_back({"Id", *ev.xmlId});
  rootAttrs.push_back({"version", ev.version});
  if (mode == Mode::Document) {
    w.raw("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    w.start("tns:Evidence", {}, rootAttrs,
            {kDsNs, {"elp", kElpNamespace}, {"enp", kEnpNamespace}, kExtNs, kSamlNs, kTnsNs});
  } else {
    w.start("tns:Evidence", {}, rootAttrs, {kTnsNs});
  }
  w.leaf("tns:EvidenceIdentifier", ev.evidenceIdentifier);
  w.leaf("tns:ERDSEventId", eventUri(ev.event));
  if (!ev.reasons.empty()) {
    w.start("tns:EventReasons");
    for (const auto& r : ev.reasons) {
      w.start("tns:EventReason");
      w.leaf("Code", r.code);
      for (const auto& d : r.details)
        w.leaf("Details", d);
      w.end("tns:EventReason");
    }
    w.end("tns:EventReasons");
  }
  w.leaf("EventTime", formatDateTime(ev.eventTime));
  w.start("tns:EvidenceIssuerPolicyID");
  for (const auto& p : ev.policyIds)
    w.leaf("PolicyID", p);
  w.end("tns:EvidenceIssuerPolicyID");
  writeEntity(w, "tns:EvidenceIssuerDetails", ev.issuer);
  w.start("tns:SenderDetails");
  writeUserContent(w, ev.sender);
  w.end("tns:SenderDetails");
  if (ev.senderDelegate) {
    w.start("tns:SenderDelegateDetails");
    writeUserContent(w, *ev.senderDelegate);
    w.end("tns:SenderDelegateDetails");
  }
  for (const auto& r : ev.recipients) {
    w.start("tns:RecipientDetails");
    writeUserContent(w, r);
    w.end("tns:RecipientDetails");
  }
  for (const auto& d : ev.recipientDelegates) {
    w.start("tns:RecipientsDelegateDetails");
    writeUserContent(w, d.delegate);
    if (!d.delegatingRecipients.empty())
      w.leaf("DelegatingRecipients", joinInts(d.delegatingRecipients));
    w.end("tns:RecipientsDelegateDetails");
  }
  if (ev.submissionTime) w.leaf("tns:SubmissionTime", formatDateTime(*ev.submissionTime));
  if (ev.evidenceRefersToRecipient)
    w.leaf("EvidenceRefersToRecipient", std::to_string(*ev.evidenceRefersToRecipient));
  if (ev.messageIdentifier) w.leaf("tns:MessageIdentifier", *ev.messageIdentifier);
  if (ev.userContentInfo) {
    const auto& u = *ev.userContentInfo;
    w.start("tns:UserContentInfo");
    if (u.appLayerIdentifier) w.leaf("AppLayerIdentifier", *u.appLayerIdentifier);
    if (u.composingParts) w.leaf("ComposingParts", std::to_string(*u.composingParts));
    w.start("tns:PartsInfo");
    for (const auto& p : u.parts) {
      w.start("tns:PartInfo");
      w.leaf("Identifier", p.identifier);
      w.leaf("ContentType", p.contentType);
      if (p.digestAlgorithm)
        w.leaf("ds:DigestMethod", "", {kDsNs}, {{"Algorithm", *p.digestAlgorithm}});
      if (p.digest) w.leaf("ds:DigestValue", base64Encode(*p.digest), {kDsNs});
      w.end("tns:PartInfo");
    }
    w.end("tns:PartsInfo");
    w.end("tns:UserContentInfo");
  }
  // EN 319 522-3 names it ExternalSystem; the schema the REM baseline imports, and every sample,
  // use ForwardedToExternalSystem.
  if (ev.externalSystem) w.leaf("ForwardedToExternalSystem", *ev.externalSystem);
  if (ev.externalErds) writeEntity(w, "tns:ExternalERDSDetails", *ev.externalErds);
  if (!ev.transactionLogs.empty()) {
    w.start("tns:TransactionLogInformation");
    for (const auto& l : ev.transactionLogs)
      w.leaf("tns:TransactionLog", l);
    w.end("tns:TransactionLogInformation");
  }
  if (ev.generalInfo || ev.relayInfo) {
    w.start("tns:Extensions");
    if (ev.generalInfo) {
      w.start("tns:Extension", {}, {{"isCritical", "false"}});
      w.start("ext:GeneralEvidenceInfo", {kExtNs});
      if (ev.generalInfo->subject) w.leaf("ext:Subject", *ev.generalInfo->subject);
      for (int i : ev.generalInfo->untrustedPathToRecipient)
        w.leaf("ext:UntrustedPathToRecipient", std::to_string(i));
      w.end("ext:GeneralEvidenceInfo");
      w.end("tns:Extension");
    }
    if (ev.relayInfo) {
      w.start("tns:Extension", {}, {{"isCritical", "false"}});
      w.start("ext:RelayEvidenceInfo", {kExtNs});
      for (int i : ev.relayInfo->relayEvidenceRefersTo)
        w.leaf("ext:RelayEvidenceRefersTo", std::to_string(i));
      w.end("ext:RelayEvidenceInfo");
      w.end("tns:Extension");
    }
    w.end("tns:Extensions");
  }
  // The root's closing tag goes on its own line; the signature goes right before it.
  w.end("tns:Evidence");
  std::string out = w.take();
  if (w.error()) return {};
  if (signatureOffset) *signatureOffset = out.size() - std::string_view("</tns:Evidence>").size();
  return out;
}

}  // namespace

Result<EvidenceXml> writeEvidenceXml(const Evidence& evidence) {
  ERDS_RETURN_IF_ERROR(validateEvidence(evidence));
  if (!evidence.unknownExtensions.empty()) {
    return Error::invalidInput("cannot write evidence with unknown extensions");
  }
  if (evidence.version.empty()) return Error::invalidInput("evidence version is empty");
  EvidenceXml x;
  x.document = write(evidence, Mode::Document, &x.signatureOffset);
  if (x.document.empty())
    return Error::invalidInput("evidence contains text that is not valid UTF-8 XML 1.0");
  x.canonical = write(evidence, Mode::Canonical, nullptr);
  return x;
}

}  // namespace erds::evidence
