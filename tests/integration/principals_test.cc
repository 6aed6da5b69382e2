// Principals and permissions (issue 13, docs/security.md), over the real
// protocol against a real hermodd: a principal consumes its own queues and
// is refused others'; publishes outside its patterns and admin commands
// are refused, change nothing, count in denied_total and leave the
// connection open; {principal} stands for the name; a wrong token and an
// unknown name get the same error, slowed down per address; SIGHUP reloads
// the principals; /metrics needs an admin's bearer token; the CLI acts as
// a principal with --user; `hermod auth hash` makes hashes the broker takes.
#include <signal.h>
#include <sodium.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "admin_test_util.h"
#include "broker_process.h"
#include "frame_codec.h"
#include "hermod/client.h"
#include "raw_frames.h"
#include "raw_socket.h"
#include "run_command.h"
#include "scripted_broker.h"
#include "temp_dir.h"
#include "token_hash.h"

namespace hermod::test {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr milliseconds kWait = seconds(15);
// A delay the broker measured can end up to this much before the one this
// process measured: the broker times from its loop's clock, which libuv keeps
// in whole milliseconds, read once per loop turn.
constexpr milliseconds kSlack = milliseconds(5);
const std::string kAliceToken = "alice-token-0123456789abcdef";
const std::string kBobToken = "bob-token-0123456789abcdef01";
const std::string kFrontendToken = "frontend-token-0123456789ab";
const std::string kOpsToken = "ops-token-0123456789abcdef012";
const std::string kFileToken = "file-token-0123456789abcdef0";

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// A hash at libsodium's lowest cost: the broker's check costs what the
// hash says, so the tests stay fast. `hermod auth hash` makes alice's.
std::string CheapHash(const std::string& token) {
  EXPECT_TRUE(server::InitSodium().ok());
  Result<std::string> hash =
      server::HashToken(token, crypto_pwhash_OPSLIMIT_MIN, crypto_pwhash_MEMLIMIT_MIN);
  EXPECT_TRUE(hash.ok());
  return hash.ok() ? *hash : "";
}

CommandOptions Stdin(const std::string& text) {
  CommandOptions options;
  options.stdin_data = text;
  return options;
}

std::string PrincipalToml(const std::string& name, const std::string& hash,
                          const std::string& rules) {
  return "[[principal]]\nname = \"" + name + "\"\ntoken_hash = \"" + hash + "\"\n" + rules + "\n";
}

class PrincipalsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Result<CommandResult> hashed =
        RunCommand({HERMOD_CLI_BIN, "auth", "hash"}, Stdin(kAliceToken + "\n"));
    ASSERT_TRUE(hashed.ok() && hashed->exit.ok()) << (hashed.ok() ? hashed->err : "");
    alice_hash_ = hashed->out.substr(0, hashed->out.find('\n'));
    bob_hash_ = CheapHash(kBobToken);
    frontend_hash_ = CheapHash(kFrontendToken);
    ops_hash_ = CheapHash(kOpsToken);
    config_ = dir_.Join("hermodd.toml");
    WriteFile(config_, Config());
    WriteFile(dir_.Join("tokens"), kFileToken + "\n");
    ASSERT_TRUE(StartBroker().ok());
    ops_ = Connect("ops", kOpsToken);
    ASSERT_NE(ops_, nullptr);
  }

  // The broker's config: ordinary keys, then the principals.
  std::string Config(const std::string& frontend_rules =
                         "publish = [\"user:*\", \"room:*\"]\nmanage = [\"room:*\"]",
                     bool with_bob = true, const std::string& alice_hash = "") {
    const std::string self =
        "consume = [\"user:{principal}\", \"user:{principal}/*\"]\n"
        "publish = [\"user:*\"]";
    return "max-deliveries = 5\nheartbeat-ms = 30000\n\n" +
           PrincipalToml("alice", alice_hash.empty() ? alice_hash_ : alice_hash, self) +
           (with_bob ? PrincipalToml("bob", bob_hash_, self) : "") +
           PrincipalToml("frontend", frontend_hash_, frontend_rules) +
           PrincipalToml("ops", ops_hash_, "admin = true");
  }

  Status StartBroker(std::vector<std::string> extra = {}) {
    BrokerProcess::Options options;
    options.data_dir = dir_.Join("data");
    options.extra_args = {"--config", config_, "--auth-token-file", dir_.Join("tokens")};
    options.extra_args.insert(options.extra_args.end(), extra.begin(), extra.end());
    options.stderr_path = dir_.Join("hermodd.log");
    broker_ = std::make_unique<BrokerProcess>(options);
    return broker_->Start();
  }

  Result<std::unique_ptr<Client>> TryConnect(const std::string& principal, const std::string& token,
                                             StateLog* states = nullptr) {
    ClientOptions options;
    options.server = broker_->address();
    options.principal = principal;
    options.auth_token = token;
    options.reconnect_initial_delay = milliseconds(20);
    options.reconnect_max_delay = milliseconds(100);
    if (states != nullptr) options.on_state_change = states->Callback();
    return Client::Connect(options);
  }
  std::unique_ptr<Client> Connect(const std::string& principal, const std::string& token,
                                  StateLog* states = nullptr) {
    Result<std::unique_ptr<Client>> client = TryConnect(principal, token, states);
    EXPECT_TRUE(client.ok()) << principal << ": " << client.status().ToString();
    return client.ok() ? std::move(*client) : nullptr;
  }

  uint64_t DepthOf(const std::string& queue) {
    Result<QueueInfo> info = ops_->ShowQueue(queue);
    return info.ok() ? info->depth : 0;
  }

  bool LogHas(const std::string& text) {
    return ReadAll(dir_.Join("hermodd.log")).find(text) != std::string::npos;
  }

  CommandResult Cli(std::vector<std::string> args, CommandOptions options = {}) {
    args.insert(args.begin(), {HERMOD_CLI_BIN, "--server", broker_->address()});
    options.unset_env.push_back("HERMOD_TOKEN");
    options.unset_env.push_back("HERMOD_TOKEN_FILE");
    options.unset_env.push_back("HERMOD_USER");
    Result<CommandResult> r = RunCommand(args, options);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : CommandResult{};
  }

  static void ExpectDenied(const Status& s, const std::string& what) {
    EXPECT_EQ(s.code(), ErrorCode::kPermissionDenied) << what << ": " << s.ToString();
    EXPECT_NE(s.message().find(what), std::string::npos) << s.ToString();
  }

  TempDir dir_;
  std::string config_;
  std::string alice_hash_, bob_hash_, frontend_hash_, ops_hash_;
  std::unique_ptr<BrokerProcess> broker_;
  std::unique_ptr<Client> ops_;
};

