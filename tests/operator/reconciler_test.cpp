// The operator against the fake API server and a real docker-registry.
#include <set>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include "base/encoding.h"
#include "kube/resource.h"
#include "kube/informer.h"
#include "kube/object.h"
#include "operator/job_builder.h"
#include "operator/reconciler.h"
#include "registry/reference.h"
#include "tests/operator/operator_env.h"
#include "tests/support/fixtures.h"
#include "tests/support/process.h"

namespace archway::optest {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
const auto& kMai = op::kMultiArchImageResource;
const auto& kJobs = kube::resources::kJobs;
const auto& kNodes = kube::resources::kNodes;

class OperatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(api_.Start().ok());
    auto client = kube::NewHttpClient(api_.ClusterConfig());
    ASSERT_TRUE(client.ok()) << client.error().message;
    kube_ = std::move(*client);
  }

  std::unique_ptr<OperatorInstance> StartOperator(milliseconds resync = std::chrono::minutes(10),
                                                  op::OperatorConfig config = {}) {
    config = LocalBuilderImages(registry_, config);
    config.resync = resync;
    auto instance = std::make_unique<OperatorInstance>(api_.ClusterConfig(), config);
    instance->Start();
    EXPECT_TRUE(instance->controller().WaitForSync(seconds(10)));
    return instance;
  }

  Json Status(const std::string& ns, const std::string& name) {
    auto obj = api_.Peek(kMai, ns, name);
    return obj && obj->contains("status") ? (*obj)["status"] : Json::object();
  }

  bool WaitForPhase(const std::string& ns, const std::string& name, const std::string& phase,
                    milliseconds timeout = seconds(20)) {
    return WaitFor([&] { return kube::StringAt(Status(ns, name), {"phase"}) == phase; }, timeout);
  }

  // (Read with kube/object.h: some tests store statuses of odd shapes.)
  std::string ReadyReason(const std::string& ns, const std::string& name) {
    auto ready = kube::ConditionOf(Json{{"status", Status(ns, name)}}, "Ready");
    return ready ? ready->reason : "";
  }

  std::string ReadyMessage(const std::string& ns, const std::string& name) {
    auto ready = kube::ConditionOf(Json{{"status", Status(ns, name)}}, "Ready");
    return ready ? ready->message : "";
  }

  void Apply(const std::string& ns, const std::string& name, const Json& spec) {
    Json object = MultiArchImageObject(ns, name, spec);
    auto created = kube_->Create(kMai, ns, object);
    ASSERT_TRUE(created.ok()) << created.error().message;
  }

  std::vector<Json> JobsOf(const std::string& name) {
    std::vector<Json> out;
    for (const auto& job : api_.Objects(kJobs))
      if (job["metadata"]["labels"].value("archway.dev/multiarchimage", "") == name) out.push_back(job);
    return out;
  }

  // The two single-platform sources SourcesSpec names.
  void PushSources() {
    PushTinyImage(registry_, "app/src", "amd64", "linux", "amd64");
    PushTinyImage(registry_, "app/src", "arm64", "linux", "arm64");
  }

  void MarkJob(const std::string& ns, const std::string& job_name, const std::string& sample) {
    auto job = api_.Peek(kJobs, ns, job_name);
    ASSERT_TRUE(job) << job_name;
    (*job)["status"] = LoadTestdata(sample)["status"];
    api_.Put(kJobs, *job);
  }

  fakeapi::FakeApiServer api_;
  testing::RegistryServer registry_;
  std::unique_ptr<kube::Client> kube_;
};

Json SourcesSpec(const std::string& host, const std::string& target) {
  return Json{{"image", host + "/" + target},
              {"platforms", Json::array({"linux/amd64", "linux/arm64"})},
              {"sources", Json::array({{{"image", host + "/app/src:amd64"}}, {{"image", host + "/app/src:arm64"}}})}};
}

Json BuildSpecJson(const std::string& host, const std::string& target, const std::string& emulation = "Never") {
  return Json{{"image", host + "/" + target},
              {"platforms", Json::array({"linux/amd64", "linux/arm64"})},
              {"build",
               {{"git", {{"url", "https://git.lan/web.git"}, {"revision", "v1"}}},
                {"emulation", emulation}}}};
}

