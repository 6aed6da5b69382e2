// EtcdProcess: a real single-member etcd (Debian's /usr/bin/etcd) as a
// child process of a test, on 127.0.0.1 with free ports and its own data
// directory, so tests never meet a system etcd or each other.
//
//   hermod::test::TempDir dir;
//   hermod::test::EtcdProcess etcd(dir.path());
//   ASSERT_TRUE(etcd.Start().ok());   // returns once /health says true
//   ... EtcdClient with etcd.client_url() ...
//   etcd.Stop();                      // SIGTERM, wait for the exit
//
// etcd runs with a short heartbeat and election timeout, which lowers its
// minimum lease TTL to 1 s, so lease tests stay short. Its log goes to
// <dir>/etcd.log and is printed when Start() fails. The child gets
// PR_SET_PDEATHSIG(SIGKILL); the destructor kills and reaps a child still
// running. Every wait is bounded. One test thread only.
#ifndef HERMOD_TESTS_CLUSTER_ETCD_PROCESS_H_
#define HERMOD_TESTS_CLUSTER_ETCD_PROCESS_H_

#include <sys/types.h>

#include <chrono>
#include <string>

#include "hermod/status.h"

namespace hermod::test {

class EtcdProcess {
 public:
  // `dir` must exist; etcd's data directory and log go inside it. With
  // `extra_client_host` (an IPv4 address of this host, such as the host end
  // of a test's veth pair), etcd serves clients on that address too, on the
  // same port, and advertises both URLs.
  explicit EtcdProcess(std::string dir, std::string extra_client_host = "");
  ~EtcdProcess();
  EtcdProcess(const EtcdProcess&) = delete;
  EtcdProcess& operator=(const EtcdProcess&) = delete;

  // Starts etcd and waits until GET /health answers {"health":"true"}.
  // Fails when etcd exits first or is not healthy within `timeout`.
  // REQUIRES: !running().
  Status Start(std::chrono::milliseconds timeout = std::chrono::seconds(15));
  // SIGTERM, then SIGKILL past `grace`; waits for the exit.
  void Stop(std::chrono::milliseconds grace = std::chrono::seconds(10));
  // Sends `signal` (SIGSTOP, SIGCONT, SIGKILL...); does not wait. After
  // SIGKILL, call Stop() to reap.
  void Signal(int signal);

  // A blocking POST from the test thread, for what the client under test
  // does not offer (compaction). Returns the body of a 200 answer.
  Result<std::string> Post(const std::string& path, const std::string& body);

  // "http://127.0.0.1:PORT".
  const std::string& client_url() const { return client_url_; }
  // "http://EXTRA_CLIENT_HOST:PORT"; empty without an extra client host.
  const std::string& extra_client_url() const { return extra_client_url_; }
  bool running() const { return pid_ > 0; }

 private:
  bool Reap(std::chrono::milliseconds timeout);

  std::string dir_;
  std::string extra_client_host_;
  std::string client_url_;
  std::string extra_client_url_;
  pid_t pid_ = -1;
  int pidfd_ = -1;
};

// A 127.0.0.1 port that nothing listens on (free when checked), below the
// kernel's ephemeral range so that no client's source port takes it.
int UnusedLoopbackPort();

}  // namespace hermod::test

#endif  // HERMOD_TESTS_CLUSTER_ETCD_PROCESS_H_
