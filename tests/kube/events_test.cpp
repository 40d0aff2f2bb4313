#include "kube/events.h"

#include <gtest/gtest.h>

#include "tests/kube/test_util.h"

namespace archway::kube {
namespace {

using EventsTest = testing::FakeApiTest;

TEST_F(EventsTest, RecordsEventsK8sIoV1ShapedLikeTheRealOne) {
  auto mai = client().Create(testing::kMultiArchImages, "samples", testing::TestJson("requests/mai-web.json"));
  ASSERT_TRUE(mai.ok());
  EventRecorder recorder(client(), {"archway.dev/operator", "archway-operator-7c9d5b6f4-x2x9k"});
  ASSERT_TRUE(recorder.Record(*mai, "Normal", "Published", "Publish", "published registry.lan:5000/web:1.4").ok());
  auto events = server().Objects(resources::kEvents, "samples");
  ASSERT_EQ(events.size(), 1u);
  const Json sample = testing::TestJson("event-events-k8s-io-v1.json");
  const Json& e = events[0];
  for (const char* field : {"reportingController", "reportingInstance", "action", "reason", "type"})
    EXPECT_EQ(e[field], sample[field]) << field;
  EXPECT_EQ(e["regarding"]["kind"], "MultiArchImage");
  EXPECT_EQ(e["regarding"]["uid"], (*mai)["metadata"]["uid"]);
  EXPECT_EQ(e["regarding"]["apiVersion"], "archway.dev/v1alpha1");
  EXPECT_EQ(e["eventTime"].get<std::string>().size(), sample["eventTime"].get<std::string>().size());
  EXPECT_EQ(e["metadata"]["name"].get<std::string>().rfind("web.", 0), 0u);
}

TEST_F(EventsTest, FallsBackToCoreV1WhenEventsK8sIoIsNotServed) {
  Json node = {{"apiVersion", "v1"}, {"kind", "Node"}, {"metadata", {{"name", "pi-01"}, {"uid", "u-1"}}}};
  EventRecorder recorder(client(), {"archway.dev/webhook", "pod-1"});
  server().FailNextWithBody("/apis/events.k8s.io", 1, 404, "404 page not found");
  ASSERT_TRUE(recorder.Warning(node, "NoCommonPlatform", "no node can run web").ok());
  ASSERT_TRUE(recorder.Warning(node, "NoCommonPlatform", "again").ok());
  auto core = server().Objects(resources::kCoreEvents, "default");
  ASSERT_EQ(core.size(), 2u);  // remembered: the second went to core v1 directly
  EXPECT_EQ(core[0]["involvedObject"]["name"], "pi-01");
  EXPECT_EQ(core[0]["type"], "Warning");
  EXPECT_TRUE(server().Objects(resources::kEvents).empty());
}

TEST_F(EventsTest, ALongNoteIsCutOnACharacterBoundary) {
  Json node = {{"apiVersion", "v1"}, {"kind", "Node"}, {"metadata", {{"name", "pi-01"}, {"uid", "u-1"}}}};
  EventRecorder recorder(client(), {"archway.dev/operator", "pod-1"});
  // 1020 ASCII bytes, then two-byte characters: byte 1021 falls inside one.
  const std::string note = std::string(1020, 'a') + "\xc3\xa9\xc3\xa9\xc3\xa9";
  ASSERT_TRUE(recorder.Warning(node, "ExecFormatError", note).ok());
  auto events = server().Objects(resources::kEvents, "default");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["note"], std::string(1020, 'a') + "...");
}

}  // namespace
}  // namespace archway::kube
