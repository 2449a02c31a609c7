// Fuzz target: the hardened EN 319 522-3 evidence reader (erds::evidence::readEvidenceXml).
// Invariants checked on accepted input: when the model can be written again, the written document
// reads back, writing is idempotent, and the signature slot sits just before </tns:Evidence>.
#include <cstdint>
#include <string>

#include "erds/evidence/evidence_xml.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  erds::fuzz::quietLogs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace erds::evidence;
  erds::fuzz::clearLogs();
  auto evidence = readEvidenceXml(erds::fuzz::asView(data, size));
  if (!evidence) return 0;

  // Evidence from others is described, not judged: the writer (which validates) may refuse it.
  auto written = writeEvidenceXml(*evidence);
  if (!written) return 0;
  if (written->signatureOffset > written->document.size() ||
      std::string_view(written->document).substr(written->signatureOffset).rfind(
          "</tns:Evidence>", 0) != 0) {
    erds::fuzz::fail("signatureOffset is not just before </tns:Evidence>");
  }
  auto reread = readEvidenceXml(written->document);
  if (!reread) erds::fuzz::fail("written evidence does not read back: " + reread.error().message);
  auto rewritten = writeEvidenceXml(*reread);
  if (!rewritten) {
    erds::fuzz::fail("re-read evidence cannot be written: " + rewritten.error().message);
  }
  if (rewritten->document != written->document || rewritten->canonical != written->canonical) {
    erds::fuzz::fail("write(read(write(e))) differs from write(e)");
  }
  return 0;
}