TEST_F(PrincipalsTest, APrincipalConsumesItsOwnQueuesAndIsRefusedAnothers) {
  std::unique_ptr<Client> frontend = Connect("frontend", kFrontendToken);
  ASSERT_NE(frontend, nullptr);
  for (const std::string queue : {"user:alice", "user:alice/phone", "user:bob"}) {
    ASSERT_TRUE(frontend->Publish(queue, "for " + queue).get().status.ok()) << queue;
  }
  std::unique_ptr<Client> alice = Connect("alice", kAliceToken);
  ASSERT_NE(alice, nullptr);

  std::atomic<int> received{0};
  for (const std::string queue : {"user:alice", "user:alice/phone"}) {
    Result<SubscriptionId> sub = alice->Subscribe(queue, {}, [&](const Delivery& d) {
      ++received;
      EXPECT_TRUE(alice->Ack(d.subscription, d.seq).ok());
    });
    ASSERT_TRUE(sub.ok()) << queue << ": " << sub.status().ToString();
  }
  ASSERT_TRUE(PollUntil([&] { return received.load() == 2; }, kWait));

  // Bob's queue, and names {principal} must not reach by prefix.
  for (const std::string queue : {"user:bob", "user:alice2", "user:alicex/phone"}) {
    Result<SubscriptionId> sub = alice->Subscribe(queue, {}, [](const Delivery&) {});
    ASSERT_FALSE(sub.ok()) << queue;
    ExpectDenied(sub.status(), "principal alice may not consume from queue " + queue);
  }
  // The connection stays open and bob's entry stays where it was.
  EXPECT_TRUE(alice->connected());
  EXPECT_TRUE(alice->Publish("user:bob", "hello bob").get().status.ok());
  EXPECT_EQ(DepthOf("user:bob"), 2u);
  EXPECT_EQ(StatOf(*ops_, "denied_total"), 3);

  std::unique_ptr<Client> bob = Connect("bob", kBobToken);
  ASSERT_NE(bob, nullptr);
  std::atomic<int> bob_received{0};
  ASSERT_TRUE(bob->Subscribe("user:bob", {}, [&](const Delivery&) { ++bob_received; }).ok());
  ASSERT_TRUE(PollUntil([&] { return bob_received.load() == 2; }, kWait));
  ExpectDenied(bob->Subscribe("user:alice", {}, [](const Delivery&) {}).status(),
               "principal bob may not consume from queue user:alice");
}