// skopeo (an independent reader) reads the list the operator published.
Json SkopeoRaw(const std::string& reference, std::string* raw = nullptr) {
  auto r = testing::RunCommand({"skopeo", "inspect", "--raw", "--tls-verify=false", "docker://" + reference}, seconds(30));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  if (raw) *raw = r.output;
  return r.exit_code == 0 ? Json::parse(r.output) : Json();
}

TEST_F(OperatorTest, SourcesModeConvergesToReadyWithThePublishedDigest) {
  const std::string host = registry_.host();
  std::string amd = PushTinyImage(registry_, "app/src", "amd64", "linux", "amd64");
  std::string arm = PushTinyImage(registry_, "app/src", "arm64", "linux", "arm64");
  auto op = StartOperator();
  Apply("team", "web", SourcesSpec(host, "app/web:1.4"));
  ASSERT_TRUE(WaitForPhase("team", "web", "Ready")) << Status("team", "web").dump(2);

  Json status = Status("team", "web");
  std::string raw;
  Json list = SkopeoRaw(host + "/app/web:1.4", &raw);
  EXPECT_EQ(status["digest"], "sha256:" + Sha256Hex(raw));
  EXPECT_EQ(list["mediaType"], "application/vnd.oci.image.index.v1+json");
  std::map<std::string, std::string> entries;
  for (const auto& m : list["manifests"]) entries[m["platform"]["architecture"]] = m["digest"];
  EXPECT_EQ(entries["amd64"], amd);
  EXPECT_EQ(entries["arm64"], arm);
  EXPECT_EQ(status["observedGeneration"], 1);
  EXPECT_EQ(ReadyReason("team", "web"), "Published");
  ASSERT_EQ(status["platforms"].size(), 2u);
  EXPECT_EQ(status["platforms"][0]["platform"], "linux/amd64");
  EXPECT_EQ(status["platforms"][0]["digest"], amd);
  EXPECT_EQ(status["platforms"][0]["source"], host + "/app/src:amd64@" + amd);
  // The transition was recorded as an Event on the resource.
  EXPECT_TRUE(WaitFor([&] { return api_.Objects(kube::resources::kEvents, "team").size() +
                                       api_.Objects(kube::resources::kCoreEvents, "team").size() > 0; },
                      seconds(5)));
}

TEST_F(OperatorTest, PlatformMismatchAndMissingPlatformNameTheCause) {
  const std::string host = registry_.host();
  PushTinyImage(registry_, "app/src", "amd64", "linux", "amd64");
  PushTinyImage(registry_, "app/src", "ppc", "linux", "ppc64le");
  auto op = StartOperator();
  Json spec = SourcesSpec(host, "app/web:x");
  spec["sources"][1]["image"] = host + "/app/src:ppc";
  Apply("team", "mismatch", spec);
  ASSERT_TRUE(WaitForPhase("team", "mismatch", "Failed"));
  EXPECT_EQ(ReadyReason("team", "mismatch"), "PlatformMismatch");
  EXPECT_NE(ReadyMessage("team", "mismatch").find("linux/ppc64le"), std::string::npos) << ReadyMessage("team", "mismatch");

  Json one = SourcesSpec(host, "app/web:y");
  one["sources"].erase(1);
  Apply("team", "missing", one);
  ASSERT_TRUE(WaitForPhase("team", "missing", "Failed"));
  EXPECT_NE(ReadyMessage("team", "missing").find("no source provides linux/arm64"), std::string::npos);
}

TEST_F(OperatorTest, TwoHundredResourcesConvergeAndResyncMakesNoWrites) {
  const std::string host = registry_.host();
  PushSources();
  constexpr int kCount = 200;
  for (int i = 0; i < kCount; ++i) Apply("bulk", "img-" + std::to_string(i), SourcesSpec(host, "app/bulk:r" + std::to_string(i)));
  auto op = StartOperator(seconds(2));
  auto ready_count = [&] {
    int n = 0;
    for (const auto& obj : api_.Objects(kMai, "bulk")) n += obj.value("status", Json::object()).value("phase", "") == "Ready";
    return n;
  };
  ASSERT_TRUE(WaitFor([&] { return ready_count() == kCount; }, seconds(120))) << ready_count() << " of " << kCount;

  // Let in-flight work settle, then watch a full resync of every resource.
  std::this_thread::sleep_for(milliseconds(300));
  api_.ResetCounts();
  int64_t before = op->controller().ReconcileCount();
  double errors_before = op->metrics().ReconcileCount(false);
  ASSERT_TRUE(WaitFor([&] { return op->controller().ReconcileCount() >= before + kCount; }, seconds(30)));
  EXPECT_EQ(api_.WriteCount(), 0) << "a resync of converged resources must not write";
  EXPECT_EQ(op->metrics().ReconcileCount(false), errors_before);
  EXPECT_GE(op->metrics().ReconcileCount(true), kCount);
}

