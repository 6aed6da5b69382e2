// /metrics and /healthz over real HTTP: the exposition parses as Prometheus
// text (checked by a small parser of the format's rules here), and its
// counters match what the test did.
#include <gtest/gtest.h>

#include <cctype>
#include <chrono>
#include <cstdlib>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>

#include "admin_test_util.h"
#include "broker_process.h"
#include "delivery_log.h"
#include "hermod/client.h"
#include "raw_socket.h"
#include "temp_dir.h"

namespace hermod::test {
namespace {

// GET path; returns the status line and the body.
struct HttpResponse {
  std::string status_line;
  std::string content_type;
  std::string body;
};
Result<HttpResponse> Get(const std::string& address, const std::string& path) {
  auto socket = RawSocket::Connect(address);
  if (!socket.ok()) return socket.status();
  Status s = (*socket)->Write("GET " + path + " HTTP/1.1\r\nHost: test\r\n\r\n");
  if (!s.ok()) return s;
  Result<std::string> all = (*socket)->ReadUntilClosed(std::chrono::seconds(5));
  if (!all.ok()) return all.status();
  HttpResponse r;
  size_t head_end = all->find("\r\n\r\n");
  if (head_end == std::string::npos) return Status::Internal("no end of headers");
  std::string head = all->substr(0, head_end);
  r.status_line = head.substr(0, head.find("\r\n"));
  size_t ct = head.find("Content-Type: ");
  if (ct != std::string::npos)
    r.content_type = head.substr(ct + 14, head.find("\r\n", ct) - ct - 14);
  r.body = all->substr(head_end + 4);
  return r;
}

bool IsMetricName(const std::string& s) {
  if (s.empty() ||
      !(std::isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_' || s[0] == ':')) {
    return false;
  }
  for (char c : s) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == ':')) return false;
  }
  return true;
}

// Parses the text exposition format (0.0.4): comment lines "# HELP name
// text" and "# TYPE name type", sample lines "name{label="value",...}
// number". Fails the test on any line that breaks the rules, and puts the
// unlabelled samples by name into *out.
void ParseExposition(const std::string& text, std::map<std::string, double>* out) {
  std::map<std::string, double>& samples = *out;
  samples.clear();
  std::map<std::string, std::string> types;
  std::set<std::string> helps;
  std::istringstream lines(text);
  std::string line;
  int n = 0;
  while (std::getline(lines, line)) {
    ++n;
    SCOPED_TRACE("line " + std::to_string(n) + ": " + line);
    if (line.empty()) continue;
    if (line.rfind("# ", 0) == 0) {
      std::istringstream words(line.substr(2));
      std::string kind, name;
      words >> kind >> name;
      EXPECT_TRUE(IsMetricName(name));
      if (kind == "HELP") {
        EXPECT_TRUE(helps.insert(name).second) << "second HELP";
      } else if (kind == "TYPE") {
        std::string type;
        words >> type;
        EXPECT_TRUE(type == "counter" || type == "gauge" || type == "histogram" ||
                    type == "summary" || type == "untyped");
        EXPECT_TRUE(types.emplace(name, type).second) << "second TYPE";
        EXPECT_EQ(samples.count(name), 0u) << "TYPE after a sample";
      }
      continue;
    }
    size_t name_end = line.find_first_of("{ ");
    ASSERT_NE(name_end, std::string::npos);
    std::string name = line.substr(0, name_end);
    EXPECT_TRUE(IsMetricName(name));
    EXPECT_TRUE(types.count(name)) << "sample without a TYPE line";
    EXPECT_TRUE(helps.count(name)) << "sample without a HELP line";
    EXPECT_EQ(name.rfind("hermod_", 0), 0u);
    size_t value_at = name_end;
    bool labelled = line[name_end] == '{';
    if (labelled) {
      // label="value" pairs; values may hold escaped quotes.
      size_t i = name_end + 1;
      while (i < line.size() && line[i] != '}') {
        size_t eq = line.find('=', i);
        ASSERT_NE(eq, std::string::npos);
        EXPECT_TRUE(IsMetricName(line.substr(i, eq - i)));
        ASSERT_EQ(line[eq + 1], '"');
        size_t j = eq + 2;
        while (j < line.size() && line[j] != '"') j += line[j] == '\\' ? 2 : 1;
        ASSERT_LT(j, line.size()) << "unterminated label value";
        i = j + 1;
        if (line[i] == ',') ++i;
      }
      ASSERT_LT(i, line.size());
      value_at = i + 1;
    }
    ASSERT_EQ(line[value_at], ' ');
    std::string number = line.substr(value_at + 1);
    char* end = nullptr;
    double value = std::strtod(number.c_str(), &end);
    EXPECT_EQ(*end, '\0') << "not a number: " << number;
    if (types[name] == "counter") {
      EXPECT_GE(value, 0);
    }
    if (!labelled) samples[name] = value;
  }
}

