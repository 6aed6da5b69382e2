// The hermod CLI end to end (build/bin/hermod against a spawned hermodd):
// pub then sub returns the same bytes, --json parses, the --count summary,
// ttl, dedup ids, nacking, queue settings, and one-line errors with a
// non-zero exit.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "broker_process.h"
#include "json_test_util.h"
#include "run_command.h"
#include "temp_dir.h"

namespace hermod {
namespace {

using test::BrokerProcess;
using test::CommandOptions;
using test::CommandResult;
using test::JsonValue;
using test::ParseJson;

// Whether text matches pattern, where '#' stands for one or more digits and
// every other character for itself. (std::regex trips -Wmaybe-uninitialized
// in g++ 12 sanitizer builds.)
bool Matches(std::string_view text, std::string_view pattern) {
  size_t t = 0;
  for (char p : pattern) {
    if (p != '#') {
      if (t >= text.size() || text[t] != p) return false;
      ++t;
      continue;
    }
    const size_t start = t;
    while (t < text.size() && text[t] >= '0' && text[t] <= '9') ++t;
    if (t == start) return false;
  }
  return t == text.size();
}

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

std::string DecodeBase64(const std::string& in) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::string out;
  uint32_t bits = 0;
  int have = 0;
  for (char c : in) {
    int v = value(c);
    if (v < 0) continue;  // padding
    bits = (bits << 6) | static_cast<uint32_t>(v);
    have += 6;
    if (have >= 8) {
      have -= 8;
      out.push_back(static_cast<char>((bits >> have) & 0xFF));
    }
  }
  return out;
}

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    BrokerProcess::Options options;
    options.data_dir = dir_.Join("data");
    broker_ = std::make_unique<BrokerProcess>(options);
    Status s = broker_->Start();
    ASSERT_TRUE(s.ok()) << s.ToString();
  }

  // Runs `hermod --server <broker> args...`.
  CommandResult Hermod(std::vector<std::string> args, const std::string& stdin_data = "") {
    args.insert(args.begin(), {HERMOD_CLI_BIN, "--server", broker_->address()});
    return Run(args, stdin_data);
  }

  static CommandResult Run(const std::vector<std::string>& argv, const std::string& stdin_data = "",
                           CommandOptions options = {}) {
    options.stdin_data = stdin_data;
    options.unset_env.push_back("HERMOD_SERVER");
    Result<CommandResult> result = test::RunCommand(argv, options);
    EXPECT_TRUE(result.ok()) << result.status().ToString();
    return result.ok() ? std::move(*result) : CommandResult{};
  }

  // Expects a failure reported as exactly one "hermod: ..." line on stderr.
  static void ExpectOneLineError(const CommandResult& r) {
    EXPECT_TRUE(r.exit.exited) << r.exit.ToString();
    EXPECT_NE(r.exit.code, 0);
    std::vector<std::string> lines = Lines(r.err);
    ASSERT_EQ(lines.size(), 1u) << "stderr: " << r.err;
    EXPECT_EQ(lines[0].rfind("hermod: ", 0), 0u) << lines[0];
  }

  test::TempDir dir_;
  std::unique_ptr<BrokerProcess> broker_;
};

TEST_F(CliTest, PubThenSubReturnsTheSameText) {
  CommandResult pub = Hermod({"pub", "cli.text", "hello, world"});
  ASSERT_TRUE(pub.exit.ok()) << pub.exit.ToString() << " " << pub.err;
  EXPECT_TRUE(Matches(pub.out, "msg_id=# seq=1\n")) << pub.out;

  CommandResult sub = Hermod({"sub", "cli.text", "--count", "1", "--timeout", "10"});
  ASSERT_TRUE(sub.exit.ok()) << sub.exit.ToString() << " " << sub.err;
  EXPECT_EQ(sub.out, "hello, world\n");

  // It was acked: nothing is left.
  CommandResult again = Hermod({"sub", "cli.text", "--timeout", "0.3"});
  ASSERT_TRUE(again.exit.ok()) << again.err;
  EXPECT_EQ(again.out, "");
}

