// Status and Result<T>: how every hermod function reports that the world
// failed (a missing queue, a full disk, a lost connection).
//
// The codes are the protocol's error codes: the broker sends them in
// PublishError and Error frames, so a broker-side Status reaches the client
// with the same code and message. Codes are never renumbered or reused; see
// docs/protocol.md ("Error codes").
//
// Status is a value: OK costs one null pointer; an error holds its code and
// message on the heap. Thread-compatible, like any value type.
#ifndef HERMOD_STATUS_H_
#define HERMOD_STATUS_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "hermod/export.h"

namespace hermod {

enum class ErrorCode : uint16_t {
  kOk = 0,
  kInvalidArgument = 1,     // a request's content is wrong (bad queue name, ...)
  kNotFound = 2,            // the named queue, group or subscription does not exist
  kFrameTooLarge = 3,       // a frame's length is above max_frame_bytes
  kMalformedFrame = 4,      // a frame failed the FlatBuffers verifier
  kUnknownFrame = 5,        // a frame type this side does not know
  kProtocolViolation = 6,   // a frame out of order (Publish before Hello, ...)
  kUnsupportedVersion = 7,  // Hello asked for a protocol version we do not speak
  kPayloadTooLarge = 8,     // a message is larger than the broker accepts
  kLimitExceeded = 9,       // a queue limit refused the publish
  kStorageFull = 10,        // the disk or the configured store size is full
  kStorageError = 11,       // the store failed (I/O error); sticky on the broker
  kShuttingDown = 12,       // the broker is stopping
  kUnavailable = 13,        // no connection to the broker
  kTimeout = 14,            // a deadline passed
  kAlreadyExists = 15,      // the named thing exists already
  kSlowConsumer = 16,       // the peer did not read its output in time
  kInternal = 17,           // a bug; please report it
  kClosed = 18,             // the client was closed by its owner
  kNotSupported = 19,       // a feature this broker does not have
  kIoError = 20,            // a local file or socket operation failed
  kUnauthenticated = 21,    // the broker wants an auth token this client did not give
  kNotLeader = 22,          // (cluster) another node leads the queue's or group's partition
  kCorruption = 23,         // (cluster) a replicated part's checksum did not match its bytes
  kPermissionDenied = 24,   // the principal may not do this operation on this queue or group
};

// Returns the name of a code ("NotFound"), or "Unknown" for codes this
// version does not know (a newer peer may send them).
HERMOD_EXPORT const char* ErrorCodeName(ErrorCode code);

class [[nodiscard]] HERMOD_EXPORT Status {
 public:
  Status() = default;  // OK
  Status(ErrorCode code, std::string_view message);
  Status(const Status& other) { *this = other; }
  Status& operator=(const Status& other) {
    if (this != &other) state_ = other.state_ ? std::make_unique<State>(*other.state_) : nullptr;
    return *this;
  }
  Status(Status&&) noexcept = default;
  Status& operator=(Status&&) noexcept = default;

  static Status OK() { return Status(); }
  static Status InvalidArgument(std::string_view m) { return {ErrorCode::kInvalidArgument, m}; }
  static Status NotFound(std::string_view m) { return {ErrorCode::kNotFound, m}; }
  static Status AlreadyExists(std::string_view m) { return {ErrorCode::kAlreadyExists, m}; }
  static Status StorageError(std::string_view m) { return {ErrorCode::kStorageError, m}; }
  static Status StorageFull(std::string_view m) { return {ErrorCode::kStorageFull, m}; }
  static Status Unavailable(std::string_view m) { return {ErrorCode::kUnavailable, m}; }
  static Status Timeout(std::string_view m) { return {ErrorCode::kTimeout, m}; }
  static Status IoError(std::string_view m) { return {ErrorCode::kIoError, m}; }
  static Status Internal(std::string_view m) { return {ErrorCode::kInternal, m}; }

  bool ok() const { return state_ == nullptr; }
  ErrorCode code() const { return state_ ? state_->code : ErrorCode::kOk; }
  // The message without the code; empty when OK.
  const std::string& message() const;
  // "NotFound: queue user:42 does not exist", or "OK".
  std::string ToString() const;

  bool IsNotFound() const { return code() == ErrorCode::kNotFound; }
  bool IsUnavailable() const { return code() == ErrorCode::kUnavailable; }
  bool IsTimeout() const { return code() == ErrorCode::kTimeout; }

 private:
  struct State {
    ErrorCode code;
    std::string message;
  };
  std::unique_ptr<State> state_;
};

// A value or the Status that explains its absence.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}          // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) {}  // NOLINT: implicit by design

  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }
  // REQUIRES: ok()
  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }
  T& operator*() { return *value_; }
  const T& operator*() const { return *value_; }

 private:
  Status status_;
  std::optional<T> value_;
};

}  // namespace hermod

#endif  // HERMOD_STATUS_H_
