// `hermod bench`: load generators for a running hermodd, each printing one
// report (text, or one JSON object with --json). The workloads live one per
// file (workloads.h); docs/cli.md describes them and docs/benchmarks.md the
// standard suite built on them (bench/run-suite.sh).
#include "bench/workloads.h"
#include "cli.h"

namespace hermod::cli {

void AddBenchCommand(CLI::App& app, GlobalOptions& global) {
  CLI::App* bench = app.add_subcommand("bench", "Measure a running broker (see docs/cli.md)");
  bench->require_subcommand(1);
  bench::AddPublishBench(*bench, global);
  bench::AddConsumeBench(*bench, global);
  bench::AddFanoutBench(*bench, global);
  bench::AddLatencyBench(*bench, global);
  bench::AddConnectionsBench(*bench, global);
  bench::AddQueuesBench(*bench, global);
}

}  // namespace hermod::cli
