// `hermod queue ...`: commands about queues: `set` (a queue's settings:
// limits, overflow, age, dead-lettering, ack wait, backoff), `ls` (queues
// with their counters), `show` (one queue in detail), `peek` (entries
// without delivering them, scheduled ones marked), `purge`, `rm` and
// `redrive` (dead letters back to their queue). See docs/cli.md.
//
// Each `queue` subcommand has its own Add...() below, called from
// AddQueueCommand(), with its options struct and its run function beside
// it. Everything runs on the main thread, with libhermod's blocking calls.
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "cli.h"
#include "json.h"

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
  std::string backoff;   // a backoff spec; "": the broker's default
  bool reset = false;
  // The options given on the command line (an absent one is left as it is).
  CLI::Option* max_messages_option = nullptr;
  CLI::Option* max_bytes_option = nullptr;
  CLI::Option* overflow_option = nullptr;
  CLI::Option* max_age_option = nullptr;
  CLI::Option* max_deliveries_option = nullptr;
  CLI::Option* dead_letter_queue_option = nullptr;
  CLI::Option* ack_wait_option = nullptr;
  CLI::Option* backoff_option = nullptr;
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
  if (Given(options.backoff_option)) settings.backoff = options.backoff;
  if (!settings.reset && !settings.max_messages && !settings.max_bytes && !settings.overflow &&
      !settings.max_age && !settings.max_deliveries && !settings.dead_letter_queue &&
      !settings.ack_wait && !settings.backoff) {
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
  options->backoff_option =
      set->add_option("--backoff", options->backoff,
                      "Wait before redelivery after a nack without a delay or an ack-wait "
                      "expiry: 1s,5s,30s or exp:BASE:CAP; none: at once; \"\": the broker's "
                      "default")
          ->type_name("SPEC");
  set->add_flag("--reset", options->reset,
                "Drop every setting first, back to the broker's defaults (then apply the rest)");
  set->callback([options, &global] {
    global.run = [options, &global] { return QueueSet(*options, global); };
  });
}

std::unique_ptr<Client> Connect(const GlobalOptions& global) {
  return ConnectOrReport(global, CommandClientOptions("hermod queue"));
}

// ---------------------------------------------------------------------------
// queue ls

// Rows asked for per page when listing by name.
constexpr uint32_t kListPage = 1000;
// Rows shown by the other sorts when --limit is not given, and at most:
// they come in one reply, which must fit the client's frame limit.
constexpr uint32_t kDefaultTopRows = 100;
constexpr uint32_t kMaxTopRows = 10000;

struct QueueListCliOptions {
  std::string prefix;
  std::string sort = "name";
  uint64_t limit = 0;  // 0: by name, every queue; else the default top
  bool json = false;
};

// The counters every listing shows, as JSON (the keys of docs/cli.md).
Json QueueCounters(const QueueInfo& q) {
  Json j;
  j["name"] = q.name;
  j["depth"] = q.depth;
  j["bytes"] = q.bytes;
  j["consumers"] = q.consumers;
  j["inflight"] = q.inflight;
  j["oldest_age_ms"] = q.oldest_age_ms;
  j["dlq_depth"] = q.dlq_depth;
  j["last_seq"] = q.last_seq;
  j["created_ms"] = q.created_ms;
  return j;
}

std::string OldestCell(const QueueInfo& q) {
  return q.depth == 0 ? "-" : FormatMillis(q.oldest_age_ms);
}

