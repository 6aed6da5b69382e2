// `hermod db stat|dump|check|backup` end to end: the offline tools read a
// data directory that a spawned hermodd wrote (stopped, and while it runs):
// --json parses back with the right counts, check passes on a healthy
// store and names a reference corrupted by hand, and a backup taken under
// load starts a broker that serves every message confirmed before it began.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <semaphore>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "admin_test_util.h"
#include "broker_process.h"
#include "delivery_log.h"
#include "hermod/client.h"
#include "json_test_util.h"
#include "keys.h"
#include "kv.h"
#include "lmdb_env.h"
#include "run_command.h"
#include "temp_dir.h"

namespace hermod {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using test::BrokerProcess;
using test::CommandResult;
using test::DeliveryLog;
using test::JsonValue;
using test::ParseJson;
using test::TempDir;

constexpr milliseconds kWait = seconds(10);

// Runs `hermod args...` (no broker address: the db tools need none).
CommandResult Hermod(std::vector<std::string> args) {
  args.insert(args.begin(), HERMOD_CLI_BIN);
  test::CommandOptions options;
  options.unset_env.push_back("HERMOD_SERVER");
  Result<CommandResult> result = test::RunCommand(args, options);
  EXPECT_TRUE(result.ok()) << result.status().ToString();
  return result.ok() ? std::move(*result) : CommandResult{};
}

// One JSON document per line.
std::vector<JsonValue> JsonLines(const std::string& text) {
  std::vector<JsonValue> values;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::optional<JsonValue> value = ParseJson(text.substr(start, end - start));
    EXPECT_TRUE(value.has_value()) << "not JSON: " << text.substr(start, end - start);
    if (value) values.push_back(std::move(*value));
    start = end + 1;
  }
  return values;
}

double Number(const JsonValue& object, const std::string& key) {
  const JsonValue* member = object.Find(key);
  EXPECT_NE(member, nullptr) << "no member " << key;
  if (member == nullptr) return -1;
  EXPECT_EQ(member->type, JsonValue::Type::kNumber) << key;
  return member->number;
}

std::string Text(const JsonValue& object, const std::string& key) {
  const JsonValue* member = object.Find(key);
  return member != nullptr && member->type == JsonValue::Type::kString ? member->text : "";
}

void PublishAll(Client& client, const std::string& queue, const std::vector<std::string>& payloads,
                const PublishOptions& options = {}) {
  std::vector<std::future<PublishResult>> confirms;
  for (const std::string& payload : payloads) {
    confirms.push_back(client.Publish(queue, payload, options));
  }
  for (auto& confirm : confirms) {
    ASSERT_EQ(confirm.wait_for(kWait), std::future_status::ready);
    PublishResult result = confirm.get();
    ASSERT_TRUE(result.status.ok()) << result.status.ToString();
  }
}

// Subscribes to queue, acking every delivery, until n arrived.
void ConsumeAndAck(Client& client, const std::string& queue, size_t n) {
  DeliveryLog log;
  Client* raw = &client;
  Result<SubscriptionId> sub = client.Subscribe(
      queue, {.credit = static_cast<uint32_t>(n)},
      log.Handler([raw](const Delivery& d) { (void)raw->Ack(d.subscription, d.seq); }));
  ASSERT_TRUE(sub.ok()) << sub.status().ToString();
  ASSERT_TRUE(log.WaitForCount(n, kWait)) << queue << ": " << log.size() << " of " << n;
  // Unsubscribe answers only after the broker handled every ack sent before.
  ASSERT_TRUE(client.Unsubscribe(*sub).ok());
}

// A stopped broker's directory with everything applied: a start replays
// the log into the index, and a stop then leaves (next to) no tail.
void RestartAndStop(BrokerProcess& broker) {
  ASSERT_TRUE(broker.Restart().ok());
  ASSERT_TRUE(broker.Stop().ok());
}

// Stops and joins a helper thread however the test leaves its scope (a
// failed ASSERT returns early, and a joinable std::thread must not die).
class StopAndJoin {
 public:
  StopAndJoin(std::atomic<bool>& stop, std::thread& thread) : stop_(stop), thread_(thread) {}
  ~StopAndJoin() { Now(); }
  void Now() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }

 private:
  std::atomic<bool>& stop_;
  std::thread& thread_;
};

