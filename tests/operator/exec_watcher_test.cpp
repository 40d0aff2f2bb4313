// The exec-format-error watcher against the fake API server and a real docker-registry:
// Events created once per pod and container, the workload's Event deduplicated across
// its replicas, a lying list's digest marked suspect in the Resolver, a crash of an image
// built for the node left alone, and what the Pod cache keeps.
#include <gtest/gtest.h>

#include <iostream>

#include "kube/client.h"
#include "kube/events.h"
#include "kube/object.h"
#include "kube/resource.h"
#include "operator/exec_watcher.h"
#include "operator/metrics.h"
#include "registry/client.h"
#include "registry/resolver.h"
#include "tests/fakeapi/fake_api_server.h"
#include "tests/operator/operator_env.h"
#include "tests/support/fixtures.h"
#include "tests/support/registry_server.h"

namespace archway::optest {
namespace {

using std::chrono::seconds;
const auto& kPods = kube::resources::kPods;
const auto& kNodes = kube::resources::kNodes;
const auto& kEvents = kube::resources::kEvents;
const auto& kReplicaSets = kube::resources::kReplicaSets;

// runc 1.1 with terminationMessagePolicy FallbackToLogsOnError (the words in the status):
// the shape of testdata/exec-format-error/runc-1.1-fallback-to-logs.json.
Json StatedStatus(const std::string& container, const std::string& image, const std::string& image_id,
                  int restarts) {
  return Json{{"name", container},
              {"image", image},
              {"imageID", image_id},
              {"ready", false},
              {"restartCount", restarts},
              {"state",
               {{"waiting",
                 {{"reason", "CrashLoopBackOff"},
                  {"message", "back-off 20s restarting failed container=" + container}}}}},
              {"lastState",
               {{"terminated",
                 {{"exitCode", 1},
                  {"reason", "Error"},
                  {"message", "exec /app: exec format error\n"},
                  {"startedAt", "2025-01-01T00:00:00Z"},
                  {"finishedAt", "2025-01-01T00:00:00Z"}}}}}};
}

// runc 1.2 with the default policy: exit 255, no words.
Json CrashedStatus(const std::string& container, const std::string& image, const std::string& image_id) {
  return Json{{"name", container},
              {"image", image},
              {"imageID", image_id},
              {"ready", false},
              {"restartCount", 2},
              {"state", {{"waiting", {{"reason", "CrashLoopBackOff"}, {"message", "back-off 10s"}}}}},
              {"lastState", {{"terminated", {{"exitCode", 255}, {"reason", "Error"}}}}}};
}

Json PodObject(const std::string& ns, const std::string& name, const std::string& node, const std::string& image,
               const Json& owner = nullptr) {
  Json pod = {{"apiVersion", "v1"},
              {"kind", "Pod"},
              {"metadata", {{"name", name}, {"namespace", ns}}},
              {"spec", {{"nodeName", node}, {"containers", Json::array({{{"name", "app"}, {"image", image}}})}}}};
  if (!owner.is_null()) pod["metadata"]["ownerReferences"] = Json::array({owner});
  return pod;
}

class ExecWatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(api_.Start().ok());
    auto client = kube::NewHttpClient(api_.ClusterConfig());
    ASSERT_TRUE(client.ok()) << client.error().message;
    kube_ = std::move(*client);
    api_.Put(kNodes, SampleNode("pi-01"));   // arm64
    api_.Put(kNodes, SampleNode("amd-01"));  // amd64
    events_ = std::make_unique<kube::EventRecorder>(*kube_, kube::EventSource{"archway.dev/operator", "test"});
  }

  void StartWatcher() {
    op::ExecWatcherOptions options;
    options.min_backoff = std::chrono::milliseconds(20);
    options.max_backoff = std::chrono::milliseconds(200);
    watcher_ = std::make_unique<op::ExecFormatWatcher>(*kube_, resolver_, events_.get(), &metrics_, nullptr, options);
    watcher_->Start();
    ASSERT_TRUE(watcher_->WaitForSync(seconds(10)));
  }

