// Hash-chained audit log. Each writer (database connection) keeps its own chain, so concurrent
// processes append without a global lock; verify() walks every chain.
#include "erds/base/audit.h"

#include <algorithm>
#include <map>
#include <set>

#include "erds/base/aead.h"
#include "erds/base/log.h"

namespace erds {
namespace {

const std::string kZeroHash(32, '\0');
constexpr const char* kDomainTag = "erds-audit-v1";
constexpr const char* kAnchorDomainTag = "erds-audit-anchor-v1";
constexpr std::size_t kMaxProblems = 100;

void putU64(std::string& out, uint64_t v) {
  for (int i = 7; i >= 0; --i) out += static_cast<char>((v >> (8 * i)) & 0xff);
}

void putField(std::string& out, std::string_view s) {
  putU64(out, s.size());
  out.append(s);
}

int64_t micros(TimePoint t) { return t.time_since_epoch().count(); }

constexpr const char* kSelectAll =
    "SELECT id, writer_id, seq, (extract(epoch FROM at) * 1000000)::bigint, actor, action, object, outcome,"
    " coalesce(request_id, ''), details::text, prev_hash, hash FROM audit_log ORDER BY writer_id, seq";
constexpr int kFetchBatch = 2000;

bool validOutcome(const std::string& o) { return o == "success" || o == "failure" || o == "denied"; }

Result<void> validateEvent(const AuditEvent& event) {
  if (event.actor.empty() || event.action.empty()) return Error::invalidInput("audit event needs an actor and an action");
  if (!validOutcome(event.outcome))
    return Error::invalidInput("audit outcome must be success, failure or denied, got '" + event.outcome + "'");
  return ok();
}

std::string anchorLabel(int64_t id, TimePoint at) {
  return "anchor #" + std::to_string(id) + " (" + formatRfc3339(at, false) + ")";
}

void sortHeads(std::vector<AuditChainHead>& heads) {
  // Byte order, independent of the database collation.
  std::sort(heads.begin(), heads.end(),
            [](const AuditChainHead& a, const AuditChainHead& b) { return a.writerId < b.writerId; });
}

constexpr const char* kSelectAnchors =
    "SELECT id, (extract(epoch FROM at) * 1000000)::bigint, prev_digest, digest, timestamp_token"
    " FROM audit_anchor ORDER BY id";
constexpr const char* kSelectAnchorHeads =
    "SELECT h.anchor_id, h.writer_id, h.seq, h.hash, l.hash IS NOT NULL, coalesce(l.hash, ''::bytea)"
    " FROM audit_anchor_head h LEFT JOIN audit_log l ON l.writer_id = h.writer_id AND l.seq = h.seq"
    " WHERE h.anchor_id BETWEEN $1 AND $2 ORDER BY h.anchor_id";
constexpr int kAnchorBatch = 200;

// Checks the anchors after the chains were walked (same snapshot). See AuditLog::verify.
Result<void> verifyAnchors(pg::Connection& conn, const AuditTokenChecker& checkToken, AuditVerifyReport& report,
                           const std::function<void(const std::string&)>& problem) {
  report.anchorTokensChecked = static_cast<bool>(checkToken);
  auto d = conn.exec(std::string("DECLARE erds_anchor_verify NO SCROLL CURSOR FOR ") + kSelectAnchors);
  if (!d) return std::move(d).error();

  std::string expectedPrev = kZeroHash;
  int64_t prevId = 0;
  std::map<std::string, int64_t> lastGoodSeq;   // per writer: highest anchored seq that still matches
  std::map<std::string, int64_t> lastAnchored;  // per writer: highest anchored seq seen
  std::set<std::string> rewritten;              // writers already reported
  for (;;) {
    auto batch = conn.exec("FETCH FORWARD " + std::to_string(kAnchorBatch) + " FROM erds_anchor_verify");
    if (!batch) return std::move(batch).error();
    const int n = batch->rows();
    if (n == 0) break;
    auto heads = conn.execParams(kSelectAnchorHeads, {pg::Param::integer(batch->getInt(0, 0)),
                                                      pg::Param::integer(batch->getInt(n - 1, 0))});
    if (!heads) return std::move(heads).error();
    int h = 0;
    for (int i = 0; i < n; ++i) {
      AuditAnchor a;
      a.id = batch->getInt(i, 0);
      a.at = TimePoint(std::chrono::microseconds(batch->getInt(i, 1)));
      a.prevDigest = batch->getBytea(i, 2);
      a.digest = batch->getBytea(i, 3);
      a.timestampToken = batch->getBytea(i, 4);
      struct Stored {
        std::string hash;
        bool present;
      };
      std::vector<Stored> current;
      while (h < heads->rows() && heads->getInt(h, 0) < a.id) ++h;  // heads of a deleted anchor
      for (; h < heads->rows() && heads->getInt(h, 0) == a.id; ++h) {
        a.heads.push_back(AuditChainHead{heads->get(h, 1), heads->getInt(h, 2), heads->getBytea(h, 3)});
        current.push_back(Stored{heads->getBytea(h, 5), heads->get(h, 4) == "t"});
      }
      ++report.anchors;
      report.lastAnchorAt = a.at;
      const std::string label = anchorLabel(a.id, a.at);

      if (a.prevDigest != expectedPrev) {
        problem(label + ": does not chain to " +
                (prevId == 0 ? std::string("the start") : "anchor #" + std::to_string(prevId)) +
                " (an anchor was deleted, reordered or altered)");
      }
      expectedPrev = a.digest;
      prevId = a.id;

      // Recompute from the heads as stored: a rewritten head changes the digest, and then the
      // token (which the owner cannot forge) no longer covers it.
      std::vector<std::size_t> order(a.heads.size());
      for (std::size_t k = 0; k < order.size(); ++k) order[k] = k;
      std::sort(order.begin(), order.end(),
                [&](std::size_t x, std::size_t y) { return a.heads[x].writerId < a.heads[y].writerId; });
      std::vector<AuditChainHead> sorted;
      for (auto k : order) sorted.push_back(a.heads[k]);
      const std::string recomputed = AuditLog::anchorDigest(a.prevDigest, sorted);
      if (a.heads.empty()) problem(label + ": has no chain heads (anchor altered)");
      if (recomputed != a.digest) problem(label + ": digest does not match its chain heads (anchor altered)");
      if (checkToken) {
        auto t = checkToken(a.timestampToken, recomputed);
        if (!t) problem(label + ": time-stamp token does not cover the anchored heads: " + t.error().message);
      }

      for (std::size_t k = 0; k < a.heads.size(); ++k) {
        const auto& head = a.heads[k];
        auto& seen = lastAnchored[head.writerId];
        if (head.seq < seen)
          problem(label + ": writer " + head.writerId + " head seq " + std::to_string(head.seq) +
                  " goes back behind an earlier anchor (seq " + std::to_string(seen) + ")");
        seen = std::max(seen, head.seq);
        if (rewritten.count(head.writerId) != 0) continue;
        const int64_t from = lastGoodSeq.count(head.writerId) ? lastGoodSeq[head.writerId] + 1 : 1;
        const std::string range = from == head.seq ? "row seq " + std::to_string(head.seq)
                                                   : "rows seq " + std::to_string(from) + ".." +
                                                         std::to_string(head.seq);
        if (!current[k].present) {
          problem("writer " + head.writerId + ": row seq " + std::to_string(head.seq) + " anchored by " + label +
                  " is missing (deleted after it was anchored)");
          rewritten.insert(head.writerId);
        } else if (current[k].hash != head.hash) {
          problem("writer " + head.writerId + ": " + range + " rewritten after " + label +
                  ": the anchored head hash at seq " + std::to_string(head.seq) +
                  " no longer matches (history changed, chain recomputed)");
          rewritten.insert(head.writerId);
        } else {
          lastGoodSeq[head.writerId] = head.seq;
        }
      }
    }
    if (n < kAnchorBatch) break;
  }
  (void)conn.exec("CLOSE erds_anchor_verify");
  return ok();
}

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
  auto many = appendMany(conn, {event});
  if (!many) return std::move(many).error();
  return std::move(many->front());
}

namespace {

// {"a","b"} with every element quoted: a text[] parameter.
std::string textArray(const std::vector<std::string>& items) {
  std::string out = "{";
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i) out += ',';
    out += '"';
    for (char ch : items[i]) {
      if (ch == '"' || ch == '\\') out += '\\';
      out += ch;
    }
    out += '"';
  }
  out += '}';
  return out;
}

