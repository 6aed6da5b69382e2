// `hermod stats`: the broker's server-wide statistics (version, uptime,
// connections, stored messages and entries, counters, rates, batch and
// commit figures), as an aligned list for people or one JSON object for
// scripts. See docs/cli.md for every name. Main thread only.
#include <memory>
#include <string>

#include "cli.h"
#include "json.h"

namespace hermod::cli {

namespace {

struct StatsOptions {
  bool json = false;
};

// Byte counts print as sizes; everything else as a plain number.
bool IsBytes(const std::string& name) {
  return name.size() > 6 && name.compare(name.size() - 6, 6, "_bytes") == 0;
}

int ShowStats(const StatsOptions& options, const GlobalOptions& global) {
  std::unique_ptr<Client> client = ConnectOrReport(global, CommandClientOptions("hermod stats"));
  if (!client) return kExitError;
  Result<std::vector<ServerStat>> stats = client->Stats();
  if (!stats.ok()) return Fail("cannot read the broker's stats: " + stats.status().ToString());
  std::string out;
  if (options.json) {
    // One object, in the broker's order: a text stat as a string, the
    // others as numbers.
    Json j = Json::object();
    for (const ServerStat& stat : *stats) {
      j[stat.name] = stat.text.empty() ? JsonNumber(stat.value) : Json(stat.text);
    }
    out += DumpJson(j);
    out += '\n';
  } else {
    Table table({"NAME", "VALUE"}, {false, false});
    for (const ServerStat& stat : *stats) {
      std::string value;
      if (!stat.text.empty()) {
        value = stat.text;
      } else if (IsBytes(stat.name) && stat.value >= 0) {
        value =
            FormatNumber(stat.value) + " (" + FormatBytes(static_cast<uint64_t>(stat.value)) + ")";
      } else {
        value = FormatNumber(stat.value);
      }
      table.AddRow({stat.name, value});
    }
    out = table.Format();
  }
  return WriteOut(out) ? kExitOk : Fail("cannot write to stdout");
}

}  // namespace

void AddStatsCommand(CLI::App& app, GlobalOptions& global) {
  auto options = std::make_shared<StatsOptions>();
  CLI::App* stats = app.add_subcommand("stats", "Show the broker's statistics");
  stats->add_flag("--json", options->json, "Print one JSON object");
  stats->callback([options, &global] {
    global.run = [options, &global] { return ShowStats(*options, global); };
  });
}

}  // namespace hermod::cli
