// The shared Node reader on Nodes as a k3s API server stores them, and on odd shapes.
#include "kube/node.h"

#include <gtest/gtest.h>

#include "tests/kube/test_util.h"

namespace archway::kube {
namespace {

TEST(NodeTest, ReadsLabelsReadinessAndCordon) {
  const Json list = testing::TestJson("nodes-list.json");
  NodeState pi = ReadNode(list["items"][1]);
  EXPECT_EQ(pi.name, "pi-01");
  EXPECT_EQ(pi.Label(kArchLabel), "arm64");
  EXPECT_EQ(pi.Label(kOsLabel), "linux");
  EXPECT_EQ(pi.Label("no/such"), "");
  EXPECT_TRUE(pi.ready);  // Ready is the last of four conditions
  EXPECT_FALSE(pi.unschedulable);

  Json cordoned = list["items"][1];
  cordoned["spec"]["unschedulable"] = true;
  EXPECT_TRUE(ReadNode(cordoned).unschedulable);
  EXPECT_NE(ReadNode(cordoned), pi);
  Json relabelled = list["items"][1];
  relabelled["metadata"]["labels"]["archway.dev/builder"] = "true";
  EXPECT_NE(ReadNode(relabelled), pi);
  Json heartbeat = list["items"][1];  // what changes every few seconds, and does not matter here
  heartbeat["metadata"]["resourceVersion"] = "999";
  heartbeat["status"]["conditions"][3]["lastHeartbeatTime"] = "2026-11-23T16:00:00Z";
  EXPECT_EQ(ReadNode(heartbeat), pi);
}

TEST(NodeTest, ANodeOfAnOddShapeIsNotReady) {
  for (const Json& node : {Json(), Json::object(), Json{{"status", {{"conditions", "Ready"}}}},
                           Json{{"status", {{"conditions", Json::array({{{"type", "Ready"}, {"status", true}}})}}}},
                           Json{{"spec", {{"unschedulable", "true"}}}, {"metadata", {{"labels", {{"a", 1}}}}}}}) {
    NodeState state = ReadNode(node);
    EXPECT_FALSE(state.ready) << node.dump();
    EXPECT_FALSE(state.unschedulable) << node.dump();
    EXPECT_TRUE(state.labels.empty()) << node.dump();
  }
  Json not_ready = {{"status", {{"conditions", Json::array({{{"type", "Ready"}, {"status", "Unknown"}}})}}}};
  EXPECT_FALSE(ReadNode(not_ready).ready);
}

}  // namespace
}  // namespace archway::kube
