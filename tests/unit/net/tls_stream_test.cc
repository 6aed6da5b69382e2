// TlsStream without sockets: a client and a server engine hand each other
// their output until both are idle. The handshake completes and data
// crosses both ways, in records larger than one read's space; mutual TLS
// gives the server the client certificate's CN (Connection::peer_subject);
// a wrong CA, a wrong name and a plaintext peer fail with their own words.
// Certificates are made with the openssl CLI in a temporary directory.
#include "net/tls_stream.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "net/tls_context.h"

namespace hermod::net {
namespace {

class TlsStreamTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    char dir[] = "/tmp/hermod-tls-stream.XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
    MakeCa("a");
    MakeCa("b");
    Issue("a", "server", "subjectAltName=DNS:broker.test,IP:127.0.0.1");
    Issue("a", "alice", "extendedKeyUsage=clientAuth");
  }
  static void TearDownTestSuite() { EXPECT_EQ(std::system(("rm -rf " + dir_).c_str()), 0); }

  static std::string Path(const std::string& name) { return dir_ + "/" + name; }

  static void MakeCa(const std::string& ca) {
    Run("openssl req -x509" + kEc + "-keyout " + Path(ca + "-ca.key") + " -out " +
        Path(ca + "-ca.pem") + " -days 2 -subj /CN=ca-" + ca);
  }
  // A certificate with CN `who` signed by `ca`: PATH(who.pem), PATH(who.key).
  static void Issue(const std::string& ca, const std::string& who, const std::string& ext) {
    std::ofstream(Path(who + ".ext")) << ext << "\n";
    Run("openssl req" + kEc + "-keyout " + Path(who + ".key") + " -out " + Path(who + ".csr") +
        " -subj /CN=" + who);
    Run("openssl x509 -req -in " + Path(who + ".csr") + " -CA " + Path(ca + "-ca.pem") +
        " -CAkey " + Path(ca + "-ca.key") + " -set_serial 7 -days 2 -extfile " +
        Path(who + ".ext") + " -out " + Path(who + ".pem"));
  }
  static void Run(const std::string& command) {
    ASSERT_EQ(std::system(("exec 2>/dev/null; " + command).c_str()), 0) << command;
  }

  static std::shared_ptr<const TlsContext> Server(const std::string& client_ca = "") {
    auto ctx = TlsContext::ForServer(Path("server.pem"), Path("server.key"), client_ca);
    EXPECT_TRUE(ctx.ok()) << ctx.status().ToString();
    return ctx.ok() ? *ctx : nullptr;
  }
  static std::shared_ptr<const TlsContext> Client(const std::string& ca, const std::string& who) {
    auto ctx = TlsContext::ForClient(Path(ca), who.empty() ? "" : Path(who + ".pem"),
                                     who.empty() ? "" : Path(who + ".key"));
    EXPECT_TRUE(ctx.ok()) << ctx.status().ToString();
    return ctx.ok() ? *ctx : nullptr;
  }

  // Moves output between the two until neither has any; returns the first
  // failure of either side (OK when none). Plaintext read goes to *got.
  static Status Pump(TlsStream& client, TlsStream& server, std::string* client_got,
                     std::string* server_got) {
    for (int round = 0; round < 100; ++round) {
      bool moved = false;
      for (auto [from, to, got] :
           {std::tuple{&client, &server, server_got}, std::tuple{&server, &client, client_got}}) {
        std::string wire;
        from->TakeOutput(&wire);
        if (wire.empty()) continue;
        moved = true;
        if (Status s = to->Feed(reinterpret_cast<const uint8_t*>(wire.data()), wire.size());
            !s.ok()) {
          return s;
        }
        uint8_t space[1000];  // smaller than a record: reads come in pieces
        for (;;) {
          Result<size_t> n = to->Read(space);
          if (!n.ok()) return n.status();
          if (*n == 0) break;
          got->append(reinterpret_cast<char*>(space), *n);
        }
      }
      if (!moved) return Status::OK();
    }
    return Status::Internal("the two sides never went quiet");
  }

  static inline const std::string kEc = " -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes ";
  static std::string dir_;
};

std::string TlsStreamTest::dir_;

