// ContentVault: chunked AES-256-GCM content in PostgreSQL (see content_vault.h for the format).
#include "erds/core/content_vault.h"

#include <openssl/evp.h>

#include <algorithm>

#include "erds/base/log.h"
#include "sql_util.h"

namespace erds::core {

using internal::timeParam;

namespace {

struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
using MdCtx = std::unique_ptr<EVP_MD_CTX, MdCtxDeleter>;

MdCtx newSha256() {
  MdCtx c(EVP_MD_CTX_new());
  ERDS_CHECK(c != nullptr && EVP_DigestInit_ex(c.get(), EVP_sha256(), nullptr) == 1, "SHA-256 init failed");
  return c;
}

void shaUpdate(EVP_MD_CTX* c, std::string_view d) {
  ERDS_CHECK(EVP_DigestUpdate(c, d.data(), d.size()) == 1, "SHA-256 update failed");
}

std::string shaFinal(EVP_MD_CTX* c) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  ERDS_CHECK(EVP_DigestFinal_ex(c, out, &n) == 1 && n == 32, "SHA-256 final failed");
  return std::string(reinterpret_cast<char*>(out), n);
}

void putBe(std::string& out, uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out += static_cast<char>((v >> (8 * i)) & 0xff);
}

std::string chunkNonce(int partIndex, int64_t chunkIndex) {
  std::string n;
  putBe(n, static_cast<uint32_t>(partIndex), 4);
  putBe(n, static_cast<uint64_t>(chunkIndex), 8);
  return n;
}

std::string chunkAad(const std::string& messageId, int partIndex, int64_t chunkIndex, bool final) {
  std::string a = "erds-chunk-v1";
  a += '\0';
  a += messageId;
  a += '\0';
  putBe(a, static_cast<uint32_t>(partIndex), 4);
  putBe(a, static_cast<uint64_t>(chunkIndex), 8);
  a += final ? '\1' : '\0';
  return a;
}

std::string keyContext(const std::string& messageId) { return "message:" + messageId; }

constexpr const char* kPartColumns =
    "id::text, message_id::text, part_index, filename, media_type, coalesce(size, 0), sha256, "
    "coalesce(chunk_count, 0), state";

StagedPart partFromRow(const pg::QueryResult& r, int row) {
  StagedPart p;
  p.partId = r.get(row, 0);
  p.messageId = r.get(row, 1);
  p.partIndex = static_cast<int>(r.getInt(row, 2));
  p.filename = r.get(row, 3);
  p.mediaType = r.get(row, 4);
  p.size = r.getInt(row, 5);
  p.sha256 = r.getBytea(row, 6);
  p.chunkCount = static_cast<int>(r.getInt(row, 7));
  return p;
}

}  // namespace

// ---- ContentUpload -------------------------------------------------------------------------

struct ContentUpload::State {
  ContentVault* vault = nullptr;
  StagedPart part;
  Secret key;
  MdCtx sha;
  std::string buffer;  // plaintext not yet written (at most one chunk)
  int64_t nextChunk = 0;
  int64_t size = 0;
  bool finished = false;
  bool dead = false;
};

ContentUpload::ContentUpload(std::unique_ptr<State> s) : s_(std::move(s)) {}
ContentUpload::~ContentUpload() = default;
ContentUpload::ContentUpload(ContentUpload&&) noexcept = default;

const std::string& ContentUpload::partId() const { return s_->part.partId; }