std::string hexOf(std::string_view raw) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(raw.size() * 2);
  for (unsigned char ch : raw) {
    out += kHex[ch >> 4];
    out += kHex[ch & 0xf];
  }
  return out;
}

// One row per event, in order: the details as PostgreSQL stores them (jsonb normalises key order
// and whitespace, so the hash covers what verify() reads back), their JSON type, and this writer's head
// (the same on every row; NULL for a new chain).
constexpr const char* kSelectLastMany =
    "SELECT x.d::jsonb::text, jsonb_typeof(x.d::jsonb), h.seq, h.hash"
    " FROM unnest($2::text[]) WITH ORDINALITY AS x(d, n)"
    " LEFT JOIN LATERAL (SELECT seq, hash FROM audit_log WHERE writer_id = $1 ORDER BY seq DESC LIMIT 1) h ON true"
    " ORDER BY x.n";
constexpr const char* kInsertMany =
    "INSERT INTO audit_log (writer_id, seq, at, actor, action, object, outcome, request_id, details, prev_hash, hash)"
    " SELECT $1, r.seq, 'epoch'::timestamptz + r.at * interval '1 microsecond', r.actor, r.action, r.object,"
    "  r.outcome, nullif(r.request_id, ''), r.details::jsonb, decode(r.prev, 'hex'), decode(r.hash, 'hex')"
    " FROM unnest($2::bigint[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],"
    "  $9::text[], $10::text[], $11::text[]) AS r(seq, at, actor, action, object, outcome, request_id, details, prev, hash)"
    " RETURNING id, seq";
