// ContentVault: message content at rest in PostgreSQL, encrypted in chunks of at most 1 MiB with
// AES-256-GCM under a per-message data key wrapped by the key-encryption key. Uploads stream into
// committed "staged" chunks (one short transaction per chunk, no connection held in between);
// downloads stream chunk by chunk, each authenticated before its bytes are returned. Memory use is
// bounded by one chunk, never the whole content.
//
// Chunk format: nonce = 4-byte big-endian part index || 8-byte big-endian chunk counter (unique
// under the message key: part indexes are handed out by the database); AAD = "erds-chunk-v1" ||
// message id || part index || chunk index || final flag. So altered, reordered, moved or truncated
// chunks fail authentication and are reported as IntegrityFailure (and audited).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "erds/base/aead.h"
#include "erds/base/audit.h"
#include "erds/base/clock.h"
#include "erds/base/pg.h"
#include "erds/base/result.h"

namespace erds::core {

inline constexpr std::size_t kMaxChunkBytes = 1024 * 1024;

// A finished upload, not yet part of a message (or, after submission, a linked part).
struct StagedPart {
  std::string partId;       // the upload id (UUID)
  std::string messageId;
  int partIndex = 0;        // nonce domain of the part under the message key
  std::string filename;
  std::string mediaType;
  int64_t size = 0;
  std::string sha256;       // raw 32 bytes of the plaintext
  int chunkCount = 0;
};

// A whole part already in memory (a small submission whose body was received completely).
struct PlainPart {
  std::string filename;
  std::string mediaType;
  std::string_view data;    // borrowed; must outlive the call that takes it
};

// Content of a new message encrypted in memory, ready to be inserted with the message in one
// transaction (DeliveryStore::submitWithContent). parts[i].part.partIndex == i and
// parts[i].chunks[k] is the ciphertext of chunk k (the last one carries the final flag).
struct SealedContent {
  struct Part {
    StagedPart part;                  // partId fresh, size, sha256 and chunkCount set
    std::vector<std::string> chunks;  // AES-256-GCM ciphertexts (+ tag), same format as uploads
  };
  std::string messageId;
  std::string wrappedKey;             // the data key wrapped by the KEK (context "message:<id>")
  std::vector<Part> parts;
  int64_t totalSize = 0;
};

class ContentVault;

// One streaming upload. Not thread-safe; move-only. Holds at most one chunk of plaintext. If it is
// destroyed before finish(), the chunks written so far stay "uploading" until garbage collection.
class ContentUpload {
 public:
  ~ContentUpload();
  ContentUpload(ContentUpload&&) noexcept;
  ContentUpload& operator=(ContentUpload&&) = delete;
  ContentUpload(const ContentUpload&) = delete;
  ContentUpload& operator=(const ContentUpload&) = delete;

  const std::string& partId() const;
  // Appends bytes; every full 1 MiB chunk is encrypted and committed on its own. Errors:
  // Unavailable (database), InvalidInput after finish() or a previous error (the upload is then
  // dead and must be started again).
  Result<void> append(std::string_view bytes);
  // Writes the final chunk (possibly empty) and marks the part staged, all in one transaction.
  Result<StagedPart> finish();

 private:
  friend class ContentVault;
  struct State;
  explicit ContentUpload(std::unique_ptr<State> s);
  Result<void> writeChunk(bool final);
  std::unique_ptr<State> s_;
};

// One streaming download of a part. Not thread-safe; move-only.
class ContentDownload {
 public:
  ~ContentDownload();
  ContentDownload(ContentDownload&&) noexcept;
  ContentDownload& operator=(ContentDownload&&) = delete;
  ContentDownload(const ContentDownload&) = delete;
  ContentDownload& operator=(const ContentDownload&) = delete;

  const StagedPart& part() const;
  // The next chunk's plaintext (at most kMaxChunkBytes), decrypted and authenticated; std::nullopt
  // after the final chunk, once the size and SHA-256 of the whole part were checked. Errors:
  // IntegrityFailure (altered, reordered, missing, extra or truncated chunks; size or digest
  // mismatch; audited once), Unavailable (database). After an error the download is dead.
  Result<std::optional<std::string>> next();

 private:
  friend class ContentVault;
  struct State;
  explicit ContentDownload(std::unique_ptr<State> s);
  Result<std::optional<std::string>> fail(Error e);
  std::unique_ptr<State> s_;
};

// Thread-safe. Borrows pool connections only for the duration of each statement/transaction.
class ContentVault {
 public:
  ContentVault(pg::Pool& pool, const crypto::KeyEncryptionKey& kek, const Clock& clock, const AuditLog& audit);

  // A fresh message id (random UUID v4, lower case). Content is uploaded under it before the
  // submission that creates the message row.
  static std::string newMessageId();
  // True for a canonical lower-case UUID (the only form the core stores).
  static bool isValidId(std::string_view id);

  // Starts uploading a part of message `messageId` (creating its data key on first use).
  // InvalidInput for a malformed id or an empty filename/media type; Conflict if the message was
  // already submitted; Unavailable (database).
  Result<ContentUpload> beginUpload(const std::string& messageId, const std::string& filename,
                                    const std::string& mediaType);

  // Encrypts the parts of a message that has no content yet under a fresh data key, entirely in
  // memory (no database access; part indexes 0..n-1, chunks of at most kMaxChunkBytes, same chunk
  // format as uploads). Meant for small messages: memory use is the plaintext plus its ciphertext.
  // The caller stores the result with DeliveryStore::submitWithContent, which fails with Conflict
  // if the message id already has a data key, so a nonce is never used twice under one key.
  // InvalidInput for a malformed id or a part without filename or media type.
  Result<SealedContent> sealInMemory(const std::string& messageId, const std::vector<PlainPart>& parts) const;

  // The linked parts of a message in message order (element i is at position i, as openPart()
  // numbers them). Empty if the message has none (or does not exist). Unavailable (database).
  Result<std::vector<StagedPart>> partsOf(const std::string& messageId);

  // Reads a part's metadata (any state). NotFound if absent.
  Result<StagedPart> part(const std::string& partId);

  // Opens a linked part of a message for reading, by its position (0-based) in the message.
  // NotFound if the message has no such linked part.
  Result<ContentDownload> openPart(const std::string& messageId, int position);
  // Same, by part id (staged or linked; e.g. to show an upload back to its sender).
  Result<ContentDownload> openPartById(const std::string& partId);

  // Deletes parts never linked to a message and created before `olderThan`, with their chunks,
  // and data keys of messages that were never submitted and have no part left. Returns the number
  // of parts removed.
  Result<int64_t> collectGarbage(TimePoint olderThan);

 private:
  friend class ContentUpload;
  friend class ContentDownload;
  Result<Secret> dataKey(pg::Connection& conn, const std::string& messageId);
  Result<ContentDownload> open(const std::string& where, const std::string& a, const std::string& b);
  void auditIntegrityFailure(const StagedPart& p, const std::string& what) const;

  pg::Pool& pool_;
  const crypto::KeyEncryptionKey& kek_;
  const Clock& clock_;
  const AuditLog& audit_;
};

}  // namespace erds::core
