// Auth tokens (--auth-token-file): a Hello without one of the file's tokens
// gets a fatal Error{kUnauthenticated} and changes nothing; libhermod
// reports it from Connect() and stops reconnecting when a restarted broker
// no longer takes its token; the CLI sends --token-file's or $HERMOD_TOKEN;
// a token file hermodd cannot use stops it at start with the reason; SIGHUP
// reads the file again.
#include <signal.h>

#include <gtest/gtest.h>

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

namespace hermod::test {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr milliseconds kWait = seconds(15);
const std::string kTokenA = "token-a-0123456789abcdef";
const std::string kTokenB = "token-b-fedcba9876543210";

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
}

class AuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    token_file_ = dir_.Join("tokens");
    WriteFile(token_file_, "# rotated monthly\n\n  " + kTokenA + "  \n" + kTokenB + "\n");
    ASSERT_TRUE(StartBroker().ok());
  }

  Status StartBroker(const std::string& listen = "127.0.0.1:0") {
    BrokerProcess::Options options;
    options.data_dir = dir_.Join("data");
    options.listen = listen;
    options.extra_args = {"--auth-token-file", token_file_};
    broker_ = std::make_unique<BrokerProcess>(options);
    return broker_->Start();
  }

  Result<std::unique_ptr<Client>> Connect(const std::string& token, StateLog* states = nullptr) {
    ClientOptions options;
    options.server = broker_->address();
    options.auth_token = token;
    options.reconnect_initial_delay = milliseconds(20);
    options.reconnect_max_delay = milliseconds(100);
    if (states != nullptr) options.on_state_change = states->Callback();
    return Client::Connect(options);
  }

  CommandResult Cli(std::vector<std::string> args, CommandOptions options = {}) {
    args.insert(args.begin(), {HERMOD_CLI_BIN, "--server", broker_->address()});
    options.unset_env.push_back("HERMOD_TOKEN");
    options.unset_env.push_back("HERMOD_TOKEN_FILE");
    Result<CommandResult> r = RunCommand(args, options);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : CommandResult{};
  }

  TempDir dir_;
  std::string token_file_;
  std::unique_ptr<BrokerProcess> broker_;
};

TEST_F(AuthTest, EveryTokenInTheFileIsAcceptedAndNothingElse) {
  for (const std::string& token : {kTokenA, kTokenB}) {
    Result<std::unique_ptr<Client>> client = Connect(token);
    ASSERT_TRUE(client.ok()) << client.status().ToString();
    EXPECT_TRUE((*client)->Publish("auth.q", "hello").get().status.ok());
  }

  Result<std::unique_ptr<Client>> none = Connect("");
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().code(), ErrorCode::kUnauthenticated) << none.status().ToString();
  EXPECT_NE(none.status().message().find("requires an auth token"), std::string::npos)
      << none.status().ToString();

  // A prefix of a good token, and the token with one byte changed.
  for (const std::string& wrong : {kTokenA.substr(0, 10), "x" + kTokenA.substr(1)}) {
    Result<std::unique_ptr<Client>> client = Connect(wrong);
    ASSERT_FALSE(client.ok());
    EXPECT_EQ(client.status().code(), ErrorCode::kUnauthenticated) << client.status().ToString();
    EXPECT_NE(client.status().message().find("not valid"), std::string::npos);
  }

  Result<std::unique_ptr<Client>> admin = Connect(kTokenB);
  ASSERT_TRUE(admin.ok());
  EXPECT_EQ(StatOf(**admin, "auth_failures_total"), 3);
  Result<QueueInfo> queue = (*admin)->ShowQueue("auth.q");
  ASSERT_TRUE(queue.ok()) << queue.status().ToString();
  EXPECT_EQ(queue->depth, 2u);
}