// kInsertMany when the connection remembers its chain head ($12, $13): it inserts only if that is
// still the last row of the writer's chain, else nothing (the caller then reads the head).
constexpr const char* kInsertManyAtHead =
    "INSERT INTO audit_log (writer_id, seq, at, actor, action, object, outcome, request_id, details, prev_hash, hash)"
    " SELECT $1, r.seq, 'epoch'::timestamptz + r.at * interval '1 microsecond', r.actor, r.action, r.object,"
    "  r.outcome, nullif(r.request_id, ''), r.details::jsonb, decode(r.prev, 'hex'), decode(r.hash, 'hex')"
    " FROM unnest($2::bigint[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],"
    "  $9::text[], $10::text[], $11::text[]) AS r(seq, at, actor, action, object, outcome, request_id, details, prev, hash)"
    " WHERE EXISTS (SELECT 1 FROM (SELECT seq, hash FROM audit_log WHERE writer_id = $1 ORDER BY seq DESC LIMIT 1) h"
    "  WHERE h.seq = $12::bigint AND h.hash = $13::bytea)"
    " RETURNING id, seq";

// JSON scanning for canonicalJsonb: a deliberately small subset (anything else returns false).
constexpr int kMaxCanonicalDepth = 32;
struct JsonScan {
  std::string_view s;
  std::size_t i = 0;
  void ws() {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) ++i;
  }
  bool eat(char c) {
    ws();
    if (i < s.size() && s[i] == c) {
      ++i;
      return true;
    }
    return false;
  }
  // A string of printable ASCII with the simple escapes; `out` gets the decoded text.
  bool string(std::string& out) {
    ws();
    if (i >= s.size() || s[i] != '"') return false;
    ++i;
    while (i < s.size()) {
      const unsigned char c = static_cast<unsigned char>(s[i++]);
      if (c == '"') return true;
      if (c < 0x20 || c > 0x7e) return false;
      if (c != '\\') {
        out += static_cast<char>(c);
        continue;
      }
      if (i >= s.size()) return false;
      switch (s[i++]) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        default: return false;  // \uXXXX and anything else: left to PostgreSQL
      }
    }
    return false;
  }
  // An integer (no fraction, no exponent, at most 18 digits, not -0) or true/false/null, as is.
  bool scalar(std::string& out) {
    ws();
    for (const char* word : {"true", "false", "null"}) {
      const std::string_view w(word);
      if (s.substr(i, w.size()) == w) {
        i += w.size();
        out = w;
        return true;
      }
    }
    const std::size_t start = i;
    if (i < s.size() && s[i] == '-') ++i;
    const std::size_t digits = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    const std::size_t n = i - digits;
    if (n == 0 || n > 18) return false;
    if (s[digits] == '0' && (n > 1 || digits != start)) return false;  // leading zero, -0
    if (i < s.size() && (s[i] == '.' || s[i] == 'e' || s[i] == 'E')) return false;
    out = std::string(s.substr(start, i - start));
    return true;
  }
};

