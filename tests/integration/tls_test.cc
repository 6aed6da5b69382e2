// TLS (issue 13): hermodd with --tls-cert/--tls-key serves libhermod and the
// CLI over TLS; a client that trusts another CA, expects another name, or
// speaks plaintext fails with an error that says so, as does a TLS client
// at a plaintext port; with --tls-client-ca a client without a certificate
// signed by that CA is refused; SIGHUP loads a new certificate for new
// connections and keeps the old one when the new files cannot be used.
//
// Certificates are made at test time with the openssl CLI, in the test's
// temporary directory: two CAs (A and B), each with a server certificate
// for localhost and 127.0.0.1 and a client certificate.
#include <signal.h>

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <iterator>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "admin_test_util.h"
#include "broker_process.h"
#include "hermod/client.h"
#include "run_command.h"
#include "temp_dir.h"

namespace hermod::test {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr milliseconds kWait = seconds(15);
const char* const kOpenssl = "/usr/bin/openssl";

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Runs openssl with `args`; fails the test with its stderr when it fails.
bool Openssl(std::vector<std::string> args) {
  args.insert(args.begin(), kOpenssl);
  Result<CommandResult> r = RunCommand(args);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  if (!r.ok()) return false;
  EXPECT_TRUE(r->exit.ok()) << r->err;
  return r->exit.ok();
}

// A CA and the certificates it signed, as PEM files in `dir`.
struct Pki {
  std::string ca;           // the CA's certificate
  std::string server_cert;  // CN=localhost, SAN localhost and 127.0.0.1
  std::string server_key;
  std::string client_cert;  // CN=<name>-client
  std::string client_key;
};

// Makes a CA named `name` and its server and client certificates (P-256
// keys: fast to make).
Pki MakePki(const TempDir& dir, const std::string& name) {
  Pki pki;
  const std::string p = dir.Join(name);
  pki.ca = p + "-ca.pem";
  const std::string ca_key = p + "-ca.key";
  const std::vector<std::string> ec = {"-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                                       "-nodes"};
  std::vector<std::string> args = {"req", "-x509"};
  args.insert(args.end(), ec.begin(), ec.end());
  args.insert(args.end(), {"-keyout", ca_key, "-out", pki.ca, "-days", "2", "-subj",
                           "/CN=hermod test CA " + name});
  if (!Openssl(args)) return pki;
  auto issue = [&](const std::string& who, const std::string& cn, const std::string& ext,
                   std::string* cert, std::string* key) {
    *cert = p + "-" + who + ".pem";
    *key = p + "-" + who + ".key";
    const std::string csr = p + "-" + who + ".csr";
    const std::string ext_file = p + "-" + who + ".ext";
    WriteFile(ext_file, ext);
    std::vector<std::string> req = {"req"};
    req.insert(req.end(), ec.begin(), ec.end());
    req.insert(req.end(), {"-keyout", *key, "-out", csr, "-subj", "/CN=" + cn});
    if (!Openssl(req)) return;
    Openssl({"x509", "-req", "-in", csr, "-CA", pki.ca, "-CAkey", ca_key, "-set_serial",
             who == "server" ? "2" : "3", "-days", "2", "-extfile", ext_file, "-out", *cert});
  };
  issue("server", "localhost",
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
        &pki.server_cert, &pki.server_key);
  issue("client", name + "-client", "extendedKeyUsage=clientAuth\n", &pki.client_cert,
        &pki.client_key);
  return pki;
}

class TlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    a_ = new Pki(MakePki(*dir_, "a"));
    b_ = new Pki(MakePki(*dir_, "b"));
  }
  static void TearDownTestSuite() {
    delete a_;
    delete b_;
    delete dir_;
  }

  // Starts hermodd with TLS from `pki` (its log in a file: log_has()).
  Status StartBroker(const Pki& pki, std::vector<std::string> extra = {}) {
    // The files the broker reads, copied so that a test may replace them.
    cert_ = data_.Join("server.pem");
    key_ = data_.Join("server.key");
    WriteFile(cert_, ReadFile(pki.server_cert));
    WriteFile(key_, ReadFile(pki.server_key));
    BrokerProcess::Options options;
    options.data_dir = data_.Join("data");
    options.stderr_path = data_.Join("hermodd.log");
    options.extra_args = {"--tls-cert", cert_, "--tls-key", key_};
    options.extra_args.insert(options.extra_args.end(), extra.begin(), extra.end());
    broker_ = std::make_unique<BrokerProcess>(options);
    return broker_->Start();
  }

