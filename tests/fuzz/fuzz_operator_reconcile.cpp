// Runs one whole reconcile (operator/reconciler.h: read, plan, execute) of a
// MultiArchImage over an in-memory API server and registry (tests/support/memory_*.h), the
// input deciding what the cluster and the registry hold:
//   {"mai": <MultiArchImage>, "jobs": [...], "nodes": [...], "pods": [...], "secrets": [...],
//    "registry": [{"image": "host/repo:tag", "manifest": <object or string>, "mediaType": "..."},
//                 {"image": "host/repo", "blob": <object or string>}]}
// (an input without "mai" is the MultiArchImage itself). Jobs, Nodes and Secrets are what
// the caches hold; the Jobs and the MultiArchImage are also in the API (writes go there),
// the pods only there (the reconciler lists them). Then it reconciles again over what the
// first reconcile wrote, as the next event would.
//
// Checked: no exception leaves Reconcile; an error has a message; every write could be
// sent (serialises as JSON); every Job created belongs to the resource (its namespace, its
// owner) and is placed on the platform it builds (kubernetes.io/os, and kubernetes.io/arch
// unless emulated); a status written has the resource's generation and a Ready condition.
// ARCHWAY_FUZZ_VERBOSE=1 prints each reconcile's outcome and writes (to see what a seed reaches).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include <nlohmann/json.hpp>

#include "kube/events.h"
#include "kube/object.h"
#include "operator/job_builder.h"
#include "operator/reconciler.h"
#include "operator/spec.h"
#include "registry/reference.h"
#include "registry/resolver.h"
#include "tests/support/memory_kube_client.h"
#include "tests/support/memory_object_reader.h"
#include "tests/support/memory_registry.h"

