// BrokerProcess (broker_process.h): fork/exec of hermodd for tests. Used
// from one test thread.
#include "broker_process.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <string_view>

#include "check.h"

namespace hermod::test {

namespace {

constexpr std::string_view kListeningPrefix = "listening on ";

using Clock = std::chrono::steady_clock;

// pidfd_open(2) through syscall(): glibc 2.36's <sys/pidfd.h> lacks C
// linkage for C++. Returns -1 on kernels older than 5.3.
int PidfdOpen(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }

int RemainingMs(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return left.count() > 0 ? static_cast<int>(left.count()) : 0;
}

void WriteAllToStderr(std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::write(STDERR_FILENO, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    bytes.remove_prefix(static_cast<size_t>(n));
  }
}

// A free port on 127.0.0.1 below the kernel's ephemeral range, as
// "127.0.0.1:PORT". A broker restarted on a port from that range can find
// it taken: a client reconnecting meanwhile may get the same number as its
// own source port, and a TCP connect from a port to itself succeeds (a
// self-connect), holding the port. Ports below the range are never given out
// as source ports. Free when checked; another process could still take it
// before the broker binds, which is as unlikely as the random picks meeting.
std::string PortBelowEphemeralRange() {
  int low = 32768;
  std::ifstream range("/proc/sys/net/ipv4/ip_local_port_range");
  range >> low;
  const int first = 10000;
  const int last = std::max(first + 1000, low) - 1;
  std::mt19937 rng(std::random_device{}());
  for (int attempt = 0; attempt < 200; ++attempt) {
    const int port = first + static_cast<int>(rng() % static_cast<unsigned>(last - first + 1));
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) break;
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));  // as libuv binds
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port));
    const bool free = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    ::close(fd);
    if (free) return "127.0.0.1:" + std::to_string(port);
  }
  return "127.0.0.1:0";  // the kernel's pick, as before
}

// Copies the child's stdout to our stderr until the child closes it (exits).
void DrainToStderr(int fd) {
  char buffer[4096];
  for (;;) {
    ssize_t n = ::read(fd, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    WriteAllToStderr(std::string_view(buffer, static_cast<size_t>(n)));
  }
  ::close(fd);
}

}  // namespace

std::string ExitStatus::ToString() const {
  if (exited) return "exit code " + std::to_string(code);
  return "killed by signal " + std::to_string(signal) + " (" + strsignal(signal) + ")";
}

BrokerProcess::BrokerProcess(Options options) : options_(std::move(options)) {
  if (options_.binary.empty()) {
    // HERMOD_TEST_HERMODD lets a long stress loop run copies of the
    // binaries while the build tree is rebuilt.
    const char* env = std::getenv("HERMOD_TEST_HERMODD");
    options_.binary = env && *env ? env : HERMODD_BIN;
  }
}

BrokerProcess::~BrokerProcess() {
  if (running()) {
    Kill(SIGKILL);
    // SIGKILL cannot be caught: the exit comes; the bound only guards
    // against a kernel that never reports it.
    (void)Reap(std::chrono::seconds(30));
  }
  JoinStdoutThread();
  if (pidfd_ >= 0) ::close(pidfd_);
}

