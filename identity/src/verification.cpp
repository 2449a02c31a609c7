#include "erds/identity/verification.h"

#include <algorithm>
#include <cctype>

#include "crypto_util.h"

namespace erds::identity {
namespace {

std::string newId(std::string_view prefix) { return std::string(prefix) + internal::hex(internal::randomBytes(16)); }

bool documentBased(IdentificationMethod m) {
  return m == IdentificationMethod::PhysicalPresence || m == IdentificationMethod::RemoteIdDocumentScan;
}

std::string normalise(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == ' ' || c == '-' || c == '.') continue;
    out.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  }
  return out;
}

}  // namespace

std::string_view verificationStatusName(VerificationStatus s) {
  switch (s) {
    case VerificationStatus::Pending: return "pending";
    case VerificationStatus::AwaitingSecondApproval: return "awaiting_second_approval";
    case VerificationStatus::Approved: return "approved";
    case VerificationStatus::Rejected: return "rejected";
  }
  return "unknown";
}

Result<DocumentNumberHasher> DocumentNumberHasher::create(Secret pepper) {
  if (pepper.size() < 32) return Error::invalidInput("document number pepper must be at least 32 bytes");
  return DocumentNumberHasher(std::move(pepper));
}

std::string DocumentNumberHasher::hash(std::string_view issuingCountry, std::string_view documentType,
                                       std::string_view documentNumber) const {
  // Length-prefixed fields so that ("AB","C") and ("A","BC") cannot collide.
  std::string input;
  for (const std::string& f : {normalise(issuingCountry), normalise(documentType), normalise(documentNumber)}) {
    input += std::to_string(f.size()) + ":" + f;
  }
  return internal::hmac("SHA256", pepper_.reveal(), input);
}

Result<VerificationRequest> VerificationWorkflow::open(const Actor& actor, const std::string& partyId,
                                                       LevelOfAssurance requestedLevel,
                                                       IdentificationMethod requestedMethod,
                                                       std::optional<Appointment> appointment) {
  using M = IdentificationMethod;
  if (requestedLevel == LevelOfAssurance::None) return Error::invalidInput("requested level must be low or higher");
  if (requestedMethod != M::PhysicalPresence && requestedMethod != M::RemoteIdDocumentScan &&
      requestedMethod != M::QualifiedCertificate) {
    return Error::invalidInput("method must be physical_presence or remote_id_document_scan");
  }
  if (requestedMethod == M::RemoteIdDocumentScan && requestedLevel == LevelOfAssurance::High) {
    return Error::invalidInput("remote_id_document_scan reaches at most level substantial");
  }
  if (appointment && requestedMethod != M::PhysicalPresence) {
    return Error::invalidInput("an appointment is only for physical_presence");
  }
  if (appointment && std::count_if(appointment->note.begin(), appointment->note.end(), [](char c) {
                       return (static_cast<unsigned char>(c) & 0xC0) != 0x80;  // UTF-8 code points
                     }) > static_cast<std::ptrdiff_t>(kMaxAppointmentNote)) {
    return Error::invalidInput("appointment note longer than 500 characters");
  }
  if (partyId.empty()) return Error::invalidInput("no party");
  if (actor.partyId != partyId && !actor.roles.has(Role::Officer)) {
    return Error::unauthorized("only an officer may open a verification request for another party");
  }
  VerificationRequest r;
  r.id = newId("vr_");
  r.partyId = partyId;
  r.createdBy = actor.partyId;
  r.requestedLevel = requestedLevel;
  r.requestedMethod = requestedMethod;
  r.appointment = std::move(appointment);
  r.createdAt = clock_.now();
  ERDS_RETURN_IF_ERROR(store_.create(r));
  return r;
}

Result<VerificationRequest> VerificationWorkflow::loadForDecision(const Actor& officer, const std::string& requestId) {
  if (!officer.roles.has(Role::Officer)) return Error::unauthorized("verification officer role required");
  if (!officer.strongAuthentication) {
    return Error::unauthorized("officers must sign in with a second factor or a certificate");
  }
  auto r = store_.find(requestId);
  if (!r) return r.error();
  if (r->partyId == officer.partyId) return Error::unauthorized("an officer cannot decide their own verification");
  if (r->createdBy == officer.partyId) {
    return Error::unauthorized("an officer cannot decide a verification request they created");
  }
  if (r->status != VerificationStatus::Pending && r->status != VerificationStatus::AwaitingSecondApproval) {
    return Error::conflict("verification request is already " + std::string(verificationStatusName(r->status)));
  }
  return r;
}

