// The hermod CLI's administration commands end to end (build/bin/hermod
// against a spawned hermodd): group create/add/remove/ls/show/rm (members
// from arguments and from stdin), pub --group, queue ls/show/peek/purge/rm
// and stats, in text and with --json parsed back.
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "admin_test_util.h"
#include "broker_process.h"
#include "hermod/client.h"
#include "json_test_util.h"
#include "run_command.h"
#include "temp_dir.h"

namespace hermod {
namespace {

using std::chrono::seconds;
using test::BrokerProcess;
using test::CommandOptions;
using test::CommandResult;
using test::JsonValue;
using test::ParseJson;
using test::PollUntil;
using test::StatsOf;

// Splits at '\n'; a final empty piece (after the last newline) is dropped.
std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

// Every line parsed as one JSON object; a line that does not parse fails
// the test and is skipped.
std::vector<JsonValue> JsonLines(const std::string& text) {
  std::vector<JsonValue> values;
  for (const std::string& line : Lines(text)) {
    std::optional<JsonValue> v = ParseJson(line);
    EXPECT_TRUE(v.has_value() && v->type == JsonValue::Type::kObject) << line;
    if (v) values.push_back(std::move(*v));
  }
  return values;
}

double Number(const JsonValue& object, const std::string& key) {
  const JsonValue* v = object.Find(key);
  EXPECT_TRUE(v != nullptr && v->type == JsonValue::Type::kNumber) << key;
  return v != nullptr ? v->number : -1;
}

std::string Text(const JsonValue& object, const std::string& key) {
  const JsonValue* v = object.Find(key);
  EXPECT_TRUE(v != nullptr && v->type == JsonValue::Type::kString) << key;
  return v != nullptr ? v->text : "";
}

// The names `hermod stats --json` must have (docs/cli.md).
const std::vector<std::string> kStatNames = {"purged_total",
                                             "redriven_total",
                                             "resumed_acks_total",
                                             "group_publishes_total",
                                             "scheduled_total",
                                             "fanout_forwards_total",
                                             "fanout_forwards_received_total",
                                             "receipts_total",
                                             "receipts_dropped_total",
                                             "batch_messages_total",
                                             "healthy",
                                             "version",
                                             "sync_mode",
                                             "uptime_seconds",
                                             "rss_bytes",
                                             "connections",
                                             "subscriptions",
                                             "queues",
                                             "queues_in_memory",
                                             "groups",
                                             "messages_stored",
                                             "entries_stored",
                                             "log_unapplied_bytes",
                                             "store_used_bytes",
                                             "store_map_bytes",
                                             "store_headroom_bytes",
                                             "published_total",
                                             "delivered_total",
                                             "redelivered_total",
                                             "acked_total",
                                             "nacked_total",
                                             "ack_timeouts_total",
                                             "dead_lettered_total",
                                             "expired_total",
                                             "dropped_total",
                                             "duplicates_total",
                                             "refused_full_total",
                                             "refused_storage_total",
                                             "fanout_entries_total",
                                             "publish_rate",
                                             "deliver_rate",
                                             "ack_rate",
                                             "batches_total",
                                             "batch_failures_total",
                                             "heartbeat_timeouts_total",
                                             "connections_refused_total",
                                             "auth_failures_total",
                                             "denied_total",
                                             "auth_verifications_total",
                                             "auth_cache_hits_total",
                                             "batch_messages_avg",
                                             "commit_latency_p50_ms",
                                             "commit_latency_p99_ms",
                                             "connections_accepted_total"};

class CliAdminTest : public ::testing::Test {
 protected:
  void SetUp() override {
    BrokerProcess::Options options;
    options.data_dir = dir_.Join("data");
    options.extra_args = {"--apply-lag-ms", "50"};
    broker_ = std::make_unique<BrokerProcess>(options);
    Status s = broker_->Start();
    ASSERT_TRUE(s.ok()) << s.ToString();
  }

  // Runs `hermod --server <broker> args...` with stdin_data on stdin (a
  // pipe, never a terminal).
  CommandResult Hermod(std::vector<std::string> args, const std::string& stdin_data = "") {
    args.insert(args.begin(), {HERMOD_CLI_BIN, "--server", broker_->address()});
    CommandOptions options;
    options.stdin_data = stdin_data;
    options.unset_env.push_back("HERMOD_SERVER");
    Result<CommandResult> result = test::RunCommand(args, options);
    EXPECT_TRUE(result.ok()) << result.status().ToString();
    return result.ok() ? std::move(*result) : CommandResult{};
  }

