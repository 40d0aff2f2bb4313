// The exec-format-error detector on the recorded status shapes (testdata/exec-format-error,
// sources in its README), what the watcher keeps of a Pod, and the verdicts.
#include <fstream>
#include <memory_resource>
#include <sstream>

#include <gtest/gtest.h>

#include "kube/client.h"
#include "operator/exec_format.h"
#include "tests/operator/openapi_validator.h"

namespace archway::op {
namespace {

using registry::Platform;

Json Recorded(const std::string& file) {
  return optest::LoadJsonFile(std::string(ARCHWAY_SOURCE_DIR) + "/tests/operator/testdata/exec-format-error/" + file);
}

Json Line(const std::string& file, int index) {
  std::ifstream in(std::string(ARCHWAY_SOURCE_DIR) + "/tests/kube/testdata/" + file);
  std::string line;
  for (int i = 0; std::getline(in, line); ++i)
    if (i == index) return Json::parse(line);
  return Json();
}

// What the watcher reads of its record of a Pod equals what it reads of the whole one:
// the failures, and for a Pod with failures everything else it reports (a healthy Pod
// keeps its namespace, name, uid and resourceVersion only).
void ExpectSameReading(const Json& pod) {
  const PodFailures whole = DetectExecFormatErrors(pod);
  const CachedPod cached = CachePod(pod);
  const PodFailures read = ReadCachedPod(cached);
  EXPECT_EQ(read.failures.size(), whole.failures.size()) << pod.dump();
  EXPECT_TRUE(read.failures == whole.failures) << pod.dump();
  EXPECT_EQ(cached.Failing(), !whole.failures.empty());
  EXPECT_EQ(std::string(cached.resource_version), kube::StringAt(pod, {"metadata", "resourceVersion"}).value_or(""));
  if (!whole.failures.empty()) {
    EXPECT_TRUE(read == whole) << pod.dump();
  } else {
    PodFailures identity;
    identity.ns = whole.ns;
    identity.name = whole.name;
    identity.uid = whole.uid;
    EXPECT_TRUE(read == identity) << pod.dump();
  }
}

// Counts what is allocated through it (from the heap).
class CountingResource : public std::pmr::memory_resource {
 public:
  size_t bytes_in_use = 0;
  size_t allocations = 0;