TEST_F(PrincipalsTest, PublishesOutsideThePatternsAreRefusedAndChangeNothing) {
  std::unique_ptr<Client> alice = Connect("alice", kAliceToken);
  std::unique_ptr<Client> frontend = Connect("frontend", kFrontendToken);
  ASSERT_NE(alice, nullptr);
  ASSERT_NE(frontend, nullptr);

  PublishResult refused = alice->Publish("room:1", "x").get();
  ExpectDenied(refused.status, "principal alice may not publish to queue room:1");
  EXPECT_EQ(ops_->ShowQueue("room:1").status().code(), ErrorCode::kNotFound);

  // Groups: frontend manages room:*, and may add only queues it may
  // publish to; a group publish needs publish on the group.
  ASSERT_TRUE(frontend->CreateGroup("room:1").ok());
  ASSERT_TRUE(frontend->AddMembers("room:1", {"user:alice", "user:bob"}).ok());
  ExpectDenied(frontend->AddMembers("room:1", {"user:carol", "audit"}).status(),
               "principal frontend may not add to a group (publish to) queue audit");
  ExpectDenied(frontend->CreateGroup("team:1"), "may not change group team:1");
  ExpectDenied(alice->CreateGroup("room:2"), "principal alice may not change group room:2");
  ExpectDenied(alice->RemoveMembers("room:1", {"user:bob"}).status(),
               "may not change group room:1");
  ExpectDenied(alice->DeleteGroup("room:1").status(), "may not change group room:1");
  ExpectDenied(alice->PublishToGroup("room:1", "to all").get().status,
               "principal alice may not publish to group room:1");
  Result<MemberPage> members = ops_->ShowGroup("room:1");
  ASSERT_TRUE(members.ok()) << members.status().ToString();
  EXPECT_EQ(members->members, (std::vector<std::string>{"user:alice", "user:bob"}));
  EXPECT_EQ(ops_->ShowGroup("room:2").status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(ops_->ShowGroup("team:1").status().code(), ErrorCode::kNotFound);
  // Adding a member creates its queue; the refused add created none.
  EXPECT_EQ(ops_->ShowQueue("audit").status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(ops_->ShowQueue("user:carol").status().code(), ErrorCode::kNotFound);

  ASSERT_TRUE(frontend->PublishToGroup("room:1", "to all").get().status.ok());
  ASSERT_TRUE(PollUntil([&] { return DepthOf("user:bob") == 1; }, kWait));
  EXPECT_EQ(DepthOf("user:alice"), 1u);
  EXPECT_TRUE(alice->connected());
  EXPECT_TRUE(frontend->connected());
  EXPECT_EQ(StatOf(*ops_, "denied_total"), 7);
}

TEST_F(PrincipalsTest, AdminCommandsAreRefusedToOthers) {
  std::unique_ptr<Client> frontend = Connect("frontend", kFrontendToken);
  ASSERT_NE(frontend, nullptr);
  ASSERT_TRUE(frontend->Publish("user:alice", "keep me").get().status.ok());
  ASSERT_TRUE(frontend->CreateGroup("room:1").ok());

  ExpectDenied(frontend->ListQueues().status(), "may not list queues (admin only)");
  ExpectDenied(frontend->ShowQueue("user:alice").status(),
               "may not show queue user:alice (admin only)");
  ExpectDenied(frontend->PeekQueue("user:alice").status(), "may not peek into queue user:alice");
  ExpectDenied(frontend->PurgeQueue("user:alice").status(), "may not purge queue user:alice");
  ExpectDenied(frontend->DeleteQueue("user:alice").status(), "may not delete queue user:alice");
  QueueSettings settings;
  settings.max_messages = 1;
  ExpectDenied(frontend->ConfigureQueue("user:alice", settings),
               "may not configure queue user:alice");
  ExpectDenied(frontend->Stats().status(), "may not read statistics");
  ExpectDenied(frontend->ListGroups().status(), "may not list groups (admin only)");
  // Managing a group lets it see that group's members.
  EXPECT_TRUE(frontend->ShowGroup("room:1").ok());
  EXPECT_TRUE(frontend->connected());

  // Nothing changed: the entry is there, no limit was set.
  Result<QueueInfo> info = ops_->ShowQueue("user:alice");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->depth, 1u);
  for (const QueueLimitInfo& limit : info->limits) {
    if (limit.name == "max_messages") {
      EXPECT_EQ(limit.source, "default") << limit.value;
    }
  }
  EXPECT_EQ(StatOf(*ops_, "denied_total"), 8);
  // The admin may do all of it.
  EXPECT_TRUE(ops_->ListQueues().ok());
  EXPECT_TRUE(ops_->PeekQueue("user:alice").ok());
  EXPECT_TRUE(ops_->ListGroups().ok());
}

TEST_F(PrincipalsTest, AWrongTokenAndAnUnknownNameGetTheSameErrorAndAreSlowed) {
  struct Attempt {
    std::string principal, token;
  };
  const std::vector<Attempt> attempts = {
      {"alice", kBobToken},      // a wrong token
      {"mallory", kAliceToken},  // an unknown name
      {"alice", "x" + kAliceToken.substr(1)},
      {"ALICE", kAliceToken},  // names are exact
  };
  std::string first_message;
  std::vector<milliseconds> took;
  for (const Attempt& a : attempts) {
    auto start = std::chrono::steady_clock::now();
    Result<std::unique_ptr<Client>> client = TryConnect(a.principal, a.token);
    took.push_back(
        std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - start));
    ASSERT_FALSE(client.ok()) << a.principal;
    EXPECT_EQ(client.status().code(), ErrorCode::kUnauthenticated) << client.status().ToString();
    if (first_message.empty()) first_message = client.status().message();
    EXPECT_EQ(client.status().message(), first_message);
  }
  EXPECT_NE(first_message.find("the principal or auth token is not valid"), std::string::npos)
      << first_message;
  // 100, 200, 400, 800 ms by default: each refusal from this address waits
  // twice as long as the one before. (Less kSlack: the broker times from
  // its loop's clock, whole milliseconds read once per loop turn.)
  EXPECT_GE(took[0], milliseconds(100) - kSlack);
  EXPECT_GE(took[1], milliseconds(200) - kSlack);
  EXPECT_GE(took[2], milliseconds(400) - kSlack);
  EXPECT_GE(took[3], milliseconds(800) - kSlack);
  EXPECT_EQ(StatOf(*ops_, "auth_failures_total"), 4);
  // A principal's token is not a token-file token, and the other way round.
  EXPECT_FALSE(TryConnect("", kAliceToken).ok());
  EXPECT_FALSE(TryConnect("alice", kFileToken).ok());
  // The good ones still get in; the token-file principal may do everything.
  std::unique_ptr<Client> file = Connect("", kFileToken);
  ASSERT_NE(file, nullptr);
  EXPECT_TRUE(file->ListQueues().ok());
  EXPECT_TRUE(Connect("alice", kAliceToken) != nullptr);
  EXPECT_TRUE(LogHas("unknown principal or wrong token; refused in"));
}