int QueueList(const QueueListCliOptions& options, const GlobalOptions& global) {
  const bool by_name = options.sort == "name";
  if (!by_name && options.limit > kMaxTopRows) {
    return Fail("--limit: at most " + std::to_string(kMaxTopRows) + " with --sort " + options.sort);
  }
  std::unique_ptr<Client> client = Connect(global);
  if (!client) return kExitError;
  // By name: pages until the end or --limit rows. Other sorts: the broker
  // ranks every queue and returns the top rows in one answer.
  const uint64_t wanted = options.limit != 0 ? options.limit
                          : by_name          ? std::numeric_limits<uint64_t>::max()
                                             : kDefaultTopRows;
  Table table({"NAME", "DEPTH", "BYTES", "CONSUMERS", "IN FLIGHT", "OLDEST", "DLQ"},
              {false, true, true, true, true, true, true});
  QueueListOptions list;
  list.prefix = options.prefix;
  list.sort = options.sort;
  uint64_t shown = 0;
  // Bounded: each page makes progress (or ends the listing).
  for (uint64_t page = 0; shown < wanted && page < (uint64_t{1} << 32); ++page) {
    list.limit = static_cast<uint32_t>(std::min<uint64_t>(
        wanted - shown, by_name ? kListPage : std::numeric_limits<uint32_t>::max()));
    Result<QueuePage> got = client->ListQueues(list);
    if (!got.ok()) return Fail("cannot list queues: " + got.status().ToString());
    std::string out;
    for (const QueueInfo& q : got->queues) {
      if (shown == wanted) break;
      ++shown;
      if (options.json) {
        out += DumpJson(QueueCounters(q)) + "\n";
      } else {
        table.AddRow({q.name, std::to_string(q.depth), FormatBytes(q.bytes),
                      std::to_string(q.consumers), std::to_string(q.inflight), OldestCell(q),
                      std::to_string(q.dlq_depth)});
      }
    }
    // JSON lines stream page by page; the table waits for its widths.
    if (options.json && !WriteOut(out)) return Fail("cannot write to stdout");
    // An empty page ends the listing too, so every page makes progress.
    if (!by_name || got->next.empty() || got->queues.empty()) break;
    list.after = got->next;
  }
  if (!options.json && !WriteOut(table.Format())) return Fail("cannot write to stdout");
  return kExitOk;
}

void AddQueueListCommand(CLI::App& queue, GlobalOptions& global) {
  auto options = std::make_shared<QueueListCliOptions>();
  CLI::App* ls = queue.add_subcommand("ls", "List queues with their depth, bytes and consumers");
  ls->add_option("--prefix", options->prefix, "Only queues whose name starts with this");
  ls->add_option("--sort", options->sort,
                 "name (all queues, paged), or the top --limit by depth, bytes or age (oldest "
                 "entry first)")
      ->check(CLI::IsMember({"name", "depth", "bytes", "age"}))
      ->capture_default_str();
  ls->add_option("--limit", options->limit,
                 "Rows at most (default: every queue by name, the top 100 otherwise; at most "
                 "10000 then)")
      ->check(CLI::PositiveNumber);
  ls->add_flag("--json", options->json, "Print one JSON object per queue");
  ls->callback([options, &global] {
    global.run = [options, &global] { return QueueList(*options, global); };
  });
}

// ---------------------------------------------------------------------------
// queue show

struct QueueNameOptions {
  std::string queue;
  bool json = false;
  bool yes = false;  // purge, rm
};

int QueueShow(const QueueNameOptions& options, const GlobalOptions& global) {
  std::unique_ptr<Client> client = Connect(global);
  if (!client) return kExitError;
  Result<QueueInfo> got = client->ShowQueue(options.queue);
  if (!got.ok()) {
    return Fail("cannot show queue '" + options.queue + "': " + got.status().ToString());
  }
  const QueueInfo& q = *got;
  std::string out;
  if (options.json) {
    Json j = QueueCounters(q);
    j["first_seq"] = q.first_seq;
    j["publish_rate"] = JsonNumber(q.publish_rate);
    j["ack_rate"] = JsonNumber(q.ack_rate);
    Json& limits = j["limits"] = Json::object();
    for (const auto& limit : q.limits) {
      limits[limit.name] = Json{{"value", limit.value}, {"source", limit.source}};
    }
    Json& consumers = j["consumer_list"] = Json::array();
    for (const ConsumerInfo& c : q.consumer_list) {
      consumers.push_back(Json{{"address", c.address},
                               {"subscription_id", c.subscription_id},
                               {"credit", c.credit},
                               {"inflight", c.inflight},
                               {"ack_wait_ms", c.ack_wait_ms}});
    }
    out += DumpJson(j) + "\n";
    return WriteOut(out) ? kExitOk : Fail("cannot write to stdout");
  }
  Table fields({"", ""}, {false, false});
  fields.AddRow({"queue", q.name});
  fields.AddRow({"depth", std::to_string(q.depth) + " entries, " + FormatBytes(q.bytes)});
  fields.AddRow({"seq", q.depth == 0
                            ? "last " + std::to_string(q.last_seq)
                            : std::to_string(q.first_seq) + " .. " + std::to_string(q.last_seq)});
  fields.AddRow({"oldest", OldestCell(q)});
  fields.AddRow({"in flight", std::to_string(q.inflight)});
  fields.AddRow({"consumers", std::to_string(q.consumers)});
  fields.AddRow({"dead letters", std::to_string(q.dlq_depth)});
  fields.AddRow({"publish rate", FormatNumber(q.publish_rate) + " msg/s"});
  fields.AddRow({"ack rate", FormatNumber(q.ack_rate) + " msg/s"});
  fields.AddRow({"created", FormatTime(q.created_ms)});
  // Without its (empty) header row.
  std::string block = fields.Format();
  out += block.substr(block.find('\n') + 1);
  if (!q.limits.empty()) {
    Table limits({"LIMIT", "VALUE", "SOURCE"}, {false, true, false});
    for (const QueueLimitInfo& l : q.limits) limits.AddRow({l.name, l.value, l.source});
    out += "\n" + limits.Format();
  }
  if (!q.consumer_list.empty()) {
    Table consumers({"CONSUMER", "SUBSCRIPTION", "CREDIT", "IN FLIGHT", "ACK WAIT"},
                    {false, true, true, true, true});
    for (const ConsumerInfo& c : q.consumer_list) {
      consumers.AddRow({c.address, std::to_string(c.subscription_id), std::to_string(c.credit),
                        std::to_string(c.inflight), FormatMillis(c.ack_wait_ms)});
    }
    out += "\n" + consumers.Format();
  }
  return WriteOut(out) ? kExitOk : Fail("cannot write to stdout");
}

