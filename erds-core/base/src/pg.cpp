// libpq adapter: owns PGconn/PGresult handles, classifies SQLSTATEs into erds::Error, and keeps a
// bounded pool that drops broken connections and reconnects lazily.
#include "erds/base/pg.h"

#include <errno.h>
#include <libpq-fe.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>

#include "erds/base/aead.h"
#include "erds/base/log.h"

namespace erds::pg {
namespace {

PGconn* asConn(void* p) { return static_cast<PGconn*>(p); }

const PGresult* asRes(const std::shared_ptr<void>& p) { return static_cast<const PGresult*>(p.get()); }

// Notices (e.g. "relation already exists, skipping") would otherwise go to stderr unformatted.
void noticeProcessor(void*, const char* message) {
  std::string m(message != nullptr ? message : "");
  while (!m.empty() && (m.back() == '\n' || m.back() == '\r')) m.pop_back();
  log::debug("pg.notice", {{"message", m}});
}

std::string firstLine(const char* s) {
  std::string m(s != nullptr ? s : "");
  auto nl = m.find('\n');
  if (nl != std::string::npos) m.resize(nl);
  return m;
}

Error classify(const std::string& sqlstate, const std::string& message) {
  std::string msg = sqlstate.empty() ? message : "sqlstate " + sqlstate + ": " + message;
  if (sqlstate == "23505") return Error::conflict(std::move(msg));
  if (sqlstate == "40001" || sqlstate == "40P01") return Error::unavailable(std::move(msg));
  if (sqlstate == "42501") return Error::unauthorized(std::move(msg));
  if (sqlstate.rfind("08", 0) == 0 || sqlstate.rfind("57P", 0) == 0 || sqlstate.rfind("53", 0) == 0)
    return Error::unavailable(std::move(msg));
  if (sqlstate.rfind("22", 0) == 0) return Error::invalidInput(std::move(msg));
  return Error::internal(std::move(msg));
}

std::string makeConnectionId() {
  static std::atomic<uint64_t> counter{0};
  char host[256] = {0};
  if (gethostname(host, sizeof host - 1) != 0) std::strcpy(host, "unknown");
  return std::string(host) + "/" + std::to_string(::getpid()) + "/" + std::to_string(++counter) + "/" +
         crypto::toHex(crypto::randomBytes(4));
}

}  // namespace

// ---- QueryResult ---------------------------------------------------------------------------

int QueryResult::rows() const { return res_ ? PQntuples(asRes(res_)) : 0; }
int QueryResult::columns() const { return res_ ? PQnfields(asRes(res_)) : 0; }

bool QueryResult::isNull(int row, int col) const {
  ERDS_CHECK(row >= 0 && row < rows() && col >= 0 && col < columns(), "QueryResult index out of range");
  return PQgetisnull(asRes(res_), row, col) != 0;
}

std::string QueryResult::get(int row, int col) const {
  ERDS_CHECK(row >= 0 && row < rows() && col >= 0 && col < columns(), "QueryResult index out of range");
  if (PQgetisnull(asRes(res_), row, col)) return {};
  return std::string(PQgetvalue(asRes(res_), row, col),
                     static_cast<std::size_t>(PQgetlength(asRes(res_), row, col)));
}

int64_t QueryResult::getInt(int row, int col) const {
  std::string v = get(row, col);
  int64_t out = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
  ERDS_CHECK(ec == std::errc() && p == v.data() + v.size(), "QueryResult::getInt on a non-integer column");
  return out;
}

std::string QueryResult::getBytea(int row, int col) const {
  std::string v = get(row, col);
  if (v.empty()) return {};
  std::size_t len = 0;
  unsigned char* raw = PQunescapeBytea(reinterpret_cast<const unsigned char*>(v.c_str()), &len);
  ERDS_CHECK(raw != nullptr, "PQunescapeBytea failed (out of memory)");
  std::string out(reinterpret_cast<const char*>(raw), len);
  PQfreemem(raw);
  return out;
}

int64_t QueryResult::affectedRows() const {
  if (!res_) return 0;
  const char* s = PQcmdTuples(const_cast<PGresult*>(asRes(res_)));
  if (s == nullptr || *s == '\0') return 0;
  int64_t out = 0;
  std::from_chars(s, s + std::strlen(s), out);
  return out;
}

int QueryResult::columnIndex(std::string_view name) const {
  if (!res_) return -1;
  // PQfnumber folds unquoted names to lower case; quote to compare exactly.
  std::string quoted;
  quoted.reserve(name.size() + 2);
  quoted.push_back('"');
  quoted.append(name);
  quoted.push_back('"');
  return PQfnumber(asRes(res_), quoted.c_str());
}

// ---- Connection ----------------------------------------------------------------------------

Connection::~Connection() {
  if (conn_ != nullptr) PQfinish(asConn(conn_));
}

Result<std::unique_ptr<Connection>> Connection::connect(const std::string& conninfo,
                                                        const std::string& password,
                                                        std::chrono::seconds timeout) {
  const std::string timeoutStr = std::to_string(std::max<int64_t>(1, timeout.count()));
  // Keywords after "dbname" override what the expanded conninfo says; the timeout comes first so
  // that a conninfo may still set its own.
  std::vector<const char*> keys = {"connect_timeout", "fallback_application_name", "dbname"};
  std::vector<const char*> vals = {timeoutStr.c_str(), "erds", conninfo.c_str()};
  if (!password.empty()) {
    keys.push_back("password");
    vals.push_back(password.c_str());
  }
  keys.push_back(nullptr);
  vals.push_back(nullptr);
  PGconn* raw = PQconnectdbParams(keys.data(), vals.data(), /*expand_dbname=*/1);
  if (raw == nullptr) return Error::unavailable("database connection failed: out of memory");
  std::unique_ptr<Connection> c(new Connection());
  c->conn_ = raw;  // owned from here: ~Connection calls PQfinish
  if (PQstatus(raw) != CONNECTION_OK) {
    // libpq messages name host/port/user but never the password.
    return Error::unavailable("database connection failed: " + firstLine(PQerrorMessage(raw)));
  }
  PQsetNoticeProcessor(raw, noticeProcessor, nullptr);
  c->id_ = makeConnectionId();
  return c;
}

Result<QueryResult> Connection::finish(void* pgresult, std::string_view what) {
  PGresult* res = static_cast<PGresult*>(pgresult);
  QueryResult out;
  if (res != nullptr) out.res_ = std::shared_ptr<void>(res, [](void* p) { PQclear(static_cast<PGresult*>(p)); });
  ExecStatusType st = res != nullptr ? PQresultStatus(res) : PGRES_FATAL_ERROR;
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_EMPTY_QUERY) {
    lastSqlState_.clear();
    return out;
  }
  std::string sqlstate;
  std::string message;
  if (res != nullptr) {
    const char* ss = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    if (ss != nullptr) sqlstate = ss;
    const char* pm = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    if (pm != nullptr) message = pm;
  }
  if (message.empty()) message = firstLine(PQerrorMessage(asConn(conn_)));
  if (message.empty()) message = std::string(what) + " failed";
  lastSqlState_ = sqlstate;
  if (PQstatus(asConn(conn_)) != CONNECTION_OK) {
    if (sqlstate.empty()) lastSqlState_ = "08006";
    return Error::unavailable((sqlstate.empty() ? std::string() : "sqlstate " + sqlstate + ": ") +
                              "database connection lost: " + message);
  }
  return classify(sqlstate, message);
}

