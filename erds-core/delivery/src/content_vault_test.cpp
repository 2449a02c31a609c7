#include "erds/core/content_vault.h"

#include <gtest/gtest.h>

#include "core_test_fixture.h"

namespace erds::core {
namespace {

using std::chrono::hours;

class ContentVaultTest : public CoreDbTest {
 protected:
  void SetUp() override {
    CoreDbTest::SetUp();
    if (HasFatalFailure()) return;
    vault_ = std::make_unique<ContentVault>(*pool_, *kek_, clock_, audit_);
  }

  // Deterministic test content of n bytes.
  static std::string content(std::size_t n, unsigned seed = 7) {
    std::string s(n, '\0');
    unsigned x = seed;
    for (auto& c : s) {
      x = x * 1103515245u + 12345u;
      c = static_cast<char>(x >> 16);
    }
    return s;
  }

  StagedPart upload(const std::string& msg, const std::string& data, std::size_t step = 300000) {
    auto up = vault_->beginUpload(msg, "doc.pdf", "application/pdf");
    EXPECT_TRUE(up.has_value()) << up.error().message;
    if (!up) return {};
    for (std::size_t off = 0; off < data.size(); off += step) {
      auto r = up->append(std::string_view(data).substr(off, step));
      EXPECT_TRUE(r.has_value()) << r.error().message;
    }
    auto fin = up->finish();
    EXPECT_TRUE(fin.has_value()) << fin.error().message;
    return fin ? *fin : StagedPart{};
  }

  // Reads a whole part; the error if any.
  Result<std::string> readAll(Result<ContentDownload> dl, std::size_t* maxChunk = nullptr) {
    if (!dl) return std::move(dl).error();
    std::string out;
    for (;;) {
      auto c = dl->next();
      if (!c) return std::move(c).error();
      if (!c->has_value()) return out;
      if (maxChunk != nullptr) *maxChunk = std::max(*maxChunk, (*c)->size());
      out += **c;
    }
  }

  void ownerExec(const std::string& sql, std::vector<pg::Param> params = {}) {
    auto r = owner_->execParams(sql, params);
    ASSERT_TRUE(r.has_value()) << sql << ": " << r.error().message;
  }

  int64_t integrityAudits() {
    return count("SELECT count(*) FROM audit_log WHERE action = 'content.integrity_failure' AND outcome = 'failure'");
  }