CommandResult Check(const std::string& data_dir) {
  return Hermod({"db", "check", "--data-dir", data_dir});
}

void ExpectConsistent(const std::string& data_dir) {
  CommandResult r = Check(data_dir);
  EXPECT_TRUE(r.exit.ok()) << r.exit.ToString() << "\n" << r.out << r.err;
  EXPECT_EQ(r.out.rfind("consistent: ", 0), 0u) << r.out;
}

// ---------------------------------------------------------------------------

// Envelopes over 2,000 bytes live in message_chunks (message_table.h): the
// tools read them back whole and check that their chunks add up.
TEST(DbTest, ChunkedMessagesAreDumpedWholeAndCheckConsistent) {
  TempDir dir;
  const std::string data = dir.Join("data");
  BrokerProcess broker({.data_dir = data});
  ASSERT_TRUE(broker.Start().ok());
  std::string three_k(3000, 'x'), sixteen_k(16000, 'y');
  {
    std::unique_ptr<Client> client = test::ConnectClient(broker.address());
    ASSERT_NE(client, nullptr);
    PublishOptions options;
    options.ttl = std::chrono::hours(1);  // the check compares its expiry row
    PublishAll(*client, "db.big", {three_k, "small", sixteen_k}, options);
  }
  ASSERT_NO_FATAL_FAILURE(RestartAndStop(broker));
  ExpectConsistent(data);

  CommandResult stat = Hermod({"db", "stat", "--data-dir", data, "--json"});
  ASSERT_TRUE(stat.exit.ok()) << stat.err;
  std::optional<JsonValue> s = ParseJson(stat.out);
  ASSERT_TRUE(s.has_value()) << stat.out;
  EXPECT_EQ(Number(*s, "messages"), 3);
  ASSERT_NE(s->Find("tables"), nullptr);
  ASSERT_NE(s->Find("tables")->Find("message_chunks"), nullptr);
  EXPECT_GT(Number(*s->Find("tables")->Find("message_chunks"), "entries"), 2);

  CommandResult dump = Hermod({"db", "dump", "--data-dir", data, "--queue", "db.big", "--json"});
  ASSERT_TRUE(dump.exit.ok()) << dump.err;
  std::vector<JsonValue> lines = JsonLines(dump.out);
  ASSERT_EQ(lines.size(), 5u) << dump.out;  // the queue, three entries, the summary
  EXPECT_EQ(Text(lines[1], "payload"), three_k);
  EXPECT_EQ(Text(lines[2], "payload"), "small");
  EXPECT_EQ(Text(lines[3], "payload"), sixteen_k);
}

