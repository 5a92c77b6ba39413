// Status: the result of an operation that crosses a module boundary, as a value instead of an exception.
// Modelled on leveldb::Status: success carries no message and costs nothing.
#pragma once

#include <string>
#include <utility>

namespace ledger {

class Status {
 public:
  enum class Code {
    kOk,
    kNotFound,
    kConflict,      // an optimistic version check lost; retry against fresh state
    kInvalid,       // the caller's input or state is wrong; retrying will not help
    kUnavailable,   // the database could not be reached or timed out; nothing was written
    kInternal,      // a bug or an invariant broken; fail loudly
  };

  Status() = default;
  static Status Ok() { return Status(); }
  static Status NotFound(std::string message) { return Status(Code::kNotFound, std::move(message)); }
  static Status Conflict(std::string message) { return Status(Code::kConflict, std::move(message)); }
  static Status Invalid(std::string message) { return Status(Code::kInvalid, std::move(message)); }
  static Status Unavailable(std::string message) { return Status(Code::kUnavailable, std::move(message)); }
  static Status Internal(std::string message) { return Status(Code::kInternal, std::move(message)); }

  bool ok() const { return code_ == Code::kOk; }
  bool IsNotFound() const { return code_ == Code::kNotFound; }
  bool IsConflict() const { return code_ == Code::kConflict; }
  bool IsInvalid() const { return code_ == Code::kInvalid; }
  bool IsUnavailable() const { return code_ == Code::kUnavailable; }
  bool IsInternal() const { return code_ == Code::kInternal; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  std::string ToString() const;

 private:
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}
  Code code_ = Code::kOk;
  std::string message_;
};

inline std::string Status::ToString() const {
  switch (code_) {
    case Code::kOk: return "OK";
    case Code::kNotFound: return "not found: " + message_;
    case Code::kConflict: return "conflict: " + message_;
    case Code::kInvalid: return "invalid: " + message_;
    case Code::kUnavailable: return "unavailable: " + message_;
    case Code::kInternal: return "internal: " + message_;
  }
  return message_;
}

}  // namespace ledger
