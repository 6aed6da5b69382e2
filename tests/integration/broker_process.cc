// BrokerProcess (broker_process.h): fork/exec of hermodd for tests. Used
// from one test thread.
#include "broker_process.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cstring>
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
  if (options_.binary.empty()) options_.binary = HERMODD_BIN;
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
  std::vector<std::string> args = {options_.binary, "--listen", options_.listen, "--data-dir",
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
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    Status s = Status::IoError(std::string("fork: ") + strerror(errno));
    ::close(out[0]);
    ::close(out[1]);
    if (err_fd >= 0) ::close(err_fd);
    return s;
  }
  if (pid == 0) {
    // The child. Dies with the thread that started it.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(126);  // the parent died before prctl
    ::dup2(out[1], STDOUT_FILENO);
    if (err_fd >= 0) ::dup2(err_fd, STDERR_FILENO);
    ::execv(argv[0], argv.data());
    static constexpr char kExecFailed[] = "BrokerProcess: execv failed\n";
    (void)!::write(STDERR_FILENO, kExecFailed, sizeof(kExecFailed) - 1);
    ::_exit(127);
  }
  ::close(out[1]);
  if (err_fd >= 0) ::close(err_fd);
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