Result<void> ContentUpload::writeChunk(bool final) {
  State& s = *s_;
  auto sealed = crypto::aesGcmSeal(s.key, chunkNonce(s.part.partIndex, s.nextChunk),
                                   chunkAad(s.part.messageId, s.part.partIndex, s.nextChunk, final), s.buffer);
  if (!sealed) return std::move(sealed).error();
  auto lease = s.vault->pool_.acquire();
  if (!lease) return std::move(lease).error();
  pg::Connection& c = **lease;
  const std::vector<pg::Param> chunkParams = {pg::Param::text(s.part.partId), pg::Param::integer(s.nextChunk),
                                              pg::Param::text(final ? "true" : "false"), pg::Param::bytes(*sealed),
                                              timeParam(s.vault->clock_.now())};
  constexpr const char* kInsert =
      "INSERT INTO content_chunks (part_id, chunk_index, final, ciphertext, created_at) "
      "VALUES ($1, $2, $3, $4, $5)";
  if (!final) {
    // One short transaction per chunk: no connection is held between appends.
    auto r = c.execPrepared("erds_core_chunk_insert", kInsert, chunkParams);
    if (!r) return std::move(r).error();
  } else {
    internal::Transaction tx(c);
    ERDS_RETURN_IF_ERROR(tx.begin());
    auto r = c.execPrepared("erds_core_chunk_insert", kInsert, chunkParams);
    if (!r) return std::move(r).error();
    auto u = c.execPrepared(
        "erds_core_part_staged",
        "UPDATE content_parts SET state = 'staged', size = $2, sha256 = $3, chunk_count = $4 "
        "WHERE id = $1 AND state = 'uploading'",
        {pg::Param::text(s.part.partId), pg::Param::integer(s.size), pg::Param::bytes(s.part.sha256),
         pg::Param::integer(s.nextChunk + 1)});
    if (!u) return std::move(u).error();
    if (u->affectedRows() != 1) return Error::conflict("upload " + s.part.partId + " is no longer open");
    ERDS_RETURN_IF_ERROR(tx.commit());
  }
  s.nextChunk += 1;
  s.buffer.clear();
  return ok();
}

Result<void> ContentUpload::append(std::string_view bytes) {
  State& s = *s_;
  if (s.finished || s.dead) return Error::invalidInput("upload is finished or failed");
  shaUpdate(s.sha.get(), bytes);
  s.size += static_cast<int64_t>(bytes.size());
  while (!bytes.empty()) {
    // A full buffer is written only once more bytes arrive: the last chunk must carry the final flag.
    if (s.buffer.size() == kMaxChunkBytes) {
      auto w = writeChunk(false);
      if (!w) {
        s.dead = true;
        return w;
      }
    }
    const std::size_t take = std::min(kMaxChunkBytes - s.buffer.size(), bytes.size());
    s.buffer.append(bytes.substr(0, take));
    bytes.remove_prefix(take);
  }
  return ok();
}

Result<StagedPart> ContentUpload::finish() {
  State& s = *s_;
  if (s.finished || s.dead) return Error::invalidInput("upload is finished or failed");
  s.part.sha256 = shaFinal(s.sha.get());
  s.part.size = s.size;
  auto w = writeChunk(true);
  if (!w) {
    s.dead = true;
    return std::move(w).error();
  }
  s.finished = true;
  s.part.chunkCount = static_cast<int>(s.nextChunk);
  std::string().swap(s.buffer);
  return s.part;
}

// ---- ContentDownload -----------------------------------------------------------------------

struct ContentDownload::State {
  ContentVault* vault = nullptr;
  StagedPart part;
  Secret key;
  MdCtx sha;
  int64_t nextChunk = 0;
  int64_t size = 0;
  bool done = false;
  bool dead = false;
};

ContentDownload::ContentDownload(std::unique_ptr<State> s) : s_(std::move(s)) {}
ContentDownload::~ContentDownload() = default;
ContentDownload::ContentDownload(ContentDownload&&) noexcept = default;

const StagedPart& ContentDownload::part() const { return s_->part; }

Result<std::optional<std::string>> ContentDownload::fail(Error e) {
  s_->dead = true;
  if (e.is(ErrorCode::IntegrityFailure)) s_->vault->auditIntegrityFailure(s_->part, e.message);
  return e;
}

