// bench/exec-watcher-rss.sh's program: what caching N pods costs in resident memory.
//
//   exec_watcher_rss MODE N POD.jsonl     MODE: watcher (operator/exec_watcher.h: the Pod
//                                         TypedInformer of CachedPod records, as `archway
//                                         operator` runs it), whole (a kube::Informer on pods
//                                         keeping every object as the API sends it: the
//                                         peer), none (the same list read through and
//                                         dropped on a thread: the floor the fake server's
//                                         serving and the parsing leave)
//
// The fake API server (in process) is filled with N pods made from the first Pod of
// POD.jsonl (a real apiserver's watch stream, managedFields included) with a running
// status as the kubelet writes it; 1 in 100 fails with exec format error (runc 1.1, the
// words in lastState.terminated.message). RSS is read from /proc/self/statm after
// malloc_trim, before the cache starts and once it has synced; the difference is printed.
//
// Measured (bench/exec-watcher-rss.sh, 10,000 pods, 3 runs, shared 2-core machine,
// 2026-12-02): the watcher 3.6-4.8 MiB of RSS over the floor (382-501 bytes/pod; in use
// 417 bytes/pod), whole objects 417-447 MiB (~44,000 bytes/pod). The trimmed JSON it
// cached before (TrimPod) measured 40.6 MiB (4,260 bytes/pod): each small object pinned a
// page among the freed JSON it was cut from, hence the pool of kube/typed_informer.h.
#include <malloc.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "kube/client.h"
#include "kube/informer.h"
#include "kube/resource.h"
#include "operator/exec_watcher.h"
#include "registry/client.h"
#include "registry/resolver.h"
#include "tests/fakeapi/fake_api_server.h"

