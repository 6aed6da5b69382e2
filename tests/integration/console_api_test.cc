// The web console's JSON API (docs/console.md) over real HTTP against a real
// hermodd: its answers match what the broker holds, its paging, and every
// refusal that keeps a page on another site (or a plain link) from
// changing anything. The browser drives the same API in
// tests/console/console_test.mjs.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <iterator>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "admin_test_util.h"
#include "broker_process.h"
#include "delivery_log.h"
#include "hermod/client.h"
#include "raw_socket.h"
#include "temp_dir.h"

namespace hermod::test {
namespace {

using json = nlohmann::json;

struct HttpAnswer {
  int status = 0;
  std::string head;
  json body;  // discarded when the body is not JSON
};

// One request; `headers` are extra "Name: value" lines. Host defaults to
// the address itself.
HttpAnswer Request(const std::string& address, const std::string& method, const std::string& path,
                   std::vector<std::string> headers = {}, const std::string& body = "") {
  HttpAnswer answer;
  auto socket = RawSocket::Connect(address);
  if (!socket.ok()) return answer;
  std::string request = method + " " + path + " HTTP/1.1\r\n";
  bool host = false;
  for (const std::string& h : headers) host |= h.rfind("Host:", 0) == 0;
  if (!host) request += "Host: " + address + "\r\n";
  for (const std::string& h : headers) request += h + "\r\n";
  request += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  if (!(*socket)->Write(request).ok()) return answer;
  Result<std::string> all = (*socket)->ReadUntilClosed(std::chrono::seconds(10));
  if (!all.ok()) return answer;
  const size_t head_end = all->find("\r\n\r\n");
  if (head_end == std::string::npos) return answer;
  answer.head = all->substr(0, head_end);
  answer.status = std::atoi(answer.head.c_str() + answer.head.find(' ') + 1);
  answer.body = json::parse(all->substr(head_end + 4), nullptr, /*allow_exceptions=*/false);
  return answer;
}

HttpAnswer Post(const std::string& address, const std::string& path, const json& body,
                std::vector<std::string> headers = {"Content-Type: application/json"}) {
  return Request(address, "POST", path, std::move(headers), body.dump());
}

class ConsoleApiTest : public ::testing::Test {
 protected:
  void StartBroker(std::vector<std::string> args) {
    BrokerProcess::Options options;
    options.data_dir = dir_.Join("data");
    options.extra_args = {"--http-listen", "127.0.0.1:0"};
    options.extra_args.insert(options.extra_args.end(), args.begin(), args.end());
    broker_ = std::make_unique<BrokerProcess>(options);
    ASSERT_TRUE(broker_->Start().ok());
    for (const std::string& line : broker_->startup_lines()) {
      if (line.rfind("metrics on ", 0) == 0) http_ = line.substr(11);
    }
    ASSERT_FALSE(http_.empty()) << "hermodd printed no 'metrics on' line";
  }

  // The queue's depth as /api/queue says.
  uint64_t Depth(const std::string& queue, std::vector<std::string> headers = {}) {
    HttpAnswer a = Request(http_, "GET", "/api/queue?name=" + queue, std::move(headers));
    return a.status == 200 ? a.body.value("depth", uint64_t{0}) : UINT64_MAX;
  }

