// bench/gate-burst.sh runs this: a burst of pods created at once against a cold cache and
// a slow registry, `archway webhook` (the binary, as a process) with onMiss gate and, in
// the same run, with onMiss admit (what archway did before gates) as the peer.
//
//   - a real docker-registry on loopback with IMAGES images (half single-platform images:
//     manifest + config blob to read; half image indexes: the index alone), behind a TCP
//     relay holding every registry answer DELAY_MS (the delaying proxy);
//   - the in-process fake API server (it enforces the real API's rules for gated pods);
//   - PODS AdmissionReviews POSTed at once over TLS, one connection each (as the
//     apiserver's webhook client opens them under a burst), each pod with one of the
//     images in turn; each answer's patch is applied and the pod created in the API, as
//     the apiserver would; then the pods are watched until none carries archway's gate.
//
// Prints, per mode: pods admitted pinned inline / gated / unpinned (the target is 0
// unpinned), registry requests as the registry logged them (target: one manifest GET per
// image and one config GET per single-platform image, shared by every pod), admission
// latency p50/p99/max next to the budget, create -> ungated p50/p99, pods released with
// the wrong affinity (target 0), and the webhook's RSS (VmRSS, VmHWM).
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <chrono>
#include <cstdio>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <nlohmann/json.hpp>

#include "base/encoding.h"
#include "kube/client.h"
#include "kube/resource.h"
#include "tests/fakeapi/fake_api_server.h"
#include "tests/support/child_process.h"
#include "tests/support/fixtures.h"
#include "tests/support/http_server.h"
#include "tests/support/process.h"
#include "tests/support/registry_server.h"
#include "tests/support/tcp_relay.h"