  bool log_has(const std::string& text) const {
    return ReadFile(data_.Join("hermodd.log")).find(text) != std::string::npos;
  }

  static ClientOptions TlsOptions(const std::string& server, const Pki& trust) {
    ClientOptions options;
    options.server = server;
    options.tls_ca = trust.ca;
    options.reconnect = false;
    options.connect_timeout = seconds(10);
    return options;
  }

  // Publishes one message and receives it on a second client: both over TLS.
  static void PublishAndConsume(const ClientOptions& options, const std::string& queue) {
    Result<std::unique_ptr<Client>> publisher = Client::Connect(options);
    ASSERT_TRUE(publisher.ok()) << publisher.status().ToString();
    PublishResult sent = (*publisher)->Publish(queue, "over tls").get();
    ASSERT_TRUE(sent.status.ok()) << sent.status.ToString();

    Result<std::unique_ptr<Client>> consumer = Client::Connect(options);
    ASSERT_TRUE(consumer.ok()) << consumer.status().ToString();
    std::promise<std::string> got;
    auto got_future = got.get_future();
    bool once = false;
    Client* c = consumer->get();
    Result<SubscriptionId> sub = c->Subscribe(queue, SubscribeOptions{}, [&, c](const Delivery& d) {
      if (once) return;
      once = true;
      (void)c->Ack(d.subscription, d.seq);
      got.set_value(d.payload);
    });
    ASSERT_TRUE(sub.ok()) << sub.status().ToString();
    ASSERT_EQ(got_future.wait_for(kWait), std::future_status::ready);
    EXPECT_EQ(got_future.get(), "over tls");
    (*consumer)->Close();
  }

  CommandResult Cli(std::vector<std::string> args) {
    args.insert(args.begin(), {HERMOD_CLI_BIN, "--server", broker_->address()});
    CommandOptions options;
    options.unset_env = {"HERMOD_TLS",       "HERMOD_TLS_CA",          "HERMOD_TLS_CERT",
                         "HERMOD_TLS_KEY",   "HERMOD_TLS_SERVER_NAME", "HERMOD_TOKEN",
                         "HERMOD_TOKEN_FILE"};
    Result<CommandResult> r = RunCommand(args, options);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : CommandResult{};
  }

  static TempDir* dir_;
  static Pki* a_;
  static Pki* b_;
  TempDir data_;
  std::string cert_;
  std::string key_;
  std::unique_ptr<BrokerProcess> broker_;
};

TempDir* TlsTest::dir_ = nullptr;
Pki* TlsTest::a_ = nullptr;
Pki* TlsTest::b_ = nullptr;

TEST_F(TlsTest, TheRightCaConnectsPublishesAndConsumes) {
  ASSERT_TRUE(StartBroker(*a_).ok());
  EXPECT_TRUE(log_has("TLS on"));
  PublishAndConsume(TlsOptions(broker_->address(), *a_), "tls.q");
  // By name as well as by address: the certificate carries both.
  ClientOptions by_name = TlsOptions(broker_->address(), *a_);
  by_name.tls_server_name = "localhost";
  PublishAndConsume(by_name, "tls.named");
}

