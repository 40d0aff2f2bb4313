// The builder command is real: the `build` container of the generated Jobs runs with the
// local buildah against a real registry, then the operator sees the Jobs succeed and
// publishes the list, which skopeo reads back.
//
// What is replaced, and only that: the git clone init container (the context is a local
// directory standing in for /workspace/src; the Job's workingDir is mapped to it), and
// the test adds CONTAINERS_STORAGE_CONF (isolated vfs storage in a temp dir, fresh for
// every Job as a pod's emptyDir is), CONTAINERS_REGISTRIES_CONF (the loopback registry
// is plain HTTP) and ARCHWAY_TERMINATION_LOG (a file standing in for the container's
// /dev/termination-log) to the environment. The container's command (shell script +
// buildah argv) and its env are used verbatim. What the kubelet would do with the
// termination message, the test does: it puts the Job's pod, with that message as the
// `build` container's, into the fake API server, where the operator reads it.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <mutex>
#include <set>
#include <sstream>

#include <gtest/gtest.h>

#include "base/encoding.h"
#include "base/log.h"
#include "kube/resource.h"
#include "operator/base_images.h"
#include "operator/spec.h"
#include "tests/operator/operator_env.h"
#include "tests/support/fixtures.h"
#include "tests/support/process.h"

#include <thread>