Result<QueryResult> Connection::exec(std::string_view sql) {
  if (conn_ == nullptr) return Error::unavailable("database connection is closed");
  std::string s(sql);
  return finish(PQexec(asConn(conn_), s.c_str()), "exec");
}

namespace {
struct ParamArrays {
  std::vector<const char*> values;
  std::vector<int> lengths;
  std::vector<int> formats;
  explicit ParamArrays(const std::vector<Param>& params) {
    for (const Param& p : params) {
      values.push_back(p.value ? p.value->data() : nullptr);
      lengths.push_back(p.value ? static_cast<int>(p.value->size()) : 0);
      formats.push_back(p.binary ? 1 : 0);
    }
  }
};
}  // namespace

Result<QueryResult> Connection::execParams(std::string_view sql, const std::vector<Param>& params) {
  if (conn_ == nullptr) return Error::unavailable("database connection is closed");
  std::string s(sql);
  ParamArrays a(params);
  return finish(PQexecParams(asConn(conn_), s.c_str(), static_cast<int>(params.size()), nullptr,
                             a.values.data(), a.lengths.data(), a.formats.data(), 0),
                "execParams");
}

Result<QueryResult> Connection::execPrepared(const std::string& name, std::string_view sql,
                                             const std::vector<Param>& params) {
  if (conn_ == nullptr) return Error::unavailable("database connection is closed");
  if (std::find(prepared_.begin(), prepared_.end(), name) == prepared_.end()) {
    std::string s(sql);
    auto r = finish(PQprepare(asConn(conn_), name.c_str(), s.c_str(), static_cast<int>(params.size()), nullptr),
                    "prepare " + name);
    if (!r) return std::move(r).error();
    prepared_.push_back(name);
  }
  ParamArrays a(params);
  return finish(PQexecPrepared(asConn(conn_), name.c_str(), static_cast<int>(params.size()), a.values.data(),
                               a.lengths.data(), a.formats.data(), 0),
                name);
}

