// NetnsLink (netns_link.h): a namespace and a veth pair made and removed
// with `ip`.
#include "netns_link.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string_view>
#include <thread>

#include "run_command.h"

namespace hermod::test {

namespace {

constexpr std::string_view kNamespacePrefix = "hermod-iso-";

std::string FindIp() {
  for (const char* path : {"/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"}) {
    if (::access(path, X_OK) == 0) return path;
  }
  return "";
}

std::string VethName(long pid, char end) { return "hv" + std::to_string(pid) + end; }

}  // namespace

Status NetnsLink::Ip(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {ip_binary_};
  argv.insert(argv.end(), args.begin(), args.end());
  CommandOptions options;
  options.timeout = std::chrono::seconds(10);
  Result<CommandResult> r = RunCommand(argv, options);
  if (!r.ok()) return r.status();
  if (!r->exit.ok()) {
    std::string line = "ip";
    for (const std::string& arg : args) line += " " + arg;
    return Status::Internal(line + ": " + r->exit.ToString() + ": " + r->err);
  }
  return Status::OK();
}

Result<std::unique_ptr<NetnsLink>> NetnsLink::Create() {
  if (::geteuid() != 0) return Status(ErrorCode::kNotSupported, "network namespaces need root");
  std::unique_ptr<NetnsLink> link(new NetnsLink());
  link->ip_binary_ = FindIp();
  if (link->ip_binary_.empty()) return Status(ErrorCode::kNotSupported, "no `ip` (iproute2) found");

  // What a test process that crashed left behind: its namespace (the veth
  // pair goes with it) and, should the namespace be gone already, its
  // host end.
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/run/netns", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(kNamespacePrefix, 0) != 0) continue;
    const long pid = std::strtol(name.c_str() + kNamespacePrefix.size(), nullptr, 10);
    if (pid <= 0 || pid == ::getpid() || ::kill(static_cast<pid_t>(pid), 0) == 0 ||
        errno != ESRCH) {
      continue;
    }
    (void)link->Ip({"netns", "del", name});
    (void)link->Ip({"link", "del", VethName(pid, 'h')});
  }

  const long pid = ::getpid();
  link->name_ = std::string(kNamespacePrefix) + std::to_string(pid);
  link->host_veth_ = VethName(pid, 'h');
  link->ns_veth_ = VethName(pid, 'n');

  // A /24 no address of this host is in (another test process may have
  // taken one).
  Result<CommandResult> addresses = RunCommand({link->ip_binary_, "-4", "-o", "addr", "show"});
  if (!addresses.ok()) return addresses.status();
  int subnet = -1;
  for (int i = 0; i < 230 && subnet < 0; ++i) {
    const int candidate = 20 + static_cast<int>((pid + i) % 230);
    if (addresses->out.find("10.213." + std::to_string(candidate) + ".") == std::string::npos) {
      subnet = candidate;
    }
  }
  if (subnet < 0) return Status::Unavailable("every 10.213.N.0/24 is in use on this host");
  const std::string prefix = "10.213." + std::to_string(subnet) + ".";
  link->host_address_ = prefix + "1";
  link->ns_address_ = prefix + "2";

  if (Status s = link->Ip({"netns", "add", link->name_}); !s.ok()) return s;
  link->created_ = true;  // from here on the destructor cleans up
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"link", "add", link->host_veth_, "type", "veth", "peer", "name", link->ns_veth_,
            "netns", link->name_},
           {"addr", "add", link->host_address_ + "/24", "dev", link->host_veth_},
           {"link", "set", link->host_veth_, "up"},
           {"-n", link->name_, "addr", "add", link->ns_address_ + "/24", "dev", link->ns_veth_},
           {"-n", link->name_, "link", "set", link->ns_veth_, "up"},
           {"-n", link->name_, "link", "set", "lo", "up"},
       }) {
    if (Status s = link->Ip(args); !s.ok()) return s;
  }
  return link;
}

NetnsLink::~NetnsLink() {
  if (!created_) return;
  // Deleting the namespace takes the veth pair with it once no process is
  // left inside; the host end is deleted by name in case one still is.
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"netns", "del", name_}, {"link", "del", host_veth_}}) {
    Status s = Ip(args);
    if (!s.ok() && s.message().find("Cannot find device") == std::string::npos) {
      std::fprintf(stderr, "NetnsLink: %s\n", s.ToString().c_str());
    }
  }
}

Status NetnsLink::Cut() { return Ip({"-n", name_, "link", "set", ns_veth_, "down"}); }

Status NetnsLink::Heal() { return Ip({"-n", name_, "link", "set", ns_veth_, "up"}); }

Status NetnsLink::RunInside(const std::function<void()>& fn) {
  Status result;
  std::thread inside([&] {
    const std::string path = "/run/netns/" + name_;
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      result = Status::IoError("open " + path + ": " + strerror(errno));
      return;
    }
    // setns(CLONE_NEWNET) moves only the calling thread.
    if (::setns(fd, CLONE_NEWNET) != 0) {
      result = Status::IoError(std::string("setns: ") + strerror(errno));
    } else {
      fn();
    }
    ::close(fd);
  });
  inside.join();
  return result;
}

}  // namespace hermod::test
