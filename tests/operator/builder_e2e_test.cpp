// The builder command is real: the `build` container of the generated Jobs runs with the
// local buildah against a real registry, then the operator sees the Jobs succeed and
// publishes the list, which skopeo reads back.
//
// What is replaced, and only that: the git clone init container (the context is a local
// directory standing in for /workspace/src; the Job's workingDir is mapped to it), and
// the test adds CONTAINERS_STORAGE_CONF (isolated vfs storage in a temp dir) and
// CONTAINERS_REGISTRIES_CONF (the loopback registry is plain HTTP) to the environment.
// The container's command (shell script + buildah argv) and its env are used verbatim.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <sstream>

#include <gtest/gtest.h>

#include "base/encoding.h"
#include "base/log.h"
#include "kube/resource.h"
#include "operator/spec.h"
#include "tests/operator/operator_env.h"
#include "tests/support/fixtures.h"
#include "tests/support/process.h"

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

// Runs the Job's build container here: its command and env verbatim, in `context_dir`.
testing::CommandResult RunBuildContainer(const Json& job, const std::string& context_dir, const testing::TempDir& tmp) {
  const Json& container = job["spec"]["template"]["spec"]["containers"][0];
  EXPECT_EQ(container["workingDir"], "/workspace/src");  // contextDir "." = the clone's root
  std::vector<std::string> argv = {"env", "-i", "--chdir=" + context_dir, std::string("PATH=") + std::getenv("PATH"),
                                   "HOME=" + tmp.path(), "CONTAINERS_STORAGE_CONF=" + tmp.File("storage.conf"),
                                   "CONTAINERS_REGISTRIES_CONF=" + tmp.File("registries.conf")};
  for (const auto& e : container["env"]) argv.push_back(e["name"].get<std::string>() + "=" + e["value"].get<std::string>());
  for (const auto& a : container["command"]) argv.push_back(a);
  return testing::RunCommand(argv, seconds(240));
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
  testing::WriteFile(tmp.File("storage.conf"), "[storage]\ndriver = \"vfs\"\ngraphroot = \"" + tmp.File("root") +
                                                   "\"\nrunroot = \"" + tmp.File("runroot") + "\"\n");
  testing::WriteFile(tmp.File("registries.conf"),
                     "unqualified-search-registries = []\n[[registry]]\nlocation = \"" + host + "\"\ninsecure = true\n");
  testing::RunCommand({"mkdir", "-p", tmp.File("src")});
  testing::WriteFile(tmp.File("src/Dockerfile"), "FROM " + host + "/base/img:1\nARG GREETING\nCOPY hello.txt /hello.txt\n");
  testing::WriteFile(tmp.File("src/hello.txt"), "hello from archway\n");

  op::OperatorConfig config;
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
  std::map<std::string, std::string> child_digests;
  for (const auto& job : jobs) {
    auto built = RunBuildContainer(job, tmp.File("src"), tmp);
    ASSERT_EQ(built.exit_code, 0) << job["metadata"]["name"] << "\n" << built.output;
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

}  // namespace
}  // namespace archway::optest