std::vector<Result<QueryResult>> Connection::execPipelined(const std::vector<Statement>& statements) {
  std::vector<Result<QueryResult>> out;
  if (statements.empty()) return out;
  out.reserve(statements.size());
  auto failAll = [&](const Error& e) {
    out.assign(statements.size(), Result<QueryResult>(e));
    return out;
  };
  if (conn_ == nullptr) return failAll(Error::unavailable("database connection is closed"));
  static const std::vector<Param> kNone;
  // Prepared first (once per connection), outside the pipeline.
  for (const auto& st : statements) {
    if (st.name.empty() || std::find(prepared_.begin(), prepared_.end(), st.name) != prepared_.end()) continue;
    const auto& params = st.params != nullptr ? *st.params : kNone;
    std::string s(st.sql);
    auto r = finish(PQprepare(asConn(conn_), st.name.c_str(), s.c_str(), static_cast<int>(params.size()), nullptr),
                    "prepare " + st.name);
    if (!r) return failAll(r.error());
    prepared_.push_back(st.name);
  }
  PGconn* c = asConn(conn_);
  if (PQenterPipelineMode(c) != 1) return failAll(Error::unavailable("database: cannot enter pipeline mode"));
  bool sent = true;
  for (const auto& st : statements) {
    const auto& params = st.params != nullptr ? *st.params : kNone;
    ParamArrays a(params);
    const int n = static_cast<int>(params.size());
    const int rc = st.name.empty()
                       ? PQsendQueryParams(c, std::string(st.sql).c_str(), n, nullptr, a.values.data(), a.lengths.data(),
                                           a.formats.data(), 0)
                       : PQsendQueryPrepared(c, st.name.c_str(), n, a.values.data(), a.lengths.data(),
                                             a.formats.data(), 0);
    if (rc != 1) {
      sent = false;
      break;
    }
  }
  if (!sent || PQpipelineSync(c) != 1) {
    // The connection is no longer in a usable protocol state: the pool drops it.
    const std::string msg = firstLine(PQerrorMessage(c));
    lastSqlState_ = "08006";
    PQfinish(c);
    conn_ = nullptr;
    return failAll(Error::unavailable("database: sending a pipeline failed: " + msg));
  }
  const Error skipped = Error::unavailable("not run: an earlier statement of the pipeline failed");
  std::optional<Error> lost;
  std::string firstState;
  for (std::size_t i = 0; i < statements.size(); ++i) {
    if (lost) {
      out.emplace_back(*lost);
      continue;
    }
    PGresult* res = PQgetResult(c);
    if (res == nullptr) {  // the connection broke
      lost = Error::unavailable("database connection lost: " + firstLine(PQerrorMessage(c)));
      out.emplace_back(*lost);
      continue;
    }
    if (PQresultStatus(res) == PGRES_PIPELINE_ABORTED) {
      PQclear(res);
      out.emplace_back(skipped);
    } else {
      out.push_back(finish(res, statements[i].name.empty() ? std::string_view("pipeline") : statements[i].name));
      if (!out.back() && firstState.empty()) firstState = lastSqlState_;
    }
    PQclear(PQgetResult(c));  // the NULL that ends this statement's results
  }
  if (!lost) {
    // The sync point, then back to normal mode.
    for (;;) {
      PGresult* res = PQgetResult(c);
      if (res == nullptr) break;
      const bool sync = PQresultStatus(res) == PGRES_PIPELINE_SYNC;
      PQclear(res);
      if (sync) break;
    }
  }
  if (PQexitPipelineMode(c) != 1 || lost) {
    lastSqlState_ = "08006";
    PQfinish(c);
    conn_ = nullptr;
    if (!lost) return failAll(Error::unavailable("database: pipeline did not end cleanly"));
  }
  if (!firstState.empty()) lastSqlState_ = firstState;
  return out;
}