  // Creates the pod, then sets its status as the kubelet would (a separate write).
  Json CreateFailing(Json pod, const Json& status) {
    auto created = kube_->Create(kPods, pod["metadata"]["namespace"], pod);
    EXPECT_TRUE(created.ok()) << created.error().message;
    Json object = created.ok() ? *created : pod;
    object["status"] = {{"phase", "Running"}, {"containerStatuses", Json::array({status})}};
    return api_.Put(kPods, object);
  }

  std::vector<Json> EventsAbout(const std::string& kind, const std::string& name, const std::string& reason) {
    std::vector<Json> out;
    for (const Json& event : api_.Objects(kEvents)) {
      if (kube::StringAt(event, {"regarding", "kind"}) == kind &&
          kube::StringAt(event, {"regarding", "name"}) == name && kube::StringAt(event, {"reason"}) == reason)
        out.push_back(event);
    }
    return out;
  }

  std::string Ref(const std::string& repo, const std::string& tag) { return registry_.host() + "/" + repo + ":" + tag; }
  std::string Id(const std::string& repo, const std::string& digest) {
    return registry_.host() + "/" + repo + "@" + digest;
  }

  fakeapi::FakeApiServer api_;
  std::unique_ptr<kube::Client> kube_;
  testing::RegistryServer registry_;
  registry::Client registry_client_{registry::ClientOptions{}};
  registry::Resolver resolver_{registry_client_, registry::ResolverOptions{}};
  std::unique_ptr<kube::EventRecorder> events_;
  op::Metrics metrics_;
  std::unique_ptr<op::ExecFormatWatcher> watcher_;
};

TEST_F(ExecWatcherTest, WrongPlatformReportedOncePerPodAndContainer) {
  const std::string digest = testing::PushPlatformIndex(registry_, "team/web", "v1", {"linux/amd64"});
  StartWatcher();
  Json pod = CreateFailing(PodObject("shop", "web-1", "pi-01", Ref("team/web", "v1")),
                           StatedStatus("app", Ref("team/web", "v1"), Id("team/web", digest), 1));

  // Reported() counts a report once all of it is done (the Event, then the metric).
  ASSERT_TRUE(WaitFor([&] { return watcher_->Reported() == 1; }, seconds(10)));
  ASSERT_FALSE(EventsAbout("Pod", "web-1", "ExecFormatError").empty());
  const Json event = EventsAbout("Pod", "web-1", "ExecFormatError").front();
  std::cout << "the Event (issue 18's closing evidence):\n" << event.dump(2) << "\n";
  EXPECT_EQ(kube::StringAt(event, {"type"}), "Warning");
  EXPECT_EQ(kube::StringAt(event, {"regarding", "uid"}), kube::UidOf(pod));
  const std::string note = kube::StringAt(event, {"note"}).value_or("");
  // The note names the image, its platforms, the node and its arch, and what to do.
  EXPECT_NE(note.find("team/web"), std::string::npos) << note;
  EXPECT_NE(note.find("linux/amd64"), std::string::npos) << note;
  EXPECT_NE(note.find("pi-01"), std::string::npos) << note;
  EXPECT_NE(note.find("arm64"), std::string::npos) << note;
  EXPECT_EQ(metrics_.ExecFormatErrorCount("shop", "stated"), 1);
  EXPECT_NE(metrics_.Exposition().find("archway_exec_format_errors_total{"), std::string::npos);

  // The kubelet keeps restarting it: each status write is seen, nothing is reported again.
  for (int restarts = 2; restarts <= 4; ++restarts) {
    auto current = api_.Peek(kPods, "shop", "web-1");
    ASSERT_TRUE(current);
    (*current)["status"]["containerStatuses"][0]["restartCount"] = restarts;
    api_.Put(kPods, *current);
  }
  // A second pod is its own report (the barrier: once it is reported, web-1's updates were handled).
  CreateFailing(PodObject("shop", "web-2", "pi-01", Ref("team/web", "v1")),
                StatedStatus("app", Ref("team/web", "v1"), Id("team/web", digest), 1));
  ASSERT_TRUE(WaitFor([&] { return watcher_->Reported() == 2; }, seconds(10)));
  EXPECT_EQ(EventsAbout("Pod", "web-1", "ExecFormatError").size(), 1u);
  EXPECT_EQ(EventsAbout("Pod", "web-2", "ExecFormatError").size(), 1u);
  EXPECT_EQ(metrics_.ExecFormatErrorCount("shop", "stated"), 2);
  // Not a lying list: nothing is suspect.
  EXPECT_TRUE(resolver_.Suspect(digest).empty());
  EXPECT_TRUE(EventsAbout("Pod", "web-1", "SuspectImageList").empty());
}

