// Errors as values. A library function that can fail returns Result<T>: either the
// value or an Error whose message a person can act on ("registry.lan: 401 Unauthorized:
// check the credentials for registry.lan in registries.yaml"). Nothing here throws.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace archway {

// Broad classes of failure, so callers can branch (retry, cache briefly, map to an exit
// code or an HTTP status) without parsing messages.
enum class ErrorCode {
  kInvalidArgument,  // bad input from the user: a reference, a flag, a config value
  kNotFound,
  kUnauthorized,     // no or wrong credentials
  kForbidden,        // credentials valid but not allowed
  kConflict,
  kGone,
  kRateLimited,
  kTimeout,
  kNetwork,          // could not connect, TLS failure, connection reset
  kBadResponse,      // the peer answered something malformed or hostile
  kUnsupported,
  kUnavailable,      // peer answered 5xx
  kInternal,
};

const char* ErrorCodeName(ErrorCode code);

struct Error {
  ErrorCode code = ErrorCode::kInternal;
  std::string message;
  // The peer's own machine-readable name for the failure when it sent one (a Kubernetes
  // Status reason: "AlreadyExists", "Conflict", "Expired"), "" otherwise. Where two
  // reasons share a code, branch on this, never on the message text.
  std::string reason;

  Error() = default;
  Error(ErrorCode c, std::string m, std::string r = {}) : code(c), message(std::move(m)), reason(std::move(r)) {}

  // Prepends context: Error(kNotFound, "manifest unknown").Wrap("nginx:1.25")
  // -> "nginx:1.25: manifest unknown". The code and reason are kept.
  Error Wrap(const std::string& context) const { return Error(code, context + ": " + message, reason); }
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}  // NOLINT

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &std::get<0>(v_); }
  const T* operator->() const { return &std::get<0>(v_); }
  T& operator*() & { return std::get<0>(v_); }
  const T& operator*() const& { return std::get<0>(v_); }

  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

// Result of an operation with no value.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT
  static Status Ok() { return Status(); }

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { return error_; }

 private:
  Error error_;
  bool ok_ = true;
};

}  // namespace archway