TEST_F(CliTest, PubFromStdinThenRawSubReturnsTheSameBytes) {
  std::string bytes;
  for (int i = 0; i < 256; ++i) bytes.push_back(static_cast<char>(i));
  bytes += bytes;  // 512 bytes, every value twice
  CommandResult pub = Hermod({"pub", "cli.binary"}, bytes);
  ASSERT_TRUE(pub.exit.ok()) << pub.exit.ToString() << " " << pub.err;

  CommandResult sub = Hermod({"sub", "cli.binary", "--count", "1", "--raw", "--timeout", "10"});
  ASSERT_TRUE(sub.exit.ok()) << sub.exit.ToString() << " " << sub.err;
  EXPECT_EQ(sub.out, bytes);
}

TEST_F(CliTest, JsonOutputParses) {
  CommandResult pub =
      Hermod({"pub", "cli.json", "caf\xC3\xA9 \"quoted\"", "--json", "--header", "k=v=w"});
  ASSERT_TRUE(pub.exit.ok()) << pub.err;
  std::optional<JsonValue> confirm = ParseJson(pub.out);
  ASSERT_TRUE(confirm.has_value()) << pub.out;
  ASSERT_NE(confirm->Find("id"), nullptr);
  EXPECT_EQ(confirm->Find("id")->type, JsonValue::Type::kNumber);
  EXPECT_EQ(confirm->Find("queue")->text, "cli.json");
  EXPECT_EQ(confirm->Find("seq")->number, 1);

  std::string binary("\x00\x01\xFF\xFE", 4);
  ASSERT_TRUE(Hermod({"pub", "cli.json"}, binary).exit.ok());

  CommandResult sub = Hermod({"sub", "cli.json", "--count", "2", "--json", "--timeout", "10"});
  ASSERT_TRUE(sub.exit.ok()) << sub.err;
  std::vector<std::string> lines = Lines(sub.out);
  ASSERT_EQ(lines.size(), 2u) << sub.out;

  std::optional<JsonValue> text = ParseJson(lines[0]);
  ASSERT_TRUE(text.has_value()) << lines[0];
  EXPECT_EQ(text->Find("queue")->text, "cli.json");
  EXPECT_EQ(text->Find("seq")->number, 1);
  EXPECT_EQ(text->Find("id")->text, confirm->Find("id")->text);
  EXPECT_EQ(text->Find("delivery_count")->number, 1);
  EXPECT_EQ(text->Find("payload")->text, "caf\xC3\xA9 \"quoted\"");
  ASSERT_NE(text->Find("headers"), nullptr);
  ASSERT_NE(text->Find("headers")->Find("k"), nullptr);
  EXPECT_EQ(text->Find("headers")->Find("k")->text, "v=w");

  std::optional<JsonValue> bin = ParseJson(lines[1]);
  ASSERT_TRUE(bin.has_value()) << lines[1];
  EXPECT_EQ(bin->Find("payload"), nullptr);
  ASSERT_NE(bin->Find("payload_base64"), nullptr);
  EXPECT_EQ(DecodeBase64(bin->Find("payload_base64")->text), binary);
}

TEST_F(CliTest, CountSizeSpreadPrintsASummary) {
  CommandResult pub =
      Hermod({"pub", "cli.spread", "--count", "1000", "--size", "64", "--spread", "10"});
  ASSERT_TRUE(pub.exit.ok()) << pub.err;
  EXPECT_TRUE(Matches(pub.out, "published 1000 messages in #.# s: # msg/s\n")) << pub.out;

  // Message i went to cli.spread.<i mod 10>: 100 each, 64 bytes each.
  CommandResult sub =
      Hermod({"sub", "cli.spread.3", "--count", "100", "--json", "--timeout", "10"});
  ASSERT_TRUE(sub.exit.ok()) << sub.err;
  std::vector<std::string> lines = Lines(sub.out);
  ASSERT_EQ(lines.size(), 100u);
  for (const std::string& line : lines) {
    std::optional<JsonValue> d = ParseJson(line);
    ASSERT_TRUE(d.has_value()) << line;
    ASSERT_NE(d->Find("payload"), nullptr) << line;
    EXPECT_EQ(d->Find("payload")->text.size(), 64u);
  }
  CommandResult nothing_more = Hermod({"sub", "cli.spread.3", "--timeout", "0.3"});
  EXPECT_EQ(nothing_more.out, "");

  CommandResult json = Hermod({"pub", "cli.summary", "--count", "50", "--json"});
  ASSERT_TRUE(json.exit.ok()) << json.err;
  std::optional<JsonValue> summary = ParseJson(json.out);
  ASSERT_TRUE(summary.has_value()) << json.out;
  EXPECT_EQ(summary->Find("count")->number, 50);
  EXPECT_EQ(summary->Find("seconds")->type, JsonValue::Type::kNumber);
  EXPECT_EQ(summary->Find("msgs_per_s")->type, JsonValue::Type::kNumber);
}