void AddQueueShowCommand(CLI::App& queue, GlobalOptions& global) {
  auto options = std::make_shared<QueueNameOptions>();
  CLI::App* show = queue.add_subcommand(
      "show", "Show one queue: counters, seqs, limits and where they come from, consumers");
  show->add_option("NAME", options->queue, "Queue name")->required();
  show->add_flag("--json", options->json, "Print JSON");
  show->callback([options, &global] {
    global.run = [options, &global] { return QueueShow(*options, global); };
  });
}

// ---------------------------------------------------------------------------
// queue peek

// Entries asked for per request: a reply holds their payloads.
constexpr uint32_t kPeekPage = 100;
// Characters of a payload shown in the table.
constexpr size_t kPeekPayloadChars = 60;

struct QueuePeekOptions {
  std::string queue;
  uint32_t count = 10;
  uint64_t from_seq = 0;
  bool json = false;
  bool raw = false;
};

// The payload for the table: printable text with tabs and line breaks
// escaped, else "base64:" and its base64; cut at kPeekPayloadChars.
std::string PayloadCell(const std::string& payload) {
  std::string text;
  if (IsPrintableUtf8(payload)) {
    for (char c : payload) {
      if (c == '\n') {
        text += "\\n";
      } else if (c == '\r') {
        text += "\\r";
      } else if (c == '\t') {
        text += "\\t";
      } else if (c == '\\') {
        text += "\\\\";
      } else {
        text += c;
      }
    }
  } else {
    text = "base64:";
    AppendBase64(&text, payload);
  }
  // Cut at a character boundary.
  size_t chars = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    if ((static_cast<uint8_t>(text[i]) & 0xC0) == 0x80) continue;
    if (chars++ == kPeekPayloadChars) return text.substr(0, i) + "...";
  }
  return text;
}

void AppendPeekJson(std::string* out, const std::string& queue, const PeekedEntry& e) {
  Json j = EntryJson(queue, e.seq, e.msg_id, e.delivery_count);
  j["publish_time_ms"] = e.publish_time_ms;
  j["expires_ms"] = e.expires_ms;
  j["inflight"] = e.inflight;
  if (e.deliver_at_ms != 0) j["deliver_at_ms"] = e.deliver_at_ms;
  WithBody(&j, e.headers, e.payload);
  *out += DumpJson(j) + "\n";
}

int QueuePeek(const QueuePeekOptions& options, const GlobalOptions& global) {
  if (options.json && options.raw) return Fail("give --json or --raw, not both");
  std::unique_ptr<Client> client = Connect(global);
  if (!client) return kExitError;
  Table table({"SEQ", "MSG ID", "DELIVERIES", "PUBLISHED", "STATE", "SIZE", "PAYLOAD"},
              {true, true, true, false, false, true, false});
  uint64_t from = options.from_seq;
  uint32_t shown = 0;
  // Pages of kPeekPage until -n entries or an empty page; each page starts
  // after the last seq seen, so the loop ends.
  while (shown < options.count) {
    const uint32_t want = std::min(options.count - shown, kPeekPage);
    Result<std::vector<PeekedEntry>> got = client->PeekQueue(options.queue, from, want);
    if (!got.ok()) {
      return Fail("cannot peek into queue '" + options.queue + "': " + got.status().ToString());
    }
    if (got->empty()) break;
    std::string out;
    for (const PeekedEntry& e : *got) {
      if (shown == options.count) break;
      ++shown;
      from = e.seq + 1;
      if (options.raw) {
        out += e.payload;
      } else if (options.json) {
        AppendPeekJson(&out, options.queue, e);
      } else {
        table.AddRow({std::to_string(e.seq), std::to_string(e.msg_id),
                      std::to_string(e.delivery_count), FormatTime(e.publish_time_ms),
                      e.inflight             ? "in flight"
                      : e.deliver_at_ms != 0 ? "scheduled " + FormatTime(e.deliver_at_ms)
                                             : "ready",
                      FormatBytes(e.payload.size()), PayloadCell(e.payload)});
      }
    }
    if ((options.raw || options.json) && !WriteOut(out)) return Fail("cannot write to stdout");
  }
  if (!options.raw && !options.json && !WriteOut(table.Format(/*header_if_empty=*/false))) {
    return Fail("cannot write to stdout");
  }
  return kExitOk;
}

