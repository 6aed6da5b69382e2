// The one place where libcurl's CURLcode becomes a Status, as
// net/uv_status.h is for libuv. Nothing above http_client.cc sees a CURLcode.
#ifndef HERMOD_CLUSTER_CURL_STATUS_H_
#define HERMOD_CLUSTER_CURL_STATUS_H_

#include <curl/curl.h>

#include <string>
#include <string_view>

#include "hermod/status.h"

namespace hermod::cluster {

// Returns OK for CURLE_OK, else a status naming `what` and libcurl's
// message (`detail`, the transfer's CURLOPT_ERRORBUFFER, when not empty).
inline Status FromCurl(CURLcode rc, std::string_view what, std::string_view detail = {}) {
  if (rc == CURLE_OK) return Status::OK();
  std::string message(what);
  message += ": ";
  message += detail.empty() ? std::string_view(curl_easy_strerror(rc)) : detail;
  switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
      return Status(ErrorCode::kTimeout, message);
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_GOT_NOTHING:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_PARTIAL_FILE:
      return Status(ErrorCode::kUnavailable, message);
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
      return Status(ErrorCode::kInvalidArgument, message);
    default:
      return Status(ErrorCode::kIoError, message);
  }
}

}  // namespace hermod::cluster

#endif  // HERMOD_CLUSTER_CURL_STATUS_H_