namespace archway {
namespace {

namespace beast = boost::beast;
namespace net = boost::asio;
namespace ssl = net::ssl;
using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

struct Settings {
  std::string binary;
  int pods = 200;
  int images = 10;
  int delay_ms = 300;
  std::string budget = "500ms";
};

int Env(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::atoi(v) : fallback;
}

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

double Percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const size_t at = std::min(values.size() - 1, static_cast<size_t>(p * static_cast<double>(values.size() - 1) + 0.5));
  return values[at];
}

// POST one review over a fresh TLS connection; the answer's body, or "" on any failure.
// `sent`: when the request was written (after the TLS handshake).
std::string Post(int port, const std::string& body, Clock::time_point& sent) {
  try {
    net::io_context io;
    ssl::context ctx(ssl::context::tls_client);
    ctx.set_verify_mode(ssl::verify_none);
    beast::ssl_stream<beast::tcp_stream> stream(io, ctx);
    beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(30));
    beast::get_lowest_layer(stream).connect(net::ip::tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
    stream.handshake(ssl::stream_base::client);
    beast::http::request<beast::http::string_body> request(beast::http::verb::post, "/mutate?timeout=10s", 11);
    request.set(beast::http::field::host, "127.0.0.1");
    request.set(beast::http::field::content_type, "application/json");
    request.body() = body;
    request.prepare_payload();
    sent = Clock::now();
    beast::http::write(stream, request);
    beast::flat_buffer buffer;
    beast::http::response<beast::http::string_body> response;
    beast::http::read(stream, buffer, response);
    return response.body();
  } catch (const std::exception&) {
    return "";
  }
}

std::string Status(pid_t pid, const std::string& key) {
  const std::string text = testing::ReadFile("/proc/" + std::to_string(pid) + "/status");
  const size_t at = text.find(key + ":");
  if (at == std::string::npos) return "?";
  const size_t end = text.find('\n', at);
  std::string value = text.substr(at + key.size() + 1, end - at - key.size() - 1);
  value.erase(0, value.find_first_not_of(" \t"));
  return value;
}

bool CarriesGate(const Json& pod) {
  for (const auto& gate : pod["spec"].value("schedulingGates", Json::array())) {
    if (gate.value("name", "") == "archway.dev/platforms") return true;
  }
  return false;
}

Json Terms(const Json& pod) {
  const auto pointer =
      "/spec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms"_json_pointer;
  return pod.contains(pointer) ? pod.at(pointer) : Json();
}

struct Fixture {
  testing::RegistryServer registry;
  std::vector<std::string> repositories;  // in the registry
  std::vector<Json> expected_terms;       // per image
  int single_platform = 0;
};

void Push(Fixture& f, int images) {
  const Json linux_term = {{"key", "kubernetes.io/os"}, {"operator", "In"}, {"values", {"linux"}}};
  for (int i = 0; i < images; ++i) {
    const std::string repo = "burst/app" + std::to_string(i);
    if (i % 2 == 0) {
      const std::string arch = i % 4 == 0 ? "amd64" : "arm64";
      testing::PushPlatformImage(f.registry, repo, "1", "linux/" + arch);
      f.expected_terms.push_back(Json::array(
          {{{"matchExpressions", {linux_term, {{"key", "kubernetes.io/arch"}, {"operator", "In"}, {"values", {arch}}}}}}}));
      ++f.single_platform;
    } else {
      testing::PushPlatformIndex(f.registry, repo, "1", {"linux/amd64", "linux/arm64"});
      f.expected_terms.push_back(Json::array({{{"matchExpressions",
                                                {linux_term,
                                                 {{"key", "kubernetes.io/arch"},
                                                  {"operator", "In"},
                                                  {"values", {"amd64", "arm64"}}}}}}}));
    }
    f.repositories.push_back(repo);
  }
}

void RunMode(const Settings& s, Fixture& f, const std::string& on_miss) {
  testing::TempDir dir("archway-bench-burst");
  fakeapi::FakeApiServer api;
  if (!api.Start().ok()) throw std::runtime_error("fake API server did not start");
  // Unthrottled: the pods reach the API as fast as their answers come (a client-side QPS
  // limit here would be counted as the controller's delay).
  kube::ClientOptions unthrottled;
  unthrottled.qps = 0;
  auto admin = kube::NewHttpClient(api.ClusterConfig(), unthrottled).value();
  testing::TcpRelay relay(f.registry.host());
  relay.SetResponseDelay(milliseconds(s.delay_ms));

  const std::string cert = dir.File("tls.crt"), key = dir.File("tls.key");
  auto made = testing::RunCommand({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                                   "-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=archway-webhook",
                                   "-addext", "subjectAltName=IP:127.0.0.1"});
  if (made.exit_code != 0) throw std::runtime_error("openssl: " + made.output);
  const std::string kubeconfig = dir.File("kubeconfig");
  testing::WriteFile(kubeconfig, "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: " +
                                     api.url() +
                                     "\nusers:\n- name: u\n  user: {}\ncontexts:\n- name: c\n  context: {cluster: fake, "
                                     "user: u}\ncurrent-context: c\n");
  const std::string config = dir.File("config.yaml");
  testing::WriteFile(config, "tls: {certFile: " + cert + ", keyFile: " + key +
                                 "}\nnoCommonPlatform: pending\nskipNamespaces: [kube-system]\n"
                                 "registries: {configFile: /nonexistent/registries.yaml, dockerConfig: "
                                 "/nonexistent/config.json}\nglobalPullSecret: {namespace: archway-system, name: \"\"}\n");
  const int port = testing::FreePort();
  const int metrics_port = testing::FreePort();
  testing::ChildProcess webhook({s.binary, "webhook", "--config", config, "--kubeconfig", kubeconfig, "--listen",
                                 "127.0.0.1:" + std::to_string(port), "--metrics-listen",
                                 "127.0.0.1:" + std::to_string(metrics_port), "--budget", s.budget, "--on-miss", on_miss,
                                 "--gate-lease-duration", "2s"},
                                dir.File("webhook.log"));
  const auto up_deadline = Clock::now() + std::chrono::seconds(20);
  auto metrics_up = [&] {
    try {
      return testing::HttpCall("127.0.0.1:" + std::to_string(metrics_port), "GET", "/metrics").status == 200;
    } catch (const std::exception&) {
      return false;
    }
  };
  while (!metrics_up()) {
    if (Clock::now() > up_deadline || !webhook.Running()) throw std::runtime_error("webhook: " + webhook.LogTail());
    std::this_thread::sleep_for(milliseconds(5));
  }
  // The gate controller holds its Lease before the burst (a fresh replica takes a moment).
  const auto lease_deadline = Clock::now() + std::chrono::seconds(10);
  while (on_miss == "gate" && webhook.Log().find("releasing gated pods") == std::string::npos &&
         Clock::now() < lease_deadline) {
    std::this_thread::sleep_for(milliseconds(20));
  }
  f.registry.ResetRequests();

  std::vector<double> latency(s.pods), server_time(s.pods);
  std::vector<Clock::time_point> created(s.pods), ungated(s.pods);
  std::vector<int> kind(s.pods, 0);  // 1 pinned inline, 2 gated, 3 unpinned, 4 failed
  std::barrier start(s.pods);
  std::vector<std::thread> threads;
  for (int i = 0; i < s.pods; ++i) {
    threads.emplace_back([&, i] {
      const int image = i % s.images;
      Json pod = {{"apiVersion", "v1"},
                  {"kind", "Pod"},
                  {"metadata", {{"name", "pod-" + std::to_string(i)}, {"namespace", "burst"}}},
                  {"spec", {{"containers", {{{"name", "c"}, {"image", relay.host() + "/" + f.repositories[image] + ":1"}}}}}}};
      const Json review = {{"apiVersion", "admission.k8s.io/v1"},
                           {"kind", "AdmissionReview"},
                           {"request",
                            {{"uid", "u" + std::to_string(i)},
                             {"kind", {{"group", ""}, {"version", "v1"}, {"kind", "Pod"}}},
                             {"resource", {{"group", ""}, {"version", "v1"}, {"resource", "pods"}}},
                             {"namespace", "burst"},
                             {"name", pod["metadata"]["name"]},
                             {"operation", "CREATE"},
                             {"object", pod}}}};
      const std::string body = review.dump();
      start.arrive_and_wait();
      const auto asked = Clock::now();
      Clock::time_point sent = asked;
      const std::string answer = Post(port, body, sent);
      const auto answered = Clock::now();
      latency[i] = Ms(answered - asked);
      server_time[i] = Ms(answered - sent);
      const Json parsed = Json::parse(answer, nullptr, false);
      if (parsed.is_discarded() || !parsed.contains("response")) {
        kind[i] = 4;
        return;
      }
      const std::string patch = parsed["response"].value("patch", "");
      if (!patch.empty()) pod = pod.patch(Json::parse(Base64Decode(patch).value_or("[]")));
      kind[i] = CarriesGate(pod) ? 2 : Terms(pod).is_null() ? 3 : 1;
      pod["metadata"].erase("namespace");
      if (!admin->Create(kube::resources::kPods, "burst", pod).ok()) kind[i] = 4;
      created[i] = Clock::now();  // stored: the time the pod exists from
    });
  }
  for (auto& t : threads) t.join();

  int wrong = 0;
  const auto release_deadline = Clock::now() + std::chrono::seconds(120);
  std::vector<bool> done(s.pods, false);
  for (int i = 0; i < s.pods; ++i) done[i] = kind[i] != 2;
  while (std::count(done.begin(), done.end(), false) > 0 && Clock::now() < release_deadline) {
    for (const auto& pod : api.Objects(kube::resources::kPods, "burst")) {
      const int i = std::stoi(pod["metadata"].value("name", "pod-0").substr(4));
      if (done[i] || CarriesGate(pod)) continue;
      done[i] = true;
      ungated[i] = Clock::now();
      if (Terms(pod) != f.expected_terms[i % s.images]) ++wrong;
    }
    std::this_thread::sleep_for(milliseconds(5));
  }
  for (const auto& pod : api.Objects(kube::resources::kPods, "burst")) {
    const int i = std::stoi(pod["metadata"].value("name", "pod-0").substr(4));
    if (kind[i] == 1 && Terms(pod) != f.expected_terms[i % s.images]) ++wrong;
  }
  std::vector<double> to_ungated;
  for (int i = 0; i < s.pods; ++i) {
    if (kind[i] == 2 && done[i]) to_ungated.push_back(Ms(ungated[i] - created[i]));
  }
  const int still_gated = static_cast<int>(std::count(done.begin(), done.end(), false));

  // Look-ups that missed the budget go on in the background: count once the registry is quiet.
  size_t seen = f.registry.Requests().size();
  for (auto quiet_since = Clock::now(); Clock::now() - quiet_since < milliseconds(1500);) {
    std::this_thread::sleep_for(milliseconds(100));
    if (const size_t now = f.registry.Requests().size(); now != seen) {
      seen = now;
      quiet_since = Clock::now();
    }
  }
  const int manifest_gets = f.registry.CountRequests("GET", "/v2/.*/manifests/.*");
  const int blob_gets = f.registry.CountRequests("GET", "/v2/.*/blobs/.*");
  const int all_requests = static_cast<int>(f.registry.Requests().size());
  const auto count = [&](int k) { return static_cast<int>(std::count(kind.begin(), kind.end(), k)); };
  const double p99 = Percentile(server_time, 0.99);
  const double budget_ms = s.budget.ends_with("ms") ? std::stod(s.budget) : std::stod(s.budget) * 1000;

  std::printf("\n== onMiss: %s (%d pods at once, %d images, registry +%d ms per answer, budget %s)\n", on_miss.c_str(),
              s.pods, s.images, s.delay_ms, s.budget.c_str());
  std::printf("  pods admitted: %d pinned inline, %d gated, %d UNPINNED, %d failed (target: 0 unpinned)\n", count(1),
              count(2), count(3), count(4));
  std::printf("  registry requests: %d manifest GETs, %d blob GETs, %d in all (ideal %d + %d: one per image, shared; "
              "ratio %.2f)\n",
              manifest_gets, blob_gets, all_requests, s.images, f.single_platform,
              static_cast<double>(manifest_gets + blob_gets) / (s.images + f.single_platform));
  std::printf("  admission latency, request written -> answer read: p50 %.0f ms, p99 %.0f ms, max %.0f ms (p99 / budget "
              "= %.2f, target <= 1)\n",
              Percentile(server_time, 0.5), p99, Percentile(server_time, 1.0), p99 / budget_ms);
  std::printf("  ... with the connection's TCP + TLS handshake (%d at once): p50 %.0f ms, p99 %.0f ms\n", s.pods,
              Percentile(latency, 0.5), Percentile(latency, 0.99));
  if (count(2) > 0) {
    std::printf("  create -> ungated: p50 %.0f ms, p99 %.0f ms, max %.0f ms; %d still gated after 120 s\n",
                Percentile(to_ungated, 0.5), Percentile(to_ungated, 0.99), Percentile(to_ungated, 1.0), still_gated);
  }
  std::printf("  pods with the wrong affinity: %d (target 0)\n", wrong);
  std::printf("  webhook RSS: %s now, %s peak\n", Status(webhook.pid(), "VmRSS").c_str(),
              Status(webhook.pid(), "VmHWM").c_str());
  std::fflush(stdout);
  webhook.Stop();
  if (const char* keep = std::getenv("WEBHOOK_LOG"); keep && *keep) {
    testing::WriteFile(std::string(keep) + "." + on_miss, webhook.Log());
  }
}

}  // namespace
}  // namespace archway

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);
  archway::Settings s;
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s ARCHWAY_BINARY (env PODS, IMAGES, DELAY_MS, BUDGET)\n", argv[0]);
    return 2;
  }
  s.binary = argv[1];
  s.pods = archway::Env("PODS", s.pods);
  s.images = std::max(1, archway::Env("IMAGES", s.images));
  s.delay_ms = archway::Env("DELAY_MS", s.delay_ms);
  if (const char* b = std::getenv("BUDGET"); b && *b) s.budget = b;
  try {
    archway::Fixture fixture;
    archway::Push(fixture, s.images);
    for (const char* mode : {"gate", "admit"}) archway::RunMode(s, fixture, mode);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
