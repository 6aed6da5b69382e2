// NetnsLink: a network namespace of a test's own, joined to the host by a
// veth pair, so that a process started inside it (BrokerProcess::Options::
// netns) can be cut off the network and put back, as a switch port that
// dies would, without iptables.
//
//   Result<std::unique_ptr<NetnsLink>> link = NetnsLink::Create();
//   if (!link.ok()) GTEST_SKIP() << link.status().ToString();  // not root...
//   ... processes listen on (*link)->host_address() / ns_address() ...
//   (*link)->Cut();   // the namespace's end goes down: no packet crosses
//   (*link)->Heal();  // and up again
//
// The namespace is "hermod-iso-<pid>", the veth ends "hv<pid>h" (host) and
// "hv<pid>n" (namespace), on 10.213.N.0/24 with N the first subnet no
// address of this host uses (.1 on the host, .2 in the namespace, whose
// loopback is up too). Create() first removes what a crashed earlier test
// process left (names whose pid is gone). The destructor deletes the
// namespace and the veth pair: stop the processes inside first (the kernel
// keeps a namespace alive while a process is in it).
//
// Why the namespace's end goes down rather than the host's: an address on
// a link that is down stays reachable from its own namespace, so the host's
// processes keep talking to each other on host_address() while the cut is
// on, and so does a process inside on ns_address(); nothing crosses.
//
// Needs root and `ip` (iproute2). Every command is bounded. One test thread
// at a time; RunInside() may be called from any thread.
#ifndef HERMOD_TESTS_CLUSTER_NETNS_LINK_H_
#define HERMOD_TESTS_CLUSTER_NETNS_LINK_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "hermod/status.h"

namespace hermod::test {

class NetnsLink {
 public:
  // Creates the namespace and the link, up. kNotSupported when not root or
  // without `ip`; any failure of `ip` otherwise (then nothing is left).
  static Result<std::unique_ptr<NetnsLink>> Create();
  // Deletes the namespace and the veth pair; failures are printed.
  ~NetnsLink();
  NetnsLink(const NetnsLink&) = delete;
  NetnsLink& operator=(const NetnsLink&) = delete;

  // Sets the namespace's end of the veth down / up.
  Status Cut();
  Status Heal();

  // Runs `fn` on a thread of its own inside the namespace and waits for it:
  // sockets it creates (and threads it starts) belong to the namespace.
  Status RunInside(const std::function<void()>& fn);

  const std::string& name() const { return name_; }  // for BrokerProcess::Options::netns
  const std::string& host_address() const { return host_address_; }
  const std::string& ns_address() const { return ns_address_; }

 private:
  NetnsLink() = default;
  // Runs `ip` with `args`; the status says why it failed, with its stderr.
  Status Ip(const std::vector<std::string>& args);

  std::string ip_binary_;
  std::string name_;
  std::string host_veth_;
  std::string ns_veth_;
  std::string host_address_;
  std::string ns_address_;
  bool created_ = false;
};

}  // namespace hermod::test

#endif  // HERMOD_TESTS_CLUSTER_NETNS_LINK_H_