TEST_F(CliTest, ServerComesFromTheEnvironment) {
  CommandOptions options;
  options.env.push_back({"HERMOD_SERVER", broker_->address()});
  options.stdin_data = "";
  Result<CommandResult> pub =
      test::RunCommand({HERMOD_CLI_BIN, "pub", "cli.env", "from env"}, options);
  ASSERT_TRUE(pub.ok());
  EXPECT_TRUE(pub->exit.ok()) << pub->err;
}

TEST_F(CliTest, ServerTakesASeedList) {
  // Any node of the list works; the first is down (port 1 refuses).
  const std::string seeds = "127.0.0.1:1," + broker_->address();
  CommandResult pub = Run({HERMOD_CLI_BIN, "--server", seeds, "pub", "cli.seeds", "via seeds"});
  ASSERT_TRUE(pub.exit.ok()) << pub.exit.ToString() << " " << pub.err;
  CommandResult sub = Run(
      {HERMOD_CLI_BIN, "--server", seeds, "sub", "cli.seeds", "--count", "1", "--timeout", "10"});
  ASSERT_TRUE(sub.exit.ok()) << sub.exit.ToString() << " " << sub.err;
  EXPECT_EQ(sub.out, "via seeds\n");
}

TEST_F(CliTest, UnreachableBrokerIsOneLineAndNonZero) {
  CommandResult pub = Run({HERMOD_CLI_BIN, "--server", "127.0.0.1:1", "pub", "q", "x"});
  ExpectOneLineError(pub);
  EXPECT_EQ(pub.err.rfind("hermod: cannot connect to 127.0.0.1:1", 0), 0u) << pub.err;
  CommandResult sub = Run({HERMOD_CLI_BIN, "--server", "127.0.0.1:1", "sub", "q", "--count", "1"});
  ExpectOneLineError(sub);
}

TEST_F(CliTest, InvalidQueueNamesAreRefused) {
  ExpectOneLineError(Hermod({"pub", "", "x"}));
  ExpectOneLineError(Hermod({"pub", std::string(300, 'q'), "x"}));
  ExpectOneLineError(Hermod({"sub", "", "--count", "1", "--timeout", "5"}));
  ExpectOneLineError(Hermod({"sub", std::string(300, 'q'), "--count", "1", "--timeout", "5"}));
}

TEST_F(CliTest, PubWithTtl) {
  // Expired by the time anyone subscribes: never delivered.
  CommandResult brief = Hermod({"pub", "cli.ttl", "brief", "--ttl", "1ms"});
  ASSERT_TRUE(brief.exit.ok()) << brief.err;
  CommandResult lasting = Hermod({"pub", "cli.ttl", "lasting", "--ttl", "1h"});
  ASSERT_TRUE(lasting.exit.ok()) << lasting.err;
  CommandResult sub = Hermod({"sub", "cli.ttl", "--count", "1", "--timeout", "10"});
  ASSERT_TRUE(sub.exit.ok()) << sub.err;
  EXPECT_EQ(sub.out, "lasting\n");
  EXPECT_EQ(Hermod({"sub", "cli.ttl", "--timeout", "300ms"}).out, "");

  ExpectOneLineError(Hermod({"pub", "cli.ttl", "x", "--ttl", "5x"}));
  ExpectOneLineError(Hermod({"pub", "cli.ttl", "x", "--ttl", "-1s"}));
}

