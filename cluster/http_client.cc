#include "http_client.h"

#include <mutex>

#include "check.h"
#include "curl_status.h"

namespace hermod::cluster {

struct HttpClient::Transfer {
  RequestId request = 0;
  HttpClient* client = nullptr;
  CURL* easy = nullptr;
  curl_slist* headers = nullptr;
  HttpRequest http;
  DoneCallback on_done;
  std::string received;  // the body, or stream bytes not yet handed out
  Status start_error;    // set when the transfer could not be started
  char error[CURL_ERROR_SIZE] = {};

  ~Transfer() {
    if (easy != nullptr) curl_easy_cleanup(easy);
    if (headers != nullptr) curl_slist_free_all(headers);
  }
};

// One socket libcurl asked us to watch. Freed in its close callback, which
// may run after the HttpClient is gone, so it touches nothing else then.
struct HttpClient::SocketPoll {
  uv_poll_t poll;
  curl_socket_t fd;
  HttpClient* client;
};

namespace {

void GlobalInitOnce() {
  // curl_global_init is not thread-safe before libcurl 7.84; this build's
  // libcurl (7.88) is, but the once costs nothing. Never cleaned up: the
  // process keeps libcurl until it exits.
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

}  // namespace

HttpClient::HttpClient(net::Loop& loop) : loop_(loop) {}

HttpClient::~HttpClient() { HERMOD_CHECK(multi_ == nullptr); }

Status HttpClient::Init() {
  GlobalInitOnce();
  multi_ = curl_multi_init();
  if (multi_ == nullptr) return Status::IoError("curl_multi_init failed");
  curl_multi_setopt(multi_, CURLMOPT_SOCKETFUNCTION, &HttpClient::OnSocket);
  curl_multi_setopt(multi_, CURLMOPT_SOCKETDATA, this);
  curl_multi_setopt(multi_, CURLMOPT_TIMERFUNCTION, &HttpClient::OnTimerChange);
  curl_multi_setopt(multi_, CURLMOPT_TIMERDATA, this);
  timer_.Init(loop_, [this] { SocketAction(CURL_SOCKET_TIMEOUT, 0); });
  kick_.Init(loop_, [this] { Dispatch(); });
  return Status::OK();
}

RequestId HttpClient::Post(HttpRequest request, DoneCallback on_done) {
  HERMOD_CHECK(multi_ != nullptr && !closed_);
  auto transfer = std::make_unique<Transfer>();
  Transfer* t = transfer.get();
  t->request = next_request_++;
  t->client = this;
  t->http = std::move(request);
  t->on_done = std::move(on_done);
  transfers_.emplace(t->request, std::move(transfer));

  t->easy = curl_easy_init();
  if (t->easy == nullptr) {
    t->start_error = Status::IoError("curl_easy_init failed");
    failed_to_start_.push_back(t->request);
    kick_.Start(0);
    return t->request;
  }
  CURL* e = t->easy;
  t->headers = curl_slist_append(nullptr, "Content-Type: application/json");
  // No "Expect: 100-continue" round trip before larger bodies.
  t->headers = curl_slist_append(t->headers, "Expect:");
  curl_easy_setopt(e, CURLOPT_URL, t->http.url.c_str());
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
  curl_easy_setopt(e, CURLOPT_POSTFIELDS, t->http.body.data());
  curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(t->http.body.size()));
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &HttpClient::OnWrite);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
  curl_easy_setopt(e, CURLOPT_PRIVATE, t);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->error);
  // Signals would reach whichever thread libcurl runs on: never use them.
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(t->http.timeout.count()));
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(t->http.connect_timeout.count()));
  // A peer that vanished without a FIN (a dead host) is noticed on a
  // long-lived stream by TCP keepalive rather than never.
  curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(e, CURLOPT_TCP_KEEPIDLE, 5L);
  curl_easy_setopt(e, CURLOPT_TCP_KEEPINTVL, 2L);
  const CURLMcode rc = curl_multi_add_handle(multi_, e);
  if (rc != CURLM_OK) {
    t->start_error =
        Status::IoError(std::string("curl_multi_add_handle: ") + curl_multi_strerror(rc));
    failed_to_start_.push_back(t->request);
    kick_.Start(0);
  }
  return t->request;
}

void HttpClient::Cancel(RequestId request) {
  auto it = transfers_.find(request);
  if (it == transfers_.end()) return;
  // Removing a handle that was never added is harmless for libcurl.
  if (it->second->easy != nullptr) curl_multi_remove_handle(multi_, it->second->easy);
  transfers_.erase(it);
}

void HttpClient::Close() {
  if (closed_ || multi_ == nullptr) {
    closed_ = true;
    return;
  }
  closed_ = true;
  for (auto& [request, t] : transfers_) {
    if (t->easy != nullptr) curl_multi_remove_handle(multi_, t->easy);
  }
  transfers_.clear();
  has_data_.clear();
  failed_to_start_.clear();
  // curl_multi_cleanup closes cached connections and may still report their
  // sockets as removed through OnSocket; any it does not are closed below.
  curl_multi_cleanup(multi_);
  multi_ = nullptr;
  while (!polls_.empty()) ClosePoll(*polls_.begin());
  timer_.Close();
  kick_.Close();
}

