// PostgreSQL access through libpq: connections with per-connection prepared statements, and a
// bounded pool that reconnects by itself when the server comes back.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "erds/base/result.h"

namespace erds::pg {

// A query parameter: NULL, text, or binary (bytea).
struct Param {
  std::optional<std::string> value;
  bool binary = false;
  static Param null() { return {}; }
  static Param text(std::string v) { return {std::move(v), false}; }
  static Param bytes(std::string v) { return {std::move(v), true}; }
  static Param integer(int64_t v) { return {std::to_string(v), false}; }
};

// The rows of one statement. Values are text format except columns asked for in binary
// (execParams with binaryResults = true returns every column binary).
class QueryResult {
 public:
  QueryResult() = default;
  int rows() const;
  int columns() const;
  bool isNull(int row, int col) const;
  std::string get(int row, int col) const;           // "" when NULL
  int64_t getInt(int row, int col) const;            // precondition: a decimal integer
  // Decodes a bytea column returned in text (hex) form.
  std::string getBytea(int row, int col) const;
  int64_t affectedRows() const;                      // INSERT/UPDATE/DELETE count
  int columnIndex(std::string_view name) const;      // -1 if absent

 private:
  friend class Connection;
  std::shared_ptr<void> res_;  // PGresult*, cleared with PQclear
};

// One libpq connection. Not thread-safe: one user at a time (the pool guarantees this).
// Errors: SQLSTATE 23505 -> Conflict, 40001/40P01 -> Unavailable, 42501 -> Unauthorized,
// connection loss / 08xxx / 57Pxx -> Unavailable, other -> Internal (InvalidInput for 22xxx).
// The message always starts with "sqlstate XXXXX: " when the server sent one.
class Connection {
 public:
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Connects with a libpq conninfo string ("" = PG* environment variables), an optional
  // password (from a secret file) and a connect timeout.
  static Result<std::unique_ptr<Connection>> connect(const std::string& conninfo,
                                                     const std::string& password = {},
                                                     std::chrono::seconds timeout = std::chrono::seconds(5));

  // Runs one or more statements without parameters (e.g. a migration file).
  Result<QueryResult> exec(std::string_view sql);
  // Runs one parameterised statement ($1, $2, ...).
  Result<QueryResult> execParams(std::string_view sql, const std::vector<Param>& params);
  // Runs a statement prepared once per connection under `name` (prepared on first use).
  Result<QueryResult> execPrepared(const std::string& name, std::string_view sql,
                                   const std::vector<Param>& params);

  // Statements sent together and answered together: one round trip for all (libpq pipeline
  // mode). `name` empty: `sql` is sent unprepared (e.g. "BEGIN"); else as execPrepared. One
  // result per statement, in order; once one fails, the later ones are not run and report
  // Unavailable ("not run: an earlier statement of the pipeline failed"). Pipelined statements
  // are not an implicit transaction: send BEGIN first for all or nothing (a failure then leaves
  // the transaction aborted, to be rolled back). Every statement's answer must be small.
  struct Statement {
    std::string name;
    std::string_view sql;
    const std::vector<Param>* params = nullptr;  // nullptr = none
  };
  std::vector<Result<QueryResult>> execPipelined(const std::vector<Statement>& statements);

  Result<void> begin();      // BEGIN
  Result<void> commit();     // COMMIT
  Result<void> rollback();   // ROLLBACK (never fails the caller on a dead connection)

  // False once the connection has failed (including a server that closed the socket while the
  // connection was idle); the pool then drops it.
  bool healthy() const;
  // True while a transaction block is open (also when it has failed and awaits ROLLBACK).
  bool inTransaction() const;
  // The server-side SQLSTATE of the last failed statement ("" if none).
  const std::string& lastSqlState() const { return lastSqlState_; }
  // A unique id for this connection's lifetime: "<host>/<pid>/<n>/<random>" (used as audit writer).
  const std::string& id() const { return id_; }

  // The head of this connection's audit chain as AuditLog last wrote it through this connection
  // (a hint only: AuditLog's one-statement append checks it against the table in that statement).
  struct AuditHead {
    int64_t seq = 0;
    std::string hash;
  };
  std::optional<AuditHead>& auditHead() { return auditHead_; }

 private:
  Connection() = default;
  Result<QueryResult> finish(void* pgresult, std::string_view what);
  void* conn_ = nullptr;  // PGconn*
  std::vector<std::string> prepared_;
  std::string lastSqlState_;
  std::string id_;
  std::optional<AuditHead> auditHead_;
};

struct PoolOptions {
  std::string conninfo;      // libpq conninfo; "" = environment
  std::string password;      // from database.password_file, may be empty
  int size = 8;              // maximum open connections
  std::chrono::milliseconds acquireTimeout{2000};
  std::chrono::seconds connectTimeout{3};
};

struct PoolStats {
  int open = 0;              // connections currently open
  int idle = 0;
  int inUse = 0;
  int waiting = 0;           // threads waiting in acquire()
  uint64_t acquired = 0;     // total successful acquisitions
  uint64_t connectFailures = 0;
  uint64_t timeouts = 0;
};

class Pool;

// A borrowed connection; returned to the pool on destruction (dropped if unhealthy or if a
// transaction was left open).
class Lease {
 public:
  Lease(Lease&&) noexcept;
  Lease& operator=(Lease&&) = delete;
  ~Lease();
  Connection& operator*() { return *conn_; }
  Connection* operator->() { return conn_.get(); }

 private:
  friend class Pool;
  Lease(Pool* pool, std::unique_ptr<Connection> c) : pool_(pool), conn_(std::move(c)) {}
  Pool* pool_;
  std::unique_ptr<Connection> conn_;
};

// Thread-safe. Connections are opened lazily; a failed connect returns Unavailable and is retried
// on the next acquire, so a daemon started before PostgreSQL becomes ready by itself.
class Pool {
 public:
  explicit Pool(PoolOptions options);
  ~Pool();
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  // Borrows a connection, opening one if below `size`. Unavailable on connect failure or timeout.
  Result<Lease> acquire();
  PoolStats stats() const;

 private:
  friend class Lease;
  void release(std::unique_ptr<Connection> c);
  struct State;
  std::unique_ptr<State> s_;
};

// Quotes an identifier for SQL ("erds_app" -> "\"erds_app\"").
std::string quoteIdentifier(std::string_view ident);

}  // namespace erds::pg
