// `archway check` end to end: the real binary against a real docker-registry holding
// buildah-made images: a multi-document file, stdin, a directory, exit codes, --json, the
// progress line only on a terminal (stderr on a pty), one request per distinct image,
// and the same node affinity as the webhook gives the same pod.
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "base/encoding.h"
#include "kube/resource.h"
#include "registry/client.h"
#include "registry/resolver.h"
#include "tests/fakeapi/fake_api_server.h"
#include "tests/support/fixtures.h"
#include "tests/support/process.h"
#include "tests/support/registry_server.h"
#include "webhook/admitter.h"

namespace archway {
namespace {

using Json = nlohmann::json;
using archway::testing::RegistryServer;
using archway::testing::TempDir;

struct CheckRun {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs archway with `args`, `input` on stdin; stderr on a pty when `tty`.
CheckRun Archway(std::vector<std::string> args, const std::string& input = "", bool tty = false) {
  TempDir dir("archway-check-run");
  archway::testing::WriteFile(dir.File("in"), input);
  int out_pipe[2], err_pipe[2] = {-1, -1};
  int master = -1, slave = -1;
  EXPECT_EQ(pipe(out_pipe), 0);
  if (tty) {
    EXPECT_EQ(openpty(&master, &slave, nullptr, nullptr, nullptr), 0);
  } else {
    EXPECT_EQ(pipe(err_pipe), 0);
  }
  args.insert(args.begin(), {ARCHWAY_BINARY, "check"});
  const pid_t pid = fork();
  if (pid == 0) {
    const int in = open(dir.File("in").c_str(), O_RDONLY);
    dup2(in, 0);
    dup2(out_pipe[1], 1);
    dup2(tty ? slave : err_pipe[1], 2);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(out_pipe[1]);
  if (tty) {
    close(slave);
  } else {
    close(err_pipe[1]);
  }
  const int err_fd = tty ? master : err_pipe[0];
  CheckRun run;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_fd, POLLIN, 0}};
  int open_fds = 2;
  while (open_fds > 0 && std::chrono::steady_clock::now() < deadline) {
    if (poll(fds, 2, 200) <= 0) continue;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buffer[4096];
      const ssize_t n = read(fds[i].fd, buffer, sizeof buffer);
      if (n <= 0) {  // EOF, or EIO on a pty whose other side closed
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
        continue;
      }
      (i == 0 ? run.out : run.err).append(buffer, static_cast<size_t>(n));
    }
  }
  if (open_fds > 0) kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  for (const auto& fd : fds) {
    if (fd.fd >= 0) close(fd.fd);
  }
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return run;
}

// The machine's own Docker config and registries.yaml must not leak in.
std::vector<std::string> Isolated(const TempDir& dir, std::vector<std::string> args) {
  args.insert(args.end(), {"--docker-config", dir.File("absent.json"), "--registries", dir.File("absent.yaml")});
  return args;
}

class CheckCliTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    registry_ = new RegistryServer();
    archway::testing::Buildah buildah;
    buildah.PushList(*registry_, "demo/multi:1", {"linux/amd64", "linux/arm64", "linux/arm/v7"});
    buildah.Push(buildah.Build("linux/amd64"), *registry_, "demo/amd-only:1");
    buildah.PushList(*registry_, "demo/agent:1.2", {"linux/amd64", "linux/arm64"});
  }
  static void TearDownTestSuite() {
    delete registry_;
    registry_ = nullptr;
  }
  std::string Ref(const std::string& repo_tag) const { return registry_->host() + "/" + repo_tag; }

  // A Deployment of multi, one of amd-only, a DaemonSet of agent + multi, a CronJob of
  // multi, a Service.
  std::string Manifest() const {
    return "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: shop}\nspec:\n  template:\n"
           "    spec:\n      containers:\n      - {name: web, image: " + Ref("demo/multi:1") + "}\n"
           "---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: legacy, namespace: shop}\nspec:\n"
           "  template:\n    spec:\n      containers:\n      - {name: app, image: " + Ref("demo/amd-only:1") + "}\n"
           "---\napiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: agent, namespace: kube-system}\nspec:\n"
           "  template:\n    spec:\n      initContainers:\n      - {name: init, image: " + Ref("demo/multi:1") +
           "}\n      containers:\n      - {name: agent, image: " + Ref("demo/agent:1.2") + "}\n"
           "---\napiVersion: batch/v1\nkind: CronJob\nmetadata: {name: nightly, namespace: shop}\nspec:\n"
           "  jobTemplate:\n    spec:\n      template:\n        spec:\n          containers:\n"
           "          - {name: job, image: " + Ref("demo/multi:1") + "}\n"
           "---\napiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop}\n";
  }

  static RegistryServer* registry_;
  TempDir dir_{"archway-check-test"};
};
RegistryServer* CheckCliTest::registry_ = nullptr;

