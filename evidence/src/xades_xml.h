// Internal libxml2/xmlsec plumbing for the XAdES verifier: one-time xmlsec initialisation, element
// helpers and canonicalisation of one subtree.
#pragma once

#include <libxml/tree.h>

#include <string>
#include <string_view>
#include <vector>

#include "erds/base/result.h"

namespace erds::evidence::internal {

// Initialises libxml2 and xmlsec (OpenSSL backend) once per process and silences their default
// stderr error output (errors are collected per thread, see takeXmlsecErrors). Internal on failure.
Result<void> ensureXmlsecInitialised();
// The xmlsec errors collected on this thread since the last call (then cleared).
std::string takeXmlsecErrors();

bool isElement(const xmlNode* n, std::string_view ns, std::string_view localName);
std::vector<xmlNode*> childElements(xmlNode* parent);
// Attribute without namespace; "" when absent.
std::string attribute(const xmlNode* n, const char* name);
bool hasAttribute(const xmlNode* n, const char* name);
// Concatenated text content.
std::string textOf(const xmlNode* n);

// Canonicalises the subtree rooted at `root` (element, its attributes and namespace nodes, its
// descendants) with the C14N method named by `algorithmUri` (exc-C14N or C14N 1.0/1.1, with or
// without comments). InvalidInput for an unknown method.
Result<std::string> canonicalizeSubtree(xmlDoc* doc, xmlNode* root, std::string_view algorithmUri);

}  // namespace erds::evidence::internal