TEST(DbTest, StatAndDumpJsonCountWhatWasPublished) {
  TempDir dir;
  const std::string data = dir.Join("data");
  BrokerProcess broker({.data_dir = data});
  ASSERT_TRUE(broker.Start().ok());
  {
    std::unique_ptr<Client> client = test::ConnectClient(broker.address());
    ASSERT_NE(client, nullptr);
    PublishAll(*client, "db.a", {"a1", "a2", "a3"});
    PublishAll(*client, "db.b", {"b1", "b2"});
    PublishOptions options;
    options.headers = {{"k", "v"}};
    options.ttl = std::chrono::hours(1);
    PublishAll(*client, "db.c", {std::string("\x00\x01\xff", 3)}, options);
  }
  ASSERT_NO_FATAL_FAILURE(RestartAndStop(broker));

  CommandResult stat = Hermod({"db", "stat", "--data-dir", data, "--json"});
  ASSERT_TRUE(stat.exit.ok()) << stat.exit.ToString() << stat.err;
  std::optional<JsonValue> s = ParseJson(stat.out);
  ASSERT_TRUE(s.has_value()) << stat.out;
  EXPECT_EQ(Number(*s, "schema_version"), 3);
  EXPECT_EQ(Number(*s, "queues"), 3);
  EXPECT_EQ(Number(*s, "messages"), 6);
  EXPECT_EQ(Number(*s, "entries"), 6);
  EXPECT_EQ(Number(*s, "groups"), 0);
  ASSERT_NE(s->Find("log"), nullptr);
  EXPECT_EQ(Number(*s->Find("log"), "records"), 0);
  ASSERT_NE(s->Find("counters"), nullptr);
  EXPECT_GE(Number(*s->Find("counters"), "next_msg_id"), 7);
  const JsonValue* lmdb = s->Find("lmdb");
  ASSERT_NE(lmdb, nullptr);
  EXPECT_GT(Number(*lmdb, "map_bytes"), 0);
  EXPECT_EQ(Number(*lmdb, "page_bytes"), 4096);
  EXPECT_GT(Number(*lmdb, "used_bytes"), 0);
  ASSERT_NE(lmdb->Find("readers"), nullptr);
  EXPECT_EQ(Number(*lmdb->Find("readers"), "active"), 0);  // the broker is stopped
  const JsonValue* tables = s->Find("tables");
  ASSERT_NE(tables, nullptr);
  EXPECT_EQ(tables->members.size(), 16u);
  ASSERT_NE(tables->Find("message_chunks"), nullptr);
  ASSERT_NE(tables->Find("partition_log"), nullptr);
  ASSERT_NE(tables->Find("staged"), nullptr);
  ASSERT_NE(tables->Find("entries"), nullptr);
  EXPECT_EQ(Number(*tables->Find("entries"), "entries"), 6);
  EXPECT_GE(Number(*tables->Find("entries"), "depth"), 1);
  EXPECT_GE(Number(*tables->Find("entries"), "leaf_pages"), 1);

  CommandResult dump = Hermod({"db", "dump", "--data-dir", data, "--json"});
  ASSERT_TRUE(dump.exit.ok()) << dump.exit.ToString() << dump.err;
  std::map<std::string, std::vector<std::string>> payloads;  // queue -> payloads, in seq order
  std::map<std::string, double> depths;
  int summaries = 0;
  for (const JsonValue& line : JsonLines(dump.out)) {
    std::string kind = Text(line, "kind");
    if (kind == "queue") {
      depths[Text(line, "queue")] = Number(line, "depth");
    } else if (kind == "entry") {
      std::string queue = Text(line, "queue");
      if (line.Find("payload") != nullptr) {
        payloads[queue].push_back(Text(line, "payload"));
      } else {
        payloads[queue].push_back("base64:" + Text(line, "payload_base64"));
        EXPECT_GT(Number(line, "expires_ms"), Number(line, "publish_time_ms"));
        ASSERT_NE(line.Find("headers"), nullptr);
        EXPECT_EQ(Text(*line.Find("headers"), "k"), "v");
      }
      EXPECT_EQ(Number(line, "delivery_count"), 0);
    } else if (kind == "summary") {
      ++summaries;
      EXPECT_EQ(Number(line, "queues"), 3);
      EXPECT_EQ(Number(line, "entries"), 6);
      EXPECT_EQ(Number(line, "log_records"), 0);
    } else {
      ADD_FAILURE() << "unexpected line " << Text(line, "kind");
    }
  }
  EXPECT_EQ(summaries, 1);
  EXPECT_EQ(depths, (std::map<std::string, double>{{"db.a", 3}, {"db.b", 2}, {"db.c", 1}}));
  EXPECT_EQ(payloads["db.a"], (std::vector<std::string>{"a1", "a2", "a3"}));
  EXPECT_EQ(payloads["db.b"], (std::vector<std::string>{"b1", "b2"}));
  EXPECT_EQ(payloads["db.c"], (std::vector<std::string>{"base64:AAH/"}));

  CommandResult one = Hermod({"db", "dump", "--data-dir", data, "--queue", "db.b", "--json"});
  ASSERT_TRUE(one.exit.ok()) << one.err;
  std::vector<JsonValue> lines = JsonLines(one.out);
  ASSERT_EQ(lines.size(), 4u) << one.out;  // the queue, two entries, the summary
  EXPECT_EQ(Text(lines[1], "payload"), "b1");
  EXPECT_EQ(Text(lines[2], "payload"), "b2");

  // With the broker running and a long apply lag, new publishes stay in the
  // log: dump shows them as log operations, stat counts the records.
  BrokerProcess lagging({.data_dir = data, .extra_args = {"--apply-lag-ms", "60000"}});
  ASSERT_TRUE(lagging.Start().ok());
  {
    std::unique_ptr<Client> client = test::ConnectClient(lagging.address());
    ASSERT_NE(client, nullptr);
    PublishAll(*client, "db.a", {"a4"});
    PublishAll(*client, "db.d", {"d1", "d2"});
  }
  stat = Hermod({"db", "stat", "--data-dir", data, "--json"});
  ASSERT_TRUE(stat.exit.ok()) << stat.err;
  s = ParseJson(stat.out);
  ASSERT_TRUE(s.has_value()) << stat.out;
  EXPECT_EQ(Number(*s, "entries"), 6);  // the index only
  EXPECT_GE(Number(*s->Find("log"), "records"), 1);
  EXPECT_GE(Number(*s->Find("lmdb")->Find("readers"), "slots_used"), 1);

  dump = Hermod({"db", "dump", "--data-dir", data, "--json"});
  ASSERT_TRUE(dump.exit.ok()) << dump.err;
  std::multiset<std::string> logged;  // queue:payload of publish ops
  std::set<std::string> created;
  for (const JsonValue& line : JsonLines(dump.out)) {
    if (Text(line, "kind") != "log_record") continue;
    ASSERT_NE(line.Find("ops"), nullptr);
    for (const JsonValue& op : line.Find("ops")->items) {
      if (Text(op, "op") == "publish") logged.insert(Text(op, "queue") + ":" + Text(op, "payload"));
      if (Text(op, "op") == "create_queue") created.insert(Text(op, "queue"));
    }
  }
  EXPECT_EQ(logged, (std::multiset<std::string>{"db.a:a4", "db.d:d1", "db.d:d2"}));
  EXPECT_EQ(created, (std::set<std::string>{"db.d"}));

  // A queue known only to the log is found there.
  one = Hermod({"db", "dump", "--data-dir", data, "--queue", "db.d"});
  ASSERT_TRUE(one.exit.ok()) << one.err;
  EXPECT_NE(one.out.find("payload \"d2\""), std::string::npos) << one.out;
  one = Hermod({"db", "dump", "--data-dir", data, "--queue", "db.none"});
  EXPECT_FALSE(one.exit.ok());
  EXPECT_NE(one.err.find("no queue 'db.none'"), std::string::npos) << one.err;
  EXPECT_TRUE(lagging.Stop().ok());
}