TEST_F(OperatorTest, MovedSourceTagAndOverwrittenTargetAreRepublishedOnResync) {
  const std::string host = registry_.host();
  PushSources();
  auto op = StartOperator(milliseconds(500));
  Apply("team", "web", SourcesSpec(host, "app/web:2"));
  ASSERT_TRUE(WaitForPhase("team", "web", "Ready"));
  const std::string first = Status("team", "web")["digest"];

  std::string moved = PushTinyImage(registry_, "app/src", "arm64", "linux", "arm64", "rebuilt");
  ASSERT_TRUE(WaitFor([&] { return Status("team", "web").value("digest", "") != first; }, seconds(10)));
  std::string raw;
  Json list = SkopeoRaw(host + "/app/web:2", &raw);
  EXPECT_EQ(Status("team", "web")["digest"], "sha256:" + Sha256Hex(raw));
  bool has_moved = false;
  for (const auto& m : list["manifests"]) has_moved = has_moved || m["digest"] == moved;
  EXPECT_TRUE(has_moved) << list.dump();
  const std::string second = Status("team", "web")["digest"];

  // Someone pushes another image over the target tag: the operator puts the list back.
  PushTinyImage(registry_, "app/web", "2", "linux", "amd64", "intruder");
  ASSERT_TRUE(WaitFor([&] {
    std::string now;
    SkopeoRaw(host + "/app/web:2", &now);
    return "sha256:" + Sha256Hex(now) == second;
  }, seconds(10)));
  EXPECT_EQ(Status("team", "web")["digest"], second);
}

TEST_F(OperatorTest, NoArmNodeWithEmulationNeverWaitsThenBuildsWhenOneJoins) {
  api_.Put(kNodes, SampleNode("amd-01"));
  auto op = StartOperator();
  Apply("team", "web", BuildSpecJson(registry_.host(), "app/web:3"));
  ASSERT_TRUE(WaitFor([&] { return ReadyReason("team", "web") == "NoBuilderNode"; }, seconds(10))) << Status("team", "web").dump(2);
  EXPECT_EQ(Status("team", "web")["phase"], "Building");
  EXPECT_NE(ReadyMessage("team", "web").find("kubernetes.io/arch=arm64"), std::string::npos) << ReadyMessage("team", "web");
  ASSERT_EQ(JobsOf("web").size(), 1u);  // amd64 only
  EXPECT_EQ(JobsOf("web")[0]["spec"]["template"]["spec"]["nodeSelector"]["kubernetes.io/arch"], "amd64");
  Json arm_entry = Status("team", "web")["platforms"][1];
  EXPECT_EQ(arm_entry["state"], "Waiting");

  api_.Put(kNodes, SampleNode("pi-01"));
  ASSERT_TRUE(WaitFor([&] { return JobsOf("web").size() == 2; }, seconds(10)));
  ASSERT_TRUE(WaitFor([&] { return ReadyReason("team", "web") == "Building"; }, seconds(10)));
}

TEST_F(OperatorTest, EmulationAllowSchedulesAnywhere) {
  api_.Put(kNodes, SampleNode("amd-01"));
  auto op = StartOperator();
  Apply("team", "web", BuildSpecJson(registry_.host(), "app/web:4", "Allow"));
  ASSERT_TRUE(WaitFor([&] { return JobsOf("web").size() == 2; }, seconds(10)));
  for (const auto& job : JobsOf("web")) {
    bool arm = job["metadata"]["labels"]["archway.dev/platform"] == "linux-arm64";
    EXPECT_EQ(job["spec"]["template"]["spec"]["nodeSelector"].contains("kubernetes.io/arch"), !arm);
    EXPECT_EQ(job["metadata"].value("annotations", Json::object()).value("archway.dev/emulated", ""), arm ? "true" : "");
  }
}