TEST(MetricsTest, ExpositionParsesAndCountsWhatHappened) {
  TempDir dir;
  BrokerProcess::Options options;
  options.data_dir = dir.Join("data");
  options.extra_args = {"--metrics-listen",    "127.0.0.1:0", "--apply-lag-ms", "50",
                        "--sweep-interval-ms", "50"};
  BrokerProcess broker(options);
  ASSERT_TRUE(broker.Start().ok());
  std::string metrics;
  for (const std::string& line : broker.startup_lines()) {
    if (line.rfind("metrics on ", 0) == 0) metrics = line.substr(11);
  }
  ASSERT_FALSE(metrics.empty()) << "hermodd printed no 'metrics on' line";

  auto health = Get(metrics, "/healthz");
  ASSERT_TRUE(health.ok()) << health.status().ToString();
  EXPECT_EQ(health->status_line, "HTTP/1.1 200 OK");
  auto missing = Get(metrics, "/nothing");
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ(missing->status_line, "HTTP/1.1 404 Not Found");

  std::unique_ptr<Client> client = ConnectClient(broker.address());
  ASSERT_NE(client, nullptr);
  for (int i = 0; i < 30; ++i) {
    ASSERT_TRUE(
        client->Publish(i < 20 ? "deep" : "shallow", "m" + std::to_string(i)).get().status.ok());
  }
  DeliveryLog log;
  Client* raw = client.get();
  auto sub = client->Subscribe(
      "shallow", SubscribeOptions{.credit = 100},
      log.Handler([raw](const Delivery& d) { (void)raw->Ack(d.subscription, d.seq); }));
  ASSERT_TRUE(sub.ok());
  ASSERT_TRUE(log.WaitForCount(10, std::chrono::seconds(10)));

  // Acks commit in the next batch, queue creations apply behind the lag,
  // the deepest-queue list refreshes on the sweep: poll until all show.
  std::map<std::string, double> samples;
  HttpResponse last;
  bool seen = PollUntil(
      [&] {
        auto r = Get(metrics, "/metrics");
        if (!r.ok()) return false;
        last = *r;
        ParseExposition(r->body, &samples);
        // hermod_queues counts the store's queues: both creations applied.
        return samples["hermod_acked_total"] == 10 && samples["hermod_queues"] == 2 &&
               r->body.find("hermod_queue_depth{queue=\"deep\"} 20") != std::string::npos;
      },
      std::chrono::seconds(10));
  ASSERT_TRUE(seen) << last.body;
  EXPECT_EQ(last.status_line, "HTTP/1.1 200 OK");
  EXPECT_EQ(last.content_type.rfind("text/plain; version=0.0.4", 0), 0u) << last.content_type;
  EXPECT_EQ(samples["hermod_published_total"], 30);
  EXPECT_EQ(samples["hermod_delivered_total"], 10);
  EXPECT_EQ(samples["hermod_connections"], 1);
  EXPECT_EQ(samples["hermod_subscriptions"], 1);
  EXPECT_EQ(samples["hermod_queues"], 2);
  EXPECT_EQ(samples["hermod_healthy"], 1);
  EXPECT_GE(samples["hermod_batches_total"], 1);

  // Both ways a subscription ends: Unsubscribe, and its connection closing.
  auto gauges_reach = [&](double subscriptions, double connections) {
    return PollUntil(
        [&] {
          auto r = Get(metrics, "/metrics");
          if (!r.ok()) return false;
          samples.clear();
          ParseExposition(r->body, &samples);
          return samples["hermod_subscriptions"] == subscriptions &&
                 samples["hermod_connections"] == connections;
        },
        std::chrono::seconds(10));
  };
  ASSERT_TRUE(client->Unsubscribe(*sub).ok());
  {
    std::unique_ptr<Client> other = ConnectClient(broker.address());
    ASSERT_NE(other, nullptr);
    ASSERT_TRUE(
        other->Subscribe("deep", SubscribeOptions{.credit = 1}, [](const Delivery&) {}).ok());
    EXPECT_TRUE(gauges_reach(1, 2)) << samples["hermod_subscriptions"];
  }
  EXPECT_TRUE(gauges_reach(0, 1)) << samples["hermod_subscriptions"];
  EXPECT_TRUE(broker.Stop().ok());
}

}  // namespace
}  // namespace hermod::test
