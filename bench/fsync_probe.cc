// hermod_fsync_probe: the disk's own floor for durable commits. Appends
// --bytes to a file in --dir and fdatasync()s it, --count times, and prints
// the latency percentiles as one JSON object. bench/run-suite.sh records it
// beside every run: no broker that syncs before it confirms can have a
// confirm or delivery latency tail below this disk's fdatasync tail.
//
//   hermod_fsync_probe --dir /tmp --bytes 4096 --count 2000
//
// Single-threaded.
#include <fcntl.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "bench/histogram.h"

int main(int argc, char** argv) {
  CLI::App app{"hermod_fsync_probe: append + fdatasync latency of a directory's disk"};
  std::string dir = "/tmp";
  uint32_t bytes = 4096;
  uint32_t count = 2000;
  app.add_option("--dir", dir, "Directory on the disk to probe")->capture_default_str();
  app.add_option("--bytes", bytes, "Bytes appended before each fdatasync")->capture_default_str();
  app.add_option("--count", count, "Appends")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  const std::string path = dir + "/hermod-fsync-probe." + std::to_string(getpid());
  const int fd = open(path.c_str(), O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    std::fprintf(stderr, "hermod_fsync_probe: %s: %s\n", path.c_str(), std::strerror(errno));
    return 1;
  }
  const std::vector<char> block(bytes, 'x');
  hermod::bench::Histogram h;
  for (uint32_t i = 0; i < count; ++i) {
    const auto start = std::chrono::steady_clock::now();
    if (write(fd, block.data(), block.size()) != static_cast<ssize_t>(block.size()) ||
        fdatasync(fd) != 0) {
      std::fprintf(stderr, "hermod_fsync_probe: write: %s\n", std::strerror(errno));
      close(fd);
      unlink(path.c_str());
      return 1;
    }
    h.Record(std::chrono::steady_clock::now() - start);
  }
  close(fd);
  unlink(path.c_str());
  auto us = [](uint64_t nanos) { return std::round(static_cast<double>(nanos) / 10.0) / 100.0; };
  std::printf(
      "{\"bytes\":%u,\"count\":%u,\"p50_us\":%.2f,\"p99_us\":%.2f,\"p999_us\":%.2f,\"max_us\":%.2f}"
      "\n",
      bytes, count, us(h.ValueAtPercentile(50)), us(h.ValueAtPercentile(99)),
      us(h.ValueAtPercentile(99.9)), us(h.max()));
  return 0;
}