TEST(DbTest, CheckPassesOnAHealthyStoreRunningAndStopped) {
  TempDir dir;
  const std::string data = dir.Join("data");
  // A long apply lag keeps group entries acked inside it in the log, as
  // kEntry followed by kAck, when the check runs; a small bound on the
  // unapplied bytes makes the traffic below apply records meanwhile.
  BrokerProcess broker(
      {.data_dir = data,
       .extra_args = {"--apply-lag-ms", "30000", "--max-unapplied-bytes", "16384"}});
  ASSERT_TRUE(broker.Start().ok());
  std::unique_ptr<Client> client = test::ConnectClient(broker.address());
  ASSERT_NE(client, nullptr);

  ASSERT_TRUE(client->CreateGroup("team").ok());
  Result<uint64_t> added = client->AddMembers("team", {"m.1", "m.2", "m.3", "m.4"});
  ASSERT_TRUE(added.ok()) << added.status().ToString();
  // m.1 drains as the fan-out arrives; m.2 keeps everything, and direct
  // publishes that expire in an hour.
  DeliveryLog m1;
  Client* raw = client.get();
  Result<SubscriptionId> sub = client->Subscribe(
      "m.1", {.credit = 100},
      m1.Handler([raw](const Delivery& d) { (void)raw->Ack(d.subscription, d.seq); }));
  ASSERT_TRUE(sub.ok());
  std::vector<std::future<PublishResult>> confirms;
  for (int i = 0; i < 5; ++i) {
    confirms.push_back(client->PublishToGroup("team", "g" + std::to_string(i)));
  }
  for (auto& confirm : confirms) {
    ASSERT_EQ(confirm.wait_for(kWait), std::future_status::ready);
    PublishResult r = confirm.get();
    ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  }
  PublishOptions ttl;
  ttl.ttl = std::chrono::hours(1);
  PublishAll(*client, "m.2", {"d1", "d2"}, ttl);
  PublishAll(*client, "solo", {"s1", "s2", "s3"});
  ASSERT_TRUE(m1.WaitForCount(5, kWait)) << m1.size();
  ASSERT_TRUE(client->Unsubscribe(*sub).ok());
  ASSERT_NO_FATAL_FAILURE(ConsumeAndAck(*client, "solo", 1));

  // While running: the group entries of m.1 were acked inside the lag, so
  // the log holds each as a kEntry and, in a later record, a kAck.
  CommandResult dump = Hermod({"db", "dump", "--data-dir", data, "--queue", "m.1", "--json"});
  ASSERT_TRUE(dump.exit.ok()) << dump.err;
  std::map<double, double> entry_batch, ack_batch;  // seq -> batch
  for (const JsonValue& line : JsonLines(dump.out)) {
    if (Text(line, "kind") != "log_record") continue;
    for (const JsonValue& op : line.Find("ops")->items) {
      if (Text(op, "op") == "entry") entry_batch[Number(op, "seq")] = Number(line, "batch");
      if (Text(op, "op") == "ack") ack_batch[Number(op, "seq")] = Number(line, "batch");
    }
  }
  ASSERT_EQ(entry_batch.size(), 5u) << dump.out;
  for (auto& [seq, batch] : entry_batch) {
    ASSERT_EQ(ack_batch.count(seq), 1u) << "seq " << seq << "\n" << dump.out;
    EXPECT_GT(ack_batch[seq], batch);
  }
  ExpectConsistent(data);
  CommandResult json = Hermod({"db", "check", "--data-dir", data, "--json"});
  ASSERT_TRUE(json.exit.ok()) << json.out << json.err;
  std::optional<JsonValue> report = ParseJson(json.out);
  ASSERT_TRUE(report.has_value()) << json.out;
  ASSERT_NE(report->Find("ok"), nullptr);
  EXPECT_TRUE(report->Find("ok")->boolean);
  EXPECT_TRUE(report->Find("problems")->items.empty());
  EXPECT_EQ(Number(*report, "groups"), 1);

  // Under traffic: publishes, group publishes and acks go on while the
  // check reads its snapshot.
  DeliveryLog m3;
  Result<SubscriptionId> busy = client->Subscribe(
      "m.3", {.credit = 50},
      m3.Handler([raw](const Delivery& d) { (void)raw->Ack(d.subscription, d.seq); }));
  ASSERT_TRUE(busy.ok());
  std::atomic<bool> stop{false};
  std::promise<void> started;
  std::future<void> running = started.get_future();
  std::thread traffic([&] {
    std::unique_ptr<Client> other = test::ConnectClient(broker.address());
    for (int i = 0; other && i < 100000 && !stop; ++i) {
      std::future<PublishResult> a = other->Publish("busy", "b" + std::to_string(i));
      std::future<PublishResult> b = other->PublishToGroup("team", "t" + std::to_string(i));
      if (a.wait_for(kWait) != std::future_status::ready ||
          b.wait_for(kWait) != std::future_status::ready) {
        break;
      }
      if (i == 100) started.set_value();
    }
  });
  StopAndJoin traffic_guard(stop, traffic);
  ASSERT_EQ(running.wait_for(kWait), std::future_status::ready);
  for (int i = 0; i < 3; ++i) ExpectConsistent(data);
  traffic_guard.Now();
  ASSERT_TRUE(client->Unsubscribe(*busy).ok());
  client.reset();

  // Stopped, with the log tail the stop left; then all applied.
  ASSERT_TRUE(broker.Stop().ok());
  ExpectConsistent(data);
  ASSERT_NO_FATAL_FAILURE(RestartAndStop(broker));
  ExpectConsistent(data);
}