namespace archway::optest {
namespace {

using std::chrono::seconds;

std::mutex g_log_mu;
std::vector<std::string> g_log;

void CaptureLogs() {
  log::SetSink([](log::Level level, std::string_view message, std::initializer_list<log::Field> fields) {
    std::ostringstream line;
    line << log::LevelName(level) << " " << message;
    for (const auto& [k, v] : fields) line << " " << k << "=" << v;
    std::lock_guard<std::mutex> lock(g_log_mu);
    g_log.push_back(line.str());
  });
}

Json Status(fakeapi::FakeApiServer& api) {
  auto obj = api.Peek(op::kMultiArchImageResource, "ci", "hello");
  return obj && obj->contains("status") ? (*obj)["status"] : Json::object();
}

// Runs the Job's build container here: its command and env verbatim, in `context_dir`,
// with storage of its own. Returns the result and what it wrote as termination message.
struct BuildRun {
  testing::CommandResult result;
  std::string termination_message;
};

BuildRun RunBuildContainer(const Json& job, const std::string& context_dir, const testing::TempDir& tmp) {
  static int serial = 0;
  const Json& container = job["spec"]["template"]["spec"]["containers"][0];
  EXPECT_EQ(container["workingDir"], "/workspace/src");  // contextDir "." = the clone's root
  const std::string run = tmp.File("run-" + std::to_string(++serial));
  testing::RunCommand({"mkdir", "-p", run});
  testing::WriteFile(run + "/storage.conf", "[storage]\ndriver = \"vfs\"\ngraphroot = \"" + run +
                                                "/root\"\nrunroot = \"" + run + "/runroot\"\n");
  std::vector<std::string> argv = {"env", "-i", "--chdir=" + context_dir, std::string("PATH=") + std::getenv("PATH"),
                                   "HOME=" + tmp.path(), "CONTAINERS_STORAGE_CONF=" + run + "/storage.conf",
                                   "CONTAINERS_REGISTRIES_CONF=" + tmp.File("registries.conf"),
                                   "ARCHWAY_TERMINATION_LOG=" + run + "/termination-log"};
  for (const auto& e : container["env"]) argv.push_back(e["name"].get<std::string>() + "=" + e["value"].get<std::string>());
  for (const auto& a : container["command"]) argv.push_back(a);
  BuildRun out{testing::RunCommand(argv, seconds(240)), ""};
  std::ifstream log(run + "/termination-log");
  if (log) out.termination_message.assign(std::istreambuf_iterator<char>(log), {});
  return out;
}

// The registry's test setup shared by the tests: storage and registries config for buildah.
void WriteBuildahConfig(const testing::TempDir& tmp, const std::string& host) {
  testing::WriteFile(tmp.File("registries.conf"),
                     "unqualified-search-registries = []\n[[registry]]\nlocation = \"" + host + "\"\ninsecure = true\n");
}

// What skopeo reads at `ref`: the raw manifest and its digest.
std::pair<Json, std::string> SkopeoRaw(const std::string& ref) {
  auto raw = testing::RunCommand({"skopeo", "inspect", "--raw", "--tls-verify=false", "docker://" + ref}, seconds(30));
  EXPECT_EQ(raw.exit_code, 0) << raw.output;
  if (raw.exit_code != 0) return {Json(), ""};
  return {Json::parse(raw.output), "sha256:" + Sha256Hex(raw.output)};
}

TEST(BuilderEndToEnd, GeneratedJobsBuildWithBuildahAndTheOperatorPublishesTheList) {
  CaptureLogs();
  testing::RegistryServer registry;
  fakeapi::FakeApiServer api;
  ASSERT_TRUE(api.Start().ok());
  const std::string host = registry.host();
  testing::BuildahManifestList(registry, "base/img:1", {"linux/amd64", "linux/arm64"});
  api.Put(kube::resources::kNodes, SampleNode("amd-01"));
  api.Put(kube::resources::kNodes, SampleNode("pi-01"));

  testing::TempDir tmp("archway-builder");
  WriteBuildahConfig(tmp, host);
  testing::RunCommand({"mkdir", "-p", tmp.File("src")});
  testing::WriteFile(tmp.File("src/Dockerfile"), "FROM " + host + "/base/img:1\nARG GREETING\nCOPY hello.txt /hello.txt\n");
  testing::WriteFile(tmp.File("src/hello.txt"), "hello from archway\n");

  const op::OperatorConfig config = LocalBuilderImages(registry);
  OperatorInstance op(api.ClusterConfig(), config);
  op.Start();
  ASSERT_TRUE(op.controller().WaitForSync(seconds(10)));

  auto kube = kube::NewHttpClient(api.ClusterConfig());
  ASSERT_TRUE(kube.ok());
  Json spec = {{"image", host + "/app/hello:1.0"},
               {"platforms", Json::array({"linux/amd64", "linux/arm64"})},
               {"build",
                {{"git", {{"url", "https://git.lan/hello.git"}, {"revision", "v1.0"}}},
                 {"contextDir", "."},
                 {"dockerfile", "Dockerfile"},
                 {"buildArgs", {{"GREETING", "hi"}}}}}};
  ASSERT_TRUE((*kube)->Create(op::kMultiArchImageResource, "ci", MultiArchImageObject("ci", "hello", spec)).ok());

  std::vector<Json> jobs;
  ASSERT_TRUE(WaitFor([&] {
    jobs = api.Objects(kube::resources::kJobs, "ci");
    return jobs.size() == 2;
  }, seconds(10)));
  ASSERT_TRUE(WaitFor([&] { return Status(api).value("phase", "") == "Building"; }, seconds(10)));

  // linux/arm64 first: the platform this amd64 machine cannot run, built without emulation
  // because the Dockerfile has no RUN.
  std::sort(jobs.begin(), jobs.end(), [](const Json& a, const Json& b) {
    return a["metadata"]["labels"]["archway.dev/platform"] > b["metadata"]["labels"]["archway.dev/platform"];
  });
  ASSERT_EQ(jobs[0]["metadata"]["labels"]["archway.dev/platform"], "linux-arm64");
  std::map<std::string, std::string> base_entries;  // "linux-arm64" -> the base list's entry
  const Json base_list = SkopeoRaw(host + "/base/img:1").first;
  for (const auto& m : base_list["manifests"])
    base_entries["linux-" + m["platform"]["architecture"].get<std::string>()] = m["digest"];
  std::map<std::string, std::string> child_digests;
  for (const auto& job : jobs) {
    BuildRun run = RunBuildContainer(job, tmp.File("src"), tmp);
    const auto& built = run.result;
    ASSERT_EQ(built.exit_code, 0) << job["metadata"]["name"] << "\n" << built.output;
    // The final stage's base, as buildah recorded it: the platform's manifest of the base list.
    auto report = op::ParseBaseReport(run.termination_message);
    ASSERT_TRUE(report.ok()) << report.error().message << "\n" << run.termination_message;
    ASSERT_EQ(report->bases.size(), 1u);
    EXPECT_EQ(report->bases[0].image, host + "/base/img:1");
    EXPECT_EQ(report->bases[0].digest, base_entries[job["metadata"]["labels"]["archway.dev/platform"]]);
    std::string child = job["metadata"]["annotations"]["archway.dev/image"];
    auto raw = testing::RunCommand({"skopeo", "inspect", "--raw", "--tls-verify=false", "docker://" + child}, seconds(30));
    ASSERT_EQ(raw.exit_code, 0) << raw.output;
    child_digests[job["metadata"]["labels"]["archway.dev/platform"]] = "sha256:" + Sha256Hex(raw.output);
    auto config_out = testing::RunCommand({"skopeo", "inspect", "--config", "--tls-verify=false", "docker://" + child}, seconds(30));
    ASSERT_EQ(config_out.exit_code, 0) << config_out.output;
    Json image_config = Json::parse(config_out.output);
    std::string slug = job["metadata"]["labels"]["archway.dev/platform"];
    EXPECT_EQ("linux-" + image_config["architecture"].get<std::string>(), slug);

    // The cluster would now report the Job complete.
    Json stored = *api.Peek(kube::resources::kJobs, "ci", job["metadata"]["name"]);
    stored["status"] = LoadTestdata("job-status-succeeded.json")["status"];
    api.Put(kube::resources::kJobs, stored);
  }

  ASSERT_TRUE(WaitFor([&] { return Status(api).value("phase", "") == "Ready"; }, seconds(30))) << Status(api).dump(2);
  auto raw = testing::RunCommand({"skopeo", "inspect", "--raw", "--tls-verify=false", "docker://" + host + "/app/hello:1.0"}, seconds(30));
  ASSERT_EQ(raw.exit_code, 0) << raw.output;
  Json list = Json::parse(raw.output);
  Json status = Status(api);
  EXPECT_EQ(status["digest"], "sha256:" + Sha256Hex(raw.output));
  ASSERT_EQ(list["manifests"].size(), 2u) << list.dump(2);
  for (const auto& m : list["manifests"]) {
    std::string slug = "linux-" + m["platform"]["architecture"].get<std::string>();
    EXPECT_EQ(m["digest"], child_digests[slug]) << slug;
  }
  for (const auto& p : status["platforms"]) EXPECT_EQ(p["state"], "Succeeded");

  // For the closing note: the operator's log and the final status.
  std::string excerpt;
  {
    std::lock_guard<std::mutex> lock(g_log_mu);
    for (const auto& line : g_log) excerpt += "  " + line + "\n";
  }
  std::printf("operator log:\n%sstatus:\n%s\nskopeo inspect --raw %s/app/hello:1.0:\n%s\n", excerpt.c_str(),
              status.dump(2).c_str(), host.c_str(), list.dump(2).c_str());
  op.Stop();
  log::SetSink(nullptr);
}

// Runs every Job's build as its pod would, then reports it to the fake API server as the
// kubelet and the Job controller would: the pod with its termination message, then the
// Job complete. Returns the child digests by platform slug.
std::map<std::string, std::string> BuildAll(fakeapi::FakeApiServer& api, const std::vector<Json>& jobs,
                                            const testing::TempDir& tmp) {
  std::map<std::string, std::string> children;
  for (const auto& job : jobs) {
    BuildRun run = RunBuildContainer(job, tmp.File("src"), tmp);
    EXPECT_EQ(run.result.exit_code, 0) << job["metadata"]["name"] << "\n" << run.result.output;
    EXPECT_LE(run.termination_message.size(), op::kTerminationMessageLimit);
    api.Put(kube::resources::kPods, SucceededBuildPod(job, run.termination_message));
    Json stored = *api.Peek(kube::resources::kJobs, "ci", job["metadata"]["name"]);
    stored["status"] = LoadTestdata("job-status-succeeded.json")["status"];
    api.Put(kube::resources::kJobs, stored);
    children[job["metadata"]["labels"]["archway.dev/platform"]] =
        SkopeoRaw(job["metadata"]["annotations"]["archway.dev/image"].get<std::string>()).second;
  }
  return children;
}

std::map<std::string, std::string> ListEntries(const Json& list) {
  std::map<std::string, std::string> out;
  for (const auto& m : list["manifests"]) out["linux/" + m["platform"]["architecture"].get<std::string>()] = m["digest"];
  return out;
}

std::map<std::string, std::string> RecordedBase(const Json& status) {
  std::map<std::string, std::string> out;
  if (!status.contains("baseImages") || status["baseImages"].empty()) return out;
  for (const auto& p : status["baseImages"][0]["platforms"]) out[p["platform"]] = p.value("digest", "");
  return out;
}

int CountApi(fakeapi::FakeApiServer& api, const std::string& method, const std::string& path_part) {
  int n = 0;
  for (const auto& r : api.Requests()) n += r.method == method && r.path.find(path_part) != std::string::npos;
  return n;
}

TEST(BuilderEndToEnd, ANewBaseDigestRebuildsEveryPlatformAndRepublishesTheList) {
  CaptureLogs();
  testing::RegistryServer registry;
  fakeapi::FakeApiServer api;
  ASSERT_TRUE(api.Start().ok());
  const std::string host = registry.host();
  const std::string base = host + "/base/img:1";
  testing::Buildah fixtures;
  fixtures.PushList(registry, "base/img:1", {"linux/amd64", "linux/arm64"});
  api.Put(kube::resources::kNodes, SampleNode("amd-01"));
  api.Put(kube::resources::kNodes, SampleNode("pi-01"));

  testing::TempDir tmp("archway-rebuild");
  WriteBuildahConfig(tmp, host);
  testing::RunCommand({"mkdir", "-p", tmp.File("src")});
  testing::WriteFile(tmp.File("src/Dockerfile"), "FROM " + base + "\nCOPY hello.txt /hello.txt\n");
  testing::WriteFile(tmp.File("src/hello.txt"), "hello from archway\n");

  // The images the Jobs would run are checked by the operator before it creates them.
  op::OperatorConfig config = LocalBuilderImages(registry);
  config.resync = seconds(1);
  auto op = std::make_unique<OperatorInstance>(api.ClusterConfig(), config);
  op->Start();
  ASSERT_TRUE(op->controller().WaitForSync(seconds(10)));
  auto kube = kube::NewHttpClient(api.ClusterConfig());
  ASSERT_TRUE(kube.ok());
  Json spec = {{"image", host + "/app/hello:2.0"},
               {"platforms", Json::array({"linux/amd64", "linux/arm64"})},
               {"build", {{"git", {{"url", "https://git.lan/hello.git"}, {"revision", "v2.0"}}}, {"followBaseImages", true}}}};
  ASSERT_TRUE((*kube)->Create(op::kMultiArchImageResource, "ci", MultiArchImageObject("ci", "hello", spec)).ok());

  // 1. Built from the base as it is; the builds report it; Ready.
  std::vector<Json> jobs;
  ASSERT_TRUE(WaitFor([&] { return (jobs = api.Objects(kube::resources::kJobs, "ci")).size() == 2; }, seconds(10)));
  BuildAll(api, jobs, tmp);
  ASSERT_TRUE(WaitFor([&] { return Status(api).value("phase", "") == "Ready"; }, seconds(30))) << Status(api).dump(2);
  const auto [first_base, first_base_digest] = SkopeoRaw(base);
  // An explicit capture: clang before 16 cannot capture a structured binding.
  ASSERT_TRUE(WaitFor([&, &base_list = first_base] { return RecordedBase(Status(api)) == ListEntries(base_list); }, seconds(10)))
      << Status(api).dump(2);
  const std::string first_list = Status(api)["digest"];
  EXPECT_EQ(Status(api)["baseImages"][0]["image"], base);
  EXPECT_EQ(Status(api)["baseImages"][0]["digest"], first_base_digest);
  std::set<std::string> first_jobs;
  for (const auto& j : jobs) first_jobs.insert(j["metadata"]["name"]);

  // 2. Resyncs with nothing changed: no writes, no Jobs, no pods read; at the registry only
  // HEADs (the base's tag and the target's), no manifest GET, nothing pushed.
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  api.ResetCounts();
  registry.ResetRequests();
  const int64_t before = op->controller().ReconcileCount();
  // Three more: one may have been under way at the reset, two whole ones came after it.
  ASSERT_TRUE(WaitFor([&] { return op->controller().ReconcileCount() >= before + 3; }, seconds(15)));
  EXPECT_EQ(api.WriteCount(), 0);
  EXPECT_EQ(CountApi(api, "POST", "/jobs"), 0);
  EXPECT_EQ(CountApi(api, "GET", "/pods"), 0);
  EXPECT_EQ(registry.CountRequests("GET", ".*"), 0) << registry.DescribeRequests();
  EXPECT_EQ(registry.CountRequests("PUT", ".*") + registry.CountRequests("POST", ".*") +
                registry.CountRequests("PATCH", ".*"), 0)
      << registry.DescribeRequests();
  EXPECT_GE(registry.CountRequests("HEAD", "/v2/base/img/manifests/1"), 2) << registry.DescribeRequests();
  EXPECT_EQ(Status(api)["digest"], first_list);

  // 3. A new base at the same tag: the next resync starts a run of every platform.
  fixtures.PushList(registry, "base/img:1", {"linux/amd64", "linux/arm64"});
  const auto [second_base, second_base_digest] = SkopeoRaw(base);
  ASSERT_NE(second_base_digest, first_base_digest);
  ASSERT_TRUE(WaitFor([&] {
    jobs = api.Objects(kube::resources::kJobs, "ci");
    return jobs.size() == 2 && !first_jobs.count(jobs[0]["metadata"]["name"]) && !first_jobs.count(jobs[1]["metadata"]["name"]);
  }, seconds(15))) << Status(api).dump(2);
  const std::string change_amd = "base " + base + " linux/amd64 changed " + ListEntries(first_base)["linux/amd64"] + " -> " +
                                 ListEntries(second_base)["linux/amd64"];
  ASSERT_TRUE(WaitFor([&] { return Status(api).value("lastBaseRebuild", Json::object()).value("message", "").find(change_amd) != std::string::npos; },
                      seconds(10)))
      << Status(api).dump(2);
  EXPECT_EQ(Status(api)["phase"], "Building");

  // 4. The operator restarts mid-rebuild: the same Job names, nothing created twice.
  op->Stop();
  op.reset();
  api.ResetCounts();
  op = std::make_unique<OperatorInstance>(api.ClusterConfig(), config);
  op->Start();
  ASSERT_TRUE(op->controller().WaitForSync(seconds(10)));
  ASSERT_TRUE(WaitFor([&] { return op->controller().ReconcileCount() >= 2; }, seconds(10)));
  EXPECT_EQ(CountApi(api, "POST", "/jobs"), 0);
  EXPECT_EQ(api.Objects(kube::resources::kJobs, "ci").size(), 2u);

  // 5. Built on the new base and published again: a new list, the new bases recorded.
  const auto children = BuildAll(api, jobs, tmp);
  ASSERT_TRUE(WaitFor([&] { return Status(api).value("phase", "") == "Ready" && Status(api).value("digest", "") != first_list; },
                      seconds(30)))
      << Status(api).dump(2);
  const auto [list, list_digest] = SkopeoRaw(host + "/app/hello:2.0");
  Json status = Status(api);
  EXPECT_EQ(status["digest"], list_digest);
  EXPECT_NE(list_digest, first_list);
  for (const auto& [platform, digest] : ListEntries(list)) EXPECT_EQ(digest, children.at("linux-" + platform.substr(6)));
  ASSERT_TRUE(WaitFor([&, &base_list = second_base] { return RecordedBase(Status(api)) == ListEntries(base_list); }, seconds(10)))
      << Status(api).dump(2);
  status = Status(api);
  EXPECT_EQ(status["baseImages"][0]["digest"], second_base_digest);

  std::vector<std::string> events;
  ASSERT_TRUE(WaitFor([&] {
    events = EventLines(api, "ci");
    return std::any_of(events.begin(), events.end(), [](const std::string& e) { return e.find("Republished") != std::string::npos; });
  }, seconds(10)));
  auto has = [&](const std::string& part) {
    return std::any_of(events.begin(), events.end(), [&](const std::string& e) { return e.find(part) != std::string::npos; });
  };
  EXPECT_TRUE(has("Normal BaseImageChanged: " + change_amd)) << ::testing::PrintToString(events);
  EXPECT_TRUE(has("; rebuilding all platforms")) << ::testing::PrintToString(events);
  EXPECT_TRUE(has("Normal Republished: rebuilt for " + change_amd)) << ::testing::PrintToString(events);
  EXPECT_TRUE(has("; now " + list_digest)) << ::testing::PrintToString(events);
  bool condition_ok = false;
  for (const auto& c : status["conditions"])
    condition_ok |= c["type"] == "BaseImageUnavailable" && c["status"] == "False";
  EXPECT_TRUE(condition_ok) << status.dump(2);

  // For the closing note: the Events, the operator's log and the final status.
  std::string transcript;
  for (const auto& e : events) transcript += "  " + e + "\n";
  std::string excerpt;
  {
    std::lock_guard<std::mutex> lock(g_log_mu);
    for (const auto& line : g_log)
      if (line.find("builder Job") != std::string::npos || line.find("publishing") != std::string::npos ||
          line.find("event") != std::string::npos)
        excerpt += "  " + line + "\n";
  }
  std::printf("base %s: %s -> %s\nEvents (kubectl get events -n ci):\n%soperator log:\n%sstatus:\n%s\n", base.c_str(),
              first_base_digest.c_str(), second_base_digest.c_str(), transcript.c_str(), excerpt.c_str(),
              status.dump(2).c_str());
  op->Stop();
  log::SetSink(nullptr);
}

}  // namespace
}  // namespace archway::optest