TEST_F(TlsTest, ManyAndLargeMessagesCrossIntact) {
  ASSERT_TRUE(StartBroker(*a_).ok());
  ClientOptions options = TlsOptions(broker_->address(), *a_);
  Result<std::unique_ptr<Client>> publisher = Client::Connect(options);
  ASSERT_TRUE(publisher.ok()) << publisher.status().ToString();
  // 2,000 small publishes in flight at once (many frames per loop turn,
  // many per record), then messages of 1 and 3 MiB (many records each).
  constexpr int kSmall = 2000;
  std::vector<std::future<PublishResult>> confirms;
  for (int i = 0; i < kSmall; ++i) {
    confirms.push_back((*publisher)->Publish("tls.bulk", "m" + std::to_string(i)));
  }
  const std::string one_mib(1 << 20, 'a');
  std::string three_mib(3 << 20, 'b');
  for (size_t i = 0; i < three_mib.size(); i += 4096)
    three_mib[i] = static_cast<char>('0' + i % 10);
  confirms.push_back((*publisher)->Publish("tls.bulk", one_mib));
  confirms.push_back((*publisher)->Publish("tls.bulk", three_mib));
  for (auto& c : confirms) ASSERT_TRUE(c.get().status.ok());

  Result<std::unique_ptr<Client>> consumer = Client::Connect(options);
  ASSERT_TRUE(consumer.ok()) << consumer.status().ToString();
  std::mutex mu;
  std::vector<std::string> got;
  std::promise<void> all;
  Client* c = consumer->get();
  SubscribeOptions sub_options;
  sub_options.credit = 1000;
  Result<SubscriptionId> sub = c->Subscribe("tls.bulk", sub_options, [&, c](const Delivery& d) {
    (void)c->Ack(d.subscription, d.seq);
    std::lock_guard<std::mutex> lock(mu);
    got.push_back(d.payload);
    if (got.size() == kSmall + 2) all.set_value();
  });
  ASSERT_TRUE(sub.ok()) << sub.status().ToString();
  ASSERT_EQ(all.get_future().wait_for(kWait), std::future_status::ready);
  std::lock_guard<std::mutex> lock(mu);
  for (int i = 0; i < kSmall; ++i) EXPECT_EQ(got[i], "m" + std::to_string(i));
  EXPECT_EQ(got[kSmall], one_mib);
  EXPECT_TRUE(got[kSmall + 1] == three_mib);
  (*consumer)->Close();
}

TEST_F(TlsTest, TheCliTalksTls) {
  ASSERT_TRUE(StartBroker(*a_).ok());
  CommandResult pub = Cli({"--tls-ca", a_->ca, "pub", "tls.cli", "hello over tls"});
  ASSERT_TRUE(pub.exit.ok()) << pub.err;
  CommandResult sub = Cli({"--tls-ca", a_->ca, "sub", "tls.cli", "--count", "1", "--raw"});
  ASSERT_TRUE(sub.exit.ok()) << sub.err;
  EXPECT_EQ(sub.out, "hello over tls");

  // The wrong CA: one line that says what is wrong.
  CommandResult wrong = Cli({"--tls-ca", b_->ca, "pub", "tls.cli", "x"});
  EXPECT_FALSE(wrong.exit.ok());
  EXPECT_NE(wrong.err.find("not signed by a CA this client trusts"), std::string::npos)
      << wrong.err;
}

TEST_F(TlsTest, AnotherCaIsRefusedWithAClearError) {
  ASSERT_TRUE(StartBroker(*a_).ok());
  Result<std::unique_ptr<Client>> client = Client::Connect(TlsOptions(broker_->address(), *b_));
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(client.status().code(), ErrorCode::kUnauthenticated) << client.status().ToString();
  EXPECT_NE(client.status().message().find("TLS handshake failed: the server's certificate is not "
                                           "signed by a CA this client trusts"),
            std::string::npos)
      << client.status().ToString();
}

TEST_F(TlsTest, AnotherServerNameIsRefusedWithAClearError) {
  ASSERT_TRUE(StartBroker(*a_).ok());
  ClientOptions options = TlsOptions(broker_->address(), *a_);
  options.tls_server_name = "mq.example.com";
  Result<std::unique_ptr<Client>> client = Client::Connect(options);
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(client.status().code(), ErrorCode::kUnauthenticated);
  EXPECT_NE(client.status().message().find("the server's certificate is not for 'mq.example.com'"),
            std::string::npos)
      << client.status().ToString();
}

TEST_F(TlsTest, PlaintextToTheTlsPortGetsAnErrorItCanRead) {
  ASSERT_TRUE(StartBroker(*a_).ok());
  ClientOptions options;
  options.server = broker_->address();
  options.reconnect = false;
  Result<std::unique_ptr<Client>> client = Client::Connect(options);
  ASSERT_FALSE(client.ok());
  EXPECT_NE(client.status().message().find("does not speak TLS, which this port requires"),
            std::string::npos)
      << client.status().ToString();
  // The broker stays up and serves TLS clients.
  PublishAndConsume(TlsOptions(broker_->address(), *a_), "tls.after.plain");
}

