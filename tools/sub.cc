// `hermod sub`: prints a queue's messages and acks each one after it was
// written and stdout flushed (or, with --nack, gives it back). See
// docs/cli.md.
//
// Deliveries are handled on libhermod's client thread (print, flush, ack,
// all in delivery order); the main thread only waits for the end (--count
// reached, --timeout idle, or an error), through SubState.
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <optional>
#include <string>

#include "cli.h"
#include "json.h"

namespace hermod::cli {

namespace {

struct SubOptions {
  std::string queue;
  uint64_t count = 0;   // 0: no limit
  std::string timeout;  // DURATION; empty: wait forever
  uint32_t credit = 100;
  bool json = false;
  bool raw = false;
  bool nack = false;            // nack each delivery instead of acking it
  std::string nack_delay;       // DURATION, with --nack
  std::string ack_wait;         // DURATION; empty: the broker's default
  std::string backoff;          // redelivery backoff spec; empty: the queue's
  uint64_t resume_through = 0;  // 0: no resume
};

// Shared by the main thread and the delivery handler (client thread).
struct SubState {
  std::mutex mu;  // guards everything below
  std::condition_variable changed;
  uint64_t printed = 0;
  std::chrono::steady_clock::time_point last_activity;
  bool finished = false;  // --count reached, or an error
  Status error;           // why, when finishing early
};

// Formats one delivery the way --json, --raw or the default asks.
void FormatDelivery(const SubOptions& options, const Delivery& delivery, std::string* out) {
  out->clear();
  if (options.raw) {
    out->append(delivery.payload);
    return;
  }
  if (!options.json) {
    out->append(delivery.payload);
    out->push_back('\n');
    return;
  }
  Json j = EntryJson(delivery.queue, delivery.seq, delivery.msg_id, delivery.delivery_count);
  WithBody(&j, delivery.headers, delivery.payload);
  *out += DumpJson(j);
  *out += '\n';
}

int Subscribe(const SubOptions& options, const GlobalOptions& global) {
  if (options.json && options.raw) return Fail("give --json or --raw, not both");
  if (options.credit == 0) return Fail("--credit must be at least 1");
  SubState state;
  const std::chrono::milliseconds nack_delay = DurationValue(options.nack_delay);
  ClientOptions client_options = CommandClientOptions("hermod sub");
  client_options.on_state_change = [&state, &global](ConnectionState now, const Status& why) {
    if (now != ConnectionState::kDisconnected) return;
    std::lock_guard<std::mutex> lock(state.mu);
    if (state.finished) return;
    state.finished = true;
    state.error =
        Status::Unavailable("connection to " + global.server + " lost: " + why.ToString());
    state.changed.notify_all();
  };
  // With --count N the broker is never given more than N deliveries: the
  // credit starts at most at N and shrinks as the end nears, so nothing is
  // delivered that this command would not print (and leave unacked).
  const uint32_t credit =
      options.count > 0 ? static_cast<uint32_t>(std::min<uint64_t>(options.credit, options.count))
                        : options.credit;
  std::string line;  // client thread only
  // Declared after everything the handler uses, so it is destroyed (and its
  // thread joined) first.
  std::unique_ptr<Client> client = ConnectOrReport(global, client_options);
  if (!client) return kExitError;
  Client* subscriber = client.get();
  auto handler = [&](const Delivery& delivery) {
    uint64_t printed;
    {
      std::lock_guard<std::mutex> lock(state.mu);
      if (state.finished) return;  // left unacked: the broker gives it back
      printed = state.printed;
    }
    FormatDelivery(options, delivery, &line);
    if (std::fwrite(line.data(), 1, line.size(), stdout) != line.size() ||
        std::fflush(stdout) != 0) {
      std::lock_guard<std::mutex> lock(state.mu);
      state.finished = true;
      state.error = Status::IoError(std::string("cannot write to stdout: ") + std::strerror(errno));
      state.changed.notify_all();
      return;
    }
    ++printed;
    if (options.count > 0 && options.count - printed < credit) {
      (void)subscriber->SetCredit(delivery.subscription,
                                  static_cast<uint32_t>(options.count - printed));
    }
    if (options.nack) {
      // Printed, and given back: the broker delivers it again.
      (void)subscriber->Nack(delivery.subscription, delivery.seq, nack_delay);
    } else {
      // Written and flushed: only now may the broker forget the message.
      (void)subscriber->Ack(delivery.subscription, delivery.seq);
    }
    std::lock_guard<std::mutex> lock(state.mu);
    state.printed = printed;
    state.last_activity = std::chrono::steady_clock::now();
    if (options.count > 0 && printed >= options.count) state.finished = true;
    state.changed.notify_all();
  };

  {
    std::lock_guard<std::mutex> lock(state.mu);
    state.last_activity = std::chrono::steady_clock::now();
  }
  SubscribeOptions subscribe;
  subscribe.credit = credit;
  subscribe.ack_wait = DurationValue(options.ack_wait);
  subscribe.backoff = options.backoff;
  subscribe.resume_through = options.resume_through;
  Result<SubscriptionId> subscription = client->Subscribe(options.queue, subscribe, handler);
  if (!subscription.ok()) {
    return Fail("cannot subscribe to '" + options.queue + "': " + subscription.status().ToString());
  }

  bool idle = false;
  Status error;
  {
    const auto timeout = DurationValue(options.timeout);
    std::unique_lock<std::mutex> lock(state.mu);
    while (!state.finished) {
      if (options.timeout.empty()) {
        state.changed.wait(lock);
        continue;
      }
      const auto deadline = state.last_activity + timeout;
      if (std::chrono::steady_clock::now() >= deadline) {
        idle = true;
        state.finished = true;  // later deliveries stay unacked
        break;
      }
      state.changed.wait_until(lock, deadline);
    }
    error = state.error;
  }

  // Unsubscribing waits for the broker's reply, which comes after it
  // processed every ack sent before: closing now loses none of them.
  (void)client->Unsubscribe(*subscription);
  client.reset();
  if (!error.ok()) return Fail(error.message());
  if (idle && options.count > 0) {
    std::lock_guard<std::mutex> lock(state.mu);
    return Fail("timed out after " + std::to_string(state.printed) + " of " +
                std::to_string(options.count) + " messages");
  }
  return kExitOk;
}

}  // namespace

void AddSubCommand(CLI::App& app, GlobalOptions& global) {
  auto options = std::make_shared<SubOptions>();
  CLI::App* sub = app.add_subcommand("sub", "Print QUEUE's messages, acking each once printed");
  sub->add_option("QUEUE", options->queue, "Queue name")->required();
  sub->add_option("--count", options->count, "Exit after N messages (default: no limit)")
      ->check(CLI::PositiveNumber);
  sub->add_option("--timeout", options->timeout,
                  "Exit after DURATION without a new message (default: wait forever)")
      ->type_name("DURATION")
      ->check(DurationValidator());
  sub->add_option("--credit", options->credit, "Unacked deliveries the broker may send at once")
      ->capture_default_str();
  sub->add_flag("--json", options->json, "Print one JSON object per message");
  sub->add_flag("--raw", options->raw, "Print the payload bytes only, without a newline");
  CLI::Option* nack =
      sub->add_flag("--nack", options->nack, "Nack each message once printed, instead of acking");
  sub->add_option("--nack-delay", options->nack_delay,
                  "With --nack: redeliver after DURATION (default: at once)")
      ->type_name("DURATION")
      ->check(DurationValidator())
      ->needs(nack);
  sub->add_option("--ack-wait", options->ack_wait,
                  "Redeliver a message not acked within DURATION (default: the broker's)")
      ->type_name("DURATION")
      ->check(DurationValidator());
  sub->add_option("--backoff", options->backoff,
                  "Wait before redelivery after a nack without a delay or an ack-wait expiry: "
                  "1s,5s,30s (the Nth redelivery waits the Nth, the last repeats) or "
                  "exp:BASE:CAP (default: the queue's)")
      ->type_name("SPEC");
  sub->add_option("--resume-through", options->resume_through,
                  "Deliveries up to seq N were processed (their acks were lost): settle those "
                  "instead of receiving them again")
      ->type_name("N");
  sub->callback([options, &global] {
    global.run = [options, &global] { return Subscribe(*options, global); };
  });
}

}  // namespace hermod::cli