Result<std::optional<std::string>> ContentDownload::next() {
  State& s = *s_;
  if (s.dead) return Error::invalidInput("download failed earlier");
  if (s.done) return std::optional<std::string>();
  auto lease = s.vault->pool_.acquire();
  if (!lease) return std::move(lease).error();
  pg::Connection& c = **lease;
  auto r = c.execPrepared("erds_core_chunk_read",
                          "SELECT final, ciphertext FROM content_chunks WHERE part_id = $1 AND chunk_index = $2",
                          {pg::Param::text(s.part.partId), pg::Param::integer(s.nextChunk)});
  if (!r) return std::move(r).error();
  const std::string where = "part " + s.part.partId + " chunk " + std::to_string(s.nextChunk);
  if (r->rows() != 1) return fail(Error::integrityFailure(where + " is missing (content truncated)"));
  const bool final = r->get(0, 0) == "t";
  auto plain = crypto::aesGcmOpen(s.key, chunkNonce(s.part.partIndex, s.nextChunk),
                                  chunkAad(s.part.messageId, s.part.partIndex, s.nextChunk, final), r->getBytea(0, 1));
  if (!plain) return fail(Error::integrityFailure(where + " failed authentication (altered or reordered)"));
  shaUpdate(s.sha.get(), *plain);
  s.size += static_cast<int64_t>(plain->size());
  s.nextChunk += 1;
  if (!final) {
    if (s.nextChunk >= s.part.chunkCount) {
      return fail(Error::integrityFailure(where + ": the final chunk is missing (content truncated)"));
    }
    return std::optional<std::string>(std::move(*plain));
  }
  // The last bytes leave only once the whole part is proven complete and unchanged.
  auto extra = c.execPrepared("erds_core_chunk_extra",
                              "SELECT count(*) FROM content_chunks WHERE part_id = $1 AND chunk_index >= $2",
                              {pg::Param::text(s.part.partId), pg::Param::integer(s.nextChunk)});
  if (!extra) return std::move(extra).error();
  if (extra->getInt(0, 0) != 0 || s.nextChunk != s.part.chunkCount) {
    return fail(Error::integrityFailure("part " + s.part.partId + " has chunks after its final chunk"));
  }
  if (s.size != s.part.size || shaFinal(s.sha.get()) != s.part.sha256) {
    return fail(Error::integrityFailure("part " + s.part.partId + " does not match its recorded size and SHA-256"));
  }
  s.done = true;
  if (plain->empty()) return std::optional<std::string>();
  return std::optional<std::string>(std::move(*plain));
}

// ---- ContentVault --------------------------------------------------------------------------

ContentVault::ContentVault(pg::Pool& pool, const crypto::KeyEncryptionKey& kek, const Clock& clock,
                           const AuditLog& audit)
    : pool_(pool), kek_(kek), clock_(clock), audit_(audit) {}

std::string ContentVault::newMessageId() { return internal::newUuid(); }
bool ContentVault::isValidId(std::string_view id) { return internal::isUuid(id); }

Result<Secret> ContentVault::dataKey(pg::Connection& conn, const std::string& messageId) {
  auto r = conn.execPrepared("erds_core_key_read", "SELECT wrapped_key FROM message_keys WHERE message_id = $1",
                             {pg::Param::text(messageId)});
  if (!r) return std::move(r).error();
  if (r->rows() != 1) return Error::integrityFailure("message " + messageId + " has content but no data key");
  return kek_.unwrap(r->getBytea(0, 0), keyContext(messageId));
}