TEST_F(TlsStreamTest, HandshakeThenDataBothWays) {
  auto server = TlsStream::Create(*Server(), "");
  auto client = TlsStream::Create(*Client("a-ca.pem", ""), "broker.test");
  ASSERT_TRUE(client->StartHandshake().ok());
  std::string client_got, server_got;
  ASSERT_TRUE(Pump(*client, *server, &client_got, &server_got).ok());
  ASSERT_TRUE(client->handshake_done());
  ASSERT_TRUE(server->handshake_done());
  EXPECT_EQ(client->Description().rfind("TLSv1.3 ", 0), 0u) << client->Description();
  EXPECT_EQ(server->peer_subject(), "");  // no client certificate asked for

  const std::string big(100000, 'x');  // several records
  ASSERT_TRUE(client->Write(big).ok());
  ASSERT_TRUE(server->Write("pong").ok());
  ASSERT_TRUE(Pump(*client, *server, &client_got, &server_got).ok());
  EXPECT_EQ(server_got, big);
  EXPECT_EQ(client_got, "pong");
}

TEST_F(TlsStreamTest, MutualTlsGivesTheServerTheClientsCommonName) {
  auto server = TlsStream::Create(*Server(Path("a-ca.pem")), "");
  auto client = TlsStream::Create(*Client("a-ca.pem", "alice"), "127.0.0.1");
  ASSERT_TRUE(client->StartHandshake().ok());
  std::string client_got, server_got;
  ASSERT_TRUE(Pump(*client, *server, &client_got, &server_got).ok());
  ASSERT_TRUE(server->handshake_done());
  EXPECT_EQ(server->peer_subject(), "alice");
  EXPECT_EQ(client->peer_subject(), "server");
}

TEST_F(TlsStreamTest, FailuresSayWhatIsWrong) {
  struct Case {
    std::string ca;
    std::string name;
    std::string expected;
  };
  for (const Case& c : std::vector<Case>{
           {"b-ca.pem", "broker.test", "not signed by a CA this client trusts"},
           {"a-ca.pem", "other.test", "the server's certificate is not for 'other.test'"},
       }) {
    auto server = TlsStream::Create(*Server(), "");
    auto client = TlsStream::Create(*Client(c.ca, ""), c.name);
    ASSERT_TRUE(client->StartHandshake().ok());
    std::string client_got, server_got;
    Status s = Pump(*client, *server, &client_got, &server_got);
    EXPECT_EQ(s.code(), ErrorCode::kUnauthenticated) << s.ToString();
    EXPECT_NE(s.message().find(c.expected), std::string::npos) << s.ToString();
  }
}

TEST_F(TlsStreamTest, APlaintextPeerIsToldApart) {
  auto server = TlsStream::Create(*Server(), "");
  const std::string hello = "\x20\x00\x00\x00 a hermod frame";
  Status s = server->Feed(reinterpret_cast<const uint8_t*>(hello.data()), hello.size());
  EXPECT_TRUE(server->plaintext_peer());
  EXPECT_NE(s.message().find("the client does not speak TLS"), std::string::npos);

  auto client = TlsStream::Create(*Client("a-ca.pem", ""), "broker.test");
  ASSERT_TRUE(client->StartHandshake().ok());
  s = client->Feed(reinterpret_cast<const uint8_t*>(hello.data()), hello.size());
  EXPECT_TRUE(client->plaintext_peer());
  EXPECT_NE(s.message().find("the server does not speak TLS"), std::string::npos);
}

TEST_F(TlsStreamTest, ContextsRefuseUnusableFiles) {
  auto missing = TlsContext::ForServer(Path("nope.pem"), Path("server.key"), "");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("cannot use --tls-cert"), std::string::npos);
  auto mismatch = TlsContext::ForServer(Path("server.pem"), Path("alice.key"), "");
  ASSERT_FALSE(mismatch.ok());
  EXPECT_NE(mismatch.status().message().find("is not the key of --tls-cert"), std::string::npos);
  auto half = TlsContext::ForClient(Path("a-ca.pem"), Path("alice.pem"), "");
  EXPECT_FALSE(half.ok());
}

}  // namespace
}  // namespace hermod::net