void AddQueuePeekCommand(CLI::App& queue, GlobalOptions& global) {
  auto options = std::make_shared<QueuePeekOptions>();
  CLI::App* peek =
      queue.add_subcommand("peek", "Show a queue's entries, oldest first, without delivering them");
  peek->add_option("NAME", options->queue, "Queue name")->required();
  peek->add_option("-n,--count", options->count, "Entries at most")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  peek->add_option("--from", options->from_seq, "Start at this seq (default: the oldest)");
  peek->add_flag("--json", options->json, "One JSON object per entry");
  peek->add_flag("--raw", options->raw, "The payload bytes only, one after the other");
  peek->callback([options, &global] {
    global.run = [options, &global] { return QueuePeek(*options, global); };
  });
}

// ---------------------------------------------------------------------------
// queue purge, queue rm

// Asks the terminal on stdin whether to go ahead: kExitOk when the answer
// is y or yes, else the exit code of the error it reported.
int AskTerminal(const QueueNameOptions& options, Client& client, const std::string& command,
                const char* what) {
  Result<QueueInfo> info = client.ShowQueue(options.queue);
  if (!info.ok()) return Fail(command + ": " + info.status().ToString());
  std::string prompt = "queue " + options.queue + " holds " + std::to_string(info->depth) +
                       (info->depth == 1 ? " entry" : " entries");
  if (info->inflight > 0) prompt += " (" + std::to_string(info->inflight) + " in flight)";
  prompt += std::string(": ") + what + "? [y/N] ";
  std::fputs(prompt.c_str(), stderr);
  std::fflush(stderr);
  char line[64] = {};
  std::string answer;
  if (std::fgets(line, sizeof(line), stdin) != nullptr) {
    for (const char* c = line; *c != '\0' && *c != '\n' && *c != '\r'; ++c) {
      answer.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(*c))));
    }
  }
  if (answer != "y" && answer != "yes") return Fail(command + ": not confirmed, nothing changed");
  return kExitOk;
}

int QueuePurge(bool forget, const QueueNameOptions& options, const GlobalOptions& global) {
  // Without --yes a terminal on stdin is asked, and anything else is
  // refused: a script says --yes, so that nothing it pipes in can answer by
  // accident.
  const std::string command = std::string("queue ") + (forget ? "rm " : "purge ") + options.queue;
  const char* what = forget ? "delete it and its entries" : "remove its entries";
  if (!options.yes && ::isatty(STDIN_FILENO) == 0) {
    return Fail(command + ": stdin is not a terminal; give --yes to " + what);
  }
  std::unique_ptr<Client> client = Connect(global);
  if (!client) return kExitError;
  if (!options.yes) {
    if (int rc = AskTerminal(options, *client, command, what); rc != kExitOk) return rc;
  }
  Result<uint64_t> removed =
      forget ? client->DeleteQueue(options.queue) : client->PurgeQueue(options.queue);
  if (!removed.ok()) {
    return Fail("cannot " + std::string(forget ? "delete" : "purge") + " queue '" + options.queue +
                "': " + removed.status().ToString());
  }
  std::string line;
  if (options.json) {
    Json j;
    j["queue"] = options.queue;
    j["removed"] = *removed;
    line = DumpJson(j) + "\n";
  } else {
    line = std::string(forget ? "deleted queue " : "purged queue ") + options.queue + ": " +
           std::to_string(*removed) + (*removed == 1 ? " entry removed\n" : " entries removed\n");
  }
  return WriteOut(line) ? kExitOk : Fail("cannot write to stdout");
}