TEST_F(PrincipalsTest, TheDelayIsCappedAndItsLimitsAreFlags) {
  ASSERT_TRUE(broker_->Stop().ok());
  ASSERT_TRUE(
      StartBroker({"--auth-failure-delay-ms", "300", "--auth-failure-max-delay-ms", "600"}).ok());
  std::vector<milliseconds> took;
  for (int i = 0; i < 4; ++i) {
    auto start = std::chrono::steady_clock::now();
    // Bob's hash is the cheap one: the time is the delay's, not argon2id's.
    ASSERT_FALSE(TryConnect("bob", kAliceToken).ok());
    took.push_back(
        std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - start));
  }
  EXPECT_GE(took[0], milliseconds(300) - kSlack);
  EXPECT_GE(took[1], milliseconds(600) - kSlack);
  EXPECT_GE(took[3], milliseconds(600) - kSlack);
  // Capped: well below the 2.4 s an uncapped doubling would take.
  EXPECT_LT(took[3], milliseconds(2000));
}

TEST_F(PrincipalsTest, FramesSentBeforeWelcomeAreNotActedOn) {
  // Hello as alice and a Publish behind it, in one write: the broker checks
  // alice's token on its thread pool meanwhile, and does not take the
  // Publish.
  proto::FrameEncoder encoder;
  std::string bytes;
  {
    auto& fbb = encoder.Start();
    auto name = fbb.CreateString("raw");
    auto token = fbb.CreateString(kAliceToken);
    auto principal = fbb.CreateString("alice");
    bytes += AsString(encoder.Finish(
        wire::CreateHello(fbb, proto::kProtocolVersion, name, token, 0, false, principal)));
  }
  {
    auto& fbb = encoder.Start();
    auto queue = fbb.CreateString("user:sneaky");
    auto payload = fbb.CreateVector(reinterpret_cast<const uint8_t*>("x"), 1);
    bytes += AsString(encoder.Finish(wire::CreatePublish(fbb, 1, queue, payload)));
  }
  Result<std::unique_ptr<RawSocket>> raw = RawSocket::Connect(broker_->address());
  ASSERT_TRUE(raw.ok()) << raw.status().ToString();
  ASSERT_TRUE((*raw)->Write(bytes).ok());
  Result<std::string> answer = (*raw)->ReadUntilClosed(kWait);
  ASSERT_TRUE(answer.ok()) << answer.status().ToString();
  Received received = Decode(*answer);
  ASSERT_EQ(received.types, std::vector<wire::Body>{wire::Body::Error});
  EXPECT_EQ(received.error_code, ErrorCode::kProtocolViolation) << received.error_message;
  EXPECT_TRUE(received.error_fatal);
  EXPECT_EQ(ops_->ShowQueue("user:sneaky").status().code(), ErrorCode::kNotFound);
}