TEST_F(CliTest, PubWithADedupIdTwiceStoresOnce) {
  CommandResult first = Hermod({"pub", "cli.dedup", "once", "--dedup-id", "order-1"});
  ASSERT_TRUE(first.exit.ok()) << first.err;
  EXPECT_TRUE(Matches(first.out, "msg_id=# seq=1\n")) << first.out;
  // The same id again: confirmed with the original message, marked.
  CommandResult second = Hermod({"pub", "cli.dedup", "once", "--dedup-id", "order-1"});
  ASSERT_TRUE(second.exit.ok()) << second.err;
  EXPECT_EQ(second.out, first.out.substr(0, first.out.size() - 1) + " duplicate\n");
  CommandResult json = Hermod({"pub", "cli.dedup", "once", "--dedup-id", "order-1", "--json"});
  ASSERT_TRUE(json.exit.ok()) << json.err;
  std::optional<JsonValue> confirm = ParseJson(json.out);
  ASSERT_TRUE(confirm.has_value()) << json.out;
  ASSERT_NE(confirm->Find("duplicate"), nullptr) << json.out;
  EXPECT_EQ(confirm->Find("duplicate")->type, JsonValue::Type::kBool);
  EXPECT_TRUE(confirm->Find("duplicate")->boolean);
  EXPECT_EQ(confirm->Find("seq")->number, 1);
  // A new id is a new message, and --json says so.
  CommandResult other = Hermod({"pub", "cli.dedup", "twice", "--dedup-id", "order-2", "--json"});
  ASSERT_TRUE(other.exit.ok()) << other.err;
  std::optional<JsonValue> fresh = ParseJson(other.out);
  ASSERT_TRUE(fresh.has_value()) << other.out;
  ASSERT_NE(fresh->Find("duplicate"), nullptr) << other.out;
  EXPECT_FALSE(fresh->Find("duplicate")->boolean);

  CommandResult sub = Hermod({"sub", "cli.dedup", "--count", "2", "--timeout", "10"});
  ASSERT_TRUE(sub.exit.ok()) << sub.err;
  EXPECT_EQ(sub.out, "once\ntwice\n");
  EXPECT_EQ(Hermod({"sub", "cli.dedup", "--timeout", "300ms"}).out, "");
}

TEST_F(CliTest, CountWithADedupIdSuffixesEachMessage) {
  CommandResult first = Hermod({"pub", "cli.dedupn", "--count", "5", "--dedup-id", "batch-7"});
  ASSERT_TRUE(first.exit.ok()) << first.err;
  EXPECT_TRUE(Matches(first.out, "published 5 messages in #.# s: # msg/s\n")) << first.out;
  // Running the same batch again stores nothing: batch-7-0 ... batch-7-4.
  CommandResult again = Hermod({"pub", "cli.dedupn", "--count", "5", "--dedup-id", "batch-7"});
  ASSERT_TRUE(again.exit.ok()) << again.err;
  EXPECT_TRUE(
      Matches(again.out, "published 5 messages in #.# s: # msg/s (5 duplicates, stored before)\n"))
      << again.out;
  CommandResult json =
      Hermod({"pub", "cli.dedupn", "--count", "5", "--dedup-id", "batch-7", "--json"});
  ASSERT_TRUE(json.exit.ok()) << json.err;
  std::optional<JsonValue> summary = ParseJson(json.out);
  ASSERT_TRUE(summary.has_value()) << json.out;
  ASSERT_NE(summary->Find("duplicates"), nullptr) << json.out;
  EXPECT_EQ(summary->Find("duplicates")->number, 5);

  CommandResult sub = Hermod({"sub", "cli.dedupn", "--count", "5", "--timeout", "10"});
  ASSERT_TRUE(sub.exit.ok()) << sub.err;
  EXPECT_EQ(Lines(sub.out).size(), 5u);
  EXPECT_EQ(Hermod({"sub", "cli.dedupn", "--timeout", "300ms"}).out, "");
}