Result<void> Connection::begin() {
  auto r = exec("BEGIN");
  if (!r) return std::move(r).error();
  return ok();
}

Result<void> Connection::commit() {
  auto r = exec("COMMIT");
  if (!r) return std::move(r).error();
  // COMMIT of a failed transaction "succeeds" with the tag ROLLBACK: report it as the failure it is.
  const char* tag = PQcmdStatus(static_cast<PGresult*>(r->res_.get()));
  if (tag != nullptr && std::strcmp(tag, "ROLLBACK") == 0) {
    lastSqlState_ = "25P02";
    return Error::internal("sqlstate 25P02: transaction was aborted by an earlier error and rolled back");
  }
  return ok();
}

Result<void> Connection::rollback() {
  if (!healthy()) return ok();
  auto r = exec("ROLLBACK");
  if (!r && !healthy()) return ok();
  if (!r) return std::move(r).error();
  return ok();
}

bool Connection::healthy() const {
  if (conn_ == nullptr) return false;
  PGconn* c = asConn(conn_);
  if (PQstatus(c) != CONNECTION_OK) return false;
  // An idle connection whose server went away still reports CONNECTION_OK until it reads; a
  // non-blocking read notices EOF (libpq's sockets are non-blocking) and marks it bad.
  if (!PQisBusy(c) && PQtransactionStatus(c) == PQTRANS_IDLE) {
    if (PQconsumeInput(c) == 0) return false;
    PQnotifies(c);  // discard; erds does not LISTEN
    // A server that is shutting down sends a FATAL message and then closes the socket; libpq may
    // have read only the message so far. An idle connection has nothing to read (erds does not
    // LISTEN), so anything still waiting on the socket, or its end, means it is going away: drop
    // it rather than hand it out for one failed statement.
    const int fd = PQsocket(c);
    if (fd >= 0) {
      char byte;
      const ssize_t n = ::recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
      if (n == 0) return false;                                            // end of stream
      // Unexpected data. Under TLS it may be a record libpq consumes itself (e.g. a session
      // ticket): let libpq read it and keep the connection if it is still good.
      if (n > 0) return PQsslInUse(c) != 0 && PQconsumeInput(c) != 0 && PQstatus(c) == CONNECTION_OK;
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return false;  // socket error
    }
  }
  return PQstatus(c) == CONNECTION_OK;
}

bool Connection::inTransaction() const {
  if (conn_ == nullptr) return false;
  PGTransactionStatusType t = PQtransactionStatus(asConn(conn_));
  return t == PQTRANS_INTRANS || t == PQTRANS_INERROR || t == PQTRANS_ACTIVE;
}

