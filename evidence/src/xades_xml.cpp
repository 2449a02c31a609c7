// Internal libxml2/xmlsec plumbing (see xades_xml.h).
#include "xades_xml.h"

#include <libxml/c14n.h>
#include <libxml/parser.h>
#include <xmlsec/crypto.h>
#include <xmlsec/errors.h>
#include <xmlsec/xmlsec.h>

#include <mutex>

namespace erds::evidence::internal {
namespace {

thread_local std::string tlsXmlsecErrors;

void collectXmlsecError(const char* /*file*/, int /*line*/, const char* func, const char* errorObject,
                        const char* errorSubject, int reason, const char* msg) {
  if (tlsXmlsecErrors.size() > 2048) return;
  if (!tlsXmlsecErrors.empty()) tlsXmlsecErrors += "; ";
  const char* reasonText = xmlSecErrorsGetMsg(static_cast<xmlSecSize>(reason));
  tlsXmlsecErrors += std::string(func ? func : "?") + ": " + (errorObject ? errorObject : "") +
                     (errorSubject ? std::string("/") + errorSubject : "") + " " +
                     (reasonText ? reasonText : "") + (msg ? std::string(" (") + msg + ")" : "");
}

int appendToString(void* context, const char* buffer, int len) {
  static_cast<std::string*>(context)->append(buffer, static_cast<std::size_t>(len));
  return len;
}

int inSubtree(void* root, xmlNodePtr node, xmlNodePtr parent) {
  const xmlNode* n = node;
  if (n == nullptr || n->type == XML_NAMESPACE_DECL) n = parent;
  for (; n != nullptr; n = n->parent)
    if (n == root) return 1;
  return 0;
}

}  // namespace

Result<void> ensureXmlsecInitialised() {
  static std::once_flag once;
  static bool ok = false;
  std::call_once(once, [] {
    xmlInitParser();
    if (xmlSecInit() < 0) return;
    if (xmlSecCheckVersion() != 1) return;
    if (xmlSecCryptoAppInit(nullptr) < 0) return;
    if (xmlSecCryptoInit() < 0) return;
    xmlSecErrorsSetCallback(collectXmlsecError);
    ok = true;
  });
  if (!ok) return Error::internal("xmlsec initialisation failed");
  return {};
}

std::string takeXmlsecErrors() {
  std::string out;
  out.swap(tlsXmlsecErrors);
  return out;
}

bool isElement(const xmlNode* n, std::string_view ns, std::string_view localName) {
  return n != nullptr && n->type == XML_ELEMENT_NODE && n->ns != nullptr && n->ns->href != nullptr &&
         ns == reinterpret_cast<const char*>(n->ns->href) && localName == reinterpret_cast<const char*>(n->name);
}

std::vector<xmlNode*> childElements(xmlNode* parent) {
  std::vector<xmlNode*> out;
  for (xmlNode* c = parent ? parent->children : nullptr; c != nullptr; c = c->next)
    if (c->type == XML_ELEMENT_NODE) out.push_back(c);
  return out;
}

std::string attribute(const xmlNode* n, const char* name) {
  xmlChar* v = xmlGetNoNsProp(n, BAD_CAST name);
  if (v == nullptr) return {};
  std::string out(reinterpret_cast<char*>(v));
  xmlFree(v);
  return out;
}

bool hasAttribute(const xmlNode* n, const char* name) {
  return xmlHasNsProp(n, BAD_CAST name, nullptr) != nullptr;
}

std::string textOf(const xmlNode* n) {
  xmlChar* v = xmlNodeGetContent(n);
  if (v == nullptr) return {};
  std::string out(reinterpret_cast<char*>(v));
  xmlFree(v);
  return out;
}

Result<std::string> canonicalizeSubtree(xmlDoc* doc, xmlNode* root, std::string_view algorithmUri) {
  int mode = 0;
  int comments = 0;
  if (algorithmUri == "http://www.w3.org/2001/10/xml-exc-c14n#") {
    mode = XML_C14N_EXCLUSIVE_1_0;
  } else if (algorithmUri == "http://www.w3.org/2001/10/xml-exc-c14n#WithComments") {
    mode = XML_C14N_EXCLUSIVE_1_0;
    comments = 1;
  } else if (algorithmUri == "http://www.w3.org/TR/2001/REC-xml-c14n-20010315") {
    mode = XML_C14N_1_0;
  } else if (algorithmUri == "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments") {
    mode = XML_C14N_1_0;
    comments = 1;
  } else if (algorithmUri == "http://www.w3.org/2006/12/xml-c14n11") {
    mode = XML_C14N_1_1;
  } else if (algorithmUri == "http://www.w3.org/2006/12/xml-c14n11#WithComments") {
    mode = XML_C14N_1_1;
    comments = 1;
  } else {
    return Error::invalidInput("unsupported canonicalisation method " + std::string(algorithmUri));
  }
  std::string out;
  xmlOutputBufferPtr buf = xmlOutputBufferCreateIO(appendToString, nullptr, &out, nullptr);
  if (buf == nullptr) return Error::internal("xmlOutputBufferCreateIO failed");
  const int rc = xmlC14NExecute(doc, inSubtree, root, mode, nullptr, comments, buf);
  const int closeRc = xmlOutputBufferClose(buf);
  if (rc < 0 || closeRc < 0) return Error::internal("C14N of a subtree failed");
  return out;
}

}  // namespace erds::evidence::internal