Status BrokerProcess::Start() {
  HERMOD_CHECK(!running());
  HERMOD_CHECK(!options_.data_dir.empty());
  JoinStdoutThread();
  if (pidfd_ >= 0) ::close(pidfd_);
  pidfd_ = -1;
  address_.clear();

  // Everything the child needs is prepared before fork(): between fork and
  // exec a multi-threaded parent's child may only make async-signal-safe calls.
  const std::string listen =
      options_.listen == "127.0.0.1:0" ? PortBelowEphemeralRange() : options_.listen;
  std::vector<std::string> args = {options_.binary, "--listen", listen, "--data-dir",
                                   options_.data_dir};
  args.insert(args.end(), options_.extra_args.begin(), options_.extra_args.end());
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);

  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) return Status::IoError(std::string("pipe: ") + strerror(errno));
  int err_fd = -1;
  if (!options_.stderr_path.empty()) {
    err_fd = ::open(options_.stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (err_fd < 0) {
      Status s = Status::IoError("open " + options_.stderr_path + ": " + strerror(errno));
      ::close(out[0]);
      ::close(out[1]);
      return s;
    }
  }
  int netns_fd = -1;
  if (!options_.netns.empty()) {
    const std::string path = "/run/netns/" + options_.netns;
    netns_fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (netns_fd < 0) {
      Status s = Status::IoError("open " + path + ": " + strerror(errno));
      ::close(out[0]);
      ::close(out[1]);
      if (err_fd >= 0) ::close(err_fd);
      return s;
    }
  }
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    Status s = Status::IoError(std::string("fork: ") + strerror(errno));
    ::close(out[0]);
    ::close(out[1]);
    if (err_fd >= 0) ::close(err_fd);
    if (netns_fd >= 0) ::close(netns_fd);
    return s;
  }
  if (pid == 0) {
    // The child. Dies with the thread that started it.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(126);  // the parent died before prctl
    ::dup2(out[1], STDOUT_FILENO);
    if (err_fd >= 0) ::dup2(err_fd, STDERR_FILENO);
    if (netns_fd >= 0 && ::setns(netns_fd, CLONE_NEWNET) != 0) {
      static constexpr char kSetnsFailed[] = "BrokerProcess: setns failed\n";
      (void)!::write(STDERR_FILENO, kSetnsFailed, sizeof(kSetnsFailed) - 1);
      ::_exit(125);
    }
    ::execv(argv[0], argv.data());
    static constexpr char kExecFailed[] = "BrokerProcess: execv failed\n";
    (void)!::write(STDERR_FILENO, kExecFailed, sizeof(kExecFailed) - 1);
    ::_exit(127);
  }
  ::close(out[1]);
  if (err_fd >= 0) ::close(err_fd);
  if (netns_fd >= 0) ::close(netns_fd);
  pid_ = pid;
  reaped_ = false;
  exit_status_ = ExitStatus();
  pidfd_ = PidfdOpen(pid);  // -1 on old kernels: Reap() then polls waitpid

  // Read stdout line by line until "listening on HOST:PORT".
  startup_lines_.clear();
  const int fd = out[0];
  const Clock::time_point deadline = Clock::now() + options_.start_timeout;
  std::string pending;
  char buffer[4096];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    int ready = ::poll(&p, 1, RemainingMs(deadline));
    if (ready < 0 && errno == EINTR) continue;
    if (ready == 0) {
      ::close(fd);
      Kill(SIGKILL);
      (void)Reap(std::chrono::seconds(30));
      return Status::Timeout("hermodd printed no 'listening on' line within " +
                             std::to_string(options_.start_timeout.count()) + " ms");
    }
    ssize_t n = ::read(fd, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {  // stdout closed: the broker is exiting
      ::close(fd);
      if (!Reap(options_.start_timeout)) {
        Kill(SIGKILL);
        (void)Reap(std::chrono::seconds(30));
      }
      return Status::Unavailable("hermodd exited before listening: " + exit_status_.ToString());
    }
    pending.append(buffer, static_cast<size_t>(n));
    size_t line_end;
    while ((line_end = pending.find('\n')) != std::string::npos) {
      std::string line = pending.substr(0, line_end);
      pending.erase(0, line_end + 1);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.compare(0, kListeningPrefix.size(), kListeningPrefix) != 0) {
        startup_lines_.push_back(line);
        WriteAllToStderr(line + "\n");
        continue;
      }
      address_ = line.substr(kListeningPrefix.size());
      WriteAllToStderr(pending);
      stdout_thread_ = std::thread(DrainToStderr, fd);
      return Status::OK();
    }
  }
}

void BrokerProcess::Kill(int signal) {
  if (running()) ::kill(pid_, signal);
}

bool BrokerProcess::Reap(std::chrono::milliseconds timeout) {
  if (reaped_) return true;
  const Clock::time_point deadline = Clock::now() + timeout;
  int status = 0;
  for (;;) {
    pid_t done = ::waitpid(pid_, &status, WNOHANG);
    if (done == pid_) break;
    if (done < 0 && errno != EINTR) return false;  // not our child: nothing to reap
    const int left = RemainingMs(deadline);
    if (left == 0) return false;
    if (pidfd_ >= 0) {
      // Readable once the process has exited.
      pollfd p{pidfd_, POLLIN, 0};
      (void)::poll(&p, 1, left);
    } else {
      // No pidfd (kernel < 5.3): check again shortly, still bounded.
      timespec pause{0, 10 * 1000 * 1000};
      ::nanosleep(&pause, nullptr);
    }
  }
  reaped_ = true;
  exit_status_ = ExitStatus();
  if (WIFEXITED(status)) {
    exit_status_.exited = true;
    exit_status_.code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    exit_status_.signal = WTERMSIG(status);
  }
  return true;
}

ExitStatus BrokerProcess::Stop(std::chrono::milliseconds grace) {
  HERMOD_CHECK(pid_ > 0);
  if (!reaped_) {
    Kill(SIGTERM);
    if (!Reap(grace)) {
      Kill(SIGKILL);
      HERMOD_CHECK(Reap(std::chrono::seconds(30)));
    }
  }
  JoinStdoutThread();
  return exit_status_;
}

Result<ExitStatus> BrokerProcess::Wait(std::chrono::milliseconds timeout) {
  HERMOD_CHECK(pid_ > 0);
  if (!Reap(timeout)) {
    return Status::Timeout("hermodd still runs after " + std::to_string(timeout.count()) + " ms");
  }
  JoinStdoutThread();
  return exit_status_;
}

Status BrokerProcess::Restart() {
  if (running()) {
    ExitStatus stopped = Stop();
    if (!stopped.ok()) return Status::Internal("hermodd stopped with " + stopped.ToString());
  }
  return Start();
}

void BrokerProcess::JoinStdoutThread() {
  // The thread ends at EOF, i.e. once the child exited: callers reap first.
  if (stdout_thread_.joinable()) stdout_thread_.join();
}

}  // namespace hermod::test
