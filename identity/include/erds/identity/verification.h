// Identity proofing by verification officers (EN 319 521 role): the lifecycle of a verification
// request, the separation-of-duties rules, the optional second approval for level high, and
// document numbers kept only as a keyed hash. Pure logic over the VerificationStore port.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "erds/base/clock.h"
#include "erds/base/result.h"
#include "erds/base/secret.h"
#include "erds/identity/party.h"

namespace erds::identity {

enum class VerificationStatus { Pending, AwaitingSecondApproval, Approved, Rejected };
std::string_view verificationStatusName(VerificationStatus s);

// HMAC-SHA256 of a normalised document number under a pepper (a Secret from a secret file), so
// equal numbers can be matched without storing them.
class DocumentNumberHasher {
 public:
  // InvalidInput if the pepper is shorter than 32 bytes.
  static Result<DocumentNumberHasher> create(Secret pepper);
  // 32 raw bytes. The number is upper-cased with spaces, dashes and dots removed; the issuing
  // country (ISO 3166 alpha-2) and document type are bound in so the same number of different
  // documents does not collide.
  std::string hash(std::string_view issuingCountry, std::string_view documentType,
                   std::string_view documentNumber) const;

 private:
  explicit DocumentNumberHasher(Secret p) : pepper_(std::move(p)) {}
  Secret pepper_;
};

struct DocumentReview {
  std::string documentType;      // "passport", "id_card", "residence_permit", ...
  std::string issuingCountry;    // ISO 3166-1 alpha-2
  std::string documentNumberHash;  // DocumentNumberHasher::hash (raw); never the number itself
  std::string expiresOn;         // "YYYY-MM-DD"
  std::string reviewedBy;        // officer party id
};

struct Approval {
  std::string officerId;
  std::string officerAuthenticationRef;  // the officer's session/authentication record
  IdentificationMethod method = IdentificationMethod::PhysicalPresence;
  LevelOfAssurance level = LevelOfAssurance::None;
  TimePoint at{};
};

// A preferred appointment for an in-person verification (physical_presence only).
struct Appointment {
  TimePoint preferredAt{};
  std::string note;  // <= 500 characters
};

// Metadata of an uploaded identity document scan (the bytes live encrypted in the document store).
struct DocumentScanInfo {
  std::string id;
  std::string contentType;  // image/jpeg | image/png | application/pdf
  int64_t size = 0;
  std::string sha256Hex;    // of the plaintext
  TimePoint uploadedAt{};
  std::optional<TimePoint> retentionUntil;  // set when the request is decided
  bool purged = false;
};

struct VerificationRequest {
  std::string id;
  std::string partyId;    // whose identity is verified
  std::string createdBy;  // who opened the request (the party itself, or an officer at a desk)
  LevelOfAssurance requestedLevel = LevelOfAssurance::Substantial;
  // How the party asks to be verified: physical_presence (default), remote_id_document_scan, or
  // qualified_certificate (normally done through the signed challenge instead).
  IdentificationMethod requestedMethod = IdentificationMethod::PhysicalPresence;
  std::optional<Appointment> appointment;  // physical_presence only
  std::vector<DocumentScanInfo> documents;  // read-only here: filled by the store, oldest first
  VerificationStatus status = VerificationStatus::Pending;
  TimePoint createdAt{};
  std::optional<DocumentReview> document;
  std::vector<Approval> approvals;
  std::string rejectionReason;
  std::string decidedBy;  // the officer whose action made it Approved/Rejected
  TimePoint decidedAt{};
  int64_t version = 0;    // optimistic concurrency; bumped by every update
};

// Storage port. The PostgreSQL implementation writes the request, the identification and the
// audit record in one transaction.
class VerificationStore {
 public:
  virtual ~VerificationStore() = default;
  // Conflict if the id exists.
  virtual Result<void> create(const VerificationRequest& r) = 0;
  // NotFound if absent.
  virtual Result<VerificationRequest> find(const std::string& id) = 0;
  // Replaces the request iff its stored version equals `expectedVersion` (Conflict otherwise),
  // storing it with version expectedVersion + 1; if `identification` is set, records it atomically
  // with the update.
  virtual Result<void> update(const VerificationRequest& r, int64_t expectedVersion,
                              const std::optional<Identification>& identification) = 0;
  // Requests in Pending or AwaitingSecondApproval, oldest first.
  virtual Result<std::vector<VerificationRequest>> openRequests() = 0;
  virtual Result<std::vector<Identification>> identificationsOf(const std::string& partyId) = 0;
};

// Who acts, as the front end established it from the session.
struct Actor {
  std::string partyId;
  RoleSet roles;
  std::string authenticationRef;  // e.g. hex of the session token hash
  bool strongAuthentication = false;
};

struct WorkflowOptions {
  bool secondApprovalForHigh = true;  // on by default (qualified); configurable
};

// Thread-safe if the store is; concurrent decisions on one request are resolved by the store's
// version check (one wins, the other gets Conflict).
class VerificationWorkflow {
 public:
  VerificationWorkflow(VerificationStore& store, const Clock& clock, const DocumentNumberHasher& hasher,
                       WorkflowOptions options = {})
      : store_(store), clock_(clock), hasher_(hasher), options_(options) {}

  // Opens a request for `partyId`. A user may open one only for themself; an officer may open one
  // for anyone (then cannot decide it). InvalidInput for level none, a method other than
  // physical_presence / remote_id_document_scan / qualified_certificate, remote_id_document_scan
  // above substantial, an appointment with another method than physical_presence, or a note over
  // kMaxAppointmentNote characters; Unauthorized otherwise.
  static constexpr std::size_t kMaxAppointmentNote = 500;
  Result<VerificationRequest> open(const Actor& actor, const std::string& partyId, LevelOfAssurance requestedLevel,
                                   IdentificationMethod requestedMethod = IdentificationMethod::PhysicalPresence,
                                   std::optional<Appointment> appointment = std::nullopt);

  // Officer records the reviewed document (number hashed here, never stored). Request must be
  // Pending. Errors as approve().
  Result<VerificationRequest> recordDocument(const Actor& officer, const std::string& requestId,
                                             std::string_view documentType, std::string_view issuingCountry,
                                             std::string_view documentNumber, std::string_view expiresOn);

  // Approves with a method and level. Unauthorized: not an officer, no strong authentication,
  // own request, a request the officer created, or (second approval) the same officer again.
  // Conflict: not open, or changed concurrently. InvalidInput: level none, a document-based method
  // without a recorded document, remote_id_document_scan above substantial, or a second approval
  // whose method/level differs from the first. With secondApprovalForHigh, a first approval at
  // level high moves the request to AwaitingSecondApproval; the final approval records an
  // Identification in the same store update.
  Result<VerificationRequest> approve(const Actor& officer, const std::string& requestId,
                                      IdentificationMethod method, LevelOfAssurance level);

  // Rejects with a non-empty reason (InvalidInput otherwise). Same officer rules as approve().
  Result<VerificationRequest> reject(const Actor& officer, const std::string& requestId, std::string_view reason);

  // The officer queue. Unauthorized unless `officer` is an officer.
  Result<std::vector<VerificationRequest>> queue(const Actor& officer);

 private:
  Result<VerificationRequest> loadForDecision(const Actor& officer, const std::string& requestId);

  VerificationStore& store_;
  const Clock& clock_;
  const DocumentNumberHasher& hasher_;
  WorkflowOptions options_;
};

}  // namespace erds::identity