// Opens the stopped broker's store in this process for a write, as a
// corruption would.
class StoreSurgery {
 public:
  explicit StoreSurgery(const std::string& data_dir) {
    Result<std::unique_ptr<store::LmdbEnv>> env = store::LmdbEnv::Open(data_dir, {});
    EXPECT_TRUE(env.ok()) << env.status().ToString();
    if (env.ok()) env_ = std::move(*env);
  }
  store::LmdbEnv* env() { return env_.get(); }

 private:
  std::unique_ptr<store::LmdbEnv> env_;
};

struct FirstEntry {
  store::QueueId queue_id = 0;
  store::Seq seq = 0;
  store::EntryValue value;
};

// The first index entry of the queue with that id.
std::optional<FirstEntry> FindFirstEntry(store::KvTxn& txn, store::QueueId queue_id) {
  std::unique_ptr<store::KvCursor> cursor = txn.Cursor(store::Table::kEntries);
  if (!cursor || !cursor->Seek(store::EntryKey(queue_id, 0).view()) ||
      store::EntryKeyQueue(cursor->key()) != queue_id) {
    return std::nullopt;
  }
  FirstEntry entry;
  entry.queue_id = queue_id;
  entry.seq = store::EntryKeySeq(cursor->key());
  if (!entry.value.Decode(cursor->value())) return std::nullopt;
  return entry;
}

