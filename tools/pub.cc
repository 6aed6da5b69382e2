// `hermod pub`: publishes one message (DATA or all of stdin), or --count
// synthetic ones with at most --inflight unconfirmed, optionally with a
// time to live and a dedup id, to a queue or (--group) to every member of a
// group. See docs/cli.md.
//
// The command runs on the main thread; confirms of the --count mode arrive
// on libhermod's client thread and only touch BatchState, whose fields are
// atomics or guarded by its mutex.
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <mutex>
#include <semaphore>
#include <string>
#include <vector>

#include "cli.h"
#include "json.h"
#include "timestamp.h"

namespace hermod::cli {

namespace {

struct PubOptions {
  std::string queue;
  std::string group;  // non-empty: publish to this group instead of a queue
  std::string data;
  bool has_data = false;
  std::vector<std::string> headers;  // KEY=VALUE
  bool json = false;
  uint64_t count = 0;  // 0: publish one message
  uint64_t size = 0;   // bytes of each synthetic message
  bool has_size = false;
  uint32_t inflight = 1000;
  uint32_t spread = 0;     // 0: every message to QUEUE
  std::string ttl;         // DURATION; empty: no expiry
  std::string dedup_id;    // empty: none (libhermod still makes its own for resends)
  std::string receipt_to;  // empty: no receipts
  std::string receipt;     // "each" or "all" (group publishes); empty: each
  std::string delay;       // DURATION; empty: deliverable at once
  std::string deliver_at;  // TIME (timestamp.h); empty: deliverable at once
};

// The --size of synthetic messages when --count is given without DATA.
constexpr uint64_t kDefaultSyntheticSize = 128;

Status ParseHeaders(const std::vector<std::string>& specs, std::vector<Header>* headers) {
  for (const std::string& spec : specs) {
    size_t eq = spec.find('=');
    if (eq == std::string::npos || eq == 0) {
      return Status::InvalidArgument("bad --header '" + spec + "': want KEY=VALUE");
    }
    headers->push_back(Header{spec.substr(0, eq), spec.substr(eq + 1)});
  }
  return Status::OK();
}

// Reads all of stdin, bytes as they are.
Result<std::string> ReadStdin() {
  std::string data;
  char buffer[64 * 1024];
  for (;;) {
    size_t n = std::fread(buffer, 1, sizeof(buffer), stdin);
    data.append(buffer, n);
    if (n < sizeof(buffer)) break;
  }
  if (std::ferror(stdin)) return Status::IoError("cannot read stdin");
  return data;
}

// The PublishOptions shared by every message of the command.
Result<PublishOptions> MakePublishOptions(const PubOptions& options) {
  PublishOptions publish;
  if (Status s = ParseHeaders(options.headers, &publish.headers); !s.ok()) return s;
  if (!options.ttl.empty()) publish.ttl = DurationValue(options.ttl);
  publish.dedup_id = options.dedup_id;
  publish.receipt_to = options.receipt_to;
  publish.receipt = options.receipt;
  if (!options.delay.empty()) publish.delay = DurationValue(options.delay);
  if (!options.deliver_at.empty()) {
    Result<uint64_t> at = ParseTimestamp(options.deliver_at);
    if (!at.ok()) return at.status();
    publish.deliver_at = std::chrono::system_clock::time_point(std::chrono::milliseconds(*at));
  }
  return publish;
}

int PublishOne(const PubOptions& options, const GlobalOptions& global) {
  Result<PublishOptions> made = MakePublishOptions(options);
  if (!made.ok()) return Fail(made.status().message());
  const PublishOptions& publish = *made;
  std::string payload = options.data;
  if (!options.has_data) {
    Result<std::string> in = ReadStdin();
    if (!in.ok()) return Fail(in.status().message());
    payload = std::move(*in);
  }
  std::unique_ptr<Client> client = ConnectOrReport(global, CommandClientOptions("hermod pub"));
  if (!client) return kExitError;
  const bool to_group = !options.group.empty();
  PublishResult result = to_group ? client->PublishToGroup(options.group, payload, publish).get()
                                  : client->Publish(options.queue, payload, publish).get();
  if (!result.status.ok()) {
    return Fail("publish to " + std::string(to_group ? "group '" : "'") +
                (to_group ? options.group : options.queue) +
                "' failed: " + result.status.ToString());
  }
  // Only a --dedup-id makes a publish a duplicate in the user's eyes. The
  // broker also says so of a message libhermod resent after a reconnect
  // because its first confirm was lost: stored once, nothing to report.
  const bool duplicate = result.duplicate && !options.dedup_id.empty();
  std::string line;
  if (options.json && to_group) {
    // A group publish has one entry per member, so no seq.
    Json j;
    j["id"] = result.msg_id;
    j["group"] = options.group;
    j["duplicate"] = duplicate;
    line = DumpJson(j) + "\n";
  } else if (options.json) {
    Json j;
    j["id"] = result.msg_id;
    j["queue"] = options.queue;
    j["seq"] = result.seq;
    j["duplicate"] = duplicate;
    line = DumpJson(j) + "\n";
  } else if (to_group) {
    line = "msg_id=" + std::to_string(result.msg_id) + (duplicate ? " duplicate\n" : "\n");
  } else {
    line = "msg_id=" + std::to_string(result.msg_id) + " seq=" + std::to_string(result.seq) +
           (duplicate ? " duplicate\n" : "\n");
  }
  std::fwrite(line.data(), 1, line.size(), stdout);
  return std::fflush(stdout) == 0 ? kExitOk : Fail("cannot write to stdout");
}

// Shared by the main thread and the confirm callbacks (client thread).
struct BatchState {
  explicit BatchState(uint32_t inflight) : slots(inflight) {}
  std::counting_semaphore<> slots;  // one per publish allowed in flight
  std::atomic<bool> failed{false};
  bool count_duplicates = false;        // --dedup-id was given (see PublishOne)
  std::atomic<uint64_t> duplicates{0};  // confirms of already stored messages
  std::mutex mu;                        // guards first_error
  Status first_error;                   // the first refused publish
};

// Writes i's decimal digits over the start of payload, so that every
// message differs and a reader can tell them apart.
void StampIndex(uint64_t i, std::string* payload) {
  char digits[24];
  int n = std::snprintf(digits, sizeof(digits), "%" PRIu64 " ", i);
  payload->replace(0, std::min(payload->size(), static_cast<size_t>(n)), digits,
                   std::min(payload->size(), static_cast<size_t>(n)));
}

int PublishMany(const PubOptions& options, const GlobalOptions& global) {
  if (options.has_data && options.has_size) return Fail("give DATA or --size, not both");
  if (options.inflight == 0) return Fail("--inflight must be at least 1");
  Result<PublishOptions> made = MakePublishOptions(options);
  if (!made.ok()) return Fail(made.status().message());
  PublishOptions& publish = *made;

  std::string payload = options.data;
  if (!options.has_data) {
    payload.resize(options.has_size ? options.size : kDefaultSyntheticSize);
    for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>('a' + i % 26);
  }
  std::unique_ptr<Client> client = ConnectOrReport(global, CommandClientOptions("hermod pub"));
  if (!client) return kExitError;

  BatchState state(options.inflight);
  state.count_duplicates = !options.dedup_id.empty();
  // One pointer: the callback fits std::function's inline storage, so a
  // publish allocates nothing for it.
  BatchState* shared = &state;
  ConfirmCallback on_confirm = [shared](const PublishResult& result) {
    if (!result.status.ok() && !shared->failed.exchange(true)) {
      std::lock_guard<std::mutex> lock(shared->mu);
      shared->first_error = result.status;
    }
    if (result.status.ok() && result.duplicate && shared->count_duplicates) {
      shared->duplicates.fetch_add(1);
    }
    shared->slots.release();
  };

  std::string queue = options.queue;
  const size_t prefix = queue.size();
  const auto start = std::chrono::steady_clock::now();
  uint64_t sent = 0;
  for (; sent < options.count && !state.failed.load(); ++sent) {
    state.slots.acquire();
    if (!options.has_data) StampIndex(sent, &payload);
    if (options.spread != 0) {
      queue.resize(prefix);
      queue += '.';
      queue += std::to_string(sent % options.spread);
    }
    if (!options.dedup_id.empty()) {
      // Message i gets DEDUP_ID-i: running the same command again stores
      // nothing twice.
      publish.dedup_id.resize(options.dedup_id.size());
      publish.dedup_id += '-';
      publish.dedup_id += std::to_string(sent);
    }
    if (options.group.empty()) {
      client->PublishAsync(queue, payload, publish, on_confirm);
    } else {
      client->PublishToGroupAsync(options.group, payload, publish, on_confirm);
    }
  }
  // Every publish completes (confirmed, refused, or failed with the
  // connection), so taking back every slot waits for the last one.
  for (uint32_t i = 0; i < options.inflight; ++i) state.slots.acquire();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  if (state.failed.load()) {
    std::lock_guard<std::mutex> lock(state.mu);
    return Fail("publish failed: " + state.first_error.ToString());
  }
  const double rate = seconds > 0 ? static_cast<double>(sent) / seconds : 0;
  const uint64_t duplicates = state.duplicates.load();
  char line[200];
  if (options.json) {
    std::snprintf(line, sizeof(line),
                  "{\"count\":%" PRIu64
                  ",\"seconds\":%.3f,\"msgs_per_s\":%.0f,\"duplicates\":%" PRIu64 "}\n",
                  sent, seconds, rate, duplicates);
  } else if (duplicates > 0) {
    std::snprintf(line, sizeof(line),
                  "published %" PRIu64 " messages in %.2f s: %.0f msg/s (%" PRIu64
                  " duplicates, stored before)\n",
                  sent, seconds, rate, duplicates);
  } else {
    std::snprintf(line, sizeof(line), "published %" PRIu64 " messages in %.2f s: %.0f msg/s\n",
                  sent, seconds, rate);
  }
  std::fputs(line, stdout);
  return std::fflush(stdout) == 0 ? kExitOk : Fail("cannot write to stdout");
}

}  // namespace

void AddPubCommand(CLI::App& app, GlobalOptions& global) {
  auto options = std::make_shared<PubOptions>();
  CLI::App* pub = app.add_subcommand(
      "pub", "Publish a message (DATA, or all of stdin) to QUEUE, or to a group with --group");
  CLI::Option* queue = pub->add_option("QUEUE", options->queue, "Queue name (not with --group)");
  CLI::Option* data = pub->add_option("DATA", options->data, "Payload; stdin when absent");
  CLI::Option* group = pub->add_option(
      "--group", options->group, "Publish to every member queue of this group instead of QUEUE");
  pub->add_option("--header", options->headers, "Header KEY=VALUE (repeatable)");
  pub->add_flag("--json", options->json, "Print JSON");
  CLI::Option* count =
      pub->add_option("--count", options->count, "Publish N messages and print a summary")
          ->check(CLI::PositiveNumber);
  CLI::Option* size =
      pub->add_option("--size", options->size, "Bytes of each synthetic message (with --count)")
          ->needs(count);
  pub->add_option("--inflight", options->inflight, "Unconfirmed publishes at most (with --count)")
      ->capture_default_str()
      ->needs(count);
  pub->add_option("--spread", options->spread, "Send message i to QUEUE.<i mod K> (with --count)")
      ->check(CLI::PositiveNumber)
      ->needs(count)
      ->excludes(group);
  pub->add_option("--ttl", options->ttl, "Time to live: 250ms, 5s, 2m, 1h (default: no expiry)")
      ->type_name("DURATION")
      ->check(DurationValidator());
  CLI::Option* delay =
      pub->add_option("--delay", options->delay,
                      "Scheduled delivery: deliverable DURATION after publish (stored and "
                      "confirmed at once)")
          ->type_name("DURATION")
          ->check(DurationValidator());
  pub->add_option("--deliver-at", options->deliver_at,
                  "Scheduled delivery: deliverable at TIME, RFC 3339 (2026-12-06T10:00:00Z) or "
                  "epoch milliseconds")
      ->type_name("TIME")
      ->check(CLI::Validator([](std::string& text) { return CheckTimestamp(text); }, ""))
      ->excludes(delay);
  pub->add_option("--dedup-id", options->dedup_id,
                  "Dedup id: a publish with an id seen recently is stored once (with --count, "
                  "message i gets ID-i)");
  CLI::Option* receipt_to = pub->add_option(
      "--receipt-to", options->receipt_to,
      "Delivery receipts: the broker appends one to this queue when a recipient acks the "
      "message (or it expires or dead-letters)");
  pub->add_option("--receipt", options->receipt,
                  "With --group: 'each' (a receipt per member, the default) or 'all' (one once "
                  "every member has settled it)")
      ->check(CLI::IsMember({"each", "all"}))
      ->needs(receipt_to);
  pub->callback([options, &global, queue, data, group, size] {
    options->has_data = data->count() > 0;
    options->has_size = size->count() > 0;
    const bool has_queue = queue->count() > 0;
    const bool has_group = group->count() > 0;
    if (has_group && has_queue && !options->has_data) {
      // `pub --group G DATA`: the one positional is the payload.
      options->data = std::move(options->queue);
      options->queue.clear();
      options->has_data = true;
    } else if (has_group && has_queue) {
      global.run = [] { return Fail("give QUEUE or --group, not both"); };
      return;
    }
    if (!has_group && !has_queue) {
      global.run = [] { return Fail("give QUEUE, or --group NAME"); };
      return;
    }
    if (has_group && options->group.empty()) {
      global.run = [] { return Fail("--group: the group name is empty"); };
      return;
    }
    global.run = [options, &global] {
      return options->count > 0 ? PublishMany(*options, global) : PublishOne(*options, global);
    };
  });
}

}  // namespace hermod::cli