TEST_F(OperatorTest, FailedJobFailsTheRunWithItsReason) {
  api_.Put(kNodes, SampleNode("amd-01"));
  api_.Put(kNodes, SampleNode("pi-01"));
  auto op = StartOperator();
  Apply("team", "web", BuildSpecJson(registry_.host(), "app/web:5"));
  ASSERT_TRUE(WaitFor([&] { return JobsOf("web").size() == 2; }, seconds(10)));
  std::string arm_job;
  for (const auto& job : JobsOf("web"))
    if (job["metadata"]["labels"]["archway.dev/platform"] == "linux-arm64") arm_job = job["metadata"]["name"];
  MarkJob("team", arm_job, "job-status-failed.json");
  ASSERT_TRUE(WaitForPhase("team", "web", "Failed")) << Status("team", "web").dump(2);
  EXPECT_EQ(ReadyReason("team", "web"), "BuildFailed");
  std::string message = ReadyMessage("team", "web");
  EXPECT_NE(message.find("linux/arm64"), std::string::npos) << message;
  EXPECT_NE(message.find(arm_job), std::string::npos) << message;
  EXPECT_NE(message.find("BackoffLimitExceeded"), std::string::npos) << message;
  EXPECT_EQ(JobsOf("web").size(), 2u);  // a failed Job is not retried by recreating it
}

TEST_F(OperatorTest, NewGenerationStartsNewJobsAndDropsTheOldOnes) {
  api_.Put(kNodes, SampleNode("amd-01"));
  api_.Put(kNodes, SampleNode("pi-01"));
  auto op = StartOperator();
  Apply("team", "web", BuildSpecJson(registry_.host(), "app/web:6"));
  ASSERT_TRUE(WaitFor([&] { return JobsOf("web").size() == 2; }, seconds(10)));
  std::set<std::string> old_names;
  for (const auto& job : JobsOf("web")) old_names.insert(job["metadata"]["name"]);

  // The user's edit, read-modify-write as kubectl does it: again from a fresh read when
  // the operator's own status write got in between (409).
  std::optional<Result<Json>> updated;
  for (int attempt = 0; attempt < 20 && !(updated && updated->ok()); ++attempt) {
    auto object = api_.Peek(kMai, "team", "web");
    ASSERT_TRUE(object);
    (*object)["spec"]["build"]["git"]["revision"] = "v2";
    updated = kube_->Update(kMai, "team", *object);
  }
  ASSERT_TRUE(updated && updated->ok()) << (updated ? updated->error().message : "");
  EXPECT_EQ((**updated)["metadata"]["generation"], 2);
  ASSERT_TRUE(WaitFor([&] {
    auto jobs = JobsOf("web");
    if (jobs.size() != 2) return false;
    for (const auto& job : jobs)
      if (old_names.count(job["metadata"]["name"])) return false;
    return true;
  }, seconds(10)));
  ASSERT_TRUE(WaitFor([&] { return Status("team", "web").value("observedGeneration", 0) == 2; }, seconds(10)));
}

TEST_F(OperatorTest, RestartMidBuildCreatesNoDuplicateJobs) {
  api_.Put(kNodes, SampleNode("amd-01"));
  api_.Put(kNodes, SampleNode("pi-01"));
  auto first = StartOperator();
  Apply("team", "web", BuildSpecJson(registry_.host(), "app/web:7"));
  ASSERT_TRUE(WaitFor([&] { return JobsOf("web").size() == 2; }, seconds(10)));
  first->Stop();  // mid-build: Jobs exist, none finished
  first.reset();

  api_.ResetCounts();
  auto second = StartOperator();
  // A new controller counts from zero; its first reconcile may already be done by now.
  ASSERT_TRUE(WaitFor([&] { return second->controller().ReconcileCount() > 0; }, seconds(10)));
  // The restarted operator finds the same deterministic names and creates nothing.
  EXPECT_EQ(JobsOf("web").size(), 2u);
  int job_creates = 0;
  for (const auto& r : api_.Requests())
    if (r.method == "POST" && r.path.find("/jobs") != std::string::npos) ++job_creates;
  EXPECT_EQ(job_creates, 0);

  // The build carries on: finished Jobs move the resource on to publishing.
  for (const auto& job : JobsOf("web")) MarkJob("team", job["metadata"]["name"], "job-status-succeeded.json");
  // The children were never pushed (no real builder ran here), so publishing fails and says so.
  ASSERT_TRUE(WaitForPhase("team", "web", "Publishing")) << Status("team", "web").dump(2);
  EXPECT_EQ(ReadyReason("team", "web"), "PublishFailed");
  EXPECT_EQ(JobsOf("web").size(), 2u);
}