// The subset's strings are printable ASCII plus \b \f \n \r \t, which log::jsonEscape escapes
// exactly as PostgreSQL's jsonb output does.
void putJsonbString(std::string& out, const std::string& text) {
  out += '"';
  out += log::jsonEscape(text);
  out += '"';
}

bool putCanonicalValue(JsonScan& in, std::string& out, int depth);

// An object in jsonb's text form: keys shorter first, then bytewise; ": " and ", ". A repeated
// key (jsonb keeps the last value) is outside the subset.
bool putCanonicalObject(JsonScan& in, std::string& out, int depth) {
  if (!in.eat('{')) return false;
  std::vector<std::pair<std::string, std::string>> members;  // key (decoded), value (output form)
  if (!in.eat('}')) {
    for (;;) {
      std::string key, value;
      if (!in.string(key) || !in.eat(':')) return false;
      if (!putCanonicalValue(in, value, depth + 1)) return false;
      members.emplace_back(std::move(key), std::move(value));
      if (in.eat('}')) break;
      if (!in.eat(',')) return false;
    }
  }
  std::sort(members.begin(), members.end(), [](const auto& a, const auto& b) {
    if (a.first.size() != b.first.size()) return a.first.size() < b.first.size();
    return a.first < b.first;
  });
  for (std::size_t k = 1; k < members.size(); ++k) {
    if (members[k].first == members[k - 1].first) return false;
  }
  out += '{';
  for (std::size_t k = 0; k < members.size(); ++k) {
    if (k > 0) out += ", ";
    putJsonbString(out, members[k].first);
    out += ": ";
    out += members[k].second;
  }
  out += '}';
  return true;
}

// An array in order, elements separated by ", ".
bool putCanonicalArray(JsonScan& in, std::string& out, int depth) {
  if (!in.eat('[')) return false;
  out += '[';
  if (in.eat(']')) {
    out += ']';
    return true;
  }
  for (bool first = true;; first = false) {
    if (!first) out += ", ";
    if (!putCanonicalValue(in, out, depth + 1)) return false;
    if (in.eat(']')) break;
    if (!in.eat(',')) return false;
  }
  out += ']';
  return true;
}

// Any value of the subset. The depth bound keeps the recursion's stack small for hostile input;
// deeper documents are left to PostgreSQL (which has its own limit).
bool putCanonicalValue(JsonScan& in, std::string& out, int depth) {
  if (depth > kMaxCanonicalDepth) return false;
  in.ws();
  if (in.i >= in.s.size()) return false;
  switch (in.s[in.i]) {
    case '{': return putCanonicalObject(in, out, depth);
    case '[': return putCanonicalArray(in, out, depth);
    case '"': {
      std::string text;
      if (!in.string(text)) return false;
      putJsonbString(out, text);
      return true;
    }
    default: {
      std::string scalar;
      if (!in.scalar(scalar)) return false;
      out += scalar;
      return true;
    }
  }
}

}  // namespace

std::optional<std::string> AuditLog::canonicalJsonb(std::string_view json) {
  JsonScan in{json};
  in.ws();
  // Only an object at the top: appendMany() stores details objects, and anything else must reach
  // PostgreSQL's jsonb_typeof check.
  if (in.i >= json.size() || json[in.i] != '{') return std::nullopt;
  std::string out;
  if (!putCanonicalValue(in, out, 0)) return std::nullopt;
  in.ws();
  if (in.i != json.size()) return std::nullopt;
  return out;
}

