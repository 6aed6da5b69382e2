#include "hermod/status.h"

namespace hermod {

const char* ErrorCodeName(ErrorCode code) {
  switch (code) {
    case ErrorCode::kOk:
      return "OK";
    case ErrorCode::kInvalidArgument:
      return "InvalidArgument";
    case ErrorCode::kNotFound:
      return "NotFound";
    case ErrorCode::kFrameTooLarge:
      return "FrameTooLarge";
    case ErrorCode::kMalformedFrame:
      return "MalformedFrame";
    case ErrorCode::kUnknownFrame:
      return "UnknownFrame";
    case ErrorCode::kProtocolViolation:
      return "ProtocolViolation";
    case ErrorCode::kUnsupportedVersion:
      return "UnsupportedVersion";
    case ErrorCode::kPayloadTooLarge:
      return "PayloadTooLarge";
    case ErrorCode::kLimitExceeded:
      return "LimitExceeded";
    case ErrorCode::kStorageFull:
      return "StorageFull";
    case ErrorCode::kStorageError:
      return "StorageError";
    case ErrorCode::kShuttingDown:
      return "ShuttingDown";
    case ErrorCode::kUnavailable:
      return "Unavailable";
    case ErrorCode::kTimeout:
      return "Timeout";
    case ErrorCode::kAlreadyExists:
      return "AlreadyExists";
    case ErrorCode::kSlowConsumer:
      return "SlowConsumer";
    case ErrorCode::kInternal:
      return "Internal";
    case ErrorCode::kClosed:
      return "Closed";
    case ErrorCode::kNotSupported:
      return "NotSupported";
    case ErrorCode::kIoError:
      return "IoError";
    case ErrorCode::kUnauthenticated:
      return "Unauthenticated";
    case ErrorCode::kNotLeader:
      return "NotLeader";
    case ErrorCode::kCorruption:
      return "Corruption";
    case ErrorCode::kPermissionDenied:
      return "PermissionDenied";
  }
  return "Unknown";
}

Status::Status(ErrorCode code, std::string_view message) {
  if (code != ErrorCode::kOk) state_ = std::make_unique<State>(State{code, std::string(message)});
}

const std::string& Status::message() const {
  static const std::string kEmpty;
  return state_ ? state_->message : kEmpty;
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  std::string out = ErrorCodeName(state_->code);
  out += ": ";
  out += state_->message;
  return out;
}

}  // namespace hermod
