// EtcdProcess (etcd_process.h): fork/exec of etcd for tests.
#include "etcd_process.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <vector>

#include "check.h"

namespace hermod::test {

namespace {

using Clock = std::chrono::steady_clock;

constexpr const char* kEtcdBinary = "/usr/bin/etcd";

int RemainingMs(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return left.count() > 0 ? static_cast<int>(left.count()) : 0;
}

size_t Collect(char* data, size_t size, size_t count, void* out) {
  static_cast<std::string*>(out)->append(data, size * count);
  return size * count;
}

// One blocking HTTP request from the test thread (never from a loop).
Result<std::string> HttpCall(const std::string& url, const std::string* post_body,
                             long timeout_ms) {
  CURL* easy = curl_easy_init();
  HERMOD_CHECK(easy != nullptr);
  std::string body;
  curl_easy_setopt(easy, CURLOPT_URL, url.c_str());
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &Collect);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, &body);
  if (post_body != nullptr) {
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, post_body->c_str());
  }
  const CURLcode rc = curl_easy_perform(easy);
  long http_status = 0;
  curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &http_status);
  curl_easy_cleanup(easy);
  if (rc != CURLE_OK) return Status::Unavailable(url + ": " + curl_easy_strerror(rc));
  if (http_status != 200) {
    return Status::Unavailable(url + ": HTTP " + std::to_string(http_status) + ": " + body);
  }
  return body;
}

void PrintLogTail(const std::string& path) {
  std::ifstream in(path);
  std::stringstream all;
  all << in.rdbuf();
  const std::string text = all.str();
  std::fprintf(stderr, "--- last of %s ---\n%s\n", path.c_str(),
               text.substr(text.size() > 4000 ? text.size() - 4000 : 0).c_str());
}

}  // namespace

int UnusedLoopbackPort() {
  int low = 32768;
  std::ifstream range("/proc/sys/net/ipv4/ip_local_port_range");
  range >> low;
  const int first = 10000;
  const int last = std::max(first + 1000, low) - 1;
  std::mt19937 rng(std::random_device{}());
  for (int attempt = 0; attempt < 200; ++attempt) {
    const int port = first + static_cast<int>(rng() % static_cast<unsigned>(last - first + 1));
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    HERMOD_CHECK(fd >= 0);
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port));
    const bool free = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    ::close(fd);
    if (free) return port;
  }
  HERMOD_CHECK(false && "no free loopback port");
  return 0;
}

EtcdProcess::EtcdProcess(std::string dir, std::string extra_client_host)
    : dir_(std::move(dir)), extra_client_host_(std::move(extra_client_host)) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
}

EtcdProcess::~EtcdProcess() {
  if (running()) {
    Signal(SIGKILL);
    (void)Reap(std::chrono::seconds(30));
  }
  if (pidfd_ >= 0) ::close(pidfd_);
}

Status EtcdProcess::Start(std::chrono::milliseconds timeout) {
  HERMOD_CHECK(!running());
  const int client_port = UnusedLoopbackPort();
  int peer_port = UnusedLoopbackPort();
  while (peer_port == client_port) peer_port = UnusedLoopbackPort();
  client_url_ = "http://127.0.0.1:" + std::to_string(client_port);
  std::string client_urls = client_url_;
  if (!extra_client_host_.empty()) {
    extra_client_url_ = "http://" + extra_client_host_ + ":" + std::to_string(client_port);
    client_urls += "," + extra_client_url_;
  }
  const std::string peer_url = "http://127.0.0.1:" + std::to_string(peer_port);
  const std::string log_path = dir_ + "/etcd.log";

  // Prepared before fork(): the child of a threaded parent may only make
  // async-signal-safe calls before exec.
  std::vector<std::string> args = {
      kEtcdBinary, "--name", "t", "--data-dir", dir_ + "/data", "--listen-client-urls", client_urls,
      "--advertise-client-urls", client_urls, "--listen-peer-urls", peer_url,
      "--initial-advertise-peer-urls", peer_url, "--initial-cluster", "t=" + peer_url,
      // etcd's smallest lease TTL is 1.5 election timeouts' worth of
      // heartbeats: 25 ms heartbeats and a 250 ms election make it 1 s.
      "--heartbeat-interval", "25", "--election-timeout", "250", "--logger", "zap", "--log-outputs",
      "stderr"};
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  const int log_fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (log_fd < 0) return Status::IoError("open " + log_path + ": " + strerror(errno));

  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(log_fd);
    return Status::IoError(std::string("fork: ") + strerror(errno));
  }
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(126);
    ::dup2(log_fd, STDOUT_FILENO);
    ::dup2(log_fd, STDERR_FILENO);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(log_fd);
  pid_ = pid;
  pidfd_ = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  HERMOD_CHECK(pidfd_ >= 0);

  // Ask /health until it says true. Between tries, wait on the pidfd: an
  // etcd that exits ends the wait at once instead of at the deadline.
  const Clock::time_point deadline = Clock::now() + timeout;
  Status last = Status::Timeout("etcd never answered /health");
  while (RemainingMs(deadline) > 0) {
    Result<std::string> health = HttpCall(client_url_ + "/health", nullptr, 500);
    if (health.ok() && health->find("\"health\":\"true\"") != std::string::npos) {
      return Status::OK();
    }
    last = health.ok() ? Status::Unavailable("etcd /health: " + *health) : health.status();
    pollfd p{pidfd_, POLLIN, 0};
    if (::poll(&p, 1, std::min(RemainingMs(deadline), 20)) > 0) {
      (void)Reap(std::chrono::milliseconds(1000));
      PrintLogTail(log_path);
      return Status::Unavailable("etcd exited before it was healthy");
    }
  }
  PrintLogTail(log_path);
  Stop();
  return Status::Timeout("etcd not healthy within " + std::to_string(timeout.count()) +
                         " ms: " + last.ToString());
}

void EtcdProcess::Signal(int signal) {
  if (running()) ::kill(pid_, signal);
}

void EtcdProcess::Stop(std::chrono::milliseconds grace) {
  if (!running()) return;
  // A stopped etcd would not act on SIGTERM.
  ::kill(pid_, SIGCONT);
  ::kill(pid_, SIGTERM);
  if (Reap(grace)) return;
  ::kill(pid_, SIGKILL);
  HERMOD_CHECK(Reap(std::chrono::seconds(30)));
}

bool EtcdProcess::Reap(std::chrono::milliseconds timeout) {
  pollfd p{pidfd_, POLLIN, 0};
  int ready;
  do {
    ready = ::poll(&p, 1, static_cast<int>(timeout.count()));
  } while (ready < 0 && errno == EINTR);
  if (ready <= 0) return false;
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
  ::close(pidfd_);
  pidfd_ = -1;
  return true;
}

Result<std::string> EtcdProcess::Post(const std::string& path, const std::string& body) {
  return HttpCall(client_url_ + path, &body, 5000);
}

}  // namespace hermod::test