TEST_F(PrincipalsTest, SighupReloadsThePrincipals) {
  StateLog alice_states, bob_states, frontend_states, ops_states;
  std::unique_ptr<Client> alice = Connect("alice", kAliceToken, &alice_states);
  std::unique_ptr<Client> bob = Connect("bob", kBobToken, &bob_states);
  std::unique_ptr<Client> frontend = Connect("frontend", kFrontendToken, &frontend_states);
  ASSERT_TRUE(alice && bob && frontend);
  ASSERT_TRUE(frontend->Publish("room:9", "before").get().status.ok());

  // Bob removed, alice's token changed, frontend may no longer publish to
  // room:*; ops unchanged.
  const std::string kAliceToken2 = "alice-token-2-0123456789abcdef";
  WriteFile(config_, Config("publish = [\"user:*\"]", /*with_bob=*/false, CheapHash(kAliceToken2)));
  broker_->Kill(SIGHUP);
  ASSERT_TRUE(PollUntil([&] { return LogHas("3 principals from"); }, kWait));
  EXPECT_TRUE(LogHas("3 connections closed"));
  ASSERT_TRUE(bob_states.WaitFor(ConnectionState::kDisconnected, kWait));
  EXPECT_EQ(bob_states.last_reason().code(), ErrorCode::kUnauthenticated);
  ASSERT_TRUE(alice_states.WaitFor(ConnectionState::kDisconnected, kWait));
  EXPECT_EQ(alice_states.last_reason().code(), ErrorCode::kUnauthenticated);
  // Frontend's credentials still stand: it reconnects and acts under the
  // new rules.
  ASSERT_TRUE(frontend_states.WaitFor(ConnectionState::kReconnecting, kWait));
  ASSERT_TRUE(PollUntil([&] { return frontend->connected(); }, kWait));
  ExpectDenied(frontend->Publish("room:9", "after").get().status,
               "principal frontend may not publish to queue room:9");
  EXPECT_TRUE(frontend->Publish("user:x", "still").get().status.ok());
  EXPECT_TRUE(ops_->connected());
  EXPECT_EQ(DepthOf("room:9"), 1u);
  EXPECT_FALSE(TryConnect("bob", kBobToken).ok());
  EXPECT_FALSE(TryConnect("alice", kAliceToken).ok());
  EXPECT_TRUE(Connect("alice", kAliceToken2) != nullptr);

  // A file that cannot be used keeps the principals in force.
  WriteFile(config_, "[[principal]]\nname = \"broken\"\n");
  broker_->Kill(SIGHUP);
  ASSERT_TRUE(PollUntil([&] { return LogHas("keeping the principals in force"); }, kWait));
  EXPECT_TRUE(Connect("alice", kAliceToken2) != nullptr);
  EXPECT_TRUE(ops_->connected());
  EXPECT_TRUE(broker_->running());
}

