// Result<T> and Error: how every erds component reports expected failures.
// Member names follow std::expected so that moving to C++23 is a type-alias change.
#pragma once

#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace erds {

// The closed set of error classes. Front ends map each to exactly one reply
// (HTTP status, SMTP reply) in one table.
enum class ErrorCode {
  InvalidInput,      // the caller's input is wrong; retrying the same input fails again
  NotFound,          // the thing asked for does not exist (or is not visible to the caller)
  Conflict,          // a uniqueness or state conflict (SQLSTATE 23505, a reused idempotency key)
  Unauthorized,      // authentication or authorisation refused
  Unavailable,       // a dependency is down or busy; retryable (database, time-stamp authority)
  IntegrityFailure,  // a signature, digest or chain check failed; data was altered
  Internal,          // a bug or an unexpected library failure
};

// Stable lower-case name of a code ("invalid_input", ...), used in logs and problem types.
std::string_view errorCodeName(ErrorCode code);

struct Error {
  ErrorCode code = ErrorCode::Internal;
  std::string message;

  static Error invalidInput(std::string m) { return {ErrorCode::InvalidInput, std::move(m)}; }
  static Error notFound(std::string m) { return {ErrorCode::NotFound, std::move(m)}; }
  static Error conflict(std::string m) { return {ErrorCode::Conflict, std::move(m)}; }
  static Error unauthorized(std::string m) { return {ErrorCode::Unauthorized, std::move(m)}; }
  static Error unavailable(std::string m) { return {ErrorCode::Unavailable, std::move(m)}; }
  static Error integrityFailure(std::string m) { return {ErrorCode::IntegrityFailure, std::move(m)}; }
  static Error internal(std::string m) { return {ErrorCode::Internal, std::move(m)}; }

  bool is(ErrorCode c) const { return code == c; }
  // "<code name>: <message>"
  std::string toString() const;
};

// Wraps an Error so that Result's constructor can tell it apart from a T.
struct Unexpected {
  Error error;
};
inline Unexpected unexpected(Error e) { return Unexpected{std::move(e)}; }

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}                   // NOLINT(google-explicit-constructor)
  Result(Error error) : v_(std::move(error)) {}               // NOLINT(google-explicit-constructor)
  Result(Unexpected u) : v_(std::move(u.error)) {}            // NOLINT(google-explicit-constructor)

  bool has_value() const { return v_.index() == 0; }
  explicit operator bool() const { return has_value(); }

  // Precondition: has_value(). Violations abort (an invariant, not input).
  T& value() & { check(); return std::get<0>(v_); }
  const T& value() const& { check(); return std::get<0>(v_); }
  T&& value() && { check(); return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  // Precondition: !has_value().
  const Error& error() const& { checkError(); return std::get<1>(v_); }
  Error&& error() && { checkError(); return std::get<1>(std::move(v_)); }

  template <typename U>
  T value_or(U&& other) const& { return has_value() ? std::get<0>(v_) : static_cast<T>(std::forward<U>(other)); }

 private:
  void check() const { if (!has_value()) std::abort(); }
  void checkError() const { if (has_value()) std::abort(); }
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : e_(std::move(error)) {}               // NOLINT(google-explicit-constructor)
  Result(Unexpected u) : e_(std::move(u.error)) {}            // NOLINT(google-explicit-constructor)

  bool has_value() const { return !e_.has_value(); }
  explicit operator bool() const { return has_value(); }
  void value() const { if (e_) std::abort(); }
  const Error& error() const& { if (!e_) std::abort(); return *e_; }
  Error&& error() && { if (!e_) std::abort(); return std::move(*e_); }

 private:
  std::optional<Error> e_;
};

inline Result<void> ok() { return {}; }

// Logs "CHECK failed" with the reason and aborts, in every build. Only for broken invariants,
// never for anything input can trigger.
[[noreturn]] void checkFailed(const char* file, int line, const char* cond, std::string_view why);

}  // namespace erds

#define ERDS_RETURN_IF_ERROR(expr)                              \
  do {                                                          \
    auto erds_r_ = (expr);                                      \
    if (!erds_r_.has_value()) return std::move(erds_r_).error(); \
  } while (0)

#define ERDS_CHECK(cond, why) \
  do {                        \
    if (!(cond)) ::erds::checkFailed(__FILE__, __LINE__, #cond, (why)); \
  } while (0)