TEST_F(ExecWatcherTest, LyingListMarksTheDigestSuspect) {
  // The list says arm64 runs; the arm64 node says otherwise.
  const std::string digest = testing::PushPlatformIndex(registry_, "team/liar", "v1", {"linux/amd64", "linux/arm64"});
  StartWatcher();
  CreateFailing(PodObject("shop", "liar-1", "pi-01", Ref("team/liar", "v1")),
                StatedStatus("app", Ref("team/liar", "v1"), Id("team/liar", digest), 1));

  ASSERT_TRUE(WaitFor([&] { return !EventsAbout("Pod", "liar-1", "SuspectImageList").empty(); }, seconds(10)));
  EXPECT_EQ(EventsAbout("Pod", "liar-1", "ExecFormatError").size(), 1u);
  const std::string note = kube::StringAt(EventsAbout("Pod", "liar-1", "SuspectImageList").front(), {"note"}).value_or("");
  EXPECT_NE(note.find(digest), std::string::npos) << note;
  const auto suspect = resolver_.Suspect(digest);
  ASSERT_EQ(suspect.size(), 1u);
  EXPECT_EQ(suspect[0].architecture, "arm64");
  EXPECT_NE(metrics_.Exposition().find("archway_suspect_image_platforms_total 1"), std::string::npos);

  // A second pod of the same digest on an arm64 node: its own ExecFormatError, but the
  // digest's suspect Event is not repeated.
  CreateFailing(PodObject("shop", "liar-2", "pi-01", Ref("team/liar", "v1")),
                StatedStatus("app", Ref("team/liar", "v1"), Id("team/liar", digest), 1));
  ASSERT_TRUE(WaitFor([&] { return watcher_->Reported() == 2; }, seconds(10)));
  EXPECT_EQ(EventsAbout("Pod", "liar-2", "ExecFormatError").size(), 1u);
  EXPECT_TRUE(EventsAbout("Pod", "liar-2", "SuspectImageList").empty());
}

TEST_F(ExecWatcherTest, DeploymentEventDeduplicatedAcrossReplicas) {
  const std::string digest = testing::PushPlatformIndex(registry_, "team/api", "v2", {"linux/amd64"});
  const Json deployment_ref = {{"apiVersion", "apps/v1"}, {"kind", "Deployment"}, {"name", "api"},
                               {"uid", "d0d0d0d0-0000-4000-8000-000000000001"}, {"controller", true},
                               {"blockOwnerDeletion", true}};
  Json rs = {{"apiVersion", "apps/v1"},
             {"kind", "ReplicaSet"},
             {"metadata",
              {{"name", "api-7d9f8"}, {"namespace", "shop"}, {"ownerReferences", Json::array({deployment_ref})}}},
             {"spec", {{"replicas", 3}}}};
  Json stored_rs = api_.Put(kReplicaSets, rs);
  const Json rs_ref = {{"apiVersion", "apps/v1"}, {"kind", "ReplicaSet"}, {"name", "api-7d9f8"},
                       {"uid", kube::UidOf(stored_rs)}, {"controller", true}, {"blockOwnerDeletion", true}};
  StartWatcher();
  for (const char* name : {"api-7d9f8-a", "api-7d9f8-b", "api-7d9f8-c"}) {
    CreateFailing(PodObject("shop", name, "pi-01", Ref("team/api", "v2"), rs_ref),
                  StatedStatus("app", Ref("team/api", "v2"), Id("team/api", digest), 1));
  }
  ASSERT_TRUE(WaitFor([&] { return watcher_->Reported() == 3; }, seconds(10)));
  for (const char* name : {"api-7d9f8-a", "api-7d9f8-b", "api-7d9f8-c"})
    EXPECT_EQ(EventsAbout("Pod", name, "ExecFormatError").size(), 1u) << name;
  const auto on_deployment = EventsAbout("Deployment", "api", "ExecFormatError");
  ASSERT_EQ(on_deployment.size(), 1u);
  EXPECT_EQ(kube::StringAt(on_deployment[0], {"regarding", "uid"}), "d0d0d0d0-0000-4000-8000-000000000001");
  EXPECT_TRUE(EventsAbout("ReplicaSet", "api-7d9f8", "ExecFormatError").empty());
}