TEST_F(CheckCliTest, TableOverAMultiDocumentFileAndExitCodes) {
  archway::testing::WriteFile(dir_.File("app.yaml"), Manifest());
  registry_->ResetRequests();
  const CheckRun run = Archway(Isolated(dir_, {"-f", dir_.File("app.yaml"), "--platforms", "linux/amd64,linux/arm64,linux/arm/v7"}));
  EXPECT_EQ(run.exit_code, 1) << run.out << run.err;
  EXPECT_NE(run.out.find("targets: linux/amd64, linux/arm64, linux/arm/v7 (--platforms)"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("Deployment/shop/web"), std::string::npos);
  EXPECT_NE(run.out.find("Deployment/shop/web          linux/amd64,linux/arm,linux/arm64  yes          yes          yes\n"),
            std::string::npos)
      << run.out;
  EXPECT_NE(run.out.find("Deployment/shop/legacy       linux/amd64                        yes          no           no\n"),
            std::string::npos)
      << run.out;
  EXPECT_NE(run.out.find("    " + Ref("demo/amd-only:1") + " has no linux/arm64, linux/arm/v7 (it is built for linux/amd64)"),
            std::string::npos)
      << run.out;
  EXPECT_NE(run.out.find("    " + Ref("demo/agent:1.2") + " has no linux/arm/v7"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("summary: 4 workloads in 1 file: 2 run on every target, 2 failing (--fail-on any); 3 images"),
            std::string::npos)
      << run.out;
  EXPECT_NE(run.out.find("1 other object ignored (v1/Service)"), std::string::npos) << run.out;
  EXPECT_NE(run.err.find("app.yaml: document 2 (line 10): Deployment/shop/legacy cannot run on linux/arm64, linux/arm/v7"),
            std::string::npos)
      << run.err;
  EXPECT_EQ(run.err.find("resolving images"), std::string::npos) << "no progress line when stderr is not a terminal";
  // One request per distinct image however many workloads name it (multi: three), two for
  // the single-platform image (its manifest, then its config for the platform).
  EXPECT_NE(run.out.find("; 3 images, 4 registry requests;"), std::string::npos) << run.out;
  EXPECT_EQ(registry_->CountRequests("GET", "/v2/demo/multi/.*"), 1) << registry_->DescribeRequests();

  EXPECT_EQ(Archway(Isolated(dir_, {"-f", dir_.File("app.yaml"), "--platforms", "linux/amd64"})).exit_code, 0);
  EXPECT_EQ(Archway(Isolated(dir_, {"-f", dir_.File("app.yaml"), "--platforms", "linux/arm64", "--fail-on", "missing"})).exit_code, 1);
  EXPECT_EQ(Archway(Isolated(dir_, {"-f", dir_.File("app.yaml"), "--platforms", "linux/arm64", "--fail-on", "none"})).exit_code, 0);
  const CheckRun usage = Archway(Isolated(dir_, {"-f", dir_.File("app.yaml"), "--platforms", "linux"}));
  EXPECT_EQ(usage.exit_code, 2);
  EXPECT_NE(usage.err.find("--platforms: platform \"linux\": expected os/arch[/variant]"), std::string::npos) << usage.err;
  EXPECT_EQ(Archway(Isolated(dir_, {})).exit_code, 2);
  EXPECT_EQ(Archway(Isolated(dir_, {"-f", dir_.File("app.yaml"), "--fail-on", "sometimes"})).exit_code, 2);
}

TEST_F(CheckCliTest, StdinJsonAndParseErrors) {
  const std::string input = Manifest() + "---\nkind: : broken\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: []}\n";
  const CheckRun run = Archway(Isolated(dir_, {"-f", "-", "--json", "--platforms", "linux/arm64"}), input, /*tty=*/true);
  EXPECT_EQ(run.exit_code, 2) << run.out << run.err;
  const Json report = Json::parse(run.out);
  EXPECT_EQ(report["schema"], "archway.dev/check/v1");
  EXPECT_EQ(report["exitCode"], 2);
  ASSERT_EQ(report["workloads"].size(), 5u);
  EXPECT_EQ(report["workloads"][1]["name"], "legacy");
  EXPECT_EQ(report["workloads"][1]["targets"][0]["runs"], "no");
  EXPECT_EQ(report["workloads"][2]["images"].size(), 2u);  // the init container's image too
  EXPECT_EQ(report["workloads"][4]["problem"], "the pod has no containers");
  ASSERT_EQ(report["problems"].size(), 1u);
  EXPECT_EQ(report["problems"][0]["source"]["document"], 6);
  EXPECT_EQ(report["problems"][0]["source"]["file"], "-");
  EXPECT_EQ(report["summary"]["images"], 3);
  EXPECT_EQ(run.err.find("resolving images"), std::string::npos) << "no progress line with --json: " << run.err;
  EXPECT_NE(run.err.find("<stdin>: document 6 (line 45): not YAML"), std::string::npos) << run.err;
}

TEST_F(CheckCliTest, ProgressLineOnlyOnATerminal) {
  archway::testing::WriteFile(dir_.File("app.yaml"), Manifest());
  const CheckRun tty = Archway(Isolated(dir_, {"-f", dir_.File("app.yaml")}), "", /*tty=*/true);
  EXPECT_NE(tty.err.find("resolving images: 0/3"), std::string::npos) << tty.err;
  EXPECT_NE(tty.err.find("resolving images: 3/3"), std::string::npos) << tty.err;
  const CheckRun piped = Archway(Isolated(dir_, {"-f", dir_.File("app.yaml")}));
  EXPECT_EQ(piped.err.find("resolving images"), std::string::npos) << piped.err;
  // Without targets: what each workload supports; the amd64-only one still has a platform.
  EXPECT_EQ(piped.exit_code, 0) << piped.out << piped.err;
  EXPECT_NE(piped.out.find("targets: none given"), std::string::npos) << piped.out;
}

TEST_F(CheckCliTest, UnresolvableImageIsReportedPerWorkload) {
  ASSERT_EQ(mkdir(dir_.File("d").c_str(), 0700), 0);
  archway::testing::WriteFile(dir_.File("d/a.yaml"), "apiVersion: v1\nkind: Pod\nmetadata: {name: gone}\nspec:\n"
                                                     "  containers:\n  - {name: c, image: " + Ref("demo/missing:1") + "}\n");
  const CheckRun run = Archway(Isolated(dir_, {"-f", dir_.File("d"), "--platforms", "linux/amd64"}));
  EXPECT_EQ(run.exit_code, 1) << run.out << run.err;
  EXPECT_NE(run.out.find("Pod/gone  ? (unresolved)  unknown"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("could not resolve " + Ref("demo/missing:1") + ": "), std::string::npos) << run.out;
  EXPECT_NE(run.err.find("Pod/gone cannot be checked on linux/amd64"), std::string::npos) << run.err;
}

// The affinity `check --show-affinity` shows for a Deployment's template is the one the
// webhook's admitter patches into a Pod of that template.
TEST_F(CheckCliTest, ShowAffinityIsTheWebhooksAffinity) {
  const std::string pod_spec = R"({"affinity":{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":)"
                               R"({"nodeSelectorTerms":[{"matchExpressions":[{"key":"zone","operator":"In","values":["a"]}]}]}}},)"
                               R"("containers":[{"name":"a","image":")" + Ref("demo/agent:1.2") + R"("},{"name":"b","image":")" +
                               Ref("demo/multi:1") + R"("}]})";
  const Json deployment = {{"apiVersion", "apps/v1"},
                           {"kind", "Deployment"},
                           {"metadata", {{"name", "web"}, {"namespace", "team"}}},
                           {"spec", {{"template", {{"spec", Json::parse(pod_spec)}}}}}};
  archway::testing::WriteFile(dir_.File("d.json"), deployment.dump());
  const CheckRun run = Archway(Isolated(dir_, {"-f", dir_.File("d.json"), "--show-affinity", "--json"}));
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  const Json check_view = Json::parse(run.out)["workloads"][0]["webhook"];
  ASSERT_EQ(check_view["result"], "mutated") << check_view.dump();

  registry::Client client{registry::ClientOptions{}};
  registry::Resolver resolver{client, registry::ResolverOptions{}};
  boost::asio::io_context io;
  auto work = boost::asio::make_work_guard(io);
  std::thread io_thread([&] { io.run(); });
  webhook::Admitter admitter(resolver, {}, {});
  const Json review = {{"apiVersion", "admission.k8s.io/v1"},
                       {"kind", "AdmissionReview"},
                       {"request",
                        {{"uid", "u"},
                         {"kind", {{"group", ""}, {"version", "v1"}, {"kind", "Pod"}}},
                         {"operation", "CREATE"},
                         {"namespace", "team"},
                         {"object", {{"metadata", {{"name", "p"}, {"namespace", "team"}}}, {"spec", Json::parse(pod_spec)}}}}}};
  std::mutex mu;
  std::condition_variable cv;
  std::optional<HttpResponse> answer;
  auto now = admitter.Admit(review.dump(), std::chrono::hours(1), io.get_executor(), [&](HttpResponse response) {
    std::lock_guard lock(mu);
    answer = std::move(response);
    cv.notify_all();
  });
  if (now) answer = *now;
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(20), [&] { return answer.has_value(); }));
  }
  work.reset();
  io.stop();
  io_thread.join();
  const Json body = Json::parse(answer->body);
  const Json patch = Json::parse(*Base64Decode(body["response"]["patch"].get<std::string>()));
  const Json pod = review["request"]["object"].patch(patch);
  EXPECT_EQ(check_view["nodeAffinity"], pod["spec"]["affinity"]["nodeAffinity"]) << check_view.dump() << "\n" << pod.dump();
  EXPECT_EQ(check_view["annotations"]["archway.dev/platforms"], pod["metadata"]["annotations"]["archway.dev/platforms"]);
}