// The child tags a build of `target` would push, pushed here instead (no builder runs).
void PushChildren(testing::RegistryServer& registry, const std::string& repository, const std::string& tag,
                  const std::string& salt) {
  PushTinyImage(registry, repository, tag + "-linux-amd64", "linux", "amd64", salt);
  PushTinyImage(registry, repository, tag + "-linux-arm64", "linux", "arm64", salt);
}

std::string ConditionOf(const Json& status, const std::string& type, const std::string& field) {
  for (const auto& c : status.value("conditions", Json::array()))
    if (c.value("type", "") == type) return c.value(field, "");
  return "";
}

bool HasEventLine(fakeapi::FakeApiServer& api, const std::string& ns, const std::string& part) {
  for (const auto& e : EventLines(api, ns))
    if (e.find(part) != std::string::npos) return true;
  return false;
}

// The value of one series ("name{labels}") in a Prometheus text exposition, or -1.
double MetricValue(const std::string& exposition, const std::string& series) {
  std::istringstream lines(exposition);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
  }
  return -1;
}

TEST_F(OperatorTest, AListedBaseThatChangesRebuildsEveryPlatformAndRepublishes) {
  const std::string host = registry_.host();
  const std::string base = host + "/base/debian:12";
  testing::PushPlatformIndex(registry_, "base/debian", "12", {"linux/amd64", "linux/arm64"}, "v1");
  api_.Put(kNodes, SampleNode("amd-01"));
  api_.Put(kNodes, SampleNode("pi-01"));
  auto op = StartOperator(milliseconds(500));
  Json spec = BuildSpecJson(host, "app/web:9");
  spec["build"]["baseImages"] = Json::array({base});
  Apply("team", "web", spec);
  ASSERT_TRUE(WaitFor([&] { return JobsOf("web").size() == 2; }, seconds(10)));
  std::set<std::string> first_jobs;
  for (const auto& job : JobsOf("web")) first_jobs.insert(job["metadata"]["name"].get<std::string>());
  PushChildren(registry_, "app/web", "9", "v1");
  for (const auto& job : first_jobs) MarkJob("team", job, "job-status-succeeded.json");
  ASSERT_TRUE(WaitForPhase("team", "web", "Ready")) << Status("team", "web").dump(2);
  const std::string first_list = Status("team", "web")["digest"];
  EXPECT_EQ(MetricValue(op->metrics().Exposition(), "archway_base_image_rebuilds_total"), 0);
  EXPECT_GE(MetricValue(op->metrics().Exposition(), "archway_base_image_lookups_total{result=\"success\"}"), 1);
  Json recorded = Status("team", "web")["baseImages"];
  ASSERT_EQ(recorded.size(), 1u) << Status("team", "web").dump(2);
  EXPECT_EQ(recorded[0]["image"], base);
  EXPECT_EQ(recorded[0]["platforms"].size(), 2u);
  EXPECT_EQ(ConditionOf(Status("team", "web"), "BaseImageUnavailable", "status"), "False");

  testing::PushPlatformIndex(registry_, "base/debian", "12", {"linux/amd64", "linux/arm64"}, "v2");
  ASSERT_TRUE(WaitFor([&] {
    auto jobs = JobsOf("web");
    return jobs.size() == 2 && !first_jobs.count(jobs[0]["metadata"]["name"]) && !first_jobs.count(jobs[1]["metadata"]["name"]);
  }, seconds(10))) << Status("team", "web").dump(2);
  EXPECT_TRUE(WaitFor([&] { return HasEventLine(api_, "team", "Normal BaseImageChanged: base " + base + " linux/amd64 changed"); },
                      seconds(5)))
      << ::testing::PrintToString(EventLines(api_, "team"));
  PushChildren(registry_, "app/web", "9", "v2");
  for (const auto& job : JobsOf("web")) MarkJob("team", job["metadata"]["name"], "job-status-succeeded.json");
  ASSERT_TRUE(WaitFor([&] { return Status("team", "web").value("phase", "") == "Ready" &&
                                   Status("team", "web").value("digest", "") != first_list; }, seconds(15)))
      << Status("team", "web").dump(2);
  std::string raw;
  SkopeoRaw(host + "/app/web:9", &raw);
  EXPECT_EQ(Status("team", "web")["digest"], "sha256:" + Sha256Hex(raw));
  EXPECT_TRUE(WaitFor([&] { return HasEventLine(api_, "team", "Normal Republished: rebuilt for base " + base); }, seconds(5)))
      << ::testing::PrintToString(EventLines(api_, "team"));
  EXPECT_EQ(MetricValue(op->metrics().Exposition(), "archway_base_image_rebuilds_total"), 1);
  EXPECT_EQ(MetricValue(op->metrics().Exposition(), "archway_base_image_lookups_total{result=\"error\"}"), 0);
}

