// RunCommand (run_command.h): runs a program with given stdin and
// captures its output, bounded by a timeout.
#include "run_command.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

extern char** environ;

namespace hermod::test {

namespace {

using Clock = std::chrono::steady_clock;

// pidfd_open(2) through syscall(): glibc 2.36's <sys/pidfd.h> lacks C
// linkage for C++. Returns -1 on kernels older than 5.3.
int PidfdOpen(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }

int RemainingMs(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return left.count() > 0 ? static_cast<int>(left.count()) : 0;
}

// The test's environment with options.env set and options.unset_env removed.
std::vector<std::string> BuildEnvironment(const CommandOptions& options) {
  auto removed = [&](std::string_view entry) {
    std::string_view name = entry.substr(0, entry.find('='));
    for (const std::string& unset : options.unset_env) {
      if (name == unset) return true;
    }
    for (const auto& [set, value] : options.env) {
      if (name == set) return true;
    }
    return false;
  };
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    if (!removed(*e)) env.emplace_back(*e);
  }
  for (const auto& [name, value] : options.env) env.push_back(name + "=" + value);
  return env;
}

void CloseIfOpen(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

ExitStatus Decode(int status) {
  ExitStatus out;
  if (WIFEXITED(status)) {
    out.exited = true;
    out.code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    out.signal = WTERMSIG(status);
  }
  return out;
}

}  // namespace

Result<CommandResult> RunCommand(const std::vector<std::string>& argv_in,
                                 const CommandOptions& options) {
  // Prepared before fork(): the child only calls async-signal-safe functions.
  std::vector<std::string> args = argv_in;
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  std::vector<std::string> env = BuildEnvironment(options);
  std::vector<char*> envp;
  for (std::string& entry : env) envp.push_back(entry.data());
  envp.push_back(nullptr);

  int in[2], out[2], err[2];
  if (::pipe2(in, O_CLOEXEC) != 0) return Status::IoError("pipe");
  if (::pipe2(out, O_CLOEXEC) != 0) return Status::IoError("pipe");
  if (::pipe2(err, O_CLOEXEC) != 0) return Status::IoError("pipe");
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) return Status::IoError(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(126);
    ::dup2(in[0], STDIN_FILENO);
    ::dup2(out[1], STDOUT_FILENO);
    ::dup2(err[1], STDERR_FILENO);
    ::execve(argv[0], argv.data(), envp.data());
    static constexpr char kExecFailed[] = "RunCommand: execve failed\n";
    (void)!::write(STDERR_FILENO, kExecFailed, sizeof(kExecFailed) - 1);
    ::_exit(127);
  }
  ::close(in[0]);
  ::close(out[1]);
  ::close(err[1]);
  // Writing to a program that exited without reading all its stdin raises
  // SIGPIPE: block it in this thread while feeding the program, so the
  // write just fails with EPIPE, and discard the pending signal afterwards.
  sigset_t pipe_set;
  sigset_t old_mask;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_set, &old_mask);
  int to_child = in[1];
  int from_out = out[0];
  int from_err = err[0];
  ::fcntl(to_child, F_SETFL, O_NONBLOCK);
  int pidfd = PidfdOpen(pid);

  const Clock::time_point deadline = Clock::now() + options.timeout;
  CommandResult result;
  std::string_view input = options.stdin_data;
  if (input.empty()) CloseIfOpen(to_child);
  bool timed_out = false;
  while (from_out >= 0 || from_err >= 0) {
    pollfd fds[3];
    int n = 0;
    if (to_child >= 0) fds[n++] = {to_child, POLLOUT, 0};
    if (from_out >= 0) fds[n++] = {from_out, POLLIN, 0};
    if (from_err >= 0) fds[n++] = {from_err, POLLIN, 0};
    int ready = ::poll(fds, static_cast<nfds_t>(n), RemainingMs(deadline));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) {
      timed_out = true;
      break;
    }
    for (int i = 0; i < n; ++i) {
      if (fds[i].revents == 0) continue;
      if (fds[i].fd == to_child) {
        ssize_t written = ::write(to_child, input.data(), input.size());
        if (written > 0) input.remove_prefix(static_cast<size_t>(written));
        if (input.empty() || (written < 0 && errno != EAGAIN && errno != EINTR)) {
          CloseIfOpen(to_child);
        }
        continue;
      }
      char buffer[64 * 1024];
      ssize_t got = ::read(fds[i].fd, buffer, sizeof(buffer));
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) {
        if (fds[i].fd == from_out) CloseIfOpen(from_out);
        if (fds[i].fd == from_err) CloseIfOpen(from_err);
        continue;
      }
      (fds[i].fd == from_out ? result.out : result.err).append(buffer, static_cast<size_t>(got));
    }
  }
  CloseIfOpen(to_child);
  CloseIfOpen(from_out);
  CloseIfOpen(from_err);
  const timespec no_wait{0, 0};
  (void)sigtimedwait(&pipe_set, nullptr, &no_wait);  // at most one is pending
  pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);

  int status = 0;
  for (;;) {
    pid_t done = ::waitpid(pid, &status, WNOHANG);
    if (done == pid) break;
    if (timed_out || RemainingMs(deadline) == 0) {
      timed_out = true;
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);  // SIGKILL cannot be ignored
      break;
    }
    if (pidfd < 0) {
      // No pidfd (kernel < 5.3). Both outputs are closed, so the program is
      // exiting: a blocking wait is short.
      ::waitpid(pid, &status, 0);
      break;
    }
    pollfd p{pidfd, POLLIN, 0};
    (void)::poll(&p, 1, RemainingMs(deadline));
  }
  if (pidfd >= 0) ::close(pidfd);
  if (timed_out) {
    return Status::Timeout("'" + argv_in[0] + "' did not finish within " +
                           std::to_string(options.timeout.count()) + " ms; stderr: " + result.err);
  }
  result.exit = Decode(status);
  return result;
}

}  // namespace hermod::test