int HttpClient::OnSocket(CURL*, curl_socket_t fd, int what, void* userp, void* socketp) noexcept {
  auto* self = static_cast<HttpClient*>(userp);
  auto* poll = static_cast<SocketPoll*>(socketp);
  if (what == CURL_POLL_REMOVE) {
    // Stop watching now: libcurl closes the fd right after this returns.
    if (poll != nullptr) {
      self->ClosePoll(poll);
      if (!self->closed_) curl_multi_assign(self->multi_, fd, nullptr);
    }
    return 0;
  }
  if (poll == nullptr) {
    poll = new SocketPoll{};  // freed in ClosePoll's close callback
    poll->fd = fd;
    poll->client = self;
    if (uv_poll_init_socket(self->loop_.uv(), &poll->poll, fd) != 0) {
      delete poll;
      return -1;  // libcurl fails the transfer
    }
    poll->poll.data = poll;
    self->polls_.insert(poll);
    curl_multi_assign(self->multi_, fd, poll);
  }
  int events = 0;
  if (what == CURL_POLL_IN || what == CURL_POLL_INOUT) events |= UV_READABLE;
  if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT) events |= UV_WRITABLE;
  uv_poll_start(&poll->poll, events, &HttpClient::OnPollReady);
  return 0;
}

void HttpClient::ClosePoll(SocketPoll* poll) {
  polls_.erase(poll);
  poll->client = nullptr;
  uv_poll_stop(&poll->poll);
  uv_close(reinterpret_cast<uv_handle_t*>(&poll->poll),
           [](uv_handle_t* h) noexcept { delete static_cast<SocketPoll*>(h->data); });
}

int HttpClient::OnTimerChange(CURLM*, long timeout_ms, void* userp) noexcept {
  auto* self = static_cast<HttpClient*>(userp);
  if (timeout_ms < 0) {
    self->timer_.Stop();
  } else {
    // 0 means "as soon as possible"; libcurl must not be re-entered from
    // here, so the timer calls back in the next loop turn.
    self->timer_.Start(static_cast<uint64_t>(timeout_ms));
  }
  return 0;
}

void HttpClient::OnPollReady(uv_poll_t* handle, int status, int events) noexcept {
  auto* poll = static_cast<SocketPoll*>(handle->data);
  if (poll->client == nullptr) return;
  int flags = 0;
  if (status < 0) {
    flags = CURL_CSELECT_ERR;
  } else {
    if (events & UV_READABLE) flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE) flags |= CURL_CSELECT_OUT;
  }
  poll->client->SocketAction(poll->fd, flags);
}

size_t HttpClient::OnWrite(char* data, size_t size, size_t count, void* userp) noexcept {
  auto* t = static_cast<Transfer*>(userp);
  const size_t bytes = size * count;
  // Stream bytes wait here until Dispatch: no callback of ours may run
  // inside libcurl. A collected body is bounded by the request's timeout
  // and etcd's own response limits.
  if (t->http.on_data && t->received.empty()) t->client->has_data_.push_back(t->request);
  t->received.append(data, bytes);
  return bytes;
}

void HttpClient::SocketAction(curl_socket_t fd, int ev_bitmask) {
  if (multi_ == nullptr) return;
  int running = 0;
  curl_multi_socket_action(multi_, fd, ev_bitmask, &running);
  // The uv timer has millisecond resolution and a clock cached per loop
  // turn, so it can fire a little before libcurl's microsecond deadline.
  // libcurl then expires nothing and, its next deadline unchanged, does not
  // call OnTimerChange again (libcurl 7.88): the transfer would wait for an
  // unrelated wakeup. Asking libcurl for its next timeout after every
  // action rearms the timer either way.
  long timeout_ms = -1;
  curl_multi_timeout(multi_, &timeout_ms);
  OnTimerChange(multi_, timeout_ms, this);
  Dispatch();
}

void HttpClient::Dispatch() {
  // Stream data first: a stream that ended in this action hands out its
  // last bytes before its end. Callbacks may cancel any request, so each is
  // looked up again by its id.
  std::vector<RequestId> ready;
  ready.swap(has_data_);
  for (RequestId request : ready) {
    auto it = transfers_.find(request);
    if (it == transfers_.end()) continue;
    std::string bytes;
    bytes.swap(it->second->received);
    auto on_data = it->second->http.on_data;  // a copy: the callback may cancel
    on_data(bytes);
    if (closed_) return;  // a callback closed the client: nothing more runs
  }

  // Take every finished transfer out before calling back, so a callback
  // that posts or cancels never meets a half-read message list.
  std::vector<std::pair<std::unique_ptr<Transfer>, HttpResponse>> done;
  std::vector<RequestId> failed;
  failed.swap(failed_to_start_);
  for (RequestId request : failed) {
    auto it = transfers_.find(request);
    if (it == transfers_.end()) continue;
    HttpResponse response;
    response.status = it->second->start_error;
    done.emplace_back(std::move(it->second), std::move(response));
    transfers_.erase(it);
  }
  if (multi_ != nullptr) {
    int left = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi_, &left)) {
      if (msg->msg != CURLMSG_DONE) continue;
      Transfer* t = nullptr;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &t);
      const CURLcode rc = msg->data.result;
      HttpResponse response;
      response.status = FromCurl(rc, "POST " + t->http.url, t->error);
      curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &response.http_status);
      long request_bytes = 0;
      curl_easy_getinfo(t->easy, CURLINFO_REQUEST_SIZE, &request_bytes);
      response.sent = request_bytes > 0;
      curl_multi_remove_handle(multi_, t->easy);
      auto it = transfers_.find(t->request);
      HERMOD_CHECK(it != transfers_.end());
      done.emplace_back(std::move(it->second), std::move(response));
      transfers_.erase(it);
    }
  }
  for (auto& [transfer, response] : done) {
    if (!transfer->http.on_data) response.body = std::move(transfer->received);
    DoneCallback on_done = std::move(transfer->on_done);
    transfer.reset();  // frees the easy handle before calling back
    if (closed_) return;
    on_done(std::move(response));
  }
}

}  // namespace hermod::cluster