void AddQueuePurgeCommand(CLI::App& queue, GlobalOptions& global, bool forget) {
  auto options = std::make_shared<QueueNameOptions>();
  CLI::App* cmd = queue.add_subcommand(
      forget ? "rm" : "purge",
      forget ? "Delete a queue and its entries (refused while it has consumers)"
             : "Remove every entry of a queue that is not being delivered");
  cmd->add_option("NAME", options->queue, "Queue name")->required();
  cmd->add_flag("-y,--yes", options->yes, "Do not ask (required when stdin is not a terminal)");
  cmd->add_flag("--json", options->json, "Print JSON");
  cmd->callback([options, &global, forget] {
    global.run = [options, &global, forget] { return QueuePurge(forget, *options, global); };
  });
}

// ---------------------------------------------------------------------------
// queue redrive

struct QueueRedriveOptions {
  std::string dlq;
  std::string to;      // empty: each entry's origin
  uint64_t limit = 0;  // 0: every dead letter
  bool json = false;
};

int QueueRedrive(const QueueRedriveOptions& options, const GlobalOptions& global) {
  std::unique_ptr<Client> client = Connect(global);
  if (!client) return kExitError;
  // The broker moves a bounded batch per request: ask again until the
  // limit is reached, the queue is empty, or a request moves nothing (what
  // is left is in flight, or has no origin).
  uint64_t moved = 0;
  uint64_t remaining = 0;
  Status error;
  for (;;) {
    uint64_t want = options.limit == 0 ? 0 : options.limit - moved;
    auto ask =
        static_cast<uint32_t>(std::min<uint64_t>(want, std::numeric_limits<uint32_t>::max()));
    Result<RedriveResult> got = client->Redrive(options.dlq, options.to, ask);
    if (!got.ok()) {
      error = got.status();
      break;
    }
    moved += got->moved;
    remaining = got->remaining;
    if (got->moved == 0 || remaining == 0 || (options.limit != 0 && moved >= options.limit)) break;
  }
  const std::string what = "queue redrive " + options.dlq;
  if (!error.ok() && moved == 0)
    return Fail("cannot redrive " + options.dlq + ": " + error.ToString());
  std::string line;
  if (options.json) {
    Json j;
    j["queue"] = options.dlq;
    j["moved"] = moved;
    j["remaining"] = remaining;
    if (!error.ok()) j["error"] = error.ToString();
    line = DumpJson(j) + "\n";
  } else {
    line = "redrove " + std::to_string(moved) + (moved == 1 ? " entry" : " entries") + " from " +
           options.dlq + (options.to.empty() ? " to their origin" : " to " + options.to) + "; " +
           std::to_string(remaining) + " left\n";
  }
  if (!WriteOut(line)) return Fail("cannot write to stdout");
  if (!error.ok()) return Fail(what + ": stopped: " + error.ToString());
  if (remaining > 0 && (options.limit == 0 || moved < options.limit) && !options.json) {
    std::string why = options.to.empty()
                          ? "being delivered, nacked with a delay, or without an "
                            "x-hermod-dead-letter-from header (name a target with --to)"
                          : "being delivered, or nacked with a delay";
    std::fputs(("note: the entries left in " + options.dlq + " are " + why + "\n").c_str(), stderr);
  }
  return kExitOk;
}

void AddQueueRedriveCommand(CLI::App& queue, GlobalOptions& global) {
  auto options = std::make_shared<QueueRedriveOptions>();
  CLI::App* cmd = queue.add_subcommand(
      "redrive", "Move dead letters back to the queue they came from (or to --to)");
  cmd->add_option("DLQ", options->dlq, "Dead-letter queue name")->required();
  cmd->add_option("--to", options->to, "Move them to this queue instead of their origin");
  cmd->add_option("--limit", options->limit, "Move at most N entries (default: all)")
      ->check(CLI::PositiveNumber);
  cmd->add_flag("--json", options->json, "Print JSON");
  cmd->callback([options, &global] {
    global.run = [options, &global] { return QueueRedrive(*options, global); };
  });
}

}  // namespace

void AddQueueCommand(CLI::App& app, GlobalOptions& global) {
  CLI::App* queue = app.add_subcommand("queue", "Inspect, configure, purge and delete queues");
  queue->require_subcommand(1);
  AddQueueListCommand(*queue, global);
  AddQueueShowCommand(*queue, global);
  AddQueuePeekCommand(*queue, global);
  AddQueuePurgeCommand(*queue, global, /*forget=*/false);
  AddQueuePurgeCommand(*queue, global, /*forget=*/true);
  AddQueueSetCommand(*queue, global);
  AddQueueRedriveCommand(*queue, global);
}

}  // namespace hermod::cli