namespace {

using Json = nlohmann::json;
using namespace archway;

// Bytes malloc has handed out and not had back (what the caches hold, without the pages
// freed memory leaves resident between them).
long InUseKiB() {
  malloc_trim(0);
  return static_cast<long>(mallinfo2().uordblks / 1024);
}

long RssKiB() {
  malloc_trim(0);
  std::ifstream statm("/proc/self/statm");
  long size = 0, resident = 0;
  statm >> size >> resident;
  return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

Json RunningStatus(const Json& pod, int i) {
  const std::string name = pod["spec"]["containers"][0]["name"];
  const std::string image = pod["spec"]["containers"][0]["image"];
  Json status = {
      {"phase", "Running"},
      {"conditions", Json::array()},
      {"hostIP", "10.0.0." + std::to_string(i % 200 + 1)},
      {"hostIPs", {{{"ip", "10.0.0." + std::to_string(i % 200 + 1)}}}},
      {"podIP", "10.42." + std::to_string(i / 250 % 250) + "." + std::to_string(i % 250)},
      {"podIPs", {{{"ip", "10.42." + std::to_string(i / 250 % 250) + "." + std::to_string(i % 250)}}}},
      {"startTime", "2026-11-23T15:11:20Z"},
      {"qosClass", "BestEffort"},
      {"containerStatuses",
       {{{"name", name},
         {"image", image},
         {"imageID", "docker.io/library/busybox@sha256:9ae97d36d26566ff84e8893c64a6dc4fe8ca6d1144bf5b87b2b85a32def253c7"},
         {"containerID", "containerd://" + std::string(64, 'a')},
         {"ready", true},
         {"started", true},
         {"restartCount", 0},
         {"state", {{"running", {{"startedAt", "2026-11-23T15:11:22Z"}}}}},
         {"lastState", Json::object()}}}}};
  for (const char* type : {"PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled"})
    status["conditions"].push_back(
        {{"type", type}, {"status", "True"}, {"lastProbeTime", nullptr}, {"lastTransitionTime", "2026-11-23T15:11:22Z"}});
  if (i % 100 == 0) {
    Json& cs = status["containerStatuses"][0];
    cs["ready"] = false;
    cs["restartCount"] = 3;
    cs["state"] = {{"waiting", {{"reason", "CrashLoopBackOff"}, {"message", "back-off 40s restarting failed container"}}}};
    cs["lastState"] = {{"terminated",
                        {{"exitCode", 1}, {"reason", "Error"}, {"message", "exec /bin/sh: exec format error\n"}}}};
  }
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: exec_watcher_rss watcher|whole|none N POD.jsonl\n");
    return 2;
  }
  const std::string mode = argv[1];
  const int n = std::stoi(argv[2]);
  std::ifstream in(argv[3]);
  std::string line;
  std::getline(in, line);
  const Json sample = Json::parse(line)["object"];

  fakeapi::FakeApiServer api;
  if (!api.Start().ok()) return 1;
  size_t bytes = 0;
  for (int i = 0; i < n; ++i) {
    Json pod = sample;
    for (const char* field : {"uid", "resourceVersion", "creationTimestamp"}) pod["metadata"].erase(field);
    pod["metadata"]["name"] = "web-" + std::to_string(i);
    pod["metadata"]["namespace"] = "ns-" + std::to_string(i % 50);
    pod["spec"]["nodeName"] = "node-" + std::to_string(i % 200);
    pod["status"] = RunningStatus(pod, i);
    bytes += api.Put(kube::resources::kPods, std::move(pod)).dump().size();
  }
  kube::ClientOptions client_options;
  client_options.qps = 10000;
  client_options.burst = 10000;
  auto kube = kube::NewHttpClient(api.ClusterConfig(), client_options);
  if (!kube.ok()) return 1;
  registry::Client registry_client{registry::ClientOptions{}};
  registry::Resolver resolver(registry_client, registry::ResolverOptions{});

  // In `archway operator` the Resolver is the reconciler's too and has been used before the
  // watcher starts: its one-time costs (name resolution, TLS set-up) are paid here, before
  // the measurement, in every mode. (The watcher then resolves the failing pods' digests.)
  if (auto ref = registry::ParseReference(sample["spec"]["containers"][0]["image"].get<std::string>()); ref.ok())
    (void)resolver.Resolve(*ref, nullptr);

  const long before = RssKiB();
  const long in_use_before = InUseKiB();
  size_t cached = 0;
  std::unique_ptr<op::ExecFormatWatcher> watcher;
  std::unique_ptr<kube::Informer> whole;
  if (mode == "watcher") {
    watcher = std::make_unique<op::ExecFormatWatcher>(**kube, resolver, nullptr, nullptr, nullptr);
    watcher->Start();
    if (!watcher->WaitForSync(std::chrono::minutes(2))) return 1;
    cached = watcher->CachedPods();
  } else if (mode == "whole") {
    whole = std::make_unique<kube::Informer>(**kube, kube::resources::kPods);
    whole->Start();
    if (!whole->WaitForSync(std::chrono::minutes(2))) return 1;
    cached = whole->Keys().size();
  } else if (mode == "none") {
    // The same list read and dropped item by item, on a thread of its own as an informer
    // reads it (its malloc arena keeps what parsing left at its top): what serving and
    // parsing it leave behind.
    bool listed_ok = false;
    std::thread([&] {
      kube::ListOptions list_options;
      list_options.limit = 500;
      listed_ok = kube::ListAll(**kube, kube::resources::kPods, "", list_options, [](Json& item) { item = nullptr; }).ok();
    }).join();
    if (!listed_ok) return 1;
  } else {
    std::fprintf(stderr, "exec_watcher_rss: unknown mode %s\n", mode.c_str());
    return 2;
  }
  const long after = RssKiB();
  const long in_use_after = InUseKiB();
  std::printf("mode=%s pods=%d cached=%zu json_bytes_per_pod=%zu rss_before_kib=%ld rss_after_kib=%ld delta_kib=%ld "
              "in_use_delta_kib=%ld\n",
              mode.c_str(), n, cached, n > 0 ? bytes / n : 0, before, after, after - before,
              in_use_after - in_use_before);
  if (watcher) watcher->Stop();
  if (whole) whole->Stop();
  return cached == static_cast<size_t>(mode == "none" ? 0 : n) ? 0 : 1;
}
