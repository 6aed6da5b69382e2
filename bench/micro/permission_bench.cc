// What a permission check costs per publish (docs/benchmarks.md,
// "Principals"): a session's cached decision for one of 1,000 queue names,
// against matching the principal's patterns every time.
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "permission_cache.h"
#include "principals.h"

namespace hermod::server {
namespace {

Principal BenchPrincipal() {
  Principal p;
  p.name = "bench";
  p.publish = *NamePatterns::Compile(
      {"user:{principal}", "user:{principal}/*", "room:*", "audit.*", "bench.*"}, p.name);
  return p;
}

std::vector<std::string> QueueNames() {
  std::vector<std::string> names;
  for (int i = 0; i < 1000; ++i) names.push_back("bench." + std::to_string(i));
  return names;
}

void BM_CachedDecision(benchmark::State& state) {
  const Principal principal = BenchPrincipal();
  const std::vector<std::string> names = QueueNames();
  PermissionCache cache;
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(cache.Allowed(principal, Operation::kPublish, names[i]));
    if (++i == names.size()) i = 0;
  }
}
BENCHMARK(BM_CachedDecision);

void BM_PatternsEveryTime(benchmark::State& state) {
  const Principal principal = BenchPrincipal();
  const std::vector<std::string> names = QueueNames();
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(principal.publish.Matches(names[i]));
    if (++i == names.size()) i = 0;
  }
}
BENCHMARK(BM_PatternsEveryTime);

}  // namespace
}  // namespace hermod::server

BENCHMARK_MAIN();