// ---- Pool ----------------------------------------------------------------------------------

struct Pool::State {
  PoolOptions options;
  mutable std::mutex mu;
  std::condition_variable cv;
  std::deque<std::unique_ptr<Connection>> idle;
  int open = 0;     // idle + in use + being opened
  int inUse = 0;
  int waiting = 0;
  uint64_t acquired = 0;
  uint64_t connectFailures = 0;
  uint64_t timeouts = 0;
};

Lease::Lease(Lease&& o) noexcept : pool_(o.pool_), conn_(std::move(o.conn_)) { o.pool_ = nullptr; }

Lease::~Lease() {
  if (pool_ != nullptr && conn_) pool_->release(std::move(conn_));
}

Pool::Pool(PoolOptions options) : s_(std::make_unique<State>()) {
  s_->options = std::move(options);
  if (s_->options.size < 1) s_->options.size = 1;
}

Pool::~Pool() = default;

Result<Lease> Pool::acquire() {
  std::unique_lock<std::mutex> lock(s_->mu);
  const auto deadline = std::chrono::steady_clock::now() + s_->options.acquireTimeout;
  for (;;) {
    while (!s_->idle.empty()) {
      std::unique_ptr<Connection> c = std::move(s_->idle.front());
      s_->idle.pop_front();
      if (c->healthy()) {
        ++s_->inUse;
        ++s_->acquired;
        return Lease(this, std::move(c));
      }
      --s_->open;  // dropped: the server closed it (restart, idle timeout, terminate)
    }
    if (s_->open < s_->options.size) {
      ++s_->open;  // reserve the slot while connecting without the lock
      lock.unlock();
      auto c = Connection::connect(s_->options.conninfo, s_->options.password, s_->options.connectTimeout);
      lock.lock();
      if (!c) {
        --s_->open;
        ++s_->connectFailures;
        s_->cv.notify_one();
        return std::move(c).error();
      }
      ++s_->inUse;
      ++s_->acquired;
      return Lease(this, std::move(c).value());
    }
    ++s_->waiting;
    bool woke = s_->cv.wait_until(lock, deadline, [&] { return !s_->idle.empty() || s_->open < s_->options.size; });
    --s_->waiting;
    if (!woke) {
      ++s_->timeouts;
      return Error::unavailable("database pool exhausted: all " + std::to_string(s_->options.size) +
                                " connections busy for " + std::to_string(s_->options.acquireTimeout.count()) +
                                " ms");
    }
  }
}

void Pool::release(std::unique_ptr<Connection> c) {
  // A transaction left open would leak locks and half-done work into the next user.
  if (c->inTransaction()) {
    log::warn("pg.lease_returned_in_transaction", {{"connection", c->id()}});
    auto r = c->rollback();
    if (!r || c->inTransaction()) c.reset();
  }
  bool keep = c && c->healthy();
  if (!keep) c.reset();  // close outside the lock would be nicer, but PQfinish on a dead socket is quick
  std::lock_guard<std::mutex> lock(s_->mu);
  --s_->inUse;
  if (keep) {
    s_->idle.push_back(std::move(c));
  } else {
    --s_->open;
  }
  s_->cv.notify_one();
}

PoolStats Pool::stats() const {
  std::lock_guard<std::mutex> lock(s_->mu);
  PoolStats st;
  st.open = s_->open;
  st.idle = static_cast<int>(s_->idle.size());
  st.inUse = s_->inUse;
  st.waiting = s_->waiting;
  st.acquired = s_->acquired;
  st.connectFailures = s_->connectFailures;
  st.timeouts = s_->timeouts;
  return st;
}

std::string quoteIdentifier(std::string_view ident) {
  std::string out = "\"";
  for (char ch : ident) {
    if (ch == '"') out += '"';
    if (ch == '\0') continue;  // cannot appear in an identifier
    out += ch;
  }
  out += '"';
  return out;
}

}  // namespace erds::pg