  TempDir dir_;
  std::unique_ptr<BrokerProcess> broker_;
  std::string http_;
};

TEST_F(ConsoleApiTest, AnswersWhatTheBrokerHoldsAndPagesIt) {
  // A ranking reads the index, which new queues reach after the apply lag.
  StartBroker({"--apply-lag-ms", "50"});
  std::unique_ptr<Client> client = ConnectClient(broker_->address());
  ASSERT_NE(client, nullptr);
  const std::vector<std::pair<std::string, int>> depths = {{"a", 4}, {"b", 1}, {"c", 2}};
  for (const auto& [queue, n] : depths) {
    for (int i = 0; i < n; ++i) ASSERT_TRUE(client->Publish(queue, "m").get().status.ok());
  }
  const std::string binary("\x00\xff\x01<b>", 6);
  ASSERT_TRUE(client->Publish("peek", "<script>alert(1)</script>").get().status.ok());
  ASSERT_TRUE(client->Publish("peek", binary).get().status.ok());
  ASSERT_TRUE(client->Publish("peek", std::string(3000, 'x')).get().status.ok());

  // Ranked by depth, in pages by offset; by name, in pages by `after`.
  HttpAnswer top;
  ASSERT_TRUE(PollUntil(
      [&] {
        top = Request(http_, "GET", "/api/queues?sort=depth&limit=10");
        return top.status == 200 && top.body["queues"].size() == 4 &&
               top.body["queues"][3]["depth"] == 1;
      },
      std::chrono::seconds(10)))
      << top.body.dump();
  top = Request(http_, "GET", "/api/queues?sort=depth&limit=2");
  ASSERT_EQ(top.status, 200) << top.head;
  ASSERT_EQ(top.body["queues"].size(), 2u);
  EXPECT_EQ(top.body["queues"][0]["name"], "a");
  EXPECT_EQ(top.body["queues"][0]["depth"], 4);
  EXPECT_EQ(top.body["queues"][1]["name"], "peek");
  HttpAnswer rest = Request(http_, "GET", "/api/queues?sort=depth&offset=2&limit=2");
  ASSERT_EQ(rest.body["queues"].size(), 2u);
  EXPECT_EQ(rest.body["queues"][0]["name"], "c");
  EXPECT_EQ(rest.body["queues"][1]["name"], "b");
  HttpAnswer first = Request(http_, "GET", "/api/queues?limit=2");
  ASSERT_EQ(first.body["queues"].size(), 2u);
  EXPECT_EQ(first.body["queues"][0]["name"], "a");
  EXPECT_EQ(first.body["next"], "b");
  HttpAnswer second = Request(http_, "GET", "/api/queues?limit=2&after=b");
  EXPECT_EQ(second.body["queues"][0]["name"], "c");
  EXPECT_EQ(Request(http_, "GET", "/api/queues?prefix=pe").body["queues"].size(), 1u);
  EXPECT_EQ(Request(http_, "GET", "/api/queues?sort=depth&offset=9999&limit=2").status, 400);
  EXPECT_EQ(Request(http_, "GET", "/api/queues?sort=size").status, 400);
  EXPECT_EQ(Request(http_, "GET", "/api/queues?limit=x").status, 400);

  // One queue, and a peek that shows text as text, binary as base64, and
  // a long payload cut.
  HttpAnswer queue = Request(http_, "GET", "/api/queue?name=peek");
  ASSERT_EQ(queue.status, 200);
  EXPECT_EQ(queue.body["depth"], 3);
  EXPECT_EQ(queue.body["dead_letter_queue"], "peek.dlq");
  EXPECT_EQ(Request(http_, "GET", "/api/queue?name=none").status, 404);
  HttpAnswer peek = Request(http_, "GET", "/api/queue/peek?name=peek&limit=2");
  ASSERT_EQ(peek.status, 200);
  ASSERT_EQ(peek.body["entries"].size(), 2u);
  EXPECT_EQ(peek.body["entries"][0]["payload"], "<script>alert(1)</script>");
  EXPECT_EQ(peek.body["entries"][1]["payload_base64"], "AP8BPGI+");
  EXPECT_FALSE(peek.body["entries"][1].contains("payload"));
  const uint64_t next_from = peek.body["next_from"];
  HttpAnswer more =
      Request(http_, "GET", "/api/queue/peek?name=peek&from=" + std::to_string(next_from));
  ASSERT_EQ(more.body["entries"].size(), 1u);
  EXPECT_EQ(more.body["entries"][0]["size"], 3000);
  EXPECT_EQ(more.body["entries"][0]["payload"].get<std::string>().size(), 1024u);
  EXPECT_EQ(more.body["entries"][0]["payload_truncated"], true);

  // A subscriber shows on the connections page with its queue.
  DeliveryLog log;
  auto sub = client->Subscribe("b", SubscribeOptions{.credit = 10}, log.Handler());
  ASSERT_TRUE(sub.ok());
  ASSERT_TRUE(log.WaitForCount(1, std::chrono::seconds(10)));
  HttpAnswer conns = Request(http_, "GET", "/api/connections");
  ASSERT_EQ(conns.status, 200);
  ASSERT_EQ(conns.body["connections"].size(), 1u);
  const json& conn = conns.body["connections"][0];
  ASSERT_EQ(conn["subscriptions"].size(), 1u);
  EXPECT_EQ(conn["subscriptions"][0]["queue"], "b");
  EXPECT_EQ(conn["inflight"], 1);

  // Overview: the stats of `hermod stats` and a history of totals.
  HttpAnswer overview = Request(http_, "GET", "/api/overview");
  ASSERT_EQ(overview.status, 200);
  EXPECT_GE(overview.body["stats"]["published_total"].get<double>(), 9);
  EXPECT_EQ(overview.body["stats"]["sync_mode"], "always");
  EXPECT_GE(overview.body["history"]["samples"].size(), 1u);
  EXPECT_EQ(Request(http_, "GET", "/api/cluster").body["enabled"], false);
  client->Close();
}

TEST_F(ConsoleApiTest, ChangesArePostsWithJsonFromItsOwnOriginOnly) {
  StartBroker({});
  std::unique_ptr<Client> client = ConnectClient(broker_->address());
  ASSERT_NE(client, nullptr);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(client->Publish("q", "m").get().status.ok());
  const json purge = {{"name", "q"}};
  // A link (GET), a form (not JSON), another site's script (its Origin):
  // none changes anything.
  EXPECT_EQ(Request(http_, "GET", "/api/queue/purge?name=q").status, 405);
  EXPECT_EQ(
      Post(http_, "/api/queue/purge", purge, {"Content-Type: application/x-www-form-urlencoded"})
          .status,
      415);
  EXPECT_EQ(Post(http_, "/api/queue/purge", purge,
                 {"Content-Type: application/json", "Origin: http://evil.example"})
                .status,
            403);
  // Without credentials, only at an address: a rebound DNS name is not.
  EXPECT_EQ(Request(http_, "GET", "/api/overview", {"Host: evil.example:80"}).status, 403);
  EXPECT_EQ(Post(http_, "/api/queue/purge", purge,
                 {"Content-Type: application/json", "Host: evil.example:80"})
                .status,
            403);
  EXPECT_EQ(Depth("q"), 5u);

  // Settings, then a purge from its own origin.
  HttpAnswer set = Post(http_, "/api/queue/configure",
                        {{"name", "q"}, {"max_messages", 100}, {"overflow", "drop-oldest"}});
  ASSERT_EQ(set.status, 200) << set.body.dump();
  HttpAnswer shown = Request(http_, "GET", "/api/queue?name=q");
  bool found = false;
  for (const json& limit : shown.body["limits"]) {
    if (limit["name"] != "max_messages") continue;
    found = true;
    EXPECT_EQ(limit["value"], "100");
    EXPECT_EQ(limit["source"], "queue");
  }
  EXPECT_TRUE(found);
  EXPECT_EQ(Post(http_, "/api/queue/configure", {{"name", "q"}, {"overflow", "sideways"}}).status,
            400);
  EXPECT_EQ(Post(http_, "/api/queue/configure", {{"name", "q"}, {"max_messages", -1}}).status, 400);
  HttpAnswer purged = Post(http_, "/api/queue/purge", purge,
                           {"Content-Type: application/json", "Origin: http://" + http_});
  ASSERT_EQ(purged.status, 200) << purged.body.dump();
  EXPECT_EQ(purged.body["removed"], 5);
  EXPECT_EQ(Depth("q"), 0u);
  HttpAnswer deleted = Post(http_, "/api/queue/delete", purge);
  ASSERT_EQ(deleted.status, 200);
  EXPECT_TRUE(PollUntil([&] { return Request(http_, "GET", "/api/queue?name=q").status == 404; },
                        std::chrono::seconds(10)));
  client->Close();
}

TEST_F(ConsoleApiTest, WithCredentialsTheApiNeedsAnAdminsBearerToken) {
  const std::string token = "console-test-token-0123456789";
  const std::string file = dir_.Join("tokens");
  std::ofstream(file) << token << "\n";
  StartBroker({"--auth-token-file", file});
  ClientOptions options;
  options.server = broker_->address();
  options.auth_token = token;
  Result<std::unique_ptr<Client>> client = Client::Connect(options);
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  for (int i = 0; i < 4; ++i) ASSERT_TRUE((*client)->Publish("q", "m").get().status.ok());
  const std::string bearer = "Authorization: Bearer " + token;
  // The pages themselves hold no data.
  EXPECT_EQ(Request(http_, "GET", "/").status, 200);
  EXPECT_EQ(Request(http_, "GET", "/api/overview").status, 401);
  EXPECT_EQ(Request(http_, "GET", "/api/overview", {"Authorization: Bearer wrong-token-0123456789"})
                .status,
            401);
  EXPECT_EQ(Post(http_, "/api/queue/purge", {{"name", "q"}}).status, 401);
  EXPECT_EQ(Depth("q", {bearer}), 4u);
  // Any Host will do once a token is needed.
  EXPECT_EQ(Request(http_, "GET", "/api/overview", {bearer, "Host: broker.example:80"}).status,
            200);
  HttpAnswer purged =
      Post(http_, "/api/queue/purge", {{"name", "q"}}, {"Content-Type: application/json", bearer});
  ASSERT_EQ(purged.status, 200);
  EXPECT_EQ(purged.body["removed"], 4);
  EXPECT_EQ(Depth("q", {bearer}), 0u);
  (*client)->Close();
}

TEST_F(ConsoleApiTest, ConsoleOffLeavesMetricsAndHealth) {
  StartBroker({"--console", "false"});
  EXPECT_EQ(Request(http_, "GET", "/").status, 404);
  EXPECT_EQ(Request(http_, "GET", "/api/overview").status, 404);
  EXPECT_EQ(Request(http_, "GET", "/healthz").status, 200);
  EXPECT_EQ(Request(http_, "GET", "/metrics").status, 200);
}

TEST_F(ConsoleApiTest, ServesItsPagesFromTheBinary) {
  StartBroker({});
  HttpAnswer index = Request(http_, "GET", "/");
  ASSERT_EQ(index.status, 200);
  EXPECT_NE(index.head.find("Content-Type: text/html"), std::string::npos);
  EXPECT_NE(index.head.find("Content-Security-Policy: default-src 'self'"), std::string::npos);
  HttpAnswer chart = Request(http_, "GET", "/assets/uPlot.iife.min.js");
  EXPECT_EQ(chart.status, 200);
  EXPECT_NE(chart.head.find("text/javascript"), std::string::npos);
  EXPECT_EQ(Request(http_, "GET", "/assets/none.js").status, 404);
  EXPECT_EQ(Request(http_, "POST", "/").status, 405);
}

// A port another process holds, for the client port or the HTTP one: a
// clear error and exit code 1, not an abort (a listener that never started
// used to be destroyed before its close ran).
TEST(ListenerStartTest, APortInUseIsAClearErrorForEitherListener) {
  TempDir dir;
  BrokerProcess holder({.data_dir = dir.Join("holder")});
  ASSERT_TRUE(holder.Start().ok());
  const std::string taken = holder.address();
  const std::vector<std::vector<std::string>> cases = {{"--http-listen", "127.0.0.1:0"},
                                                       {"--http-listen", taken}};
  for (size_t i = 0; i < cases.size(); ++i) {
    BrokerProcess::Options options;
    options.data_dir = dir.Join("data");
    options.listen = i == 0 ? taken : "127.0.0.1:0";
    options.extra_args = cases[i];
    options.stderr_path = dir.Join("stderr" + std::to_string(i));
    BrokerProcess broker(options);
    ASSERT_FALSE(broker.Start().ok()) << "case " << i;
    EXPECT_EQ(broker.exit_status().code, 1)
        << "case " << i << ": " << broker.exit_status().ToString();
    std::ifstream in(options.stderr_path);
    std::string err((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_NE(err.find("address already in use"), std::string::npos) << err;
  }
}

}  // namespace
}  // namespace hermod::test
