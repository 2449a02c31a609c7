// Fuzz target: verification of a sealed evidence document (erds::evidence::EvidenceVerifier:
// libxml2 + xmlsec XAdES, anti-wrapping, seal chain, SignatureTimeStamp). Trust anchors are the
// AgID sample roots from the conformance folder, so the sample evidence (the seeds) reach the
// deepest checks; without that folder a throwaway root is used and only the shallow paths run.
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>

#include "erds/evidence/evidence_verifier.h"
#include "fuzz_support.h"
#include "test_pki.h"

namespace {
std::shared_ptr<const erds::evidence::EvidenceVerifier> g_verifier;
}

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  using namespace erds::evidence;
  erds::fuzz::quietLogs();
  const std::string certs = erds::fuzz::agidDir() + "/certificates/";
  VerifierTrust trust;
  std::string rem = erds::fuzz::readFile(certs + "REM-ROOT-CA.crt");
  std::string tsa = erds::fuzz::readFile(certs + "TSA-ROOT-CA.extracted-from-sample-tokens.pem");
  if (rem.empty() || tsa.empty()) {
    std::fprintf(stderr, "fuzz_evidence_verify: no conformance roots under %s; using a test root\n",
                 certs.c_str());
    testing::TestPki pki;
    rem = pki.root().certPem;
    tsa = rem;
  }
  trust.sealAnchorsPem = {rem};
  trust.tsaAnchorsPem = {tsa};
  auto verifier = EvidenceVerifier::create(trust);
  if (!verifier) erds::fuzz::fail("EvidenceVerifier::create: " + verifier.error().message);
  g_verifier = *verifier;
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace erds::evidence;
  erds::fuzz::clearLogs();
  auto report = g_verifier->verify(erds::fuzz::asView(data, size));
  if (!report) return 0;  // Internal library failure: a result, not a crash
  if (report->status == VerifyStatus::Valid) {
    if (!report->reason.empty()) erds::fuzz::fail("valid report with a failure reason");
    if (!report->timestampTime) erds::fuzz::fail("valid report without a time-stamp time");
  } else if (report->reason.empty()) {
    erds::fuzz::fail("invalid/indeterminate report without a reason");
  }
  return 0;
}
