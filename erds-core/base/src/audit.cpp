// Hash-chained audit log. Each writer (database connection) keeps its own chain, so concurrent
// processes append without a global lock; verify() walks every chain.
#include "erds/base/audit.h"

#include <map>

#include "erds/base/aead.h"
#include "erds/base/log.h"

namespace erds {
namespace {

const std::string kZeroHash(32, '\0');
constexpr const char* kDomainTag = "erds-audit-v1";

void putU64(std::string& out, uint64_t v) {
  for (int i = 7; i >= 0; --i) out += static_cast<char>((v >> (8 * i)) & 0xff);
}

void putField(std::string& out, std::string_view s) {
  putU64(out, s.size());
  out.append(s);
}

int64_t micros(TimePoint t) { return t.time_since_epoch().count(); }

// The canonical text of a JSON object as PostgreSQL stores it (jsonb normalises key order and
// whitespace), so that the hash is computed over what verify() reads back.
constexpr const char* kSelectLast =
    "SELECT $2::jsonb::text, jsonb_typeof($2::jsonb),"
    " (SELECT seq FROM audit_log WHERE writer_id = $1 ORDER BY seq DESC LIMIT 1),"
    " (SELECT hash FROM audit_log WHERE writer_id = $1 ORDER BY seq DESC LIMIT 1)";
constexpr const char* kInsert =
    "INSERT INTO audit_log (writer_id, seq, at, actor, action, object, outcome, request_id, details,"
    " prev_hash, hash) VALUES ($1, $2, 'epoch'::timestamptz + $3::bigint * interval '1 microsecond',"
    " $4, $5, $6, $7, $8, $9::jsonb, $10, $11) RETURNING id";
constexpr const char* kSelectAll =
    "SELECT id, writer_id, seq, (extract(epoch FROM at) * 1000000)::bigint, actor, action, object, outcome,"
    " coalesce(request_id, ''), details::text, prev_hash, hash FROM audit_log ORDER BY writer_id, seq";
constexpr int kFetchBatch = 2000;

bool validOutcome(const std::string& o) { return o == "success" || o == "failure" || o == "denied"; }

}  // namespace

std::string AuditLog::computeHash(const AuditRecord& r) {
  std::string buf;
  buf.reserve(256 + r.event.detailsJson.size());
  putField(buf, kDomainTag);
  putField(buf, r.prevHash);
  putField(buf, r.writerId);
  putU64(buf, static_cast<uint64_t>(r.seq));
  putU64(buf, static_cast<uint64_t>(micros(r.at)));
  putField(buf, r.event.actor);
  putField(buf, r.event.action);
  putField(buf, r.event.object);
  putField(buf, r.event.outcome);
  putField(buf, r.event.requestId);
  putField(buf, r.event.detailsJson);
  return crypto::sha256(buf);
}

Result<AuditRecord> AuditLog::append(pg::Connection& conn, const AuditEvent& event) const {
  if (event.actor.empty() || event.action.empty())
    return Error::invalidInput("audit event needs an actor and an action");
  if (!validOutcome(event.outcome))
    return Error::invalidInput("audit outcome must be success, failure or denied, got '" + event.outcome + "'");

  const bool ownTransaction = !conn.inTransaction();
  if (ownTransaction) ERDS_RETURN_IF_ERROR(conn.begin());
  auto fail = [&](Error e) -> Result<AuditRecord> {
    if (ownTransaction) (void)conn.rollback();
    return e;
  };

  AuditRecord rec;
  rec.writerId = conn.id();
  rec.at = clock_.now();
  rec.event = event;
  if (rec.event.requestId.empty()) rec.event.requestId = log::currentRequestId();
  if (rec.event.detailsJson.empty()) rec.event.detailsJson = "{}";

  auto last = conn.execPrepared("erds_audit_last", kSelectLast,
                                {pg::Param::text(rec.writerId), pg::Param::text(rec.event.detailsJson)});
  if (!last) return fail(Error{last.error().code, "audit append: " + last.error().message});
  if (last->get(0, 1) != "object") return fail(Error::invalidInput("audit details must be a JSON object"));
  rec.event.detailsJson = last->get(0, 0);
  if (last->isNull(0, 2)) {
    rec.seq = 1;
    rec.prevHash = kZeroHash;
  } else {
    rec.seq = last->getInt(0, 2) + 1;
    rec.prevHash = last->getBytea(0, 3);
  }
  rec.hash = computeHash(rec);

  auto ins = conn.execPrepared(
      "erds_audit_insert", kInsert,
      {pg::Param::text(rec.writerId), pg::Param::integer(rec.seq), pg::Param::integer(micros(rec.at)),
       pg::Param::text(rec.event.actor), pg::Param::text(rec.event.action), pg::Param::text(rec.event.object),
       pg::Param::text(rec.event.outcome),
       rec.event.requestId.empty() ? pg::Param::null() : pg::Param::text(rec.event.requestId),
       pg::Param::text(rec.event.detailsJson), pg::Param::bytes(rec.prevHash), pg::Param::bytes(rec.hash)});
  if (!ins) return fail(Error{ins.error().code, "audit append: " + ins.error().message});
  rec.id = ins->getInt(0, 0);
  if (ownTransaction) {
    auto c = conn.commit();
    if (!c) return fail(std::move(c).error());
  }
  return rec;
}

Result<AuditRecord> AuditLog::append(pg::Pool& pool, const AuditEvent& event) const {
  auto lease = pool.acquire();
  if (!lease) return std::move(lease).error();
  return append(**lease, event);
}

Result<AuditVerifyReport> AuditLog::verify(pg::Connection& conn) {
  // A cursor keeps memory flat however long the log is; a repeatable-read snapshot makes the
  // walk consistent while writers keep appending.
  const bool ownTransaction = !conn.inTransaction();
  if (ownTransaction) {
    auto b = conn.exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    if (!b) return std::move(b).error();
  }
  auto finishTx = [&]() {
    if (ownTransaction) (void)conn.rollback();
  };
  auto d = conn.exec(std::string("DECLARE erds_audit_verify NO SCROLL CURSOR FOR ") + kSelectAll);
  if (!d) {
    finishTx();
    return std::move(d).error();
  }

  AuditVerifyReport report;
  std::string writer;
  int64_t expectedSeq = 1;
  std::string prevHash = kZeroHash;
  bool writerBroken = false;  // report only the first problem, but keep counting
  auto problem = [&](const std::string& p) {
    if (report.ok) {
      report.ok = false;
      report.firstProblem = p;
    }
  };

  for (;;) {
    auto batch = conn.exec("FETCH FORWARD " + std::to_string(kFetchBatch) + " FROM erds_audit_verify");
    if (!batch) {
      finishTx();
      return std::move(batch).error();
    }
    const int n = batch->rows();
    for (int i = 0; i < n; ++i) {
      AuditRecord r;
      r.id = batch->getInt(i, 0);
      r.writerId = batch->get(i, 1);
      r.seq = batch->getInt(i, 2);
      r.at = TimePoint(std::chrono::microseconds(batch->getInt(i, 3)));
      r.event.actor = batch->get(i, 4);
      r.event.action = batch->get(i, 5);
      r.event.object = batch->get(i, 6);
      r.event.outcome = batch->get(i, 7);
      r.event.requestId = batch->get(i, 8);
      r.event.detailsJson = batch->get(i, 9);
      r.prevHash = batch->getBytea(i, 10);
      r.hash = batch->getBytea(i, 11);
      ++report.rows;
      if (r.writerId != writer || report.writers == 0) {
        writer = r.writerId;
        ++report.writers;
        expectedSeq = 1;
        prevHash = kZeroHash;
        writerBroken = false;
      }
      const std::string where = "writer " + r.writerId + ": row id " + std::to_string(r.id) + " (seq " +
                                std::to_string(r.seq) + ")";
      if (!writerBroken) {
        if (r.seq != expectedSeq) {
          problem(r.seq > expectedSeq
                      ? where + ": rows with seq " + std::to_string(expectedSeq) +
                            (r.seq - 1 > expectedSeq ? ".." + std::to_string(r.seq - 1) : std::string()) +
                            " are missing (deleted)"
                      : where + ": unexpected seq, expected " + std::to_string(expectedSeq));
          writerBroken = true;
        } else if (computeHash(r) != r.hash) {
          problem(where + " changed: hash mismatch");
          writerBroken = true;
        } else if (r.prevHash != prevHash) {
          problem(where + ": prev_hash does not match the previous row (reordered or deleted)");
          writerBroken = true;
        }
      }
      expectedSeq = r.seq + 1;
      prevHash = r.hash;
    }
    if (n < kFetchBatch) break;
  }
  (void)conn.exec("CLOSE erds_audit_verify");
  finishTx();
  return report;
}

}  // namespace erds