Result<ContentUpload> ContentVault::beginUpload(const std::string& messageId, const std::string& filename,
                                                const std::string& mediaType) {
  if (!isValidId(messageId)) return Error::invalidInput("malformed message id");
  if (filename.empty() || mediaType.empty()) return Error::invalidInput("a part needs a filename and a media type");
  const Secret fresh = crypto::randomKey();
  auto wrapped = kek_.wrap(fresh, keyContext(messageId));
  if (!wrapped) return std::move(wrapped).error();
  auto lease = pool_.acquire();
  if (!lease) return std::move(lease).error();
  pg::Connection& c = **lease;
  const TimePoint now = clock_.now();
  internal::Transaction tx(c);
  ERDS_RETURN_IF_ERROR(tx.begin());
  auto exists = c.execPrepared("erds_core_msg_exists", "SELECT 1 FROM messages WHERE id = $1",
                               {pg::Param::text(messageId)});
  if (!exists) return std::move(exists).error();
  if (exists->rows() != 0) return Error::conflict("message " + messageId + " was already submitted");
  auto ins = c.execPrepared("erds_core_key_insert",
                            "INSERT INTO message_keys (message_id, wrapped_key, created_at) VALUES ($1, $2, $3) "
                            "ON CONFLICT (message_id) DO NOTHING",
                            {pg::Param::text(messageId), pg::Param::bytes(*wrapped), timeParam(now)});
  if (!ins) return std::move(ins).error();
  auto idx = c.execPrepared("erds_core_key_next_part",
                            "UPDATE message_keys SET next_part_index = next_part_index + 1 WHERE message_id = $1 "
                            "RETURNING next_part_index - 1, wrapped_key",
                            {pg::Param::text(messageId)});
  if (!idx) return std::move(idx).error();
  ERDS_CHECK(idx->rows() == 1, "message key row vanished inside its transaction");
  auto key = kek_.unwrap(idx->getBytea(0, 1), keyContext(messageId));
  if (!key) return std::move(key).error();
  auto st = std::make_unique<ContentUpload::State>();
  st->vault = this;
  st->part.partId = internal::newUuid();
  st->part.messageId = messageId;
  st->part.partIndex = static_cast<int>(idx->getInt(0, 0));
  st->part.filename = filename;
  st->part.mediaType = mediaType;
  st->key = std::move(*key);
  st->sha = newSha256();
  auto part = c.execPrepared(
      "erds_core_part_insert",
      "INSERT INTO content_parts (id, message_id, part_index, state, filename, media_type, created_at) "
      "VALUES ($1, $2, $3, 'uploading', $4, $5, $6)",
      {pg::Param::text(st->part.partId), pg::Param::text(messageId), pg::Param::integer(st->part.partIndex),
       pg::Param::text(filename), pg::Param::text(mediaType), timeParam(now)});
  if (!part) return std::move(part).error();
  ERDS_RETURN_IF_ERROR(tx.commit());
  return ContentUpload(std::move(st));
}

Result<SealedContent> ContentVault::sealInMemory(const std::string& messageId,
                                                 const std::vector<PlainPart>& parts) const {
  if (!isValidId(messageId)) return Error::invalidInput("malformed message id");
  const Secret key = crypto::randomKey();
  auto wrapped = kek_.wrap(key, keyContext(messageId));
  if (!wrapped) return std::move(wrapped).error();
  SealedContent out;
  out.messageId = messageId;
  out.wrappedKey = std::move(*wrapped);
  out.parts.reserve(parts.size());
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const PlainPart& in = parts[i];
    if (in.filename.empty() || in.mediaType.empty()) return Error::invalidInput("a part needs a filename and a media type");
    SealedContent::Part p;
    p.part.partId = internal::newUuid();
    p.part.messageId = messageId;
    p.part.partIndex = static_cast<int>(i);
    p.part.filename = in.filename;
    p.part.mediaType = in.mediaType;
    p.part.size = static_cast<int64_t>(in.data.size());
    p.part.sha256 = crypto::sha256(in.data);
    // An empty part is one empty final chunk, as an upload of nothing would be.
    const std::size_t chunks = in.data.empty() ? 1 : (in.data.size() + kMaxChunkBytes - 1) / kMaxChunkBytes;
    p.chunks.reserve(chunks);
    for (std::size_t k = 0; k < chunks; ++k) {
      const bool final = k + 1 == chunks;
      const std::string_view plain = in.data.substr(std::min(in.data.size(), k * kMaxChunkBytes), kMaxChunkBytes);
      auto sealed = crypto::aesGcmSeal(key, chunkNonce(p.part.partIndex, static_cast<int64_t>(k)),
                                       chunkAad(messageId, p.part.partIndex, static_cast<int64_t>(k), final), plain);
      if (!sealed) return std::move(sealed).error();
      p.chunks.push_back(std::move(*sealed));
    }
    p.part.chunkCount = static_cast<int>(chunks);
    out.totalSize += p.part.size;
    out.parts.push_back(std::move(p));
  }
  return out;
}