TEST_F(CliTest, SubNackGivesEachMessageBack) {
  ASSERT_TRUE(Hermod({"pub", "cli.nack", "again"}).exit.ok());
  CommandResult nacked =
      Hermod({"sub", "cli.nack", "--nack", "--count", "3", "--json", "--timeout", "10"});
  ASSERT_TRUE(nacked.exit.ok()) << nacked.err;
  std::vector<std::string> lines = Lines(nacked.out);
  ASSERT_EQ(lines.size(), 3u) << nacked.out;
  std::string id;
  for (size_t i = 0; i < lines.size(); ++i) {
    std::optional<JsonValue> d = ParseJson(lines[i]);
    ASSERT_TRUE(d.has_value()) << lines[i];
    EXPECT_EQ(d->Find("payload")->text, "again");
    EXPECT_EQ(d->Find("delivery_count")->number, static_cast<double>(i + 1)) << lines[i];
    if (i == 0) id = d->Find("id")->text;
    EXPECT_EQ(d->Find("id")->text, id) << "the same message each time";
  }

  // With a delay, the next delivery waits for it.
  const auto start = std::chrono::steady_clock::now();
  CommandResult delayed = Hermod({"sub", "cli.nack", "--nack", "--nack-delay", "400ms", "--count",
                                  "2", "--json", "--timeout", "10"});
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(delayed.exit.ok()) << delayed.err;
  ASSERT_EQ(Lines(delayed.out).size(), 2u) << delayed.out;
  EXPECT_GE(took, std::chrono::milliseconds(400));

  // Acked at last (after the delay of the last nack).
  CommandResult acked = Hermod({"sub", "cli.nack", "--count", "1", "--json", "--timeout", "10"});
  ASSERT_TRUE(acked.exit.ok()) << acked.err;
  std::optional<JsonValue> last = ParseJson(acked.out);
  ASSERT_TRUE(last.has_value()) << acked.out;
  EXPECT_EQ(last->Find("delivery_count")->number, 6);
  EXPECT_EQ(Hermod({"sub", "cli.nack", "--timeout", "300ms"}).out, "");

  ExpectOneLineError(Hermod({"sub", "cli.nack", "--nack-delay", "1s", "--timeout", "1"}));
  ExpectOneLineError(Hermod({"sub", "cli.nack", "--nack", "--nack-delay", "soon"}));
}

TEST_F(CliTest, SubAckWait) {
  ASSERT_TRUE(Hermod({"pub", "cli.ackwait", "x"}).exit.ok());
  CommandResult sub =
      Hermod({"sub", "cli.ackwait", "--ack-wait", "2s", "--count", "1", "--timeout", "10"});
  ASSERT_TRUE(sub.exit.ok()) << sub.err;
  EXPECT_EQ(sub.out, "x\n");
  ExpectOneLineError(Hermod({"sub", "cli.ackwait", "--ack-wait", "2 s"}));
}

TEST_F(CliTest, QueueSetAppliesLimits) {
  CommandResult set =
      Hermod({"queue", "set", "cli.limited", "--max-messages", "2", "--overflow", "reject"});
  ASSERT_TRUE(set.exit.ok()) << set.exit.ToString() << " " << set.err;
  EXPECT_EQ(set.out, "");
  EXPECT_EQ(set.err, "");
  ASSERT_TRUE(Hermod({"pub", "cli.limited", "1"}).exit.ok());
  ASSERT_TRUE(Hermod({"pub", "cli.limited", "2"}).exit.ok());
  CommandResult full = Hermod({"pub", "cli.limited", "3"});
  ExpectOneLineError(full);
  EXPECT_NE(full.err.find("LimitExceeded"), std::string::npos) << full.err;

  // --reset: the broker's defaults again (no limit).
  CommandResult reset = Hermod({"queue", "set", "cli.limited", "--reset"});
  ASSERT_TRUE(reset.exit.ok()) << reset.err;
  EXPECT_TRUE(Hermod({"pub", "cli.limited", "3"}).exit.ok());

  // Every option at once (and --server after the subcommand).
  CommandResult all = Run({HERMOD_CLI_BIN,     "queue",       "set",         "cli.all",
                           "--max-messages",   "100",         "--max-bytes", "1000000",
                           "--overflow",       "drop-oldest", "--max-age",   "2m",
                           "--max-deliveries", "5",           "--dlq",       "cli.parking",
                           "--ack-wait",       "45s",         "--server",    broker_->address()});
  EXPECT_TRUE(all.exit.ok()) << all.exit.ToString() << " " << all.err;
}

TEST_F(CliTest, QueueSetRefusesBadValues) {
  CommandResult sideways = Hermod({"queue", "set", "cli.bad", "--overflow", "sideways"});
  ExpectOneLineError(sideways);
  EXPECT_NE(sideways.err.find("sideways"), std::string::npos) << sideways.err;
  ExpectOneLineError(Hermod({"queue", "set", "cli.bad", "--max-age", "5 minutes"}));
  ExpectOneLineError(Hermod({"queue", "set", "cli.bad", "--ack-wait", "2000h"}));
  ExpectOneLineError(Hermod({"queue", "set", "cli.bad", "--max-messages", "many"}));
  ExpectOneLineError(Hermod({"queue", "set", "cli.bad"}));                  // nothing to set
  ExpectOneLineError(Hermod({"queue", "set", "", "--max-messages", "1"}));  // bad name
  ExpectOneLineError(Hermod({"queue"}));
}

}  // namespace
}  // namespace hermod