TEST_F(TlsTest, TlsToAPlaintextPortFailsWithAClearError) {
  BrokerProcess::Options plain;
  plain.data_dir = data_.Join("data");
  broker_ = std::make_unique<BrokerProcess>(plain);
  ASSERT_TRUE(broker_->Start().ok());
  Result<std::unique_ptr<Client>> client = Client::Connect(TlsOptions(broker_->address(), *a_));
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(client.status().code(), ErrorCode::kProtocolViolation) << client.status().ToString();
  EXPECT_NE(client.status().message().find("the server does not speak TLS"), std::string::npos)
      << client.status().ToString();
}

TEST_F(TlsTest, MutualTlsRefusesAClientWithoutACertificateOfItsCa) {
  ASSERT_TRUE(StartBroker(*a_, {"--tls-client-ca", a_->ca}).ok());
  EXPECT_TRUE(log_has("client certificates required"));

  // No certificate at all.
  Result<std::unique_ptr<Client>> none = Client::Connect(TlsOptions(broker_->address(), *a_));
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().code(), ErrorCode::kUnauthenticated) << none.status().ToString();
  EXPECT_NE(none.status().message().find("the server requires a client certificate"),
            std::string::npos)
      << none.status().ToString();

  // A certificate from another CA.
  ClientOptions other = TlsOptions(broker_->address(), *a_);
  other.tls_cert = b_->client_cert;
  other.tls_key = b_->client_key;
  Result<std::unique_ptr<Client>> refused = Client::Connect(other);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), ErrorCode::kUnauthenticated) << refused.status().ToString();
  EXPECT_NE(refused.status().message().find("the server refused this client's certificate"),
            std::string::npos)
      << refused.status().ToString();

  // A certificate its CA signed.
  ClientOptions good = TlsOptions(broker_->address(), *a_);
  good.tls_cert = a_->client_cert;
  good.tls_key = a_->client_key;
  PublishAndConsume(good, "tls.mutual");
  // The broker said why it refused the others.
  EXPECT_TRUE(PollUntil([&] { return log_has("the client sent no certificate"); }, kWait));
  EXPECT_TRUE(PollUntil([&] { return log_has("the client's certificate was refused"); }, kWait));
}

// With principals, a client certificate whose subject CN names a
// principal with `certificate = true` lets that principal in without a
// token, under its permissions; a principal without it is not let in so.
TEST_F(TlsTest, AClientCertificateNamesItsPrincipal) {
  const std::string principals = data_.Join("principals.toml");
  WriteFile(principals,
            "[[principal]]\nname = \"a-client\"\ncertificate = true\n"
            "publish = [\"tls.*\"]\nconsume = [\"tls.*\"]\n");
  ASSERT_TRUE(StartBroker(*a_, {"--tls-client-ca", a_->ca, "--principals-file", principals}).ok());
  ClientOptions good = TlsOptions(broker_->address(), *a_);
  good.tls_cert = a_->client_cert;
  good.tls_key = a_->client_key;
  PublishAndConsume(good, "tls.by-certificate");
  Result<std::unique_ptr<Client>> c = Client::Connect(good);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  PublishResult denied = (*c)->Publish("elsewhere", "no").get();
  EXPECT_EQ(denied.status.code(), ErrorCode::kPermissionDenied) << denied.status.ToString();
  (*c)->Close();
  EXPECT_TRUE(PollUntil([&] { return log_has("principal a-client by its certificate"); }, kWait));

  // The same certificate, but its principal does not take certificates.
  WriteFile(principals,
            "[[principal]]\nname = \"a-client\"\n"
            "token_hash = \"$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$"
            "Y2hlY2tjaGVja2NoZWNrY2hlY2tjaGVja2NoZWNrY2g\"\npublish = [\"tls.*\"]\n");
  broker_->Kill(SIGHUP);
  ASSERT_TRUE(PollUntil([&] { return log_has("principals from"); }, kWait));
  Result<std::unique_ptr<Client>> refused = Client::Connect(good);
  Status s = refused.ok() ? (*refused)->Publish("tls.x", "x").get().status : refused.status();
  EXPECT_EQ(s.code(), ErrorCode::kUnauthenticated) << s.ToString();
}