namespace {

using namespace archway;
using Json = nlohmann::json;

[[noreturn]] void Fail(const std::string& why) {
  std::fprintf(stderr, "fuzz_operator_reconcile: %s\n", why.c_str());
  std::abort();
}

const Json& ArrayField(const Json& input, const char* key) {
  static const Json kEmpty = Json::array();
  const Json* at = kube::ArrayAt(input, {key});
  return at != nullptr ? *at : kEmpty;
}

void LoadRegistry(const Json& entries, testing::MemoryRegistry& registry) {
  for (const Json& entry : entries) {
    auto image = kube::StringAt(entry, {"image"});
    if (!image) continue;
    auto ref = registry::ParseReference(*image);
    if (!ref.ok()) continue;
    auto bytes = [](const Json& j) { return j.is_string() ? j.get<std::string>() : j.dump(); };
    if (const Json* manifest = kube::At(entry, {"manifest"})) {
      // The Content-Type: as given, else the body's own mediaType, as a registry serves it.
      const Json body = manifest->is_string() ? Json::parse(manifest->get<std::string>(), nullptr, false) : *manifest;
      std::string media_type = kube::StringAt(entry, {"mediaType"})
                                   .value_or(kube::StringAt(body, {"mediaType"})
                                                 .value_or("application/vnd.oci.image.manifest.v1+json"));
      registry.PutManifestBytes(*ref, std::move(media_type), bytes(*manifest));
    }
    if (const Json* blob = kube::At(entry, {"blob"})) registry.PutBlobBytes(*ref, bytes(*blob));
  }
}

// The checks above on what one reconcile wrote (writes from `first` on).
void CheckWrites(const testing::MemoryKubeClient& client, size_t first, const Json& mai_object) {
  auto mai = op::ParseMultiArchImage(mai_object);
  for (size_t i = first; i < client.Writes().size(); ++i) {
    const auto& write = client.Writes()[i];
    if (write.resource == "jobs" && write.verb == "create") {
      if (!mai.ok() || !mai->spec.build) Fail("a Job was created for a resource that does not build");
      const Json& job = write.object;
      const std::string name = kube::NameOf(job);
      if (name.empty() || name.size() > 63) Fail("Job name \"" + name + "\" is not a valid name");
      if (write.ns != mai->ns) Fail("Job " + name + " created in namespace " + write.ns + ", not " + mai->ns);
      if (kube::ControllerUidOf(job) != mai->uid) Fail("Job " + name + " is not owned by its resource");
      const std::string slug = kube::LabelOf(job, op::kPlatformLabel);
      const registry::Platform* platform = nullptr;
      for (const auto& p : mai->spec.platforms)
        if (op::PlatformSlug(p) == slug) platform = &p;
      if (platform == nullptr) Fail("Job " + name + " builds " + slug + ", which spec.platforms does not list");
      const Json* selector = kube::ObjectAt(job, {"spec", "template", "spec", "nodeSelector"});
      if (selector == nullptr) Fail("Job " + name + " has no nodeSelector");
      if (kube::StringAt(*selector, {"kubernetes.io/os"}) != platform->os)
        Fail("Job " + name + " is not placed on " + platform->os + " nodes");
      const bool emulated = kube::AnnotationOf(job, op::kEmulatedAnnotation) == "true";
      if (!emulated && kube::StringAt(*selector, {"kubernetes.io/arch"}) != platform->architecture)
        Fail("Job " + name + " builds " + slug + " natively but is not placed on " + platform->architecture);
    }
    if (write.resource == "multiarchimages" && write.verb == "updateStatus") {
      const Json* status = kube::ObjectAt(write.object, {"status"});
      if (status == nullptr) Fail("a status write without a status");
      if (kube::IntAt(*status, {"observedGeneration"}) != kube::GenerationOf(mai_object))
        Fail("the status written does not observe the resource's generation");
      if (!kube::ConditionOf(write.object, "Ready")) Fail("the status written has no Ready condition");
    }
  }
}

void ReconcileOnce(const Json& input) {
  const Json* mai_at = kube::At(input, {"mai"});
  const Json& mai = mai_at != nullptr ? *mai_at : input;

  testing::MemoryKubeClient client;
  testing::MemoryRegistry registry;
  testing::MemoryObjectReader images, jobs, nodes(/*namespaced=*/false), secrets;
  if (mai.is_object()) client.Put(op::kMultiArchImageResource, mai);
  for (const auto& object : client.Objects(op::kMultiArchImageResource)) images.Put(object);
  for (const Json& job : ArrayField(input, "jobs")) {
    jobs.Put(job);
    client.Put(kube::resources::kJobs, job);
  }
  for (const Json& node : ArrayField(input, "nodes")) nodes.Put(node);
  for (const Json& pod : ArrayField(input, "pods")) client.Put(kube::resources::kPods, pod);
  for (const Json& secret : ArrayField(input, "secrets")) secrets.Put(secret);
  LoadRegistry(ArrayField(input, "registry"), registry);

  registry::Resolver resolver(registry, {});
  kube::EventRecorder events(client, {"archway.dev/operator", "fuzz"});
  op::Reconciler reconciler(op::ReconcilerDeps{
      .kube = &client,
      .images = &images,
      .jobs = &jobs,
      .nodes = &nodes,
      .secrets = &secrets,
      .registry = &registry,
      .resolver = &resolver,
      .events = &events,
      .metrics = nullptr,
      .config = {},
      .clock = [] { return std::chrono::system_clock::time_point(std::chrono::seconds(1795446000)); }});
  const std::string key = kube::ObjectKey(mai);

  for (int round = 0; round < 2; ++round) {
    const size_t first = client.Writes().size();
    Result<op::ReconcileResult> result = Error(ErrorCode::kInternal, "");
    try {
      result = reconciler.Reconcile(key);
    } catch (const std::exception& e) {
      Fail(std::string("Reconcile threw: ") + e.what());
    }
    if (!result.ok() && result.error().message.empty()) Fail("Reconcile failed with an empty message");
    if (std::getenv("ARCHWAY_FUZZ_VERBOSE") != nullptr) {
      std::fprintf(stderr, "reconcile %d of %s: %s\n", round + 1, key.c_str(),
                   result.ok() ? "ok" : result.error().message.c_str());
      for (size_t i = first; i < client.Writes().size(); ++i) {
        const auto& w = client.Writes()[i];
        std::fprintf(stderr, "  %s %s %s\n", w.verb.c_str(), w.resource.c_str(),
                     w.resource == "multiarchimages" ? w.object.value("status", Json()).dump().substr(0, 400).c_str()
                                                     : kube::NameOf(w.object).c_str());
      }
      std::fprintf(stderr, "  registry writes so far: %d\n", registry.WriteCount());
    }
    if (client.UnserialisableWrites() > 0) Fail("the reconciler wrote an object that cannot be serialised");
    const auto stored = images.Get(kube::NamespaceOf(mai), kube::NameOf(mai));
    CheckWrites(client, first, stored ? *stored : mai);
    // The next event: the caches see what this reconcile wrote.
    for (const auto& object : client.Objects(op::kMultiArchImageResource)) images.Put(object);
    jobs = testing::MemoryObjectReader();
    for (const auto& object : client.Objects(kube::resources::kJobs)) jobs.Put(object);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto input = nlohmann::json::parse(std::string(reinterpret_cast<const char*>(data), size), nullptr, false);
  if (input.is_discarded()) return 0;
  ReconcileOnce(input);
  return 0;
}