TEST_F(AuthTest, FramesAfterARefusedHelloAreNotActedOn) {
  // Hello without a token and a Publish behind it, in one write.
  std::string bytes = HelloFrame();
  {
    proto::FrameEncoder encoder;
    auto& fbb = encoder.Start();
    auto queue = fbb.CreateString("auth.sneaky");
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
  EXPECT_EQ(received.error_code, ErrorCode::kUnauthenticated);
  EXPECT_TRUE(received.error_fatal);

  Result<std::unique_ptr<Client>> admin = Connect(kTokenA);
  ASSERT_TRUE(admin.ok());
  EXPECT_EQ((*admin)->ShowQueue("auth.sneaky").status().code(), ErrorCode::kNotFound);
}

TEST_F(AuthTest, AClientWhoseTokenWasRevokedStopsReconnecting) {
  StateLog states;
  Result<std::unique_ptr<Client>> client = Connect(kTokenA, &states);
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  ASSERT_TRUE((*client)->Publish("auth.q", "before").get().status.ok());

  // Restarted on the same address with token A taken out of the file.
  const std::string address = broker_->address();
  ASSERT_TRUE(broker_->Stop().ok());
  ASSERT_TRUE(states.WaitFor(ConnectionState::kReconnecting, kWait));
  WriteFile(token_file_, kTokenB + "\n");
  ASSERT_TRUE(StartBroker(address).ok());

  ASSERT_TRUE(states.WaitFor(ConnectionState::kDisconnected, kWait));
  EXPECT_EQ(states.last_reason().code(), ErrorCode::kUnauthenticated)
      << states.last_reason().ToString();
  PublishResult late = (*client)->Publish("auth.q", "after").get();
  EXPECT_FALSE(late.status.ok());
  EXPECT_FALSE((*client)->connected());
}

TEST_F(AuthTest, TheCliSendsTheTokenFromItsFileOrTheEnvironment) {
  CommandResult refused = Cli({"pub", "auth.cli", "one"});
  EXPECT_EQ(refused.exit.code, 1);
  EXPECT_NE(refused.err.find("requires an auth token"), std::string::npos) << refused.err;

  // The broker's own file works: the CLI sends its first token.
  CommandResult by_file = Cli({"--token-file", token_file_, "pub", "auth.cli", "two"});
  EXPECT_TRUE(by_file.exit.ok()) << by_file.err;

  CommandOptions env;
  env.env = {{"HERMOD_TOKEN", kTokenB}};
  CommandResult by_env = Cli({"pub", "auth.cli", "three"}, env);
  EXPECT_TRUE(by_env.exit.ok()) << by_env.err;

  CommandResult missing = Cli({"--token-file", dir_.Join("nope"), "pub", "auth.cli", "four"});
  EXPECT_EQ(missing.exit.code, 1);
  EXPECT_NE(missing.err.find("cannot read token file"), std::string::npos) << missing.err;

  CommandResult peek =
      Cli({"--token-file", token_file_, "queue", "peek", "auth.cli", "--count", "10"});
  EXPECT_TRUE(peek.exit.ok()) << peek.err;
  EXPECT_NE(peek.out.find("two"), std::string::npos) << peek.out;
  EXPECT_NE(peek.out.find("three"), std::string::npos) << peek.out;
  EXPECT_EQ(peek.out.find("one"), std::string::npos) << peek.out;
  EXPECT_EQ(peek.out.find("four"), std::string::npos) << peek.out;
}

TEST_F(AuthTest, SighupReadsTheTokenFileAgain) {
  // Restarted with its stderr in a file, to see when a reload was tried.
  ASSERT_TRUE(broker_->Stop().ok());
  BrokerProcess::Options options;
  options.data_dir = dir_.Join("data");
  options.extra_args = {"--auth-token-file", token_file_};
  options.stderr_path = dir_.Join("hermodd.log");
  broker_ = std::make_unique<BrokerProcess>(options);
  ASSERT_TRUE(broker_->Start().ok());
  auto log_has = [&](const std::string& text) {
    std::ifstream in(options.stderr_path);
    std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return all.find(text) != std::string::npos;
  };
  auto accepted = [&](const std::string& token) { return Connect(token).ok(); };

  StateLog kept_states;
  Result<std::unique_ptr<Client>> kept = Connect(kTokenA, &kept_states);
  ASSERT_TRUE(kept.ok());
  Result<std::unique_ptr<Client>> stays = Connect(kTokenB);
  ASSERT_TRUE(stays.ok());
  const std::string kTokenC = "token-c-00112233445566778899";
  ASSERT_FALSE(accepted(kTokenC));

  // C added, A taken out: new Hellos follow the file, and the connection
  // let in with A is closed (libhermod then stops: its token is refused).
  WriteFile(token_file_, kTokenB + "\n" + kTokenC + "\n");
  broker_->Kill(SIGHUP);
  ASSERT_TRUE(PollUntil([&] { return log_has("2 auth tokens read from"); }, kWait));
  EXPECT_TRUE(log_has("1 connections closed"));
  EXPECT_TRUE(accepted(kTokenC));
  EXPECT_TRUE(accepted(kTokenB));
  EXPECT_FALSE(accepted(kTokenA));
  ASSERT_TRUE(kept_states.WaitFor(ConnectionState::kDisconnected, kWait));
  EXPECT_EQ(kept_states.last_reason().code(), ErrorCode::kUnauthenticated);
  EXPECT_TRUE((*stays)->Publish("auth.q", "still here").get().status.ok());

  // A file that cannot be used keeps the tokens in force.
  WriteFile(token_file_, "short\n");
  broker_->Kill(SIGHUP);
  ASSERT_TRUE(PollUntil([&] { return log_has("keeping the auth tokens in force"); }, kWait));
  EXPECT_TRUE(accepted(kTokenC));
  EXPECT_FALSE(accepted(kTokenA));
  EXPECT_TRUE((*stays)->Publish("auth.q", "still here").get().status.ok());
  EXPECT_TRUE(broker_->running());
}

TEST(AuthStartTest, AnUnusableTokenFileStopsTheBrokerAtStart) {
  TempDir dir;
  struct Case {
    std::string contents;  // empty: the file is not written
    std::string expected;
  };
  const std::vector<Case> cases = {
      {"", "cannot read token file"},
      {"# nothing but comments\n\n", "holds no token"},
      {"short\n", ":1: a token is 16 to 1024 bytes, this one 5"},
      {"# ok\n" + kTokenA + "\nhas a space inside it\n", ":3: a token is printable ASCII"},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    const std::string path = dir.Join("tokens" + std::to_string(i));
    if (!cases[i].contents.empty()) WriteFile(path, cases[i].contents);
    BrokerProcess::Options options;
    options.data_dir = dir.Join("data");
    options.extra_args = {"--auth-token-file", path};
    options.stderr_path = dir.Join("stderr" + std::to_string(i));
    BrokerProcess broker(options);
    Status started = broker.Start();
    ASSERT_FALSE(started.ok()) << "case " << i;
    EXPECT_EQ(broker.exit_status().code, 1) << "case " << i;
    std::ifstream err(options.stderr_path);
    std::string text((std::istreambuf_iterator<char>(err)), std::istreambuf_iterator<char>());
    EXPECT_NE(text.find("--auth-token-file"), std::string::npos) << text;
    EXPECT_NE(text.find(cases[i].expected), std::string::npos) << "case " << i << ": " << text;
  }
}

// Safe defaults: a client listener other machines reach needs tokens, or
// --insecure; the refusal names both and changes nothing (the broker never
// binds, so no other machine is ever offered the port).
TEST(AuthStartTest, ANonLoopbackListenerWithoutAuthenticationIsRefused) {
  TempDir dir;
  for (const std::string listen : {"0.0.0.0:0", "[::]:0"}) {
    BrokerProcess::Options options;
    options.data_dir = dir.Join("data");
    options.listen = listen;
    options.stderr_path = dir.Join("stderr");
    BrokerProcess broker(options);
    Status started = broker.Start();
    ASSERT_FALSE(started.ok()) << listen;
    EXPECT_EQ(broker.exit_status().code, 1) << listen;
    std::ifstream err(options.stderr_path);
    std::string text((std::istreambuf_iterator<char>(err)), std::istreambuf_iterator<char>());
    EXPECT_NE(text.find("refusing to listen on " + listen), std::string::npos) << text;
    EXPECT_NE(text.find("--insecure"), std::string::npos) << text;
    EXPECT_NE(text.find("--auth-token-file"), std::string::npos) << text;
  }
}

}  // namespace
}  // namespace hermod::test
