// BrokerProcess: runs build/bin/hermodd as a child process for a test.
//
//   hermod::test::TempDir dir;
//   hermod::test::BrokerProcess broker({.data_dir = dir.Join("data")});
//   ASSERT_TRUE(broker.Start().ok());
//   ... connect to broker.address() ...
//   EXPECT_TRUE(broker.Stop().ok());   // SIGTERM, exit status 0
//
// Start() runs `hermodd --listen 127.0.0.1:0 --data-dir DIR <extra_args>`
// and reads the child's stdout until the line "listening on HOST:PORT"
// (bounded by start_timeout); the rest of the child's stdout is copied to
// the test's stderr by a background thread, so the child never blocks on a
// full pipe. The child gets PR_SET_PDEATHSIG(SIGKILL): if the thread that
// started it dies (a crashed test), the broker dies too. The destructor
// kills (SIGKILL) and reaps a child still running.
//
// Every wait is bounded: process exits are awaited through a pidfd with
// poll(), never by sleeping.
//
// Not thread-safe: use one BrokerProcess from one thread (the test's), and
// start it from a thread that outlives the child (see PR_SET_PDEATHSIG).
#ifndef HERMOD_TESTS_INTEGRATION_BROKER_PROCESS_H_
#define HERMOD_TESTS_INTEGRATION_BROKER_PROCESS_H_

#include <sys/types.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "hermod/status.h"

namespace hermod::test {

// How a child process ended.
struct ExitStatus {
  bool exited = false;  // exited normally; code is valid
  int code = -1;        // exit code when exited
  int signal = 0;       // the signal that ended it when !exited
  // Exited with code 0.
  bool ok() const { return exited && code == 0; }
  // "exit code 0", "killed by signal 9", ...
  std::string ToString() const;
};

class BrokerProcess {
 public:
  // Every member has a default initializer, so designated initializers
  // ({.data_dir = d, .extra_args = {...}}) compile cleanly under -Wextra.
  struct Options {
    // The hermodd binary; empty: $HERMOD_TEST_HERMODD if set, else the
    // HERMODD_BIN this build was made with.
    std::string binary{};
    // --data-dir; required. Created by hermodd when missing.
    std::string data_dir{};
    // --listen. The default, 127.0.0.1:0, becomes a free port below the
    // kernel's ephemeral range, so that a restart on the same address
    // cannot collide with a client's source port (see broker_process.cc).
    std::string listen = "127.0.0.1:0";
    // More arguments, e.g. {"--sync", "none"}.
    std::vector<std::string> extra_args{};
    // Where the child's stderr goes: empty to share the test's stderr (the
    // broker's log then shows in ctest's output), else a file that is
    // truncated at each start.
    std::string stderr_path{};
    // A network namespace, by the name `ip netns add` gave it (a file under
    // /run/netns): the child enters it (setns) before exec, so pid() is
    // still hermodd's. Empty: the test's own namespace.
    std::string netns{};
    // How long Start() waits for the "listening on" line.
    std::chrono::milliseconds start_timeout{10000};
  };

  explicit BrokerProcess(Options options);
  // Kills (SIGKILL) and reaps the child if it still runs.
  ~BrokerProcess();
  BrokerProcess(const BrokerProcess&) = delete;
  BrokerProcess& operator=(const BrokerProcess&) = delete;

  // Starts hermodd and waits until it listens. Fails when it exits first
  // (exit_status() then tells how), or stays silent past start_timeout (it
  // is then killed). REQUIRES: !running().
  Status Start();

  // Sends SIGTERM and waits up to `grace` for the exit; past that sends
  // SIGKILL and waits again. Returns how the child ended. REQUIRES: Start()
  // created a child.
  ExitStatus Stop(std::chrono::milliseconds grace = std::chrono::seconds(10));

  // Sends `signal` to the running child; does not wait.
  void Kill(int signal);

  // Waits up to `timeout` for the child to end. kTimeout when it still runs.
  Result<ExitStatus> Wait(std::chrono::milliseconds timeout);

  // Stop() when running, then Start() with the same options (same data
  // directory; a new port unless `listen` names one).
  Status Restart();

  // "127.0.0.1:PORT" from the last "listening on" line.
  const std::string& address() const { return address_; }
  // The lines hermodd printed on stdout before it, e.g. "metrics on
  // HOST:PORT" with --metrics-listen.
  const std::vector<std::string>& startup_lines() const { return startup_lines_; }
  pid_t pid() const { return pid_; }
  bool running() const { return pid_ > 0 && !reaped_; }
  // How the last child ended. REQUIRES: it was reaped (Stop, Wait).
  const ExitStatus& exit_status() const { return exit_status_; }

 private:
  // Reaps the child if it ended within timeout; true when reaped.
  bool Reap(std::chrono::milliseconds timeout);
  void JoinStdoutThread();

  Options options_;
  pid_t pid_ = -1;
  int pidfd_ = -1;
  bool reaped_ = false;
  ExitStatus exit_status_;
  std::string address_;
  std::vector<std::string> startup_lines_;
  std::thread stdout_thread_;  // drains the child's stdout after "listening on"
};

}  // namespace hermod::test

#endif  // HERMOD_TESTS_INTEGRATION_BROKER_PROCESS_H_
