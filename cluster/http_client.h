// HttpClient: HTTP POSTs on a net::Loop, through libcurl's multi interface.
//
// libcurl does the HTTP (connection reuse, chunked streams, timeouts); the
// loop does the waiting. libcurl tells us which sockets to watch
// (CURLMOPT_SOCKETFUNCTION: one uv_poll_t per socket) and when to wake it
// (CURLMOPT_TIMERFUNCTION: one uv timer), and we hand readiness back with
// curl_multi_socket_action: the pattern of curl's docs/examples/multi-uv.c.
// Nothing blocks the loop: name lookups go to libcurl's threaded resolver
// (Debian's libcurl is built with it), which runs them off the loop.
//
// Callbacks never run inside a libcurl callback (libcurl forbids calling
// back into the multi handle from there): response bytes are buffered
// while curl_multi_socket_action runs and handed out after it returns, so
// a callback may Post or Cancel freely.
//
// Owned by its user; Close() before destruction, then let the loop run the
// close callbacks (as for net::Timer). Loop thread only.
#ifndef HERMOD_CLUSTER_HTTP_CLIENT_H_
#define HERMOD_CLUSTER_HTTP_CLIENT_H_

#include <curl/curl.h>
#include <uv.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "hermod/status.h"
#include "net/loop.h"
#include "net/timer.h"

namespace hermod::cluster {

// Names one request for Cancel(). Never reused by one HttpClient; 0 is none.
using RequestId = uint64_t;

struct HttpRequest {
  std::string url;
  std::string body;  // sent as application/json
  // The whole request, connect included; 0 for none (a stream that lasts).
  std::chrono::milliseconds timeout{0};
  // Connecting alone; past it the request fails without having been sent.
  std::chrono::milliseconds connect_timeout{1000};
  // When set, each piece of the body is handed here as it arrives and
  // HttpResponse::body stays empty (for streams); else the body is collected.
  std::function<void(std::string_view)> on_data{};
};

struct HttpResponse {
  // The transport's verdict: OK when a whole HTTP response arrived,
  // whatever its status code.
  Status status;
  // False when the request provably never reached the server (the
  // connection failed), so it is safe to send it elsewhere.
  bool sent = false;
  long http_status = 0;  // 0 when no response arrived
  std::string body;      // the collected body, unless on_data took it
};

class HttpClient {
 public:
  using DoneCallback = std::function<void(HttpResponse)>;

  explicit HttpClient(net::Loop& loop);
  ~HttpClient();  // REQUIRES: Init() failed or was never called, or Close() was called.
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  Status Init();

  // Starts a POST. on_done runs exactly once, later, on the loop thread,
  // unless the request is cancelled first (Cancel or Close). Setup failures
  // are reported through on_done too, never synchronously.
  // REQUIRES: Init() succeeded and Close() was not called.
  RequestId Post(HttpRequest request, DoneCallback on_done);

  // Stops a request; its callbacks will not run. Unknown or finished
  // requests are ignored, so a callback may cancel its own request.
  void Cancel(RequestId request);

  // Cancels every request (their callbacks do not run) and starts closing
  // the handles. Idempotent.
  void Close();

  size_t requests_in_flight() const { return transfers_.size(); }

 private:
  struct Transfer;
  struct SocketPoll;

  static int OnSocket(CURL* easy, curl_socket_t fd, int what, void* userp, void* socketp) noexcept;
  static int OnTimerChange(CURLM* multi, long timeout_ms, void* userp) noexcept;
  static size_t OnWrite(char* data, size_t size, size_t count, void* userp) noexcept;
  static void OnPollReady(uv_poll_t* poll, int status, int events) noexcept;
  void SocketAction(curl_socket_t fd, int ev_bitmask);
  // Hands out what the last curl_multi_socket_action produced: stream data
  // first, then finished transfers. Runs outside every libcurl callback.
  void Dispatch();
  void Finish(std::unique_ptr<Transfer> transfer, HttpResponse response);
  void ClosePoll(SocketPoll* poll);

  net::Loop& loop_;
  CURLM* multi_ = nullptr;
  net::Timer timer_;  // libcurl's one timeout
  net::Timer kick_;   // hands out failed starts (on_done is never synchronous)
  bool closed_ = false;
  RequestId next_request_ = 1;
  std::unordered_map<RequestId, std::unique_ptr<Transfer>> transfers_;
  std::vector<RequestId> has_data_;  // streams with bytes not yet handed out
  std::vector<RequestId> failed_to_start_;
  std::unordered_set<SocketPoll*> polls_;
};

}  // namespace hermod::cluster

#endif  // HERMOD_CLUSTER_HTTP_CLIENT_H_