  // Runs a command that must succeed.
  CommandResult Ok(std::vector<std::string> args, const std::string& stdin_data = "") {
    CommandResult r = Hermod(args, stdin_data);
    std::string command;
    for (const std::string& a : args) command += a + " ";
    EXPECT_TRUE(r.exit.ok()) << command << ": " << r.exit.ToString() << " " << r.err;
    return r;
  }

  // Expects a failure reported as exactly one "hermod: ..." line on stderr.
  static void ExpectOneLineError(const CommandResult& r, const std::string& contains = "") {
    EXPECT_TRUE(r.exit.exited) << r.exit.ToString();
    EXPECT_EQ(r.exit.code, 1);
    std::vector<std::string> lines = Lines(r.err);
    ASSERT_EQ(lines.size(), 1u) << "stderr: " << r.err;
    EXPECT_EQ(lines[0].rfind("hermod: ", 0), 0u) << lines[0];
    EXPECT_NE(lines[0].find(contains), std::string::npos) << lines[0];
  }

  std::unique_ptr<Client> Connect() { return test::ConnectClient(broker_->address()); }

  test::TempDir dir_;
  std::unique_ptr<BrokerProcess> broker_;
};

TEST_F(CliAdminTest, GroupCommands) {
  EXPECT_EQ(Ok({"group", "create", "chat:7"}).out, "");
  ExpectOneLineError(Hermod({"group", "create", "chat:7"}), "AlreadyExists");

  EXPECT_EQ(Ok({"group", "add", "chat:7", "ann", "bob"}).out, "added 2 members to chat:7\n");
  // From stdin: one name per line; CRs and empty lines do not count.
  EXPECT_EQ(Ok({"group", "add", "chat:7", "-", "bob"}, "cid\r\n\ndan\neve").out,
            "added 3 members to chat:7 (1 already members)\n");
  CommandResult json = Ok({"group", "add", "chat:7", "ann", "fay", "--json"});
  std::optional<JsonValue> added = ParseJson(json.out);
  ASSERT_TRUE(added) << json.out;
  EXPECT_EQ(Text(*added, "group"), "chat:7");
  EXPECT_EQ(Number(*added, "given"), 2);
  EXPECT_EQ(Number(*added, "changed"), 1);

  EXPECT_EQ(Ok({"group", "remove", "chat:7", "-"}, "eve\nzed\n").out,
            "removed 1 member from chat:7 (1 not members)\n");

  CommandResult show = Ok({"group", "show", "chat:7", "--json"});
  std::optional<JsonValue> shown = ParseJson(show.out);
  ASSERT_TRUE(shown) << show.out;
  EXPECT_EQ(Text(*shown, "name"), "chat:7");
  EXPECT_EQ(Number(*shown, "member_count"), 5);
  const JsonValue* members = shown->Find("members");
  ASSERT_NE(members, nullptr);
  std::vector<std::string> names;
  for (const JsonValue& m : members->items) names.push_back(m.text);
  EXPECT_EQ(names, (std::vector<std::string>{"ann", "bob", "cid", "dan", "fay"}));
  EXPECT_EQ(Ok({"group", "show", "chat:7"}).out,
            "group chat:7: 5 members\n  ann\n  bob\n  cid\n  dan\n  fay\n");

  Ok({"group", "create", "chat:8"});
  Ok({"group", "create", "other"});
  std::vector<JsonValue> listed = JsonLines(Ok({"group", "ls", "--json"}).out);
  ASSERT_EQ(listed.size(), 3u);
  EXPECT_EQ(Text(listed[0], "name"), "chat:7");
  EXPECT_EQ(Number(listed[0], "members"), 5);
  EXPECT_GT(Number(listed[0], "created_ms"), 0);
  EXPECT_EQ(Text(listed[2], "name"), "other");
  std::vector<std::string> table = Lines(Ok({"group", "ls", "--prefix", "chat:"}).out);
  ASSERT_EQ(table.size(), 3u);  // header and two groups
  EXPECT_EQ(table[0].rfind("NAME", 0), 0u) << table[0];
  EXPECT_EQ(table[1].rfind("chat:7 ", 0), 0u) << table[1];

  // pub --group: one message, then --count.
  CommandResult pub = Ok({"pub", "--group", "chat:7", "hi all", "--json"});
  std::optional<JsonValue> confirm = ParseJson(pub.out);
  ASSERT_TRUE(confirm) << pub.out;
  EXPECT_EQ(Text(*confirm, "group"), "chat:7");
  EXPECT_GT(Number(*confirm, "id"), 0);
  EXPECT_EQ(confirm->Find("seq"), nullptr);
  EXPECT_EQ(Ok({"pub", "--group", "chat:7"}, "from stdin").out.rfind("msg_id=", 0), 0u);
  Ok({"pub", "--group", "chat:7", "--count", "3", "--size", "10"});
  ExpectOneLineError(Hermod({"pub", "--group", "nobody", "x"}), "NotFound");
  ExpectOneLineError(Hermod({"pub", "q", "x", "--group", "chat:7"}), "not both");

  // Every member got the five messages, in order.
  std::unique_ptr<Client> client = Connect();
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(
      PollUntil([&] { return StatsOf(*client)["fanout_entries_total"] == 25; }, seconds(20)));
  CommandResult sub = Ok({"sub", "dan", "--count", "5", "--timeout", "10"});
  std::vector<std::string> got = Lines(sub.out);
  ASSERT_EQ(got.size(), 5u) << sub.out;
  EXPECT_EQ(got[0], "hi all");
  EXPECT_EQ(got[1], "from stdin");

  EXPECT_EQ(Ok({"group", "rm", "chat:7"}).out, "");
  ExpectOneLineError(Hermod({"group", "rm", "chat:7"}), "NotFound");
  ExpectOneLineError(Hermod({"group", "show", "chat:7"}), "NotFound");
}

TEST_F(CliAdminTest, GroupAddFromStdinTakesManyNames) {
  Ok({"group", "create", "many"});
  std::string names;
  for (int i = 0; i < 20000; ++i) names += "member." + std::to_string(i) + "\n";
  EXPECT_EQ(Ok({"group", "add", "many", "-"}, names).out, "added 20000 members to many\n");
  std::optional<JsonValue> shown = ParseJson(Ok({"group", "show", "many", "--json"}).out);
  ASSERT_TRUE(shown);
  EXPECT_EQ(Number(*shown, "member_count"), 20000);
  EXPECT_EQ(shown->Find("members")->items.size(), 20000u);
}

TEST_F(CliAdminTest, QueueListShowAndPeek) {
  Ok({"pub", "mail.a", "hello"});
  Ok({"pub", "mail.a", "line one\nline two", "--header", "k=v"});
  Ok({"pub", "mail.a"}, std::string("\x00\x01\xfe", 3));
  Ok({"pub", "mail.b", "--count", "5"});
  Ok({"pub", "other", "x"});
  std::unique_ptr<Client> client = Connect();
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(PollUntil([&] { return StatsOf(*client)["queues"] == 3; }, seconds(20)));

  // ls: all queues by name, then by prefix, then the deepest first.
  std::vector<JsonValue> rows = JsonLines(Ok({"queue", "ls", "--json"}).out);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(Text(rows[0], "name"), "mail.a");
  EXPECT_EQ(Number(rows[0], "depth"), 3);
  EXPECT_GT(Number(rows[0], "bytes"), 0);
  for (const char* key :
       {"consumers", "inflight", "oldest_age_ms", "dlq_depth", "last_seq", "created_ms"}) {
    EXPECT_NE(rows[0].Find(key), nullptr) << key;
  }
  EXPECT_EQ(Text(rows[2], "name"), "other");
  rows = JsonLines(Ok({"queue", "ls", "--prefix", "mail.", "--json"}).out);
  EXPECT_EQ(rows.size(), 2u);
  rows = JsonLines(Ok({"queue", "ls", "--sort", "depth", "--limit", "1", "--json"}).out);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(Text(rows[0], "name"), "mail.b");
  rows = JsonLines(Ok({"queue", "ls", "--limit", "2", "--json"}).out);
  EXPECT_EQ(rows.size(), 2u);
  std::vector<std::string> table = Lines(Ok({"queue", "ls"}).out);
  ASSERT_EQ(table.size(), 4u);
  EXPECT_EQ(table[0].rfind("NAME", 0), 0u);
  EXPECT_NE(table[0].find("DEPTH"), std::string::npos);
  EXPECT_NE(table[0].find("OLDEST"), std::string::npos);
  // Aligned: the name column is as wide as its widest cell.
  EXPECT_EQ(table[1].rfind("mail.a  ", 0), 0u) << table[1];
  // A bad --sort is a command-line error: CLI11's exit code, one line.
  CommandResult bad_sort = Hermod({"queue", "ls", "--sort", "colour"});
  EXPECT_TRUE(bad_sort.exit.exited);
  EXPECT_GT(bad_sort.exit.code, 1);
  EXPECT_EQ(Lines(bad_sort.err).size(), 1u) << bad_sort.err;

  // show.
  std::optional<JsonValue> shown = ParseJson(Ok({"queue", "show", "mail.a", "--json"}).out);
  ASSERT_TRUE(shown);
  EXPECT_EQ(Text(*shown, "name"), "mail.a");
  EXPECT_EQ(Number(*shown, "depth"), 3);
  EXPECT_EQ(Number(*shown, "first_seq"), 1);
  EXPECT_EQ(Number(*shown, "last_seq"), 3);
  EXPECT_NE(shown->Find("publish_rate"), nullptr);
  EXPECT_NE(shown->Find("ack_rate"), nullptr);
  const JsonValue* limits = shown->Find("limits");
  ASSERT_NE(limits, nullptr);
  const JsonValue* max_deliveries = limits->Find("max_deliveries");
  ASSERT_NE(max_deliveries, nullptr);
  EXPECT_EQ(Text(*max_deliveries, "source"), "default");
  EXPECT_EQ(shown->Find("consumer_list")->type, JsonValue::Type::kArray);
  std::string text = Ok({"queue", "show", "mail.a"}).out;
  EXPECT_NE(text.find("queue         mail.a\n"), std::string::npos) << text;
  EXPECT_NE(text.find("LIMIT"), std::string::npos) << text;
  ExpectOneLineError(Hermod({"queue", "show", "nothing"}), "NotFound");

  // peek: JSON, text, raw; nothing is delivered.
  std::vector<JsonValue> entries = JsonLines(Ok({"queue", "peek", "mail.a", "--json"}).out);
  ASSERT_EQ(entries.size(), 3u);
  EXPECT_EQ(Text(entries[0], "payload"), "hello");
  EXPECT_EQ(Number(entries[0], "seq"), 1);
  EXPECT_EQ(Number(entries[0], "delivery_count"), 0);
  EXPECT_EQ(entries[0].Find("inflight")->boolean, false);
  EXPECT_EQ(Text(*entries[1].Find("headers"), "k"), "v");
  EXPECT_EQ(Text(entries[2], "payload_base64"), "AAH+");
  entries = JsonLines(Ok({"queue", "peek", "mail.a", "-n", "1", "--from", "2", "--json"}).out);
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(Number(entries[0], "seq"), 2);
  EXPECT_EQ(Ok({"queue", "peek", "mail.a", "-n", "1", "--from", "3", "--raw"}).out,
            std::string("\x00\x01\xfe", 3));
  std::vector<std::string> peeked = Lines(Ok({"queue", "peek", "mail.a"}).out);
  ASSERT_EQ(peeked.size(), 4u);
  EXPECT_EQ(peeked[0].rfind("SEQ", 0), 0u) << peeked[0];
  EXPECT_NE(peeked[1].find("hello"), std::string::npos) << peeked[1];
  EXPECT_NE(peeked[2].find("line one\\nline two"), std::string::npos) << peeked[2];
  EXPECT_NE(peeked[3].find("base64:AAH+"), std::string::npos) << peeked[3];
  // More than one page of the CLI's (100 entries).
  Ok({"pub", "long", "--count", "250"});
  EXPECT_EQ(JsonLines(Ok({"queue", "peek", "long", "-n", "240", "--json"}).out).size(), 240u);
  EXPECT_EQ(JsonLines(Ok({"queue", "peek", "long", "-n", "1000", "--json"}).out).size(), 250u);
  CommandResult sub = Ok({"sub", "mail.a", "--count", "1", "--json", "--timeout", "10"});
  std::optional<JsonValue> delivered = ParseJson(sub.out);
  ASSERT_TRUE(delivered) << sub.out;
  EXPECT_EQ(Number(*delivered, "delivery_count"), 1);
}

TEST_F(CliAdminTest, PurgeAndRemoveAskForYes) {
  Ok({"pub", "junk", "--count", "6"});
  // stdin is a pipe here, not a terminal: without --yes nothing happens.
  ExpectOneLineError(Hermod({"queue", "purge", "junk"}, "y\n"), "--yes");
  ExpectOneLineError(Hermod({"queue", "rm", "junk"}, "y\n"), "--yes");
  std::unique_ptr<Client> client = Connect();
  ASSERT_NE(client, nullptr);
  EXPECT_EQ(client->ShowQueue("junk")->depth, 6u);

  EXPECT_EQ(Ok({"queue", "purge", "junk", "--yes"}).out, "purged queue junk: 6 entries removed\n");
  EXPECT_EQ(client->ShowQueue("junk")->depth, 0u);
  Ok({"pub", "junk", "--count", "2"});
  std::optional<JsonValue> gone = ParseJson(Ok({"queue", "rm", "junk", "-y", "--json"}).out);
  ASSERT_TRUE(gone);
  EXPECT_EQ(Text(*gone, "queue"), "junk");
  EXPECT_EQ(Number(*gone, "removed"), 2);
  // The name answers "being deleted" until the store forgot the queue (its
  // log records applied, 50 ms here), then NotFound.
  ASSERT_TRUE(
      PollUntil([&] { return client->PurgeQueue("junk").status().code() == ErrorCode::kNotFound; },
                seconds(20)));
  ExpectOneLineError(Hermod({"queue", "rm", "junk", "--yes"}), "NotFound");
  ExpectOneLineError(Hermod({"queue", "purge", "junk", "--yes"}), "NotFound");

  // rm is refused while a consumer is subscribed.
  Ok({"pub", "busy", "x"});
  Result<SubscriptionId> sub = client->Subscribe("busy", {.credit = 1}, [](const Delivery&) {});
  ASSERT_TRUE(sub.ok());
  ExpectOneLineError(Hermod({"queue", "rm", "busy", "--yes"}), "consumers");
  ASSERT_TRUE(client->Unsubscribe(*sub).ok());
  EXPECT_EQ(Ok({"queue", "rm", "busy", "--yes"}).out, "deleted queue busy: 1 entry removed\n");
}

// On a terminal, purge and rm ask; only y or yes goes ahead. The terminal
// is util-linux's script(1), which runs the command on a pseudo-terminal.
TEST_F(CliAdminTest, PurgeAndRemoveAskOnATerminal) {
  const std::string script = "/usr/bin/script";
  if (::access(script.c_str(), X_OK) != 0) GTEST_SKIP() << "no " << script;
  Ok({"pub", "asked", "--count", "4"});
  auto on_terminal = [&](const std::string& args, const std::string& answer) {
    const std::string command =
        std::string(HERMOD_CLI_BIN) + " --server " + broker_->address() + " " + args;
    CommandOptions options;
    options.stdin_data = answer;
    Result<CommandResult> r = test::RunCommand({script, "-qec", command, "/dev/null"}, options);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? std::move(*r) : CommandResult{};
  };
  CommandResult no = on_terminal("queue rm asked", "n\n");
  EXPECT_NE(no.out.find("queue asked holds 4 entries: delete it and its entries? [y/N]"),
            std::string::npos)
      << no.out;
  EXPECT_NE(no.out.find("not confirmed, nothing changed"), std::string::npos) << no.out;
  EXPECT_NE(no.exit.code, 0);
  std::unique_ptr<Client> client = Connect();
  ASSERT_NE(client, nullptr);
  EXPECT_EQ(client->ShowQueue("asked")->depth, 4u);

  CommandResult yes = on_terminal("queue purge asked", "yes\n");
  EXPECT_TRUE(yes.exit.ok()) << yes.exit.ToString() << " " << yes.out;
  EXPECT_NE(yes.out.find("purged queue asked: 4 entries removed"), std::string::npos) << yes.out;
  EXPECT_EQ(client->ShowQueue("asked")->depth, 0u);
}

TEST_F(CliAdminTest, StatsHasTheDocumentedKeysAndCounts) {
  Ok({"pub", "s", "--count", "9"});
  std::optional<JsonValue> stats = ParseJson(Ok({"stats", "--json"}).out);
  ASSERT_TRUE(stats);
  for (const std::string& name : kStatNames) EXPECT_NE(stats->Find(name), nullptr) << name;
  EXPECT_EQ(stats->members.size(), kStatNames.size());
  EXPECT_EQ(Text(*stats, "sync_mode"), "always");
  EXPECT_EQ(Number(*stats, "published_total"), 9);
  EXPECT_EQ(Number(*stats, "connections"), 1);  // the stats command itself
  EXPECT_GE(Number(*stats, "connections_accepted_total"), 2);

  std::vector<std::string> lines = Lines(Ok({"stats"}).out);
  ASSERT_EQ(lines.size(), kStatNames.size() + 1);
  EXPECT_EQ(lines[0].rfind("NAME", 0), 0u);
  bool found = false;
  for (const std::string& line : lines) {
    if (line.rfind("published_total ", 0) == 0) {
      found = true;
      EXPECT_EQ(line.substr(line.find_last_of(' ') + 1), "9") << line;
    }
  }
  EXPECT_TRUE(found);
}

}  // namespace
}  // namespace hermod
