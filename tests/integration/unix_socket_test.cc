// The Unix socket listener (issue 13): hermodd --listen unix:PATH serves
// libhermod and the CLI (--server unix:PATH) on the same host; the socket
// file has mode 0660 and is removed when the broker stops; a stale socket
// file left by a dead broker is replaced, while a live one or a file that
// is not a socket stops the start; the broker logs each client's uid and
// pid (SO_PEERCRED).
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <future>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "admin_test_util.h"
#include "broker_process.h"
#include "hermod/client.h"
#include "run_command.h"
#include "temp_dir.h"

namespace hermod::test {
namespace {

using std::chrono::seconds;

constexpr std::chrono::milliseconds kWait = seconds(15);

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

class UnixSocketTest : public ::testing::Test {
 protected:
  // A short path: sun_path holds 107 bytes.
  UnixSocketTest() : socket_path_(dir_.Join("h.sock")) {}

  Status StartBroker(std::vector<std::string> extra = {}) {
    BrokerProcess::Options options;
    options.data_dir = dir_.Join("data");
    options.listen = "unix:" + socket_path_;
    options.stderr_path = dir_.Join("hermodd.log");
    options.extra_args = std::move(extra);
    broker_ = std::make_unique<BrokerProcess>(options);
    return broker_->Start();
  }

  ClientOptions Options() const {
    ClientOptions options;
    options.server = "unix:" + socket_path_;
    options.reconnect = false;
    return options;
  }