namespace {

// The records of `events` chained after (seq, prev), with their details already normalised.
std::vector<AuditRecord> chainRecords(const std::string& writer, TimePoint at, const std::vector<AuditEvent>& events,
                                      std::vector<std::string> details, int64_t seq, std::string prev) {
  std::vector<AuditRecord> out;
  out.reserve(events.size());
  for (std::size_t i = 0; i < events.size(); ++i) {
    AuditRecord rec;
    rec.writerId = writer;
    rec.at = at;
    rec.event = events[i];
    if (rec.event.requestId.empty()) rec.event.requestId = log::currentRequestId();
    rec.event.detailsJson = std::move(details[i]);
    rec.seq = ++seq;
    rec.prevHash = prev;
    rec.hash = AuditLog::computeHash(rec);
    prev = rec.hash;
    out.push_back(std::move(rec));
  }
  return out;
}

// The parameters $1..$11 of kInsertMany / kInsertManyAtHead.
std::vector<pg::Param> insertParams(const std::string& writer, const std::vector<AuditRecord>& records) {
  std::vector<std::string> seqs, ats, actors, actions, objects, outcomes, requestIds, details, prevs, hashes;
  for (const auto& r : records) {
    seqs.push_back(std::to_string(r.seq));
    ats.push_back(std::to_string(micros(r.at)));
    actors.push_back(r.event.actor);
    actions.push_back(r.event.action);
    objects.push_back(r.event.object);
    outcomes.push_back(r.event.outcome);
    requestIds.push_back(r.event.requestId);
    details.push_back(r.event.detailsJson);
    prevs.push_back(hexOf(r.prevHash));
    hashes.push_back(hexOf(r.hash));
  }
  return {pg::Param::text(writer),           pg::Param::text(textArray(seqs)),     pg::Param::text(textArray(ats)),
          pg::Param::text(textArray(actors)), pg::Param::text(textArray(actions)),  pg::Param::text(textArray(objects)),
          pg::Param::text(textArray(outcomes)), pg::Param::text(textArray(requestIds)),
          pg::Param::text(textArray(details)), pg::Param::text(textArray(prevs)),  pg::Param::text(textArray(hashes))};
}

// Sets the ids from the INSERT's RETURNING (id, seq); false if they do not match the records.
bool takeIds(const pg::QueryResult& ins, std::vector<AuditRecord>& records) {
  if (ins.rows() != static_cast<int>(records.size())) return false;
  const int64_t firstSeq = records.front().seq;
  for (int r = 0; r < ins.rows(); ++r) {
    const int64_t s = ins.getInt(r, 1) - firstSeq;
    if (s < 0 || s >= static_cast<int64_t>(records.size())) return false;
    records[static_cast<std::size_t>(s)].id = ins.getInt(r, 0);
  }
  return true;
}

}  // namespace

