// `hermod queue ...`: commands about one queue. Today `queue set` (the
// queue's settings: limits, overflow, age, dead-lettering, ack wait). See
// docs/cli.md.
//
// Each `queue` subcommand has its own Add...() below, called from
// AddQueueCommand(), with its options struct and its run function beside
// it; new ones (ls, show, peek, purge, rm) slot in the same way.
#include <cstdint>
#include <limits>
#include <memory>
#include <string>

#include "cli.h"

namespace hermod::cli {

namespace {

// ---------------------------------------------------------------------------
// queue set

struct QueueSetOptions {
  std::string queue;
  uint64_t max_messages = 0;
  uint64_t max_bytes = 0;
  std::string overflow;
  std::string max_age;  // DURATION
  uint32_t max_deliveries = 0;
  std::string dead_letter_queue;
  std::string ack_wait;  // DURATION
  bool reset = false;
  // The options given on the command line (an absent one is left as it is).
  CLI::Option* max_messages_option = nullptr;
  CLI::Option* max_bytes_option = nullptr;
  CLI::Option* overflow_option = nullptr;
  CLI::Option* max_age_option = nullptr;
  CLI::Option* max_deliveries_option = nullptr;
  CLI::Option* dead_letter_queue_option = nullptr;
  CLI::Option* ack_wait_option = nullptr;
};

bool Given(const CLI::Option* option) { return option->count() > 0; }

int QueueSet(const QueueSetOptions& options, const GlobalOptions& global) {
  QueueSettings settings;
  settings.reset = options.reset;
  if (Given(options.max_messages_option)) settings.max_messages = options.max_messages;
  if (Given(options.max_bytes_option)) settings.max_bytes = options.max_bytes;
  if (Given(options.overflow_option)) settings.overflow = options.overflow;
  if (Given(options.max_age_option)) settings.max_age = DurationValue(options.max_age);
  if (Given(options.max_deliveries_option)) settings.max_deliveries = options.max_deliveries;
  if (Given(options.dead_letter_queue_option)) {
    settings.dead_letter_queue = options.dead_letter_queue;
  }
  if (Given(options.ack_wait_option)) {
    std::chrono::milliseconds ack_wait = DurationValue(options.ack_wait);
    if (ack_wait.count() > std::numeric_limits<uint32_t>::max()) {
      return Fail("--ack-wait " + options.ack_wait + " is too long (at most 49 days)");
    }
    settings.ack_wait = ack_wait;
  }
  if (!settings.reset && !settings.max_messages && !settings.max_bytes && !settings.overflow &&
      !settings.max_age && !settings.max_deliveries && !settings.dead_letter_queue &&
      !settings.ack_wait) {
    return Fail("queue set " + options.queue + ": nothing to set (give --reset or a setting)");
  }

  std::unique_ptr<Client> client = ConnectOrReport(global, CommandClientOptions("hermod queue"));
  if (!client) return kExitError;
  Status s = client->ConfigureQueue(options.queue, settings);
  if (!s.ok()) return Fail("cannot configure queue '" + options.queue + "': " + s.ToString());
  return kExitOk;
}

void AddQueueSetCommand(CLI::App& queue, GlobalOptions& global) {
  auto options = std::make_shared<QueueSetOptions>();
  CLI::App* set = queue.add_subcommand(
      "set", "Change a queue's settings (creating it if needed); absent options stay as they are");
  set->add_option("NAME", options->queue, "Queue name")->required();
  options->max_messages_option =
      set->add_option("--max-messages", options->max_messages, "Most entries (0: unlimited)");
  options->max_bytes_option =
      set->add_option("--max-bytes", options->max_bytes, "Most bytes of messages (0: unlimited)");
  options->overflow_option =
      set->add_option("--overflow", options->overflow,
                      "When full: reject new publishes, or drop the oldest entries")
          ->check(CLI::IsMember({"reject", "drop-oldest"}));
  options->max_age_option = set->add_option("--max-age", options->max_age,
                                            "Entries older than DURATION are dropped (0: never)")
                                ->type_name("DURATION")
                                ->check(DurationValidator());
  options->max_deliveries_option =
      set->add_option("--max-deliveries", options->max_deliveries,
                      "Deliveries before an entry goes to the dead-letter queue (0: unlimited)");
  options->dead_letter_queue_option = set->add_option(
      "--dlq", options->dead_letter_queue, "Dead-letter queue (\"\": the default, NAME.dlq)");
  options->ack_wait_option =
      set->add_option("--ack-wait", options->ack_wait,
                      "Redeliver a delivery not acked within DURATION, for this queue's consumers")
          ->type_name("DURATION")
          ->check(DurationValidator());
  set->add_flag("--reset", options->reset,
                "Drop every setting first, back to the broker's defaults (then apply the rest)");
  set->callback([options, &global] {
    global.run = [options, &global] { return QueueSet(*options, global); };
  });
}

}  // namespace

void AddQueueCommand(CLI::App& app, GlobalOptions& global) {
  CLI::App* queue = app.add_subcommand("queue", "Configure queues");
  queue->require_subcommand(1);
  AddQueueSetCommand(*queue, global);
}

}  // namespace hermod::cli