TEST_F(OperatorTest, AnUnresolvableBaseSetsTheConditionAndTheImageStaysReady) {
  const std::string host = registry_.host();
  api_.Put(kNodes, SampleNode("amd-01"));
  api_.Put(kNodes, SampleNode("pi-01"));
  auto op = StartOperator(milliseconds(500));
  Json spec = BuildSpecJson(host, "app/web:10");
  spec["build"]["baseImages"] = Json::array({host + "/base/never-pushed:1"});
  Apply("team", "web", spec);
  ASSERT_TRUE(WaitFor([&] { return JobsOf("web").size() == 2; }, seconds(10))) << "an unresolvable base holds no build back";
  PushChildren(registry_, "app/web", "10", "v1");
  for (const auto& job : JobsOf("web")) MarkJob("team", job["metadata"]["name"], "job-status-succeeded.json");
  ASSERT_TRUE(WaitForPhase("team", "web", "Ready")) << Status("team", "web").dump(2);
  Json status = Status("team", "web");
  EXPECT_EQ(ReadyReason("team", "web"), "Published");
  EXPECT_EQ(ConditionOf(status, "BaseImageUnavailable", "status"), "True") << status.dump(2);
  EXPECT_EQ(ConditionOf(status, "BaseImageUnavailable", "reason"), "ResolveFailed");
  EXPECT_NE(ConditionOf(status, "BaseImageUnavailable", "message").find("base " + host + "/base/never-pushed:1: "),
            std::string::npos)
      << status.dump(2);
  EXPECT_TRUE(WaitFor([&] { return HasEventLine(api_, "team", "Warning BaseImageUnavailable: base " + host); }, seconds(5)));
  // Resyncs keep it so without writing.
  std::this_thread::sleep_for(milliseconds(700));
  api_.ResetCounts();
  const int64_t before = op->controller().ReconcileCount();
  ASSERT_TRUE(WaitFor([&] { return op->controller().ReconcileCount() >= before + 2; }, seconds(10)));
  EXPECT_EQ(api_.WriteCount(), 0);
  EXPECT_EQ(ReadyReason("team", "web"), "Published");
  EXPECT_GE(MetricValue(op->metrics().Exposition(), "archway_base_image_lookups_total{result=\"error\"}"), 2);
  EXPECT_EQ(MetricValue(op->metrics().Exposition(), "archway_base_image_rebuilds_total"), 0);
}

TEST_F(OperatorTest, ANativePlatformWhoseBuilderImageHasNoBuildWaitsAndNamesTheImage) {
  const std::string host = registry_.host();
  api_.Put(kNodes, SampleNode("amd-01"));
  Json arm = SampleNode("pi-01");
  arm["metadata"]["name"] = "pi-2";
  arm["metadata"]["labels"]["kubernetes.io/arch"] = "arm";
  api_.Put(kNodes, arm);
  auto op = StartOperator();
  Json spec = BuildSpecJson(host, "app/web:11");
  spec["platforms"] = Json::array({"linux/amd64", "linux/arm/v7"});
  Apply("team", "web", spec);
  ASSERT_TRUE(WaitFor([&] { return ReadyReason("team", "web") == "BuilderImageUnavailable"; }, seconds(10)))
      << Status("team", "web").dump(2);
  EXPECT_NE(ReadyMessage("team", "web").find("linux/arm/v7: the Job's image " + host +
                                             "/builders/buildah:v1 is published for linux/amd64, linux/arm64, not "
                                             "linux/arm/v7"),
            std::string::npos)
      << ReadyMessage("team", "web");
  ASSERT_EQ(JobsOf("web").size(), 1u);  // amd64 builds
  EXPECT_EQ(Status("team", "web")["platforms"][1]["state"], "Waiting");
}

