// The document store (encrypted ID document scans, retention purge) and the client-certificate
// registry against a fresh migrated database, as the daemon role; and the magic-byte sniffer.
#include "erds/identity/document_store.h"

#include <gtest/gtest.h>

#include "erds/identity/postgres_stores.h"

#include "crypto_util.h"
#include "fake_clock.h"
#include "identity_test_db.h"

namespace erds::identity {
namespace {

using namespace std::chrono_literals;

TimePoint t0() {
  return TimePoint(std::chrono::seconds(1'800'000'000));
}

const std::string kJpeg = std::string("\xFF\xD8\xFF\xE0", 4) + "JFIF-test-scan-bytes-0123456789";
const std::string kPng = std::string("\x89PNG\r\n\x1a\n", 8) + "IHDR-test-scan";
const std::string kPdf = "%PDF-1.7\nsecret passport page\n%%EOF";

TEST(SniffDocumentContentTypeTest, MagicBytes) {
  struct Case {
    std::string bytes;
    std::string_view want;
  };
  const Case cases[] = {
      {kJpeg, "image/jpeg"},
      {kPng, "image/png"},
      {kPdf, "application/pdf"},
      {"", ""},
      {"\xFF\xD8", ""},                     // truncated JPEG marker
      {std::string("\x89PNG\r\n", 6), ""},  // truncated PNG signature
      {"%PDF", ""},
      {"GIF89a....", ""},
      {"<html><script>alert(1)</script>", ""},
      {"PK\x03\x04 zip", ""},
  };
  for (const Case& c : cases)
    EXPECT_EQ(sniffDocumentContentType(c.bytes), c.want) << c.bytes;
}

class DocumentStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = testing::MigratedDatabase::create();
    ASSERT_NE(db_, nullptr);
    auto k = crypto::KeyEncryptionKey::fromSecret(Secret(std::string(32, 'k')));
    ASSERT_TRUE(k.has_value());
    kek_ = std::make_unique<crypto::KeyEncryptionKey>(std::move(*k));
    audit_ = std::make_unique<AuditLog>(clock_);
    accounts_ = std::make_unique<PostgresAccountStore>(*db_->pool);
    verifications_ = std::make_unique<PostgresVerificationStore>(*db_->pool, *audit_);
    docs_ = std::make_unique<PostgresDocumentStore>(*db_->pool, *kek_, *audit_);
    for (const char* id : {"alice", "bob", "officer"}) {
      Party p;
      p.id = id;
      p.natural = NaturalPersonAttributes{"Doe", id, "", ""};
      p.createdAt = clock_.now();
      ASSERT_TRUE(accounts_
                      ->createAccount(p, std::string("mailto:") + id + "@example.test",
                                      "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaA")
                      .has_value());
    }
  }

  std::string openRequest(const std::string& party) {
    VerificationRequest r;
    r.id = "vr_" + party + std::to_string(++n_);
    r.partyId = party;
    r.createdBy = party;
    r.requestedMethod = IdentificationMethod::RemoteIdDocumentScan;
    r.createdAt = clock_.now();
    EXPECT_TRUE(verifications_->create(r).has_value());
    return r.id;
  }
  void decide(const std::string& id, VerificationStatus status) {
    auto r = verifications_->find(id);
    ASSERT_TRUE(r.has_value());
    r->status = status;
    r->decidedBy = "officer";
    r->decidedAt = clock_.now();
    if (status == VerificationStatus::Rejected) r->rejectionReason = "blurred";
    ASSERT_TRUE(verifications_->update(*r, r->version, std::nullopt).has_value());
  }

  erds::testing::FakeClock clock_{t0()};
  std::unique_ptr<testing::MigratedDatabase> db_;
  std::unique_ptr<crypto::KeyEncryptionKey> kek_;
  std::unique_ptr<AuditLog> audit_;
  std::unique_ptr<PostgresAccountStore> accounts_;
  std::unique_ptr<PostgresVerificationStore> verifications_;
  std::unique_ptr<PostgresDocumentStore> docs_;
  int n_ = 0;
};

TEST_F(DocumentStoreTest, StoresEncryptedAndReadsBack) {
  const std::string req = openRequest("alice");
  auto info = docs_->add(req, "alice", "application/pdf", kPdf, clock_.now(), 4);
  ASSERT_TRUE(info.has_value()) << info.error().message;
  EXPECT_EQ(info->sha256Hex, internal::hex(crypto::sha256(kPdf)));
  EXPECT_EQ(info->size, static_cast<int64_t>(kPdf.size()));

  // Encryption at rest: no column holds the plaintext (nor a recognisable part of it).
  const std::string row = db_->scalar(
      "SELECT encode(ciphertext, 'escape') || encode(key_wrapped, 'escape') || encode(nonce, "
      "'escape') FROM "
      "identity_documents WHERE id = $1",
      {pg::Param::text(info->id)});
  ASSERT_FALSE(row.empty());
  EXPECT_EQ(row.find("secret passport page"), std::string::npos);
  EXPECT_EQ(row.find("%PDF"), std::string::npos);
  EXPECT_EQ(db_->scalar("SELECT octet_length(ciphertext) FROM identity_documents WHERE id = $1",
                        {pg::Param::text(info->id)}),
            std::to_string(kPdf.size() + crypto::kGcmTagBytes));

  auto read = docs_->read(req, info->id);
  ASSERT_TRUE(read.has_value()) << read.error().message;
  EXPECT_EQ(read->bytes, kPdf);
  EXPECT_EQ(read->partyId, "alice");
  EXPECT_EQ(read->info.contentType, "application/pdf");

  // The document id alone is not enough: it must belong to the named request.
  const std::string other = openRequest("bob");
  auto wrong = docs_->read(other, info->id);
  ASSERT_FALSE(wrong.has_value());
  EXPECT_TRUE(wrong.error().is(ErrorCode::NotFound));

  // The metadata shows on the request.
  auto r = verifications_->find(req);
  ASSERT_TRUE(r.has_value());
  ASSERT_EQ(r->documents.size(), 1u);
  EXPECT_EQ(r->documents[0].id, info->id);
  EXPECT_FALSE(r->documents[0].purged);
  EXPECT_EQ(r->requestedMethod, IdentificationMethod::RemoteIdDocumentScan);

  // Upload is audited.
  EXPECT_EQ(
      db_->scalar("SELECT count(*) FROM audit_log WHERE action = 'identity.document.uploaded'"),
      "1");
}

TEST_F(DocumentStoreTest, TamperedCiphertextIsAnIntegrityFailure) {
  const std::string req = openRequest("alice");
  auto info = docs_->add(req, "alice", "image/jpeg", kJpeg, clock_.now(), 4);
  ASSERT_TRUE(info.has_value());
  // Change the content type the AAD binds (as the owner; the daemon role cannot).
  ASSERT_NE(
      db_->scalar(
          "UPDATE identity_documents SET content_type = 'image/png' WHERE id = $1 RETURNING id",
          {pg::Param::text(info->id)}),
      "");
  auto read = docs_->read(req, info->id);
  ASSERT_FALSE(read.has_value());
  EXPECT_TRUE(read.error().is(ErrorCode::IntegrityFailure));
}

TEST_F(DocumentStoreTest, OnlyTheOwnPendingRequestAndAtMostTheLimit) {
  const std::string req = openRequest("alice");
  auto foreign = docs_->add(req, "bob", "image/png", kPng, clock_.now(), 4);
  ASSERT_FALSE(foreign.has_value());
  EXPECT_TRUE(foreign.error().is(ErrorCode::NotFound));
  auto missing = docs_->add("vr_nope", "alice", "image/png", kPng, clock_.now(), 4);
  ASSERT_FALSE(missing.has_value());
  EXPECT_TRUE(missing.error().is(ErrorCode::NotFound));

  for (int i = 0; i < 2; ++i)
    ASSERT_TRUE(docs_->add(req, "alice", "image/png", kPng, clock_.now(), 2).has_value());
  auto third = docs_->add(req, "alice", "image/png", kPng, clock_.now(), 2);
  ASSERT_FALSE(third.has_value());
  EXPECT_TRUE(third.error().is(ErrorCode::Conflict));

  decide(req, VerificationStatus::Rejected);
  auto late = docs_->add(req, "alice", "image/png", kPng, clock_.now(), 4);
  ASSERT_FALSE(late.has_value());
  EXPECT_TRUE(late.error().is(ErrorCode::NotFound));
}

TEST_F(DocumentStoreTest, PurgeAfterRetentionKeepsTheDecisionRecord) {
  const std::string pending = openRequest("alice");
  const std::string decided = openRequest("bob");
  auto p = docs_->add(pending, "alice", "image/jpeg", kJpeg, clock_.now(), 4);
  auto d = docs_->add(decided, "bob", "application/pdf", kPdf, clock_.now(), 4);
  ASSERT_TRUE(p.has_value() && d.has_value());
  decide(decided, VerificationStatus::Approved);
  ASSERT_TRUE(docs_->setRetention(decided, clock_.now() + 30 * 24h).has_value());

  clock_.advance(29 * 24h);
  auto none = docs_->purgeExpired(clock_.now(), 30 * 24h);
  ASSERT_TRUE(none.has_value()) << none.error().message;
  EXPECT_EQ(*none, 0);

  clock_.advance(365 * 24h);  // the pending request's scan stays however old it is
  auto purged = docs_->purgeExpired(clock_.now(), 30 * 24h);
  ASSERT_TRUE(purged.has_value());
  EXPECT_EQ(*purged, 1);
  EXPECT_EQ(db_->scalar(
                "SELECT ciphertext IS NULL AND key_wrapped IS NULL AND purged_at IS NOT NULL FROM "
                "identity_documents WHERE id = $1",
                {pg::Param::text(d->id)}),
            "t");
  auto gone = docs_->read(decided, d->id);
  ASSERT_FALSE(gone.has_value());
  EXPECT_TRUE(gone.error().is(ErrorCode::NotFound));
  EXPECT_TRUE(docs_->read(pending, p->id).has_value());
  // The decision record and the metadata stay; the purge is audited; a second run does nothing.
  auto r = verifications_->find(decided);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, VerificationStatus::Approved);
  ASSERT_EQ(r->documents.size(), 1u);
  EXPECT_TRUE(r->documents[0].purged);
  EXPECT_EQ(db_->scalar("SELECT count(*) FROM audit_log WHERE action = 'identity.document.purged'"),
            "1");
  auto again = docs_->purgeExpired(clock_.now(), 30 * 24h);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(*again, 0);
}

TEST_F(DocumentStoreTest, PurgeFallsBackToDecisionTimePlusRetention) {
  const std::string req = openRequest("alice");
  ASSERT_TRUE(docs_->add(req, "alice", "image/png", kPng, clock_.now(), 4).has_value());
  decide(req, VerificationStatus::Rejected);  // no setRetention
  clock_.advance(24h);
  EXPECT_EQ(docs_->purgeExpired(clock_.now(), 48h).value_or(-1), 0);
  clock_.advance(25h);
  EXPECT_EQ(docs_->purgeExpired(clock_.now(), 48h).value_or(-1), 1);
}

TEST_F(DocumentStoreTest, CertificateRegistry) {
  PostgresPartyCertificateStore certs(*db_->pool);
  PartyCertificate c;
  c.id = "crt_1";
  c.partyId = "alice";
  c.sha256Hex = std::string(64, 'a');
  c.subject = "CN=Alice";
  c.issuer = "CN=CA";
  c.serialHex = "01";
  c.notAfter = clock_.now() + 365 * 24h;
  c.addedAt = clock_.now();
  ASSERT_TRUE(certs.add(c).has_value());
  auto dup = c;
  dup.id = "crt_2";
  dup.partyId = "bob";
  auto conflict = certs.add(dup);
  ASSERT_FALSE(conflict.has_value());
  EXPECT_TRUE(conflict.error().is(ErrorCode::Conflict));

  auto who = certs.activePartyFor(std::string(64, 'a'));
  ASSERT_TRUE(who.has_value());
  EXPECT_EQ(who->value_or(""), "alice");
  EXPECT_FALSE(certs.activePartyFor(std::string(64, 'b'))->has_value());

  // Only the owner can remove it; afterwards it signs in nobody and may be registered again.
  auto foreign = certs.revoke("bob", "crt_1", clock_.now());
  ASSERT_FALSE(foreign.has_value());
  EXPECT_TRUE(foreign.error().is(ErrorCode::NotFound));
  ASSERT_TRUE(certs.revoke("alice", "crt_1", clock_.now()).has_value());
  EXPECT_FALSE(certs.activePartyFor(std::string(64, 'a'))->has_value());
  auto list = certs.listOf("alice");
  ASSERT_TRUE(list.has_value());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_TRUE(list->front().revokedAt.has_value());
  EXPECT_TRUE(certs.add(dup).has_value());
}

}  // namespace
}  // namespace erds::identity
