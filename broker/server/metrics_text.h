// The Prometheus text exposition of hermod's statistics (/metrics): the one
// list Sessions::Stats() returns (the same `hermod stats` shows), each as
// hermod_<name> with HELP and TYPE lines; text statistics (version, sync
// mode) become labels of hermod_build_info; per-queue depths only for the
// deepest queues. Pure function; any thread.
#ifndef HERMOD_BROKER_SERVER_METRICS_TEXT_H_
#define HERMOD_BROKER_SERVER_METRICS_TEXT_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "service.h"

namespace hermod::server {

std::string MetricsText(const std::vector<core::StatValue>& stats,
                        const std::vector<std::pair<std::string, uint64_t>>& deepest_queues);

}  // namespace hermod::server

#endif  // HERMOD_BROKER_SERVER_METRICS_TEXT_H_