  TempDir dir_;
  std::string socket_path_;
  std::unique_ptr<BrokerProcess> broker_;
};

TEST_F(UnixSocketTest, PublishAndConsumeOverTheSocket) {
  ASSERT_TRUE(StartBroker().ok());
  EXPECT_EQ(broker_->address(), "unix:" + socket_path_);
  Result<std::unique_ptr<Client>> publisher = Client::Connect(Options());
  ASSERT_TRUE(publisher.ok()) << publisher.status().ToString();
  PublishResult sent = (*publisher)->Publish("local.q", "next door").get();
  ASSERT_TRUE(sent.status.ok()) << sent.status.ToString();

  Result<std::unique_ptr<Client>> consumer = Client::Connect(Options());
  ASSERT_TRUE(consumer.ok()) << consumer.status().ToString();
  std::promise<std::string> got;
  auto got_future = got.get_future();
  bool once = false;
  Client* c = consumer->get();
  Result<SubscriptionId> sub =
      c->Subscribe("local.q", SubscribeOptions{}, [&, c](const Delivery& d) {
        if (once) return;
        once = true;
        (void)c->Ack(d.subscription, d.seq);
        got.set_value(d.payload);
      });
  ASSERT_TRUE(sub.ok()) << sub.status().ToString();
  ASSERT_EQ(got_future.wait_for(kWait), std::future_status::ready);
  EXPECT_EQ(got_future.get(), "next door");
  (*consumer)->Close();

  // The CLI too.
  CommandOptions env;
  env.unset_env = {"HERMOD_SERVER", "HERMOD_TLS", "HERMOD_TLS_CA"};
  Result<CommandResult> pub = RunCommand(
      {HERMOD_CLI_BIN, "--server", "unix:" + socket_path_, "pub", "local.cli", "hi"}, env);
  ASSERT_TRUE(pub.ok());
  EXPECT_TRUE(pub->exit.ok()) << pub->err;

  // The broker knows who connected: this process's uid and pid.
  const std::string who =
      "unix/uid=" + std::to_string(getuid()) + ":pid=" + std::to_string(getpid());
  EXPECT_TRUE(PollUntil(
      [&] { return ReadFile(dir_.Join("hermodd.log")).find(who) != std::string::npos; }, kWait))
      << ReadFile(dir_.Join("hermodd.log"));
}

TEST_F(UnixSocketTest, TheSocketIsMode0660AndRemovedOnStop) {
  ASSERT_TRUE(StartBroker().ok());
  struct stat st;
  ASSERT_EQ(lstat(socket_path_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0660u);
  EXPECT_TRUE(broker_->Stop().ok());
  EXPECT_NE(lstat(socket_path_.c_str(), &st), 0);
  EXPECT_EQ(errno, ENOENT);
}

TEST_F(UnixSocketTest, AStaleSocketFileIsReplaced) {
  // A socket file nobody accepts on, as a broker killed with SIGKILL leaves.
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, socket_path_.c_str(), sizeof(addr.sun_path) - 1);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  close(fd);
  ASSERT_TRUE(StartBroker().ok());
  EXPECT_TRUE(Client::Connect(Options()).ok());
}

TEST_F(UnixSocketTest, ALiveSocketOrAnotherFileStopsTheStart) {
  ASSERT_TRUE(StartBroker().ok());
  // A second broker on the same path (its own data directory).
  BrokerProcess::Options second;
  second.data_dir = dir_.Join("data2");
  second.listen = "unix:" + socket_path_;
  second.stderr_path = dir_.Join("second.log");
  BrokerProcess other(second);
  EXPECT_FALSE(other.Start().ok());
  EXPECT_NE(ReadFile(second.stderr_path).find("another process accepts connections there"),
            std::string::npos)
      << ReadFile(second.stderr_path);
  // The first one still serves.
  EXPECT_TRUE(Client::Connect(Options()).ok());
  EXPECT_TRUE(broker_->Stop().ok());

  // A regular file is never removed.
  std::ofstream(socket_path_) << "not a socket";
  BrokerProcess third(second);
  EXPECT_FALSE(third.Start().ok());
  EXPECT_NE(ReadFile(second.stderr_path).find("the path exists and is not a socket"),
            std::string::npos);
  EXPECT_EQ(ReadFile(socket_path_), "not a socket");
}

}  // namespace
// A principal with a unix_uid is let in over the socket without a token
// when the client runs as that uid, and its permissions hold; a principal
// of another uid is not.
TEST_F(UnixSocketTest, APeersUidNamesItsPrincipal) {
  const std::string principals = dir_.Join("principals.toml");
  {
    std::ofstream out(principals);
    out << "[[principal]]\nname = \"local-app\"\nunix_uid = " << getuid()
        << "\npublish = [\"app.*\"]\nconsume = [\"app.*\"]\n\n"
        << "[[principal]]\nname = \"someone-else\"\nunix_uid = " << getuid() + 1
        << "\nadmin = true\n";
  }
  ASSERT_TRUE(StartBroker({"--principals-file", principals}).ok());
  ClientOptions options = Options();
  options.principal = "local-app";
  Result<std::unique_ptr<Client>> app = Client::Connect(options);
  ASSERT_TRUE(app.ok()) << app.status().ToString();
  PublishResult allowed = (*app)->Publish("app.inbox", "mine").get();
  EXPECT_TRUE(allowed.status.ok()) << allowed.status.ToString();
  PublishResult denied = (*app)->Publish("other.inbox", "not mine").get();
  EXPECT_EQ(denied.status.code(), ErrorCode::kPermissionDenied) << denied.status.ToString();
  (*app)->Close();

  // Without a name: the principal of this uid.
  Result<std::unique_ptr<Client>> unnamed = Client::Connect(Options());
  ASSERT_TRUE(unnamed.ok()) << unnamed.status().ToString();
  EXPECT_TRUE((*unnamed)->Publish("app.inbox", "again").get().status.ok());
  EXPECT_EQ((*unnamed)->Publish("other.inbox", "no").get().status.code(),
            ErrorCode::kPermissionDenied);
  (*unnamed)->Close();

  // Another uid's principal, named: refused.
  options.principal = "someone-else";
  Result<std::unique_ptr<Client>> other = Client::Connect(options);
  Status s = other.ok() ? (*other)->Publish("app.inbox", "x").get().status : other.status();
  EXPECT_EQ(s.code(), ErrorCode::kUnauthenticated) << s.ToString();
}

}  // namespace hermod::test
