// The one place where libuv's negative error numbers become a Status.
// Nothing above net/ sees a raw libuv int.
#ifndef HERMOD_NET_UV_STATUS_H_
#define HERMOD_NET_UV_STATUS_H_

#include <uv.h>

#include <string>
#include <string_view>

#include "hermod/status.h"

namespace hermod::net {

// Returns OK for rc >= 0, else a status naming `what` and libuv's message.
inline Status FromUv(int rc, std::string_view what) {
  if (rc >= 0) return Status::OK();
  std::string message(what);
  message += ": ";
  message += uv_strerror(rc);
  switch (rc) {
    case UV_ETIMEDOUT:
      return Status(ErrorCode::kTimeout, message);
    case UV_ECONNREFUSED:
    case UV_ECONNRESET:
    case UV_EHOSTUNREACH:
    case UV_ENETUNREACH:
    case UV_EPIPE:
    case UV_EOF:
      return Status(ErrorCode::kUnavailable, message);
    case UV_EINVAL:
    case UV_EAI_NONAME:
      return Status(ErrorCode::kInvalidArgument, message);
    default:
      return Status(ErrorCode::kIoError, message);
  }
}

}  // namespace hermod::net

#endif  // HERMOD_NET_UV_STATUS_H_
