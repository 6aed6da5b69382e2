// The answers of hermodd's HTTP listener (http_service.h) as responses:
// plain text, JSON (the one writer, common/json.h), and a Status as a JSON
// error with the HTTP status that matches its code (docs/console.md).
#ifndef HERMOD_BROKER_SERVER_HTTP_ANSWER_H_
#define HERMOD_BROKER_SERVER_HTTP_ANSWER_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "hermod/status.h"
#include "http_server.h"
#include "json.h"

namespace hermod::server {

constexpr std::string_view kJsonType = "application/json";

net::HttpServer::Response TextResponse(int status, std::string body);
net::HttpServer::Response JsonResponse(int status, const Json& body);
// {"error": {"code", "message"}}.
net::HttpServer::Response ErrorResponse(int http_status, std::string_view code,
                                        std::string_view message);
net::HttpServer::Response ErrorResponse(const Status& status);

// The wall clock, in ms since the epoch (the server layer's; the core has none).
uint64_t WallMs();

}  // namespace hermod::server

#endif  // HERMOD_BROKER_SERVER_HTTP_ANSWER_H_