std::optional<store::QueueId> FindQueueId(store::KvTxn& txn, const std::string& name) {
  std::string_view value;
  if (!txn.Get(store::Table::kQueues, name, &value) || value.size() != 8) return std::nullopt;
  return store::DecodeU64Key(value);
}

// A stopped broker's directory holding, all in the index, queue "victim"
// with three messages and a group "pair" whose message both members hold.
void MakeStore(const std::string& data) {
  BrokerProcess broker({.data_dir = data});
  ASSERT_TRUE(broker.Start().ok());
  {
    std::unique_ptr<Client> client = test::ConnectClient(broker.address());
    ASSERT_NE(client, nullptr);
    PublishAll(*client, "victim", {"v1", "v2", "v3"});
    ASSERT_TRUE(client->CreateGroup("pair").ok());
    ASSERT_TRUE(client->AddMembers("pair", {"p.1", "p.2"}).ok());
    std::future<PublishResult> shared = client->PublishToGroup("pair", "shared");
    ASSERT_EQ(shared.wait_for(kWait), std::future_status::ready);
    ASSERT_TRUE(shared.get().status.ok());
    // The fan-out entries exist once p.2 can deliver its one.
    DeliveryLog log;
    Result<SubscriptionId> sub = client->Subscribe("p.2", {.credit = 1}, log.Handler());
    ASSERT_TRUE(sub.ok());
    ASSERT_TRUE(log.WaitForCount(1, kWait));
    ASSERT_TRUE(client->Unsubscribe(*sub).ok());  // not acked: it stays
  }
  ASSERT_NO_FATAL_FAILURE(RestartAndStop(broker));
  ExpectConsistent(data);
}