TEST_F(PrincipalsTest, MetricsNeedTheBearerTokenOfAnAdmin) {
  ASSERT_TRUE(broker_->Stop().ok());
  ASSERT_TRUE(StartBroker({"--metrics-listen", "127.0.0.1:0"}).ok());
  std::string metrics;
  for (const std::string& line : broker_->startup_lines()) {
    if (line.rfind("metrics on ", 0) == 0) metrics = line.substr(11);
  }
  ASSERT_FALSE(metrics.empty());
  auto get = [&](const std::string& path, const std::string& authorization,
                 const std::string& header = "Authorization") {
    Result<std::unique_ptr<RawSocket>> socket = RawSocket::Connect(metrics);
    EXPECT_TRUE(socket.ok());
    if (!socket.ok()) return std::string();
    std::string request = "GET " + path + " HTTP/1.1\r\nHost: test\r\n";
    if (!authorization.empty()) request += header + ": " + authorization + "\r\n";
    EXPECT_TRUE((*socket)->Write(request + "\r\n").ok());
    Result<std::string> all = (*socket)->ReadUntilClosed(kWait);
    return all.ok() ? *all : std::string();
  };
  auto status_of = [](const std::string& response) {
    return response.substr(0, response.find("\r\n"));
  };
  EXPECT_EQ(status_of(get("/metrics", "")), "HTTP/1.1 401 Unauthorized");
  EXPECT_EQ(status_of(get("/metrics", "Bearer wrong-token-0123456789")),
            "HTTP/1.1 401 Unauthorized");
  EXPECT_EQ(status_of(get("/metrics", "Bearer " + kAliceToken)), "HTTP/1.1 401 Unauthorized");
  // Refusals are slowed down per address, as refused Hellos are: this is
  // the fourth from 127.0.0.1 (100, 200, 400, then 800 ms).
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(status_of(get("/metrics", "Basic " + kOpsToken)), "HTTP/1.1 401 Unauthorized");
  EXPECT_GE(std::chrono::steady_clock::now() - start, milliseconds(800) - kSlack);
  for (const std::string& token : {kOpsToken, kFileToken, kOpsToken}) {
    std::string ok = get("/metrics", "Bearer " + token);
    EXPECT_EQ(status_of(ok), "HTTP/1.1 200 OK") << token;
    EXPECT_NE(ok.find("hermod_denied_total"), std::string::npos);
  }
  // Header names are case-insensitive.
  EXPECT_EQ(status_of(get("/metrics", "Bearer " + kOpsToken, "authorization")), "HTTP/1.1 200 OK");
  EXPECT_EQ(status_of(get("/healthz", "")), "HTTP/1.1 200 OK");
  std::unique_ptr<Client> ops = Connect("ops", kOpsToken);
  ASSERT_NE(ops, nullptr);
  EXPECT_EQ(StatOf(*ops, "auth_failures_total"), 4);
}

TEST_F(PrincipalsTest, TheCliActsAsAPrincipal) {
  CommandOptions as_alice;
  as_alice.env = {{"HERMOD_TOKEN", kAliceToken}};
  CommandResult pub = Cli({"--user", "alice", "pub", "user:alice", "one"}, as_alice);
  EXPECT_TRUE(pub.exit.ok()) << pub.err;
  CommandResult denied = Cli({"--user", "alice", "queue", "ls"}, as_alice);
  EXPECT_EQ(denied.exit.code, 1);
  EXPECT_NE(denied.err.find("permission denied: principal alice may not list queues"),
            std::string::npos)
      << denied.err;
  // $HERMOD_USER, and the token from a file.
  WriteFile(dir_.Join("ops.token"), kOpsToken + "\n");
  CommandOptions as_ops;
  as_ops.env = {{"HERMOD_USER", "ops"}};
  CommandResult peek =
      Cli({"--token-file", dir_.Join("ops.token"), "queue", "peek", "user:alice"}, as_ops);
  EXPECT_TRUE(peek.exit.ok()) << peek.err;
  EXPECT_NE(peek.out.find("one"), std::string::npos) << peek.out;
  CommandResult wrong = Cli({"--user", "mallory", "pub", "user:alice", "two"}, as_alice);
  EXPECT_EQ(wrong.exit.code, 1);
  EXPECT_NE(wrong.err.find("not valid"), std::string::npos) << wrong.err;
}

