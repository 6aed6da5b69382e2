// The workloads of `hermod bench`, one .cc each; bench_main.cc registers
// them under the `bench` subcommand. See docs/cli.md ("hermod bench").
#ifndef HERMOD_TOOLS_BENCH_WORKLOADS_H_
#define HERMOD_TOOLS_BENCH_WORKLOADS_H_

#include "cli.h"

namespace hermod::bench {

void AddPublishBench(CLI::App& bench, cli::GlobalOptions& global);      // publish.cc
void AddConsumeBench(CLI::App& bench, cli::GlobalOptions& global);      // consume.cc
void AddFanoutBench(CLI::App& bench, cli::GlobalOptions& global);       // fanout.cc
void AddLatencyBench(CLI::App& bench, cli::GlobalOptions& global);      // latency.cc
void AddConnectionsBench(CLI::App& bench, cli::GlobalOptions& global);  // connections.cc
void AddQueuesBench(CLI::App& bench, cli::GlobalOptions& global);       // queues.cc

}  // namespace hermod::bench

#endif  // HERMOD_TOOLS_BENCH_WORKLOADS_H_