Result<std::vector<AuditRecord>> AuditLog::appendMany(pg::Connection& conn, const std::vector<AuditEvent>& events) const {
  if (events.empty()) return std::vector<AuditRecord>{};
  for (const auto& event : events) ERDS_RETURN_IF_ERROR(validateEvent(event));
  const std::string writer = conn.id();
  const TimePoint at = clock_.now();
  auto& head = conn.auditHead();

  // One statement when this connection wrote the head and every details object is canonical here.
  if (head) {
    std::vector<std::string> canonical;
    canonical.reserve(events.size());
    for (const auto& event : events) {
      auto c = canonicalJsonb(event.detailsJson.empty() ? "{}" : event.detailsJson);
      if (!c) break;
      canonical.push_back(std::move(*c));
    }
    if (canonical.size() == events.size()) {
      auto out = chainRecords(writer, at, events, std::move(canonical), head->seq, head->hash);
      auto params = insertParams(writer, out);
      params.push_back(pg::Param::integer(head->seq));
      params.push_back(pg::Param::bytes(head->hash));
      auto ins = conn.execPrepared("erds_audit_insert_at_head", kInsertManyAtHead, params);
      if (!ins) {
        head.reset();
        return Error{ins.error().code, "audit append: " + ins.error().message};
      }
      if (ins->rows() > 0) {
        // The statement's own transaction (none open) or the caller's: nothing to commit here.
        if (!takeIds(*ins, out)) {
          head.reset();
          return Error::internal("audit append: insert count mismatch");
        }
        head = pg::Connection::AuditHead{out.back().seq, out.back().hash};
        return out;
      }
      head.reset();  // stale (a rolled-back transaction wrote it): read the head below
    }
  }

  const bool ownTransaction = !conn.inTransaction();
  if (ownTransaction) ERDS_RETURN_IF_ERROR(conn.begin());
  auto fail = [&](Error e) -> Result<std::vector<AuditRecord>> {
    head.reset();
    if (ownTransaction) (void)conn.rollback();
    return e;
  };
  std::vector<std::string> details;
  details.reserve(events.size());
  for (const auto& event : events) details.push_back(event.detailsJson.empty() ? "{}" : event.detailsJson);
  auto last = conn.execPrepared("erds_audit_last_many", kSelectLastMany,
                                {pg::Param::text(writer), pg::Param::text(textArray(details))});
  if (!last) return fail(Error{last.error().code, "audit append: " + last.error().message});
  if (last->rows() != static_cast<int>(events.size())) return fail(Error::internal("audit append: row count mismatch"));
  for (std::size_t i = 0; i < events.size(); ++i) {
    if (last->get(static_cast<int>(i), 1) != "object") return fail(Error::invalidInput("audit details must be a JSON object"));
    details[i] = last->get(static_cast<int>(i), 0);
  }
  const int64_t seq = last->isNull(0, 2) ? 0 : last->getInt(0, 2);
  std::string prev = last->isNull(0, 2) ? kZeroHash : last->getBytea(0, 3);
  auto out = chainRecords(writer, at, events, std::move(details), seq, std::move(prev));
  auto ins = conn.execPrepared("erds_audit_insert_many", kInsertMany, insertParams(writer, out));
  if (!ins) return fail(Error{ins.error().code, "audit append: " + ins.error().message});
  if (!takeIds(*ins, out)) return fail(Error::internal("audit append: insert count mismatch"));
  if (ownTransaction) {
    auto c = conn.commit();
    if (!c) return fail(std::move(c).error());
  }
  head = pg::Connection::AuditHead{out.back().seq, out.back().hash};
  return out;
}

Result<AuditRecord> AuditLog::append(pg::Pool& pool, const AuditEvent& event) const {
  auto lease = pool.acquire();
  if (!lease) return std::move(lease).error();
  return append(**lease, event);
}

Result<AuditVerifyReport> AuditLog::verify(pg::Connection& conn, const AuditTokenChecker& checkToken) {
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
    if (report.problems.size() < kMaxProblems) report.problems.push_back(p);
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
  auto anchors = verifyAnchors(conn, checkToken, report, problem);
  finishTx();
  if (!anchors) return std::move(anchors).error();
  return report;
}

std::string AuditLog::anchorDigest(std::string_view prevDigest, const std::vector<AuditChainHead>& heads) {
  std::string buf;
  putField(buf, kAnchorDomainTag);
  putField(buf, prevDigest);
  putU64(buf, heads.size());
  for (const auto& h : heads) {
    putField(buf, h.writerId);
    putU64(buf, static_cast<uint64_t>(h.seq));
    putField(buf, h.hash);
  }
  return crypto::sha256(buf);
}