TEST(AuthCommandTest, HashOutputVerifiesAndTokensAreChecked) {
  Result<CommandResult> token = RunCommand({HERMOD_CLI_BIN, "auth", "token"});
  ASSERT_TRUE(token.ok() && token->exit.ok());
  const std::string secret = token->out.substr(0, token->out.find('\n'));
  EXPECT_EQ(secret.size(), 43u) << secret;
  Result<CommandResult> hash = RunCommand({HERMOD_CLI_BIN, "auth", "hash"}, Stdin(secret + "\n"));
  ASSERT_TRUE(hash.ok() && hash->exit.ok()) << (hash.ok() ? hash->err : "");
  const std::string hashed = hash->out.substr(0, hash->out.find('\n'));
  EXPECT_EQ(hashed.rfind("$argon2id$", 0), 0u) << hashed;
  EXPECT_EQ(hashed.find(secret), std::string::npos);
  EXPECT_TRUE(server::VerifyToken(hashed, secret));

  Result<CommandResult> ok =
      RunCommand({HERMOD_CLI_BIN, "auth", "verify", hashed}, Stdin(secret + "\n"));
  ASSERT_TRUE(ok.ok());
  EXPECT_TRUE(ok->exit.ok()) << ok->err;
  std::string wrong = secret;  // one character changed (a random token may start with 'x')
  wrong[0] = wrong[0] == 'x' ? 'y' : 'x';
  Result<CommandResult> bad =
      RunCommand({HERMOD_CLI_BIN, "auth", "verify", hashed}, Stdin(wrong + "\n"));
  ASSERT_TRUE(bad.ok());
  EXPECT_EQ(bad->exit.code, 1);
  // Two hashes of one token differ (random salt).
  Result<CommandResult> again = RunCommand({HERMOD_CLI_BIN, "auth", "hash"}, Stdin(secret + "\n"));
  ASSERT_TRUE(again.ok() && again->exit.ok());
  EXPECT_NE(again->out, hash->out);
  for (const std::string& input :
       {std::string(""), std::string("short\n"), std::string("has a space in it, long enough\n")}) {
    Result<CommandResult> refused = RunCommand({HERMOD_CLI_BIN, "auth", "hash"}, Stdin(input));
    ASSERT_TRUE(refused.ok());
    EXPECT_EQ(refused->exit.code, 1) << input;
    EXPECT_TRUE(refused->out.empty());
  }
}

TEST(PrincipalsStartTest, AnUnusablePrincipalsFileStopsTheBrokerAtStart) {
  TempDir dir;
  const std::string path = dir.Join("principals.toml");
  WriteFile(path, "[[principal]]\nname = \"x\"\ntoken_hash = \"plain-token-0123456789\"\n");
  BrokerProcess::Options options;
  options.data_dir = dir.Join("data");
  options.extra_args = {"--principals-file", path};
  options.stderr_path = dir.Join("stderr");
  BrokerProcess broker(options);
  ASSERT_FALSE(broker.Start().ok());
  EXPECT_EQ(broker.exit_status().code, 1);
  std::string text = ReadAll(options.stderr_path);
  EXPECT_NE(text.find("--principals-file"), std::string::npos) << text;
  EXPECT_NE(text.find("principals.toml:1: principal x: token_hash is not an argon2id hash"),
            std::string::npos)
      << text;
}

// Principals count as authentication for the safe default: a listener
// other machines reach starts (with the clear-text warning).
TEST(PrincipalsStartTest, PrincipalsAllowANonLoopbackListener) {
  TempDir dir;
  const std::string path = dir.Join("principals.toml");
  WriteFile(path, PrincipalToml("ops", CheapHash(kOpsToken), "admin = true"));
  BrokerProcess::Options options;
  options.data_dir = dir.Join("data");
  options.listen = "0.0.0.0:0";
  options.extra_args = {"--principals-file", path};
  BrokerProcess broker(options);
  ASSERT_TRUE(broker.Start().ok());
  EXPECT_TRUE(broker.Stop().ok());
}

}  // namespace
}  // namespace hermod::test
