#include "cluster/etcd_json.h"

#include <gtest/gtest.h>

#include <string>

namespace hermod::cluster {
namespace {

// Answers below are what etcd 3.4's gateway sent to curl, with the header
// trimmed to its revision.

TEST(PrefixRangeEnd, IncrementsTheLastByteBelow0xff) {
  EXPECT_EQ(PrefixRangeEnd("a/"), "a0");
  EXPECT_EQ(PrefixRangeEnd(std::string("a\xff", 2)), "b");
  EXPECT_EQ(PrefixRangeEnd(""), std::string(1, '\0'));
  EXPECT_EQ(PrefixRangeEnd(std::string("\xff\xff", 2)), std::string(1, '\0'));
}

TEST(EtcdJson, DecodesARangeWithBase64AndStringNumbers) {
  Result<RangeResult> r = etcd_json::DecodeRange(
      R"({"header":{"revision":"7"},"kvs":[{"key":"Zm9v","create_revision":"2",)"
      R"("mod_revision":"5","version":"3","value":"AP8=","lease":"694d7a1c"}],"count":"1"})");
  ASSERT_FALSE(r.ok());  // "694d7a1c" is not a decimal lease: refused, not misread
  r = etcd_json::DecodeRange(
      R"({"header":{"revision":"7"},"kvs":[{"key":"Zm9v","create_revision":"2",)"
      R"("mod_revision":"5","version":"3","value":"AP8=","lease":"7587"}],"count":"1"})");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->revision, 7);
  ASSERT_EQ(r->kvs.size(), 1u);
  EXPECT_EQ(r->kvs[0].key, "foo");
  EXPECT_EQ(r->kvs[0].value, std::string("\0\xff", 2));
  EXPECT_EQ(r->kvs[0].create_revision, 2);
  EXPECT_EQ(r->kvs[0].mod_revision, 5);
  EXPECT_EQ(r->kvs[0].version, 3);
  EXPECT_EQ(r->kvs[0].lease_id, 7587);
}

TEST(EtcdJson, AMissingKeyIsAnEmptyRange) {
  Result<RangeResult> r = etcd_json::DecodeRange(R"({"header":{"revision":"2"}})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->revision, 2);
  EXPECT_TRUE(r->kvs.empty());
}

TEST(EtcdJson, DecodesAFailedTxnWithItsRangeResponse) {
  Result<TxnResult> r = etcd_json::DecodeTxn(
      R"({"header":{"revision":"2"},"responses":[{"response_range":{"header":{"revision":"2"},)"
      R"("kvs":[{"key":"Zm9v","create_revision":"2","mod_revision":"2","version":"1",)"
      R"("value":"YmFy"}],"count":"1"}}]})");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE(r->succeeded);
  ASSERT_EQ(r->responses.size(), 1u);
  EXPECT_EQ(r->responses[0].kind, TxnOp::Kind::kRange);
  ASSERT_EQ(r->responses[0].kvs.size(), 1u);
  EXPECT_EQ(r->responses[0].kvs[0].value, "bar");
}

TEST(EtcdJson, AKeepAliveWithoutTtlMeansTheLeaseIsGone) {
  Result<int64_t> r =
      etcd_json::DecodeKeepAlive(R"({"result":{"header":{"revision":"2"},"ID":"12345"}})"
                                 "\n",
                                 12345);
  EXPECT_TRUE(r.status().IsNotFound()) << r.status().ToString();
  r = etcd_json::DecodeKeepAlive(R"({"result":{"header":{},"ID":"12345","TTL":"3"}})", 12345);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, 3);
}

TEST(EtcdJson, MapsErrorAnswersToStatusCodes) {
  Status s =
      etcd_json::ErrorStatus(404, R"({"error":"etcdserver: requested lease not found","code":5})");
  EXPECT_TRUE(s.IsNotFound()) << s.ToString();
  EXPECT_NE(s.message().find("requested lease not found"), std::string::npos);
  s = etcd_json::ErrorStatus(503, R"({"error":"etcdserver: no leader","code":14})");
  EXPECT_TRUE(s.IsUnavailable());
  s = etcd_json::ErrorStatus(502, "Bad Gateway");
  EXPECT_TRUE(s.IsUnavailable());
}

TEST(EtcdJson, DecodesWatchEventsAndACompactedCancel) {
  Result<etcd_json::WatchMessage> m = etcd_json::DecodeWatchMessage(
      R"({"result":{"header":{"revision":"3"},"events":[{"kv":{"key":"Zm9v",)"
      R"("create_revision":"2","mod_revision":"2","version":"1","value":"YmFy"}},)"
      R"({"type":"DELETE","kv":{"key":"Zm9v","mod_revision":"3"}}]}})");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  ASSERT_EQ(m->events.size(), 2u);
  EXPECT_EQ(m->events[0].type, WatchEvent::Type::kPut);
  EXPECT_EQ(m->events[0].kv.value, "bar");
  EXPECT_EQ(m->events[1].type, WatchEvent::Type::kDelete);
  EXPECT_EQ(m->events[1].kv.mod_revision, 3);

  m = etcd_json::DecodeWatchMessage(
      R"({"result":{"header":{"raft_term":"2"},"canceled":true,"compact_revision":"3"}})");
  ASSERT_TRUE(m.ok());
  EXPECT_TRUE(m->canceled);
  EXPECT_EQ(m->compact_revision, 3);

  m = etcd_json::DecodeWatchMessage(R"({"error":{"grpc_code":14,"message":"no leader"}})");
  EXPECT_FALSE(m.ok());
  EXPECT_FALSE(etcd_json::DecodeWatchMessage("{not json").ok());
}

TEST(EtcdJson, EncodesTxnComparesAndOps) {
  std::string body =
      etcd_json::TxnRequest({Compare::CreateRevision("controller", Compare::Result::kEqual, 0)},
                            {TxnOp::Put("controller", "node-1", 42)}, {TxnOp::Get("controller")});
  EXPECT_EQ(body, R"({"compare":[{"create_revision":"0","key":"Y29udHJvbGxlcg==","result":"EQUAL",)"
                  R"("target":"CREATE"}],"failure":[{"request_range":{"key":"Y29udHJvbGxlcg=="}}],)"
                  R"("success":[{"request_put":{"key":"Y29udHJvbGxlcg==","lease":"42",)"
                  R"("value":"bm9kZS0x"}}]})");
}

}  // namespace
}  // namespace hermod::cluster