  std::unique_ptr<ContentVault> vault_;
};

TEST_F(ContentVaultTest, RoundTripAcrossChunks) {
  const std::string msg = ContentVault::newMessageId();
  ASSERT_TRUE(ContentVault::isValidId(msg));
  const std::string data = content(2 * kMaxChunkBytes + 12345);
  const StagedPart p = upload(msg, data);
  EXPECT_EQ(p.size, static_cast<int64_t>(data.size()));
  EXPECT_EQ(p.sha256, crypto::sha256(data));
  EXPECT_EQ(p.chunkCount, 3);
  EXPECT_EQ(count("SELECT count(*) FROM content_chunks WHERE final"), 1);
  EXPECT_EQ(count("SELECT max(octet_length(ciphertext)) FROM content_chunks"),
            static_cast<int64_t>(kMaxChunkBytes + crypto::kGcmTagBytes));
  // Nothing in the database is plaintext.
  EXPECT_EQ(count("SELECT count(*) FROM content_chunks WHERE position('\\x" + crypto::toHex(data.substr(5000, 32)) +
                  "'::bytea in ciphertext) > 0"),
            0);
  std::size_t maxChunk = 0;
  auto back = readAll(vault_->openPartById(p.partId), &maxChunk);
  ASSERT_TRUE(back.has_value()) << back.error().message;
  EXPECT_EQ(*back, data);
  EXPECT_LE(maxChunk, kMaxChunkBytes);
}

TEST_F(ContentVaultTest, ExactMultipleAndEmptyParts) {
  const std::string msg = ContentVault::newMessageId();
  const std::string data = content(kMaxChunkBytes);
  const StagedPart p = upload(msg, data, kMaxChunkBytes);
  EXPECT_EQ(p.chunkCount, 1);
  EXPECT_EQ(*readAll(vault_->openPartById(p.partId)), data);
  const StagedPart empty = upload(msg, "");
  EXPECT_EQ(empty.size, 0);
  EXPECT_EQ(empty.chunkCount, 1);
  EXPECT_NE(empty.partIndex, p.partIndex);  // distinct nonce domains under one key
  auto back = readAll(vault_->openPartById(empty.partId));
  ASSERT_TRUE(back.has_value()) << back.error().message;
  EXPECT_TRUE(back->empty());
}

TEST_F(ContentVaultTest, UploadingPartsCannotBeReadAndBadInputIsRefused) {
  const std::string msg = ContentVault::newMessageId();
  auto up = vault_->beginUpload(msg, "a.txt", "text/plain");
  ASSERT_TRUE(up.has_value());
  ASSERT_TRUE(up->append("hello").has_value());
  EXPECT_TRUE(vault_->openPartById(up->partId()).error().is(ErrorCode::NotFound));
  ASSERT_TRUE(up->finish().has_value());
  EXPECT_TRUE(up->append("more").error().is(ErrorCode::InvalidInput));
  EXPECT_TRUE(vault_->beginUpload("not-a-uuid", "a", "b").error().is(ErrorCode::InvalidInput));
  EXPECT_TRUE(vault_->beginUpload(msg, "", "b").error().is(ErrorCode::InvalidInput));
  EXPECT_TRUE(vault_->openPartById("../../etc").error().is(ErrorCode::NotFound));
}

struct TamperCase {
  const char* name;
  const char* sql;  // $1 = part id
};

TEST_F(ContentVaultTest, TamperingIsDetectedAndAudited) {
  const TamperCase cases[] = {
      {"truncated: final chunk deleted", "DELETE FROM content_chunks WHERE part_id = $1 AND final"},
      {"truncated: final flag moved forward",
       "DELETE FROM content_chunks WHERE part_id = $1 AND chunk_index > 0; "},
      {"reordered: chunks 0 and 1 swapped",
       "UPDATE content_chunks c SET ciphertext = o.ciphertext FROM content_chunks o "
       "WHERE c.part_id = $1 AND o.part_id = $1 AND c.chunk_index IN (0, 1) AND o.chunk_index = 1 - c.chunk_index"},
      {"altered: one byte flipped",
       "UPDATE content_chunks SET ciphertext = set_byte(ciphertext, 10, get_byte(ciphertext, 10) # 1) "
       "WHERE part_id = $1 AND chunk_index = 1"},
      {"final flag flipped", "UPDATE content_chunks SET final = true WHERE part_id = $1 AND chunk_index = 0"},
      {"middle chunk missing", "DELETE FROM content_chunks WHERE part_id = $1 AND chunk_index = 1"},
      {"extra chunk after final",
       "INSERT INTO content_chunks SELECT part_id, 3, false, ciphertext, created_at FROM content_chunks "
       "WHERE part_id = $1 AND chunk_index = 0"},
      {"recorded digest changed", "UPDATE content_parts SET sha256 = sha256('x'::bytea) WHERE id = $1"},
      {"wrapped key altered",
       "UPDATE message_keys SET wrapped_key = set_byte(wrapped_key, 20, get_byte(wrapped_key, 20) # 1) "
       "WHERE message_id = (SELECT message_id FROM content_parts WHERE id = $1)"},
  };
  int64_t audits = integrityAudits();
  for (const auto& tc : cases) {
    SCOPED_TRACE(tc.name);
    const std::string msg = ContentVault::newMessageId();
    const StagedPart p = upload(msg, content(2 * kMaxChunkBytes + 99));
    ASSERT_EQ(p.chunkCount, 3);
    // The final-flag case keeps chunk 0 only but marks it final, as an attacker hiding a tail would.
    if (std::string(tc.name) == "truncated: final flag moved forward") {
      ownerExec("DELETE FROM content_chunks WHERE part_id = $1 AND chunk_index > 0", {pg::Param::text(p.partId)});
      ownerExec("UPDATE content_chunks SET final = true WHERE part_id = $1", {pg::Param::text(p.partId)});
      ownerExec("UPDATE content_parts SET chunk_count = 1 WHERE id = $1", {pg::Param::text(p.partId)});
    } else {
      ownerExec(tc.sql, {pg::Param::text(p.partId)});
    }
    std::string got;
    auto dl = vault_->openPartById(p.partId);
    Result<std::string> r = readAll(std::move(dl));
    ASSERT_FALSE(r.has_value()) << "tampering went unnoticed";
    EXPECT_TRUE(r.error().is(ErrorCode::IntegrityFailure)) << r.error().toString();
    EXPECT_EQ(integrityAudits(), audits + 1) << r.error().toString();
    audits = integrityAudits();
  }
}

TEST_F(ContentVaultTest, NoBytesOfATruncatedPartAreReturnedAfterTheLastGoodChunk) {
  const std::string msg = ContentVault::newMessageId();
  const StagedPart p = upload(msg, content(kMaxChunkBytes + 10));
  ownerExec("DELETE FROM content_chunks WHERE part_id = $1 AND final", {pg::Param::text(p.partId)});
  auto dl = vault_->openPartById(p.partId);
  ASSERT_TRUE(dl.has_value());
  // Chunk 0 is authentic but not final: it is returned only if more chunks are recorded.
  auto first = dl->next();
  ASSERT_TRUE(first.has_value());
  auto second = dl->next();
  ASSERT_FALSE(second.has_value());
  EXPECT_TRUE(second.error().is(ErrorCode::IntegrityFailure));
  EXPECT_FALSE(dl->next().has_value());  // dead
}

TEST_F(ContentVaultTest, GarbageCollectsOnlyOldUnlinkedUploads) {
  const std::string oldMsg = ContentVault::newMessageId();
  const StagedPart oldStaged = upload(oldMsg, content(1000));
  {
    auto abandoned = vault_->beginUpload(oldMsg, "x", "text/plain");
    ASSERT_TRUE(abandoned.has_value());
    ASSERT_TRUE(abandoned->append(content(kMaxChunkBytes + 5)).has_value());  // one chunk written
  }
  const std::string linkedMsg = ContentVault::newMessageId();
  const StagedPart linked = upload(linkedMsg, content(500));
  ownerExec("UPDATE content_parts SET state = 'linked', position = 0 WHERE id = $1", {pg::Param::text(linked.partId)});
  EXPECT_EQ(count("SELECT count(*) FROM content_chunks"), 3);

  clock_.advance(hours(25));
  const std::string newMsg = ContentVault::newMessageId();
  const StagedPart fresh = upload(newMsg, content(10));

  auto n = vault_->collectGarbage(clock_.now() - hours(24));
  ASSERT_TRUE(n.has_value()) << n.error().message;
  EXPECT_EQ(*n, 2);
  EXPECT_TRUE(vault_->part(oldStaged.partId).error().is(ErrorCode::NotFound));
  EXPECT_TRUE(vault_->part(linked.partId).has_value());
  EXPECT_TRUE(vault_->part(fresh.partId).has_value());
  EXPECT_EQ(count("SELECT count(*) FROM content_chunks"), 2);
  EXPECT_EQ(count("SELECT count(*) FROM message_keys WHERE message_id = '" + oldMsg + "'"), 0);
  EXPECT_EQ(count("SELECT count(*) FROM message_keys"), 2);
  EXPECT_EQ(*readAll(vault_->openPartById(linked.partId)), content(500));
}

}  // namespace
}  // namespace erds::core