Json Node(const std::string& name, const std::string& arch, bool ready, const std::string& variant = "") {
  Json labels = {{"kubernetes.io/os", "linux"}, {"kubernetes.io/arch", arch}};
  if (!variant.empty()) labels["archway.dev/arm-variant"] = variant;
  return {{"apiVersion", "v1"},
          {"kind", "Node"},
          {"metadata", {{"name", name}, {"labels", labels}}},
          {"status", {{"conditions", {{{"type", "Ready"}, {"status", ready ? "True" : "False"}}}}}}};
}

// --kubeconfig: the targets are the Ready nodes' platforms (a NotReady arm64 node is not
// one; a Pi's arm variant comes from the node labeler's label).
TEST_F(CheckCliTest, KubeconfigTargetsTheReadyNodes) {
  fakeapi::FakeApiServer api;
  ASSERT_TRUE(api.Start().ok());
  api.Put(kube::resources::kNodes, Node("amd-1", "amd64", true));
  api.Put(kube::resources::kNodes, Node("amd-2", "amd64", true));
  api.Put(kube::resources::kNodes, Node("pi-1", "arm", true, "v6"));
  api.Put(kube::resources::kNodes, Node("arm64-down", "arm64", false));
  archway::testing::WriteFile(dir_.File("kubeconfig"),
                              "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: " + api.url() +
                                  "\nusers:\n- name: u\n  user: {}\ncontexts:\n- name: c\n  context: {cluster: fake, "
                                  "user: u}\ncurrent-context: c\n");
  archway::testing::WriteFile(dir_.File("app.yaml"), Manifest());
  const CheckRun run = Archway(Isolated(dir_, {"-f", dir_.File("app.yaml"), "--kubeconfig", dir_.File("kubeconfig"), "--json"}));
  EXPECT_EQ(run.exit_code, 1) << run.out << run.err;
  const Json report = Json::parse(run.out);
  EXPECT_EQ(report["targets"]["source"], "cluster");
  EXPECT_EQ(report["targets"]["platforms"], Json({"linux/amd64", "linux/arm/v6"}));
  EXPECT_EQ(report["targets"]["readyNodes"], Json({{"linux/amd64", 2}, {"linux/arm/v6", 1}}));
  // multi is built for arm/v7: a v6 Pi cannot run it.
  EXPECT_EQ(report["workloads"][0]["targets"][1]["runs"], "no") << report["workloads"][0].dump();
}

}  // namespace
}  // namespace archway