TEST_F(OperatorTest, AnEmulatedJobWhoseNodeCannotEmulateFailsWithWhatThePodSaid) {
  api_.Put(kNodes, SampleNode("amd-01"));
  auto op = StartOperator();
  Apply("team", "web", BuildSpecJson(registry_.host(), "app/web:12", "Allow"));
  ASSERT_TRUE(WaitFor([&] { return JobsOf("web").size() == 2; }, seconds(10)));
  Json arm_job;
  for (const auto& job : JobsOf("web"))
    if (job["metadata"]["labels"]["archway.dev/platform"] == "linux-arm64") arm_job = job;
  ASSERT_FALSE(arm_job.is_null());
  Json pod = LoadTestdata("pod-emulation-check-failed.json");
  pod["metadata"]["namespace"] = "team";
  pod["metadata"]["labels"]["job-name"] = arm_job["metadata"]["name"];
  api_.Put(kube::resources::kPods, pod);
  api_.ResetCounts();
  MarkJob("team", arm_job["metadata"]["name"], "job-status-failed.json");
  ASSERT_TRUE(WaitForPhase("team", "web", "Failed")) << Status("team", "web").dump(2);
  EXPECT_EQ(ReadyReason("team", "web"), "EmulationUnavailable");
  EXPECT_NE(ReadyMessage("team", "web").find("has no QEMU handler for linux/arm64"), std::string::npos)
      << ReadyMessage("team", "web");
  int pod_lists = 0;
  for (const auto& r : api_.Requests())
    pod_lists += r.verb == "list" && r.path.find("/pods") != std::string::npos &&
                 r.query.find("labelSelector=job-name%3D" + arm_job["metadata"]["name"].get<std::string>()) != std::string::npos;
  EXPECT_GE(pod_lists, 1);
}

Json DockerConfigSecret(const std::string& ns, const std::string& name, const std::string& host,
                        const std::string& type = "kubernetes.io/dockerconfigjson") {
  const std::string config = Json{{"auths", {{host, {{"auth", Base64Encode("ci:secret")}}}}}}.dump();
  return Json{{"apiVersion", "v1"}, {"kind", "Secret"}, {"metadata", {{"name", name}, {"namespace", ns}}},
              {"type", type}, {"data", {{".dockerconfigjson", Base64Encode(config)}}}};
}

TEST_F(OperatorTest, ThePushSecretComesFromAWatchOfPushSecretsOnlyAndALateOneIsUsed) {
  const std::string host = registry_.host();
  PushSources();
  auto op = StartOperator();
  Json spec = SourcesSpec(host, "app/web:s");
  spec["pushSecretRef"] = {{"name", "regcred"}};
  Apply("team", "web", spec);
  ASSERT_TRUE(WaitFor([&] { return ReadyReason("team", "web") == "PushSecretNotFound"; }, seconds(10)))
      << Status("team", "web").dump(2);
  EXPECT_NE(ReadyMessage("team", "web").find("no Secret regcred of type kubernetes.io/dockerconfigjson in namespace team"),
            std::string::npos) << ReadyMessage("team", "web");

  // A Secret of another type never reaches the operator's cache.
  api_.Put(kube::resources::kSecrets, DockerConfigSecret("team", "regcred", host, "Opaque"));
  std::this_thread::sleep_for(milliseconds(300));
  EXPECT_EQ(ReadyReason("team", "web"), "PushSecretNotFound");
  api_.Remove(kube::resources::kSecrets, "team", "regcred");
  api_.Put(kube::resources::kSecrets, DockerConfigSecret("team", "regcred", host));
  ASSERT_TRUE(WaitForPhase("team", "web", "Ready")) << Status("team", "web").dump(2);

  int secret_gets = 0, secret_watches = 0;
  for (const auto& r : api_.Requests()) {
    if (r.path.find("/secrets") == std::string::npos) continue;
    secret_gets += r.verb == "get";
    secret_watches += r.verb == "watch" && r.query.find("fieldSelector=type%3Dkubernetes.io%2Fdockerconfigjson") !=
                                               std::string::npos;
  }
  EXPECT_EQ(secret_gets, 0) << "reconciles read the push Secret from the cache";
  EXPECT_GE(secret_watches, 1);
}

