// Placeholder until its owner fills it in (see cli.h).
#include "cli.h"

namespace hermod::cli {
void AddDbCommand(CLI::App& /*app*/, GlobalOptions& /*global*/) {}
}  // namespace hermod::cli