TEST_F(ExecWatcherTest, DaemonSetOwnerGetsTheEvent) {
  const std::string digest = testing::PushPlatformIndex(registry_, "team/agent", "v1", {"linux/arm64"});
  const Json ds_ref = {{"apiVersion", "apps/v1"}, {"kind", "DaemonSet"}, {"name", "agent"},
                       {"uid", "d5d5d5d5-0000-4000-8000-000000000001"}, {"controller", true}};
  StartWatcher();
  CreateFailing(PodObject("kube-system", "agent-x", "amd-01", Ref("team/agent", "v1"), ds_ref),
                StatedStatus("app", Ref("team/agent", "v1"), Id("team/agent", digest), 1));
  ASSERT_TRUE(WaitFor([&] { return !EventsAbout("DaemonSet", "agent", "ExecFormatError").empty(); }, seconds(10)));
  EXPECT_EQ(EventsAbout("Pod", "agent-x", "ExecFormatError").size(), 1u);
}

TEST_F(ExecWatcherTest, CrashOfAnImageBuiltForTheNodeIsNotReported) {
  const std::string good = testing::PushPlatformIndex(registry_, "team/ok", "v1", {"linux/arm64"});
  const std::string wrong = testing::PushPlatformIndex(registry_, "team/amd", "v1", {"linux/amd64"});
  StartWatcher();
  // Exit 255 and no words: an ordinary crash of an arm64 image on an arm64 node...
  CreateFailing(PodObject("shop", "crash-ok", "pi-01", Ref("team/ok", "v1")),
                CrashedStatus("app", Ref("team/ok", "v1"), Id("team/ok", good)));
  // ...but the same shape of an amd64-only image on it is an exec format error.
  CreateFailing(PodObject("shop", "crash-amd", "pi-01", Ref("team/amd", "v1")),
                CrashedStatus("app", Ref("team/amd", "v1"), Id("team/amd", wrong)));
  ASSERT_TRUE(WaitFor([&] { return watcher_->Reported() == 1; }, seconds(10)));
  EXPECT_EQ(EventsAbout("Pod", "crash-amd", "ExecFormatError").size(), 1u);
  EXPECT_TRUE(EventsAbout("Pod", "crash-ok", "ExecFormatError").empty());
  EXPECT_EQ(metrics_.ExecFormatErrorCount("shop", "crashed"), 1);
}

TEST_F(ExecWatcherTest, RefusedEventIsRetriedAndPodCacheIsTrimmed) {
  const std::string digest = testing::PushPlatformIndex(registry_, "team/web", "v3", {"linux/amd64"});
  // Healthy pods: the cache keeps their key only.
  for (int i = 0; i < 20; ++i) {
    Json pod = PodObject("shop", "healthy-" + std::to_string(i), "amd-01", Ref("team/web", "v3"));
    pod["metadata"]["labels"] = {{"app", "web"}};
    pod["metadata"]["annotations"] = {{"big", std::string(4096, 'x')}};
    ASSERT_TRUE(kube_->Create(kPods, "shop", pod).ok());
  }
  StartWatcher();
  EXPECT_EQ(watcher_->CachedPods(), 20u);
  api_.FailNext("/apis/events.k8s.io/v1/namespaces/shop/events", 2, 503);
  CreateFailing(PodObject("shop", "web-9", "pi-01", Ref("team/web", "v3")),
                StatedStatus("app", Ref("team/web", "v3"), Id("team/web", digest), 1));
  ASSERT_TRUE(WaitFor([&] { return !EventsAbout("Pod", "web-9", "ExecFormatError").empty(); }, seconds(10)));
  EXPECT_TRUE(WaitFor([&] { return watcher_->Reported() == 1; }, seconds(5)));
  EXPECT_EQ(EventsAbout("Pod", "web-9", "ExecFormatError").size(), 1u);
  EXPECT_EQ(watcher_->CachedPods(), 21u);
}

}  // namespace
}  // namespace archway::optest