TEST_F(TlsTest, SighupLoadsANewCertificateForNewConnections) {
  ASSERT_TRUE(StartBroker(*a_).ok());
  Result<std::unique_ptr<Client>> kept = Client::Connect(TlsOptions(broker_->address(), *a_));
  ASSERT_TRUE(kept.ok()) << kept.status().ToString();

  // The certificate now comes from CA B.
  WriteFile(cert_, ReadFile(b_->server_cert));
  WriteFile(key_, ReadFile(b_->server_key));
  broker_->Kill(SIGHUP);
  ASSERT_TRUE(PollUntil([&] { return log_has("TLS certificate /CN=localhost read from"); }, kWait));
  EXPECT_TRUE(Client::Connect(TlsOptions(broker_->address(), *b_)).ok());
  Result<std::unique_ptr<Client>> old_ca = Client::Connect(TlsOptions(broker_->address(), *a_));
  ASSERT_FALSE(old_ca.ok());
  EXPECT_EQ(old_ca.status().code(), ErrorCode::kUnauthenticated);
  // The connection made before keeps its session.
  EXPECT_TRUE((*kept)->Publish("tls.reload", "still here").get().status.ok());

  // A key that is not the certificate's keeps the certificate in force.
  WriteFile(key_, ReadFile(a_->server_key));
  broker_->Kill(SIGHUP);
  ASSERT_TRUE(PollUntil([&] { return log_has("keeping the TLS certificate in force"); }, kWait));
  EXPECT_TRUE(log_has("is not the key of --tls-cert"));
  EXPECT_TRUE(Client::Connect(TlsOptions(broker_->address(), *b_)).ok());
  EXPECT_TRUE(broker_->running());
}

TEST_F(TlsTest, MetricsAndHealthzAreServedOverHttps) {
  ASSERT_TRUE(StartBroker(*a_, {"--metrics-listen", "127.0.0.1:0"}).ok());
  std::string metrics;
  for (const std::string& line : broker_->startup_lines()) {
    if (line.rfind("metrics on ", 0) == 0) metrics = line.substr(11);
  }
  ASSERT_FALSE(metrics.empty());
  auto curl = [](std::vector<std::string> args) {
    args.insert(args.begin(), {"/usr/bin/curl", "-sS", "--max-time", "10"});
    Result<CommandResult> r = RunCommand(args);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : CommandResult{};
  };
  CommandResult health = curl({"--cacert", a_->ca, "https://" + metrics + "/healthz"});
  EXPECT_TRUE(health.exit.ok()) << health.err;
  EXPECT_EQ(health.out, "ok\n");
  CommandResult scrape = curl({"--cacert", a_->ca, "https://" + metrics + "/metrics"});
  EXPECT_TRUE(scrape.exit.ok()) << scrape.err;
  EXPECT_NE(scrape.out.find("hermod_"), std::string::npos) << scrape.out;
  // Plain HTTP is told to use HTTPS; a client trusting another CA refuses.
  CommandResult plain = curl({"http://" + metrics + "/healthz"});
  EXPECT_EQ(plain.out, "this endpoint takes HTTPS only\n") << plain.err;
  CommandResult other = curl({"--cacert", b_->ca, "https://" + metrics + "/healthz"});
  EXPECT_FALSE(other.exit.ok());
}

TEST_F(TlsTest, UnusableCertificateFilesStopTheBrokerAtStart) {
  struct Case {
    std::vector<std::string> args;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {{"--tls-cert", data_.Join("missing.pem"), "--tls-key", a_->server_key},
       "cannot use --tls-cert"},
      {{"--tls-cert", a_->server_cert, "--tls-key", b_->server_key}, "is not the key of"},
      {{"--tls-cert", a_->server_cert}, "TLS needs both --tls-cert and --tls-key"},
      {{"--tls-client-ca", a_->ca}, "--tls-client-ca needs --tls-cert and --tls-key"},
  };
  for (const Case& c : cases) {
    BrokerProcess::Options options;
    options.data_dir = data_.Join("data");
    options.stderr_path = data_.Join("start.log");
    options.extra_args = c.args;
    BrokerProcess broker(options);
    EXPECT_FALSE(broker.Start().ok()) << c.expected;
    EXPECT_FALSE(broker.exit_status().ok());
    std::string log = ReadFile(options.stderr_path);
    EXPECT_NE(log.find(c.expected), std::string::npos) << log;
  }
}

}  // namespace
}  // namespace hermod::test