TEST_F(OperatorTest, ObjectsOfOddShapesNeitherThrowNorStopTheController) {
  // Each of these made a throwing accessor (nlohmann's type_error) fire on the informer's
  // or a worker's thread before every read went through kube/object.h.
  Json node = SampleNode("pi-01");
  api_.Put(kNodes, node);
  const std::string host = registry_.host();
  PushSources();
  Json odd_status = MultiArchImageObject("team", "odd", BuildSpecJson(host, "app/odd:1"));
  odd_status["status"] = {{"conditions", "Ready"}, {"platforms", 5}, {"observedGeneration", "1"}, {"digest", 7}};
  api_.Put(kMai, odd_status);
  Json odd_spec = MultiArchImageObject("team", "odd-spec", Json{{"image", 5}, {"platforms", "linux/amd64"}});
  api_.Put(kMai, odd_spec);
  auto op = StartOperator();

  node["status"]["conditions"] = "Ready";  // an update: the Node handler compares old and new
  node["metadata"]["labels"]["kubernetes.io/arch"] = Json::array({"arm64"});
  node["spec"] = {{"unschedulable", "yes"}};
  api_.Put(kNodes, node);
  Json job = {{"apiVersion", "batch/v1"}, {"kind", "Job"},
              {"metadata", {{"name", "odd-job"}, {"namespace", "team"}, {"ownerReferences", "me"},
                            {"labels", {{"app.kubernetes.io/managed-by", "archway"}, {"archway.dev/multiarchimage", "odd"}}}}},
              {"status", {{"conditions", Json::array({"Complete"})}, {"active", "1"}}}};
  api_.Put(kJobs, job);

  ASSERT_TRUE(WaitFor([&] { return ReadyReason("team", "odd") == "NoBuilderNode"; }, seconds(10)))
      << Status("team", "odd").dump(2);
  EXPECT_EQ(Status("team", "odd")["phase"], "Building");  // the stored status was rewritten whole
  ASSERT_TRUE(WaitFor([&] { return ReadyReason("team", "odd-spec") == "InvalidSpec"; }, seconds(10)));
  Apply("team", "web", SourcesSpec(host, "app/web:odd"));
  ASSERT_TRUE(WaitForPhase("team", "web", "Ready")) << Status("team", "web").dump(2);
  EXPECT_TRUE(op->controller().Synced());
}

TEST_F(OperatorTest, CreateRacingAStaleCacheIsAnsweredAlreadyExistsAndTreatedAsDone) {
  // A Job cache that has not seen the Jobs yet (as right after a restart, or when a
  // previous leader created them a moment ago): the reconciler's creates get 409
  // AlreadyExists and it carries on without duplicating anything.
  api_.Put(kNodes, SampleNode("amd-01"));
  api_.Put(kNodes, SampleNode("pi-01"));
  Apply("team", "web", BuildSpecJson(registry_.host(), "app/web:8"));
  auto stored = api_.Peek(kMai, "team", "web");
  ASSERT_TRUE(stored);
  auto mai = op::ParseMultiArchImage(*stored);
  ASSERT_TRUE(mai.ok());
  for (const auto& p : mai->spec.platforms) api_.Put(kJobs, op::BuildJob(*mai, p, LocalBuilderImages(registry_), false));

  kube::Informer images(*kube_, kMai), jobs(*kube_, kJobs), nodes(*kube_, kNodes), secrets(*kube_, kube::resources::kSecrets);
  images.Start();
  nodes.Start();  // `jobs` is never started: its cache stays empty
  ASSERT_TRUE(images.WaitForSync(seconds(5)) && nodes.WaitForSync(seconds(5)));
  registry::Client registry_client(registry::ClientOptions{});
  registry::Resolver resolver(registry_client, registry::ResolverOptions{});
  op::Reconciler reconciler(op::ReconcilerDeps{.kube = kube_.get(), .images = &images, .jobs = &jobs, .nodes = &nodes,
                                               .secrets = &secrets, .registry = &registry_client, .resolver = &resolver,
                                               .events = nullptr, .metrics = nullptr,
                                               .config = LocalBuilderImages(registry_), .clock = {}});
  api_.ResetCounts();
  auto result = reconciler.Reconcile("team/web");
  ASSERT_TRUE(result.ok()) << result.error().message;
  int job_creates = 0;
  for (const auto& r : api_.Requests())
    if (r.method == "POST" && r.path.find("/jobs") != std::string::npos) ++job_creates;
  EXPECT_EQ(job_creates, 2);            // both tried...
  EXPECT_EQ(JobsOf("web").size(), 2u);  // ...and nothing was duplicated
  EXPECT_EQ(Status("team", "web")["phase"], "Building");
  images.Stop();
  nodes.Stop();
}

}  // namespace
}  // namespace archway::optest
