#include "cluster/etcd_client.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace hermod::cluster {
namespace {

// The calls themselves run against a real etcd in tests/cluster/.

TEST(EtcdClient, ParsesACommaSeparatedEndpointList) {
  Result<std::vector<std::string>> endpoints =
      EtcdClient::ParseEndpoints("http://10.0.0.1:2379, http://10.0.0.2:2379/,,");
  ASSERT_TRUE(endpoints.ok()) << endpoints.status().ToString();
  EXPECT_EQ(*endpoints, (std::vector<std::string>{"http://10.0.0.1:2379", "http://10.0.0.2:2379"}));
}

TEST(EtcdClient, RefusesAnEmptyListAndEndpointsThatAreNotHttp) {
  EXPECT_EQ(EtcdClient::ParseEndpoints("").status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(EtcdClient::ParseEndpoints(" , ").status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(EtcdClient::ParseEndpoints("10.0.0.1:2379").status().code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(EtcdClient::ParseEndpoints("https://10.0.0.1:2379").status().code(),
            ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace hermod::cluster