Result<std::vector<StagedPart>> ContentVault::partsOf(const std::string& messageId) {
  std::vector<StagedPart> out;
  if (!isValidId(messageId)) return out;
  auto lease = pool_.acquire();
  if (!lease) return std::move(lease).error();
  auto r = (*lease)->execPrepared("erds_core_parts_of",
                                  std::string("SELECT ") + kPartColumns +
                                      " FROM content_parts WHERE message_id = $1 AND state = 'linked' ORDER BY position",
                                  {pg::Param::text(messageId)});
  if (!r) return std::move(r).error();
  for (int i = 0; i < r->rows(); ++i) out.push_back(partFromRow(*r, i));
  return out;
}

Result<StagedPart> ContentVault::part(const std::string& partId) {
  if (!isValidId(partId)) return Error::notFound("no such part");
  auto lease = pool_.acquire();
  if (!lease) return std::move(lease).error();
  auto r = (*lease)->execPrepared("erds_core_part_read",
                                  std::string("SELECT ") + kPartColumns + " FROM content_parts WHERE id = $1",
                                  {pg::Param::text(partId)});
  if (!r) return std::move(r).error();
  if (r->rows() != 1) return Error::notFound("no such part");
  return partFromRow(*r, 0);
}

Result<ContentDownload> ContentVault::open(const std::string& where, const std::string& a, const std::string& b) {
  auto lease = pool_.acquire();
  if (!lease) return std::move(lease).error();
  pg::Connection& c = **lease;
  std::vector<pg::Param> params = {pg::Param::text(a)};
  if (!b.empty()) params.push_back(pg::Param::text(b));
  auto r = c.execParams(std::string("SELECT ") + kPartColumns + " FROM content_parts WHERE " + where +
                            " AND state <> 'uploading'",
                        params);
  if (!r) return std::move(r).error();
  if (r->rows() != 1) return Error::notFound("no such content part");
  auto st = std::make_unique<ContentDownload::State>();
  st->vault = this;
  st->part = partFromRow(*r, 0);
  auto key = dataKey(c, st->part.messageId);
  if (!key) {
    if (key.error().is(ErrorCode::IntegrityFailure)) auditIntegrityFailure(st->part, key.error().message);
    return std::move(key).error();
  }
  st->key = std::move(*key);
  st->sha = newSha256();
  return ContentDownload(std::move(st));
}

Result<ContentDownload> ContentVault::openPart(const std::string& messageId, int position) {
  if (!isValidId(messageId) || position < 0) return Error::notFound("no such content part");
  return open("message_id = $1 AND position = $2::integer AND state = 'linked'", messageId,
              std::to_string(position));
}

Result<ContentDownload> ContentVault::openPartById(const std::string& partId) {
  if (!isValidId(partId)) return Error::notFound("no such content part");
  return open("id = $1", partId, "");
}

Result<int64_t> ContentVault::collectGarbage(TimePoint olderThan) {
  auto lease = pool_.acquire();
  if (!lease) return std::move(lease).error();
  pg::Connection& c = **lease;
  auto parts = c.execParams("DELETE FROM content_parts WHERE state <> 'linked' AND created_at < $1",
                            {timeParam(olderThan)});
  if (!parts) return std::move(parts).error();
  auto keys = c.execParams(
      "DELETE FROM message_keys k WHERE k.created_at < $1 "
      "AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.id = k.message_id) "
      "AND NOT EXISTS (SELECT 1 FROM content_parts p WHERE p.message_id = k.message_id)",
      {timeParam(olderThan)});
  if (!keys) return std::move(keys).error();
  const int64_t n = parts->affectedRows();
  if (n > 0) log::info("content.gc", {{"parts", n}, {"keys", keys->affectedRows()}});
  return n;
}

void ContentVault::auditIntegrityFailure(const StagedPart& p, const std::string& what) const {
  log::error("content.integrity_failure", {{"message_id", p.messageId}, {"part_id", p.partId}, {"detail", what}});
  auto r = audit_.append(pool_, AuditEvent{"system:erdsd", "content.integrity_failure", "message:" + p.messageId,
                                           "failure", "",
                                           "{\"part_id\":\"" + internal::jsonEscape(p.partId) + "\",\"detail\":\"" +
                                               internal::jsonEscape(what) + "\"}"});
  if (!r) log::error("audit.append_failed", {{"action", "content.integrity_failure"}, {"error", r.error().message}});
}

}  // namespace erds::core
