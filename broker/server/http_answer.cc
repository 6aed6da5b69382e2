#include "http_answer.h"

#include <chrono>

namespace hermod::server {

using Response = net::HttpServer::Response;

namespace {

int HttpStatusOf(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument:
    case ErrorCode::kPayloadTooLarge:
      return 400;
    case ErrorCode::kUnauthenticated:
      return 401;
    case ErrorCode::kPermissionDenied:
      return 403;
    case ErrorCode::kNotFound:
      return 404;
    case ErrorCode::kAlreadyExists:
    case ErrorCode::kNotLeader:
      return 409;
    case ErrorCode::kLimitExceeded:
      return 429;
    case ErrorCode::kNotSupported:
      return 501;
    case ErrorCode::kUnavailable:
    case ErrorCode::kShuttingDown:
    case ErrorCode::kStorageFull:
    case ErrorCode::kTimeout:
      return 503;
    default:
      return 500;
  }
}

}  // namespace

Response TextResponse(int status, std::string body) {
  Response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

Response JsonResponse(int status, const Json& body) {
  Response r;
  r.status = status;
  r.content_type = std::string(kJsonType);
  r.body = DumpJson(body);
  r.headers = {"Cache-Control: no-store", "X-Content-Type-Options: nosniff"};
  return r;
}

Response ErrorResponse(int http_status, std::string_view code, std::string_view message) {
  Json error;
  error["code"] = std::string(code);
  error["message"] = std::string(message);
  Json body;
  body["error"] = std::move(error);
  return JsonResponse(http_status, body);
}

Response ErrorResponse(const Status& status) {
  return ErrorResponse(HttpStatusOf(status.code()), ErrorCodeName(status.code()), status.message());
}

uint64_t WallMs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

}  // namespace hermod::server