 private:
  void* do_allocate(size_t bytes, size_t alignment) override {
    bytes_in_use += bytes;
    ++allocations;
    return std::pmr::new_delete_resource()->allocate(bytes, alignment);
  }
  void do_deallocate(void* p, size_t bytes, size_t alignment) override {
    bytes_in_use -= bytes;
    std::pmr::new_delete_resource()->deallocate(p, bytes, alignment);
  }
  bool do_is_equal(const std::pmr::memory_resource& other) const noexcept override { return this == &other; }
};

TEST(ExecFormatDetector, RecordedShapes) {
  struct Case {
    const char* file;
    std::optional<Evidence> evidence;
    const char* field;
    const char* message;
  };
  const Case cases[] = {
      {"runc-1.2-default-policy.json", Evidence::kCrashed, "lastState.terminated", ""},
      {"runc-1.1-fallback-to-logs.json", Evidence::kStated, "lastState.terminated",
       "exec /node-problem-detector: exec format error"},
      {"runc-1.0-fallback-to-logs.json", Evidence::kStated, "lastState.terminated",
       "standard_init_linux.go:219: exec user process caused: exec format error"},
      {"crun-fallback-to-logs.json", Evidence::kStated, "lastState.terminated",
       "{\"msg\":\"exec container process `/opt/run.sh`: Exec format error\",\"level\":\"error\",\"time\":"
       "\"2021-03-27T23:47:46.000050247Z\"}"},
      {"runc-start-error-not-found.json", std::nullopt, "", ""},
      {"docker-crashloop-exit-1.json", Evidence::kCrashed, "lastState.terminated", ""},
      {"exit-137-restarted.json", std::nullopt, "", ""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.file);
    const Json pod = Recorded(c.file);
    const PodFailures found = DetectExecFormatErrors(pod);
    EXPECT_EQ(found.name, kube::NameOf(pod));
    EXPECT_EQ(found.uid, kube::UidOf(pod));
    EXPECT_FALSE(found.node.empty());
    ASSERT_TRUE(found.controller.has_value());
    if (!c.evidence) {
      EXPECT_TRUE(found.failures.empty()) << found.failures.front().field;
      continue;
    }
    ASSERT_EQ(found.failures.size(), 1u);
    const ContainerFailure& f = found.failures.front();
    EXPECT_EQ(f.evidence, *c.evidence);
    EXPECT_EQ(f.field, c.field);
    EXPECT_EQ(f.message, c.message);
    EXPECT_EQ(f.reason, "Error");
    EXPECT_EQ(f.container, pod["spec"]["containers"][0]["name"]);
    EXPECT_EQ(f.image, pod["spec"]["containers"][0]["image"]);  // the spec's words, not the status's
    EXPECT_EQ(f.image_id, pod["status"]["containerStatuses"][0]["imageID"]);
    EXPECT_GT(f.restart_count, 0);
  }
  // runc's exit codes by version: 255 from v1.2, 1 before.
  EXPECT_EQ(DetectExecFormatErrors(Recorded("runc-1.2-default-policy.json")).failures[0].exit_code, 255);
  EXPECT_EQ(DetectExecFormatErrors(Recorded("runc-1.1-fallback-to-logs.json")).failures[0].exit_code, 1);
}

TEST(ExecFormatDetector, StartErrorsAndWaitingMessagesThatSayIt) {
  // A runtime whose start fails on the exec: containerd's StartError shape (reason, 128,
  // its wrapper text) around the words; and the same words in a waiting message.
  Json pod = Recorded("runc-start-error-not-found.json");
  Json& init = pod["status"]["initContainerStatuses"][0];
  init["lastState"]["terminated"]["message"] =
      "failed to start containerd task \"4f1c\": OCI runtime start failed: starting container: exec format error: unknown";
  PodFailures found = DetectExecFormatErrors(pod);
  ASSERT_EQ(found.failures.size(), 1u);
  EXPECT_EQ(found.failures[0].list, "initContainers");
  EXPECT_EQ(found.failures[0].reason, "StartError");
  EXPECT_EQ(found.failures[0].exit_code, 128);
  EXPECT_EQ(found.failures[0].evidence, Evidence::kStated);

  init["lastState"] = Json::object();
  init["state"] = {{"waiting", {{"reason", "RunContainerError"}, {"message", "context: exec /x: EXEC FORMAT ERROR"}}}};
  found = DetectExecFormatErrors(pod);
  ASSERT_EQ(found.failures.size(), 1u);
  EXPECT_EQ(found.failures[0].field, "state.waiting");
  EXPECT_EQ(found.failures[0].message, "context: exec /x: EXEC FORMAT ERROR");
}

TEST(ExecFormatDetector, OddShapesReadAsAbsent) {
  const Json base = Recorded("runc-1.1-fallback-to-logs.json");
  const std::vector<std::pair<std::vector<std::string>, Json>> mutations = {
      {{"status"}, Json::array()},
      {{"status", "containerStatuses"}, "x"},
      {{"status", "containerStatuses"}, Json::array({1, nullptr, "s"})},
      {{"metadata"}, 7},
      {{"metadata", "ownerReferences"}, Json::object()},
      {{"spec", "containers"}, 3},
      {{"spec", "imagePullSecrets"}, Json::array({{{"name", 1}}, "x"})},
  };
  for (const auto& [path, value] : mutations) {
    Json pod = base;
    Json* at = &pod;
    for (const auto& key : path) at = &(*at)[key];
    *at = value;
    PodFailures found;
    EXPECT_NO_THROW(found = DetectExecFormatErrors(pod)) << pod.dump();
    EXPECT_NO_THROW((void)CachePod(pod));
    ExpectSameReading(pod);
  }
  for (const Json& anything : {Json(), Json(1), Json("pod"), Json::array({base})}) {
    EXPECT_TRUE(DetectExecFormatErrors(anything).failures.empty());
    EXPECT_NO_THROW((void)CachePod(anything));
    ExpectSameReading(anything);
  }
  // A message of another type, an exit code that is not an integer: not evidence.
  Json pod = Recorded("runc-1.2-default-policy.json");
  pod["status"]["containerStatuses"][0]["lastState"]["terminated"]["exitCode"] = "255";
  EXPECT_TRUE(DetectExecFormatErrors(pod).failures.empty());
  pod["status"]["containerStatuses"][0]["lastState"]["terminated"]["exitCode"] = 255;
  pod["status"]["containerStatuses"][0]["lastState"]["terminated"]["message"] = Json::array({"exec format error"});
  EXPECT_EQ(DetectExecFormatErrors(pod).failures.at(0).evidence, Evidence::kCrashed);
}

TEST(ExecFormatDetector, LongMessagesAreCutToTheLineThatSaysItOnCharacterBoundaries) {
  Json pod = Recorded("runc-1.1-fallback-to-logs.json");
  std::string log;
  for (int i = 0; i < 60; ++i) log += "starting worker " + std::to_string(i) + " \xc3\xa9t\xc3\xa9\n";
  const std::string line = std::string(400, 'x') + "\xe2\x9c\x93 exec /opt/app/bin/server: exec format error \xe2\x9c\x93 " +
                           std::string(300, 'y');
  pod["status"]["containerStatuses"][0]["lastState"]["terminated"]["message"] = log + line + "\nmore\n";
  const PodFailures found = DetectExecFormatErrors(pod);
  ASSERT_EQ(found.failures.size(), 1u);
  const std::string& kept = found.failures[0].message;
  EXPECT_LE(kept.size(), 240u);
  EXPECT_NE(kept.find("exec /opt/app/bin/server: exec format error"), std::string::npos) << kept;
  EXPECT_NO_THROW((void)Json(kept).dump());  // valid UTF-8: an Event carrying it serialises
  ExpectSameReading(pod);
}

TEST(ExecFormatDetector, CachedPodReadsAsTheWholePod) {
  for (const char* file : {"runc-1.2-default-policy.json", "runc-1.1-fallback-to-logs.json",
                           "runc-1.0-fallback-to-logs.json", "crun-fallback-to-logs.json",
                           "runc-start-error-not-found.json", "docker-crashloop-exit-1.json", "exit-137-restarted.json"}) {
    SCOPED_TRACE(file);
    const Json pod = Recorded(file);
    ExpectSameReading(pod);
    const CachedPod cached = CachePod(pod);
    EXPECT_EQ(kube::ObjectKey(std::string(cached.ns), std::string(cached.name)), kube::ObjectKey(pod));
    EXPECT_EQ(std::string(cached.uid), kube::UidOf(pod));
  }
  // A healthy Pod (a real one, as a v1.32 apiserver streamed it) keeps its identity only.
  const Json running = Line("watch-pods.jsonl", 0)["object"];
  ASSERT_TRUE(running.is_object());
  ExpectSameReading(running);
  const CachedPod cached = CachePod(running);
  EXPECT_FALSE(cached.Failing());
  EXPECT_EQ(std::string(cached.name), kube::NameOf(running));
  EXPECT_EQ(std::string(cached.ns), kube::NamespaceOf(running));
  EXPECT_EQ(std::string(cached.resource_version), running["metadata"]["resourceVersion"].get<std::string>());
}

TEST(ExecFormatDetector, CachedPodLivesInItsMemoryResourceAndItsCopiesDoNot) {
  CountingResource memory;
  {
    // A healthy Pod allocates its strings longer than the inline buffer (the uid) and nothing else.
    const Json running = Line("watch-pods.jsonl", 0)["object"];
    const CachedPod healthy = CachePod(running, &memory);
    EXPECT_EQ(healthy.uid.get_allocator().resource(), &memory);
    EXPECT_LE(memory.bytes_in_use, 3 * 64u) << "the record of a healthy Pod grew";
    EXPECT_EQ(healthy.failing.capacity(), 0u);

    // A failing Pod's strings are all in the resource; a copy's are on the default heap,
    // and it reads the same.
    const Json pod = Recorded("runc-1.1-fallback-to-logs.json");
    const CachedPod failing = CachePod(pod, &memory);
    ASSERT_TRUE(failing.Failing());
    const CachedFailure& f = failing.failing.front().failures.front();
    for (const std::pmr::string* s : {&f.container, &f.image, &f.image_id, &f.message, &failing.failing.front().node})
      EXPECT_EQ(s->get_allocator().resource(), &memory);
    const size_t in_use = memory.bytes_in_use;
    const CachedPod copy = failing;
    EXPECT_EQ(memory.bytes_in_use, in_use);
    EXPECT_EQ(copy.failing.front().failures.front().message.get_allocator().resource(),
              std::pmr::get_default_resource());
    EXPECT_TRUE(ReadCachedPod(copy) == ReadCachedPod(failing));
    EXPECT_TRUE(ReadCachedPod(copy) == DetectExecFormatErrors(pod));
  }
  EXPECT_EQ(memory.bytes_in_use, 0u);
  EXPECT_GT(memory.allocations, 0u);
}

NodePlatform Node(const std::string& arch, const std::string& variant = "") {
  return NodePlatform{"pi-01", "linux", arch, variant, true};
}

TEST(ExecFormatDetector, SupportsNodeComparesOsArchAndArmVariants) {
  auto p = [](const char* text) { return *registry::ParsePlatform(text); };
  EXPECT_TRUE(SupportsNode({p("linux/amd64"), p("linux/arm64")}, Node("arm64", "v8")));
  EXPECT_FALSE(SupportsNode({p("linux/amd64")}, Node("arm64")));
  EXPECT_FALSE(SupportsNode({p("windows/amd64")}, Node("amd64")));
  EXPECT_TRUE(SupportsNode({p("linux/arm/v6")}, Node("arm", "v7")));   // older code runs on newer cores
  EXPECT_FALSE(SupportsNode({p("linux/arm/v7")}, Node("arm", "v6")));  // a Pi Zero cannot run v7
  EXPECT_TRUE(SupportsNode({p("linux/arm/v7")}, Node("arm")));         // unlabelled: any variant
  EXPECT_FALSE(SupportsNode({}, Node("amd64")));
}

registry::ImagePlatforms Image(std::vector<const char*> platforms) {
  registry::ImagePlatforms image;
  image.digest = "sha256:" + std::string(63, '0') + "1";
  for (const char* p : platforms) image.platforms.push_back(*registry::ParsePlatform(p));
  return image;
}

TEST(ExecFormatDetector, Verdicts) {
  const PodFailures crashed = DetectExecFormatErrors(Recorded("runc-1.2-default-policy.json"));
  const PodFailures stated = DetectExecFormatErrors(Recorded("runc-1.1-fallback-to-logs.json"));
  const Error down(ErrorCode::kNetwork, "connect registry.k8s.io:443: connection refused");

  // A crash is an exec format error only when the image has no build for the node.
  Judgement j = JudgeFailure(crashed, crashed.failures[0], Node("arm64"), Image({"linux/amd64"}));
  EXPECT_EQ(j.verdict, Verdict::kWrongPlatform);
  EXPECT_NE(j.note.find("cannot run on node pi-01 (linux/arm64)"), std::string::npos) << j.note;
  EXPECT_NE(j.note.find("exited 255 with reason Error"), std::string::npos) << j.note;
  EXPECT_NE(j.note.find("built for linux/amd64 only"), std::string::npos) << j.note;
  EXPECT_NE(j.note.find("no archway.dev/platforms annotation"), std::string::npos) << j.note;
  EXPECT_EQ(JudgeFailure(crashed, crashed.failures[0], Node("arm64"), Image({"linux/amd64", "linux/arm64"})).verdict,
            Verdict::kNone);
  EXPECT_EQ(JudgeFailure(crashed, crashed.failures[0], Node("arm64"), down).verdict, Verdict::kRetry);
  EXPECT_EQ(JudgeFailure(crashed, crashed.failures[0], NodePlatform{"gone", "", "", "", false}, Image({"linux/amd64"}))
                .verdict,
            Verdict::kNone);

  // Stated: the list lies when it says the node's platform runs.
  j = JudgeFailure(stated, stated.failures[0], Node("arm64", "v8"), Image({"linux/amd64", "linux/arm64"}));
  EXPECT_EQ(j.verdict, Verdict::kListLies);
  EXPECT_EQ(j.digest, "sha256:" + std::string(63, '0') + "1");
  EXPECT_NE(j.note.find("the runtime reported \"exec /node-problem-detector: exec format error\""), std::string::npos)
      << j.note;
  EXPECT_NE(j.note.find("marked digest sha256:"), std::string::npos) << j.note;
  const std::string suspect = SuspectNote(stated.failures[0], Node("arm64", "v8"), j);
  EXPECT_NE(suspect.find("at digest sha256:0000"), std::string::npos) << suspect;
  EXPECT_NE(suspect.find("lists linux/amd64, linux/arm64"), std::string::npos) << suspect;
  EXPECT_LT(j.note.size(), 1024u);
  EXPECT_LT(suspect.size(), 1024u);

  j = JudgeFailure(stated, stated.failures[0], Node("arm64"), Image({"linux/amd64"}));
  EXPECT_EQ(j.verdict, Verdict::kWrongPlatform);
  EXPECT_NE(j.note.find("failed with exec format error on node pi-01"), std::string::npos) << j.note;
  j = JudgeFailure(stated, stated.failures[0], Node("arm64"), down);
  EXPECT_EQ(j.verdict, Verdict::kUnresolved);
  EXPECT_NE(j.note.find("could not read the image's platforms: connect registry.k8s.io:443"), std::string::npos);

  // What the webhook wrote on the pod explains its placement.
  PodFailures annotated = crashed;
  annotated.skipped_reason = "opted out with the annotation archway.dev/skip";
  EXPECT_NE(JudgeFailure(annotated, annotated.failures[0], Node("arm64"), Image({"linux/amd64"}))
                .note.find("archway left its placement alone: opted out"),
            std::string::npos);
}

}  // namespace
}  // namespace archway::op