Result<VerificationRequest> VerificationWorkflow::recordDocument(const Actor& officer, const std::string& requestId,
                                                                 std::string_view documentType,
                                                                 std::string_view issuingCountry,
                                                                 std::string_view documentNumber,
                                                                 std::string_view expiresOn) {
  auto r = loadForDecision(officer, requestId);
  if (!r) return r.error();
  if (r->status != VerificationStatus::Pending) return Error::conflict("document can only be recorded while pending");
  if (documentType.empty() || documentNumber.empty() || issuingCountry.size() != 2) {
    return Error::invalidInput("document type, number and a two-letter issuing country are required");
  }
  if (expiresOn.size() != 10 || expiresOn[4] != '-' || expiresOn[7] != '-') {
    return Error::invalidInput("document expiry must be YYYY-MM-DD");
  }
  const int64_t expected = r->version;
  DocumentReview doc;
  doc.documentType = std::string(documentType);
  doc.issuingCountry = normalise(issuingCountry);
  doc.documentNumberHash = hasher_.hash(issuingCountry, documentType, documentNumber);
  doc.expiresOn = std::string(expiresOn);
  doc.reviewedBy = officer.partyId;
  r->document = std::move(doc);
  r->version = expected + 1;
  ERDS_RETURN_IF_ERROR(store_.update(*r, expected, std::nullopt));
  return r;
}

Result<VerificationRequest> VerificationWorkflow::approve(const Actor& officer, const std::string& requestId,
                                                          IdentificationMethod method, LevelOfAssurance level) {
  auto r = loadForDecision(officer, requestId);
  if (!r) return r.error();
  if (level == LevelOfAssurance::None) return Error::invalidInput("approval needs a level of assurance");
  if (method == IdentificationMethod::RemoteIdDocumentScan && atLeast(level, LevelOfAssurance::High)) {
    return Error::invalidInput("a remote document scan reaches at most level substantial");
  }
  if (documentBased(method) && !r->document) return Error::invalidInput("record the reviewed identity document first");

  const TimePoint now = clock_.now();
  const int64_t expected = r->version;
  Approval a{officer.partyId, officer.authenticationRef, method, level, now};
  bool isFinal = true;
  if (r->status == VerificationStatus::AwaitingSecondApproval) {
    const Approval& first = r->approvals.front();
    if (first.officerId == officer.partyId) {
      return Error::unauthorized("the second approval must come from a different officer");
    }
    if (first.method != method || first.level != level) {
      return Error::invalidInput("the second approval must confirm the same method and level");
    }
  } else if (options_.secondApprovalForHigh && level == LevelOfAssurance::High) {
    isFinal = false;
  }
  r->approvals.push_back(a);
  r->version = expected + 1;
  std::optional<Identification> id;
  if (isFinal) {
    r->status = VerificationStatus::Approved;
    r->decidedBy = officer.partyId;
    r->decidedAt = now;
    Identification rec;
    rec.id = newId("idn_");
    rec.partyId = r->partyId;
    rec.method = method;
    rec.level = level;
    rec.at = now;
    for (const Approval& ap : r->approvals) rec.officerIds.push_back(ap.officerId);
    rec.verificationRequestId = r->id;
    id = std::move(rec);
  } else {
    r->status = VerificationStatus::AwaitingSecondApproval;
  }
  ERDS_RETURN_IF_ERROR(store_.update(*r, expected, id));
  return r;
}

Result<VerificationRequest> VerificationWorkflow::reject(const Actor& officer, const std::string& requestId,
                                                         std::string_view reason) {
  if (reason.find_first_not_of(" \t\r\n") == std::string_view::npos) {
    return Error::invalidInput("a rejection needs a reason");
  }
  auto r = loadForDecision(officer, requestId);
  if (!r) return r.error();
  const int64_t expected = r->version;
  r->status = VerificationStatus::Rejected;
  r->rejectionReason = std::string(reason.substr(0, 2000));
  r->decidedBy = officer.partyId;
  r->decidedAt = clock_.now();
  r->version = expected + 1;
  ERDS_RETURN_IF_ERROR(store_.update(*r, expected, std::nullopt));
  return r;
}

Result<std::vector<VerificationRequest>> VerificationWorkflow::queue(const Actor& officer) {
  if (!officer.roles.has(Role::Officer)) return Error::unauthorized("verification officer role required");
  return store_.openRequests();
}

}  // namespace erds::identity