TEST(DbTest, CheckNamesAMessageDeletedUnderAnEntry) {
  TempDir dir;
  const std::string data = dir.Join("data");
  ASSERT_NO_FATAL_FAILURE(MakeStore(data));
  store::MsgId msg_id = 0;
  store::Seq seq = 0;
  {
    StoreSurgery surgery(data);
    ASSERT_NE(surgery.env(), nullptr);
    Result<std::unique_ptr<store::KvTxn>> txn = surgery.env()->BeginWrite();
    ASSERT_TRUE(txn.ok());
    std::optional<store::QueueId> victim = FindQueueId(**txn, "victim");
    ASSERT_TRUE(victim.has_value());
    std::optional<FirstEntry> entry = FindFirstEntry(**txn, *victim);
    ASSERT_TRUE(entry.has_value());
    msg_id = entry->value.msg_id;
    seq = entry->seq;
    ASSERT_TRUE((*txn)->Del(store::Table::kMessages, store::U64Key(msg_id).view()));
    ASSERT_TRUE((*txn)->Commit().ok());
  }
  CommandResult r = Check(data);
  EXPECT_TRUE(r.exit.exited);
  EXPECT_EQ(r.exit.code, 2) << r.out << r.err;
  const std::string expected = "entry seq " + std::to_string(seq) + " of queue 'victim' (id ";
  EXPECT_NE(r.out.find(expected), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("references message " + std::to_string(msg_id) + ", which is not stored"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.err.find("is inconsistent"), std::string::npos) << r.err;

  CommandResult json = Hermod({"db", "check", "--data-dir", data, "--json"});
  EXPECT_EQ(json.exit.code, 2);
  std::optional<JsonValue> report = ParseJson(json.out);
  ASSERT_TRUE(report.has_value()) << json.out;
  EXPECT_FALSE(report->Find("ok")->boolean);
  ASSERT_EQ(report->Find("problems")->items.size(), 1u) << json.out;
}

TEST(DbTest, CheckNamesARedirectedEntryAndWrongCounters) {
  TempDir dir;
  const std::string data = dir.Join("data");
  ASSERT_NO_FATAL_FAILURE(MakeStore(data));
  store::MsgId old_msg_id = 0;
  {
    StoreSurgery surgery(data);
    ASSERT_NE(surgery.env(), nullptr);
    Result<std::unique_ptr<store::KvTxn>> txn = surgery.env()->BeginWrite();
    ASSERT_TRUE(txn.ok());
    // Point victim's first entry at a message that does not exist; its own
    // message is then held by nothing.
    std::optional<store::QueueId> victim = FindQueueId(**txn, "victim");
    ASSERT_TRUE(victim.has_value());
    std::optional<FirstEntry> entry = FindFirstEntry(**txn, *victim);
    ASSERT_TRUE(entry.has_value());
    old_msg_id = entry->value.msg_id;
    store::EntryValue changed = entry->value;
    changed.msg_id = 999999;
    (*txn)->Put(store::Table::kEntries, store::EntryKey(*victim, entry->seq).view(),
                changed.Encode());
    // Drop one of the shared message's entries without its reference.
    std::optional<store::QueueId> p1 = FindQueueId(**txn, "p.1");
    ASSERT_TRUE(p1.has_value());
    std::optional<FirstEntry> member = FindFirstEntry(**txn, *p1);
    ASSERT_TRUE(member.has_value());
    ASSERT_TRUE((*txn)->Del(store::Table::kEntries, store::EntryKey(*p1, member->seq).view()));
    ASSERT_TRUE((*txn)->Commit().ok());
  }
  CommandResult r = Check(data);
  EXPECT_EQ(r.exit.code, 2) << r.out << r.err;
  auto expect_line = [&](const std::string& text) {
    EXPECT_NE(r.out.find(text), std::string::npos) << "missing: " << text << "\n" << r.out;
  };
  expect_line("references message 999999, which is not stored");
  expect_line("message " + std::to_string(old_msg_id) + " is referenced by nothing (an orphan)");
  expect_line("): queue_state says depth 1, the index holds 0 entries");
  expect_line("queue 'p.1' (id ");
  expect_line("refs says 2, but 1 hold it");
}

// ---------------------------------------------------------------------------

// Confirmed publishes, recorded as they arrive on the client thread.
class ConfirmLog {
 public:
  void Add(const std::string& payload) {
    std::lock_guard<std::mutex> lock(mu_);
    confirmed_.insert(payload);
    changed_.notify_all();
  }
  bool WaitForCount(size_t n, milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    return changed_.wait_for(lock, timeout, [&] { return confirmed_.size() >= n; });
  }
  std::set<std::string> Snapshot() {
    std::lock_guard<std::mutex> lock(mu_);
    return confirmed_;
  }

 private:
  std::mutex mu_;
  std::condition_variable changed_;
  std::set<std::string> confirmed_;
};

// Payloads delivered from several queues, for a wait until a set arrived.
class Arrivals {
 public:
  explicit Arrivals(std::set<std::string> wanted) : wanted_(std::move(wanted)) {}
  void Add(const std::string& payload) {
    std::lock_guard<std::mutex> lock(mu_);
    if (wanted_.erase(payload) > 0) changed_.notify_all();
  }
  bool WaitForAll(milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    return changed_.wait_for(lock, timeout, [&] { return wanted_.empty(); });
  }
  std::set<std::string> Missing() {
    std::lock_guard<std::mutex> lock(mu_);
    return wanted_;
  }

 private:
  std::mutex mu_;
  std::condition_variable changed_;
  std::set<std::string> wanted_;
};

TEST(DbTest, BackupUnderLoadServesEveryMessageConfirmedBeforeIt) {
  TempDir dir;
  const std::string data = dir.Join("data");
  const std::string backup = dir.Join("backup");
  constexpr int kQueues = 4;
  BrokerProcess broker({.data_dir = data});
  ASSERT_TRUE(broker.Start().ok());

  // A publisher pipelining confirmed publishes, 256 in flight at most, until
  // told to stop.
  ConfirmLog confirmed;
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::thread publisher([&] {
    // The window outlives the client, whose destructor may still run
    // callbacks that release it.
    std::counting_semaphore<256> window(256);
    std::unique_ptr<Client> client = test::ConnectClient(broker.address());
    if (!client) return;
    int i = 0;
    for (; !stop && i < 1000000; ++i) {
      if (!window.try_acquire_for(kWait)) break;
      std::string payload = "m-" + std::to_string(i);
      client->PublishAsync("load." + std::to_string(i % kQueues), payload, {},
                           [&, payload](const PublishResult& r) {
                             if (r.status.ok()) {
                               confirmed.Add(payload);
                             } else {
                               ++failures;
                             }
                             window.release();
                           });
    }
    // Wait for the confirms still out before the client goes.
    for (int k = 0; k < 256; ++k) {
      if (!window.try_acquire_for(kWait)) break;
    }
  });
  StopAndJoin publisher_guard(stop, publisher);
  ASSERT_TRUE(confirmed.WaitForCount(3000, kWait));

  // Everything confirmed now was committed before the backup starts.
  std::set<std::string> before = confirmed.Snapshot();
  CommandResult r = Hermod({"db", "backup", "--data-dir", data, "--to", backup});
  // The publisher kept going through the backup (a small copy takes a few
  // milliseconds, maybe less than one commit, so count on after it).
  EXPECT_TRUE(confirmed.WaitForCount(before.size() + 1000, kWait));
  publisher_guard.Now();
  ASSERT_TRUE(r.exit.ok()) << r.exit.ToString() << r.err;
  EXPECT_EQ(failures, 0);
  EXPECT_NE(r.out.find("backed up "), std::string::npos) << r.out;

  // The target must be new or empty.
  CommandResult again = Hermod({"db", "backup", "--data-dir", data, "--to", backup});
  EXPECT_FALSE(again.exit.ok());
  EXPECT_NE(again.err.find("not empty"), std::string::npos) << again.err;

  ExpectConsistent(backup);
  EXPECT_TRUE(broker.Stop().ok());

  BrokerProcess restored({.data_dir = backup});
  ASSERT_TRUE(restored.Start().ok());
  std::unique_ptr<Client> consumer = test::ConnectClient(restored.address());
  ASSERT_NE(consumer, nullptr);
  Arrivals arrivals(before);
  std::vector<SubscriptionId> subs;
  Client* raw = consumer.get();
  for (int q = 0; q < kQueues; ++q) {
    Result<SubscriptionId> sub = consumer->Subscribe("load." + std::to_string(q), {.credit = 1000},
                                                     [raw, &arrivals](const Delivery& d) {
                                                       arrivals.Add(d.payload);
                                                       (void)raw->Ack(d.subscription, d.seq);
                                                     });
    ASSERT_TRUE(sub.ok()) << sub.status().ToString();
    subs.push_back(*sub);
  }
  EXPECT_TRUE(arrivals.WaitForAll(seconds(15)))
      << arrivals.Missing().size() << " of " << before.size() << " confirmed messages missing";
  for (SubscriptionId sub : subs) EXPECT_TRUE(consumer->Unsubscribe(sub).ok());
  consumer.reset();
  EXPECT_TRUE(restored.Stop().ok());

  // A compacted copy of the restored store is consistent too.
  const std::string compact = dir.Join("compact");
  r = Hermod({"db", "backup", "--data-dir", backup, "--to", compact, "--compact"});
  ASSERT_TRUE(r.exit.ok()) << r.err;
  EXPECT_NE(r.out.find("(compacted)"), std::string::npos) << r.out;
  ExpectConsistent(compact);
}

}  // namespace
}  // namespace hermod