Result<std::optional<AuditAnchor>> AuditLog::anchor(pg::Connection& conn, const AuditTimestamper& timestamper) const {
  if (!timestamper) return Error::invalidInput("audit anchor needs a time-stamper");
  if (conn.inTransaction()) return Error::invalidInput("audit anchor must not run inside a transaction");

  // One snapshot for the heads, the anchored heads and the previous anchor.
  auto b = conn.exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
  if (!b) return std::move(b).error();
  // TODO(harden): a recursive-CTE loose index scan when audit_log gets large; this reads the
  // whole (writer_id, seq) index once per anchor.
  auto heads = conn.exec("SELECT DISTINCT ON (writer_id) writer_id, seq, hash FROM audit_log ORDER BY writer_id, seq DESC");
  auto anchored = heads ? conn.exec(
                              "SELECT DISTINCT ON (writer_id) writer_id, seq FROM audit_anchor_head"
                              " ORDER BY writer_id, anchor_id DESC")
                        : Result<pg::QueryResult>(heads.error());
  auto prev = anchored ? conn.exec("SELECT digest FROM audit_anchor ORDER BY id DESC LIMIT 1")
                       : Result<pg::QueryResult>(anchored.error());
  (void)conn.rollback();
  if (!prev) return Error{prev.error().code, "audit anchor: " + prev.error().message};

  std::map<std::string, int64_t> anchoredSeq;
  for (int i = 0; i < anchored->rows(); ++i) anchoredSeq[anchored->get(i, 0)] = anchored->getInt(i, 1);
  AuditAnchor a;
  for (int i = 0; i < heads->rows(); ++i) {
    AuditChainHead h{heads->get(i, 0), heads->getInt(i, 1), heads->getBytea(i, 2)};
    auto it = anchoredSeq.find(h.writerId);
    if (it == anchoredSeq.end() || it->second < h.seq) a.heads.push_back(std::move(h));
  }
  if (a.heads.empty()) return std::optional<AuditAnchor>();
  sortHeads(a.heads);
  a.prevDigest = prev->rows() == 0 ? kZeroHash : prev->getBytea(0, 0);
  a.at = clock_.now();
  a.digest = anchorDigest(a.prevDigest, a.heads);

  auto token = timestamper(a.digest);
  if (!token) return Error::unavailable("audit anchor: time-stamp: " + token.error().message);
  if (token->empty()) return Error::unavailable("audit anchor: the time-stamper returned an empty token");
  a.timestampToken = std::move(token).value();

  ERDS_RETURN_IF_ERROR(conn.begin());
  auto fail = [&](const Error& e) -> Result<std::optional<AuditAnchor>> {
    (void)conn.rollback();
    return Error{e.code, "audit anchor: " + e.message};
  };
  auto ins = conn.execParams(
      "INSERT INTO audit_anchor (at, prev_digest, digest, timestamp_token)"
      " VALUES ('epoch'::timestamptz + $1::bigint * interval '1 microsecond', $2, $3, $4) RETURNING id",
      {pg::Param::integer(micros(a.at)), pg::Param::bytes(a.prevDigest), pg::Param::bytes(a.digest),
       pg::Param::bytes(a.timestampToken)});
  if (!ins) return fail(ins.error());
  a.id = ins->getInt(0, 0);
  for (const auto& h : a.heads) {
    auto hi = conn.execParams("INSERT INTO audit_anchor_head (anchor_id, writer_id, seq, hash) VALUES ($1, $2, $3, $4)",
                              {pg::Param::integer(a.id), pg::Param::text(h.writerId), pg::Param::integer(h.seq),
                               pg::Param::bytes(h.hash)});
    if (!hi) return fail(hi.error());
  }
  auto c = conn.commit();
  if (!c) return fail(c.error());
  return std::optional<AuditAnchor>(std::move(a));
}

AuditAnchorer::AuditAnchorer(pg::Pool& pool, const Clock& clock, AuditTimestamper timestamper,
                             std::chrono::milliseconds interval)
    : pool_(pool), log_(clock), timestamper_(std::move(timestamper)), interval_(interval) {}

AuditAnchorer::~AuditAnchorer() { stop(); }

Result<std::optional<AuditAnchor>> AuditAnchorer::anchorNow() {
  auto lease = pool_.acquire();
  if (!lease) return std::move(lease).error();
  return log_.anchor(**lease, timestamper_);
}

void AuditAnchorer::start() {
  std::lock_guard lock(mu_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] {
    for (;;) {
      auto r = anchorNow();
      if (!r) {
        log::warn("audit.anchor_failed", {{"error", r.error().toString()}});
      } else if (r->has_value()) {
        log::info("audit.anchored", {{"anchor_id", (*r)->id},
                                     {"heads", static_cast<int64_t>((*r)->heads.size())},
                                     {"digest", crypto::toHex((*r)->digest)}});
      }
      std::unique_lock lock(mu_);
      if (cv_.wait_for(lock, interval_, [this] { return stopping_; })) return;
    }
  });
}

void AuditAnchorer::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

}  // namespace erds
