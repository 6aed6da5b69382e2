// Helpers shared by the crash tests: broker RSS from /proc, and a broker
// that restarts on the same address (so clients reconnect by themselves).
#ifndef HERMOD_TESTS_CRASH_CRASH_UTIL_H_
#define HERMOD_TESTS_CRASH_CRASH_UTIL_H_

#include <sys/types.h>

#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "broker_process.h"

namespace hermod::test {

// Resident set size of a process in KiB, from /proc/PID/status; 0 if gone.
inline uint64_t RssKib(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6));
  }
  return 0;
}

// A hermodd that keeps its first address across restarts.
class StickyBroker {
 public:
  StickyBroker(std::string data_dir, std::vector<std::string> extra_args)
      : data_dir_(std::move(data_dir)), extra_args_(std::move(extra_args)) {}

  Status Start() {
    BrokerProcess::Options options;
    options.data_dir = data_dir_;
    options.extra_args = extra_args_;
    if (!address_.empty()) options.listen = address_;
    process_ = std::make_unique<BrokerProcess>(options);
    Status s = process_->Start();
    if (s.ok()) address_ = process_->address();
    return s;
  }
  BrokerProcess& process() { return *process_; }
  const std::string& address() const { return address_; }

 private:
  std::string data_dir_;
  std::vector<std::string> extra_args_;
  std::string address_;
  std::unique_ptr<BrokerProcess> process_;
};

}  // namespace hermod::test

#endif  // HERMOD_TESTS_CRASH_CRASH_UTIL_H_
