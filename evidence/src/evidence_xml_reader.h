// Internal: readEvidenceXml that also hands back the libxml2 document it parsed, so the verifier
// runs xmlsec on the same hardened parse instead of parsing the bytes a second time.
#pragma once

#include <libxml/tree.h>

#include <memory>
#include <string_view>

#include "erds/evidence/evidence_xml.h"

namespace erds::evidence::internal {

struct XmlDocFree {
  void operator()(xmlDoc* d) const { xmlFreeDoc(d); }
};
using XmlDocPtr = std::unique_ptr<xmlDoc, XmlDocFree>;

// As readEvidenceXml(xml, limits); on success `*doc` (when not null) receives the parsed document
// (UTF-8, no DTD, no entity substitution, CDATA merged into text, which exclusive C14N treats
// alike). Thread-safe.
Result<Evidence> readEvidenceXmlKeepingDoc(std::string_view xml, const ReadLimits& limits, XmlDocPtr* doc);

}  // namespace erds::evidence::internal
