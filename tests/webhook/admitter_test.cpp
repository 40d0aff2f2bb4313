// The Admitter against a real docker-registry (and a registry that never answers): what it
// answers at once, what it answers later, and that a later answer comes exactly once and
// within the budget.
#include "webhook/admitter.h"

#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

#include "base/encoding.h"
#include "registry/client.h"
#include "registry/resolver.h"
#include "tests/support/fixtures.h"
#include "tests/support/http_server.h"
#include "tests/support/registry_server.h"
#include "webhook/config.h"
#include "webhook/metrics.h"
#include "tests/webhook/annotated_namespaces.h"
#include "webhook/namespace_preferences.h"

namespace archway::webhook {
namespace {

using std::chrono::milliseconds;

// A hand-made single-platform image (config + one layer) pushed as `repo:tag`.
void PushImage(testing::RegistryServer& registry, const std::string& repo, const std::string& tag,
               const std::string& arch) {
  const std::string config = R"({"os":"linux","architecture":")" + arch + R"("})";
  const std::string layer = "layer of " + repo;
  const Json manifest = {
      {"schemaVersion", 2},
      {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
      {"config",
       {{"mediaType", "application/vnd.oci.image.config.v1+json"},
        {"digest", testing::PushBlob(registry, repo, config)},
        {"size", config.size()}}},
      {"layers",
       Json::array({{{"mediaType", "application/vnd.oci.image.layer.v1.tar"},
                     {"digest", testing::PushBlob(registry, repo, layer)},
                     {"size", layer.size()}}})}};
  testing::PushRaw(registry, repo, tag, "application/vnd.oci.image.manifest.v1+json", manifest.dump());
}

std::string Review(const std::vector<std::string>& images, const std::string& extra_spec = "") {
  Json containers = Json::array();
  for (const auto& image : images) containers.push_back({{"name", "c"}, {"image", image}});
  Json pod = {{"metadata", {{"name", "p"}, {"namespace", "team"}}}, {"spec", {{"containers", containers}}}};
  if (!extra_spec.empty()) pod["spec"].update(Json::parse(extra_spec));
  return Json{{"apiVersion", "admission.k8s.io/v1"},
              {"kind", "AdmissionReview"},
              {"request",
               {{"uid", "u1"},
                {"kind", {{"group", ""}, {"version", "v1"}, {"kind", "Pod"}}},
                {"operation", "CREATE"},
                {"namespace", "team"},
                {"object", pod}}}}
      .dump();
}

// The JSON Patch of an answer ("" for none) and its warnings.
struct Answer {
  unsigned status = 0;
  std::string patch;
  std::string warnings;
};
Answer Read(const HttpResponse& response) {
  Answer answer{response.status, "", ""};
  if (response.status != 200) return answer;
  const Json body = Json::parse(response.body);
  if (body["response"].contains("patch")) answer.patch = *Base64Decode(body["response"]["patch"].get<std::string>());
  if (body["response"].contains("warnings")) answer.warnings = body["response"]["warnings"].dump();
  return answer;
}

class AdmitterTest : public ::testing::Test {
 protected:
  AdmitterTest() : work_(io_.get_executor()), io_thread_([this] { io_.run(); }) {}
  ~AdmitterTest() override {
    work_.reset();
    io_.stop();
    io_thread_.join();
  }

  // Admit() and, when it defers, the answer it gives later (waited for); `deferred` says
  // which it was.
  HttpResponse AdmitAndWait(Admitter& admitter, const std::string& body, bool& deferred) {
    std::mutex mu;
    std::condition_variable cv;
    std::optional<HttpResponse> later;
    int calls = 0;
    auto now = admitter.Admit(body, std::chrono::hours(1), io_.get_executor(), [&](HttpResponse response) {
      std::lock_guard lock(mu);
      later = std::move(response);
      ++calls;
      cv.notify_all();
    });
    deferred = !now.has_value();
    if (now) {
      EXPECT_EQ(calls, 0) << "an answer given at once is not given again";
      return *now;
    }
    std::unique_lock lock(mu);
    EXPECT_TRUE(cv.wait_for(lock, std::chrono::seconds(20), [&] { return later.has_value(); }));
    lock.unlock();
    std::this_thread::sleep_for(milliseconds(50));  // a second call would land here
    lock.lock();
    EXPECT_EQ(calls, 1);
    return later.value_or(HttpResponse{0, ""});
  }

  testing::RegistryServer registry_;
  registry::Client client_{registry::ClientOptions{}};
  registry::Resolver resolver_{client_, registry::ResolverOptions{}};
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::thread io_thread_;
};

TEST_F(AdmitterTest, AnswersAtOnceWhatNeedsNoLookUp) {
  Admitter admitter(resolver_, {}, {});
  bool deferred = true;
  EXPECT_EQ(AdmitAndWait(admitter, "{not json", deferred).status, 400u);
  EXPECT_FALSE(deferred);
  const Answer skipped = Read(AdmitAndWait(admitter, Review({"x/y:1"}, R"({"nodeSelector":{"kubernetes.io/arch":"arm64"}})"), deferred));
  EXPECT_FALSE(deferred);
  EXPECT_NE(skipped.patch.find("spec.nodeSelector already sets kubernetes.io/arch"), std::string::npos) << skipped.patch;
  const Answer unparsable = Read(AdmitAndWait(admitter, Review({"UPPER/Case:1"}), deferred));
  EXPECT_FALSE(deferred);  // a reference that does not parse needs no look-up to fail
  EXPECT_NE(unparsable.warnings.find("could not inspect image UPPER/Case:1"), std::string::npos) << unparsable.warnings;
  EXPECT_EQ(registry_.CountRequests("", ".*"), 0) << registry_.DescribeRequests();
}

TEST_F(AdmitterTest, DefersUncachedImagesThenAnswersFromMemory) {
  PushImage(registry_, "app/arm", "1", "arm64");
  PushImage(registry_, "app/amd", "1", "amd64");
  Admitter admitter(resolver_, {}, {});
  const std::string review = Review({registry_.host() + "/app/arm:1"});
  registry_.ResetRequests();
  bool deferred = false;
  const Answer cold = Read(AdmitAndWait(admitter, review, deferred));
  EXPECT_TRUE(deferred);
  EXPECT_NE(cold.patch.find(R"("values":["arm64"])"), std::string::npos) << cold.patch;
  EXPECT_GT(registry_.CountRequests("", ".*"), 0);

  registry_.ResetRequests();
  const Answer hot = Read(AdmitAndWait(admitter, review, deferred));
  EXPECT_FALSE(deferred);
  EXPECT_EQ(hot.patch, cold.patch);
  EXPECT_EQ(registry_.CountRequests("", ".*"), 0) << registry_.DescribeRequests();

  // One image known, one not: deferred, and the known one is not fetched again.
  const Answer mixed = Read(AdmitAndWait(admitter, Review({registry_.host() + "/app/arm:1", registry_.host() + "/app/amd:1"}), deferred));
  EXPECT_TRUE(deferred);
  EXPECT_NE(mixed.patch.find("no-common-platform"), std::string::npos) << mixed.patch;
  EXPECT_EQ(registry_.CountRequests("GET", "/v2/app/arm/.*"), 0) << registry_.DescribeRequests();
}

// Records the Events the admitter sends (from its pool's threads).
class RecordedEvents : public PodEventSink {
 public:
  void Warn(const std::string& ns, const std::string& pod_name, const std::string& reason,
            const std::string& note) override {
    Record("Pod " + ns + "/" + pod_name + " " + reason + ": " + note);
  }
  void WarnController(const std::string& ns, const kube::OwnerReference& controller, const std::string& reason,
                      const std::string& note) override {
    Record(controller.kind + " " + ns + "/" + controller.name + " (" + controller.uid + ") " + reason + ": " + note);
  }
  // The first `n` Events, waited for.
  std::vector<std::string> Wait(size_t n) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(10), [&] { return lines_.size() >= n; });
    return lines_;
  }

 private:
  void Record(std::string line) {
    std::lock_guard lock(mu_);
    lines_.push_back(std::move(line));
    cv_.notify_all();
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> lines_;
};

TEST_F(AdmitterTest, AnEventAboutAPodWithNoNameYetGoesToItsController) {
  // Who made the pod is read again from the review only when an Event needs it
  // (ReadPodOrigin): answered later (cold) and at once (cached), it is the same.
  PushImage(registry_, "app/arm", "1", "arm64");
  PushImage(registry_, "app/amd", "1", "amd64");
  RecordedEvents events;
  Admitter admitter(resolver_, {}, AdmitterDeps{.events = &events});
  Json review = Json::parse(Review({registry_.host() + "/app/arm:1", registry_.host() + "/app/amd:1"}));
  Json& metadata = review["request"]["object"]["metadata"];
  metadata.erase("name");
  metadata["generateName"] = "web-7c9d8f6b5-";
  metadata["ownerReferences"] = Json::array(
      {{{"apiVersion", "v1"}, {"kind", "Other"}, {"name", "x"}, {"uid", "1"}},
       {{"apiVersion", "apps/v1"}, {"kind", "ReplicaSet"}, {"name", "web-7c9d8f6b5"}, {"uid", "0b7e"},
        {"controller", true}, {"blockOwnerDeletion", true}}});
  bool deferred = false;
  EXPECT_NE(Read(AdmitAndWait(admitter, review.dump(), deferred)).patch.find("no-common-platform"), std::string::npos);
  EXPECT_TRUE(deferred);
  EXPECT_NE(Read(AdmitAndWait(admitter, review.dump(), deferred)).patch.find("no-common-platform"), std::string::npos);
  EXPECT_FALSE(deferred);
  const auto lines = events.Wait(2);
  ASSERT_EQ(lines.size(), 2u);
  for (const auto& line : lines) {
    EXPECT_TRUE(line.starts_with("ReplicaSet team/web-7c9d8f6b5 (0b7e) NoCommonPlatform: a pod of ReplicaSet "
                                 "web-7c9d8f6b5 (web-7c9d8f6b5-...): "))
        << line;
  }
  // With a name, the Event is the pod's.
  metadata["name"] = "web-7c9d8f6b5-x2k4q";
  EXPECT_NE(Read(AdmitAndWait(admitter, review.dump(), deferred)).patch.find("no-common-platform"), std::string::npos);
  const auto three = events.Wait(3);
  ASSERT_EQ(three.size(), 3u);
  EXPECT_TRUE(three[2].starts_with("Pod team/web-7c9d8f6b5-x2k4q NoCommonPlatform: ")) << three[2];
}

TEST_F(AdmitterTest, ARememberedFailureIsAnsweredAtOnce) {
  Admitter admitter(resolver_, {}, {});
  const std::string review = Review({registry_.host() + "/app/missing:1"});
  bool deferred = false;
  const Answer first = Read(AdmitAndWait(admitter, review, deferred));
  EXPECT_TRUE(deferred);
  EXPECT_NE(first.warnings.find("could not inspect image"), std::string::npos) << first.warnings;
  registry_.ResetRequests();
  const Answer again = Read(AdmitAndWait(admitter, review, deferred));
  EXPECT_FALSE(deferred);
  EXPECT_EQ(again.warnings, first.warnings);
  EXPECT_EQ(registry_.CountRequests("", ".*"), 0) << registry_.DescribeRequests();
}

TEST_F(AdmitterTest, AnswersWithinTheBudgetWhenARegistryHangs) {
  testing::HttpReply hang;
  hang.hang = true;
  testing::LoopbackHttpServer stuck([hang](const testing::HttpRecord&) { return hang; });
  registry::ClientOptions options;
  options.request_timeout = std::chrono::seconds(2);  // the look-up ends after the answer, not long after
  registry::Client client(options);
  registry::Resolver resolver(client, {});
  AdmitterOptions admitter_options;
  admitter_options.budget = milliseconds(200);
  {
    Admitter admitter(resolver, admitter_options, {});
    bool deferred = false;
    const auto start = std::chrono::steady_clock::now();
    const Answer answer = Read(AdmitAndWait(admitter, Review({stuck.host() + "/app/slow:1"}), deferred));
    const auto took = std::chrono::steady_clock::now() - start;
    EXPECT_TRUE(deferred);
    EXPECT_NE(answer.warnings.find("did not finish within the time budget"), std::string::npos) << answer.warnings;
    EXPECT_GE(took, milliseconds(200));
    EXPECT_LT(took, std::chrono::seconds(2));
  }
}

TEST_F(AdmitterTest, AHungRegistryLeavesThreadsForAnother) {
  PushImage(registry_, "app/amd", "1", "amd64");
  testing::HttpReply hang;
  hang.hang = true;
  testing::LoopbackHttpServer stuck([hang](const testing::HttpRecord&) { return hang; });
  registry::ClientOptions options;
  options.request_timeout = std::chrono::seconds(3);  // longer than the budget: the threads stay taken
  registry::Client client(options);
  registry::Resolver resolver(client, {});
  AdmitterOptions admitter_options;
  admitter_options.budget = milliseconds(1000);
  ASSERT_EQ(admitter_options.lookup_threads, 8u);
  {
    Admitter admitter(resolver, admitter_options, {});
    // 20 uncached pods at the hung registry, more than the pool has threads.
    struct Answers {
      std::mutex mu;
      std::condition_variable cv;
      std::vector<HttpResponse> got;
    };
    auto hung = std::make_shared<Answers>();
    for (int i = 0; i < 20; ++i) {
      auto now = admitter.Admit(Review({stuck.host() + "/app/slow:u" + std::to_string(i)}), std::chrono::hours(1),
                                io_.get_executor(), [hung](HttpResponse response) {
                                  std::lock_guard lock(hung->mu);
                                  hung->got.push_back(std::move(response));
                                  hung->cv.notify_all();
                                });
      EXPECT_FALSE(now.has_value());
    }
    std::this_thread::sleep_for(milliseconds(100));  // their look-ups have taken what threads they can

    bool deferred = false;
    const auto start = std::chrono::steady_clock::now();
    const Answer sound = Read(AdmitAndWait(admitter, Review({registry_.host() + "/app/amd:1"}), deferred));
    const auto took = std::chrono::steady_clock::now() - start;
    EXPECT_TRUE(deferred);
    EXPECT_NE(sound.patch.find(R"("values":["amd64"])"), std::string::npos) << sound.patch << sound.warnings;
    EXPECT_LT(took, milliseconds(1000));

    // The hung pods are answered at their budget, without affinity.
    std::unique_lock lock(hung->mu);
    ASSERT_TRUE(hung->cv.wait_for(lock, std::chrono::seconds(10), [&] { return hung->got.size() == 20; }));
    for (const auto& response : hung->got) {
      EXPECT_NE(Read(response).warnings.find("did not finish within the time budget"), std::string::npos);
    }
  }
}

TEST_F(AdmitterTest, OnMissGateHoldsThePodWhoseLookUpMissesTheBudget) {
  testing::HttpReply hang;
  hang.hang = true;
  testing::LoopbackHttpServer stuck([hang](const testing::HttpRecord&) { return hang; });
  registry::ClientOptions options;
  options.request_timeout = std::chrono::seconds(2);
  registry::Client client(options);
  registry::Resolver resolver(client, {});
  AdmitterOptions gating;
  gating.budget = milliseconds(200);
  gating.gate_on_miss = true;
  gating.gate_controller = true;
  {
    Admitter admitter(resolver, gating, {});
    bool deferred = false;
    const Answer answer = Read(AdmitAndWait(admitter, Review({stuck.host() + "/app/slow:1"},
                                                             R"({"schedulingGates":[{"name":"example.com/q"}]})"),
                                            deferred));
    EXPECT_TRUE(deferred);
    EXPECT_EQ(Json::parse(answer.patch), Json::parse(R"([
        {"op":"add","path":"/spec/schedulingGates/-","value":{"name":"archway.dev/platforms"}},
        {"op":"add","path":"/metadata/labels","value":{"archway.dev/gated":"true"}}])"));
    EXPECT_NE(answer.warnings.find("SchedulingGated"), std::string::npos) << answer.warnings;

    // A pod created with the gate already: labelled for the controller, not gated twice.
    const Answer copied = Read(AdmitAndWait(
        admitter, Review({stuck.host() + "/app/slow:1"}, R"({"schedulingGates":[{"name":"archway.dev/platforms"}]})"),
        deferred));
    EXPECT_FALSE(deferred);
    EXPECT_EQ(Json::parse(copied.patch),
              Json::parse(R"([{"op":"add","path":"/metadata/labels","value":{"archway.dev/gated":"true"}}])"));
  }
  // The same pod bound to a node is never gated (the API refuses gates there).
  {
    Admitter admitter(resolver, gating, {});
    bool deferred = false;
    const Answer bound = Read(AdmitAndWait(admitter, Review({stuck.host() + "/app/slow:1"}, R"({"nodeName":"n1"})"),
                                           deferred));
    EXPECT_EQ(bound.patch.find("schedulingGates"), std::string::npos) << bound.patch;
  }
}

TEST_F(AdmitterTest, AFailureForGoodIsNotGated) {
  AdmitterOptions gating;
  gating.gate_on_miss = true;
  Admitter admitter(resolver_, gating, {});
  bool deferred = false;
  const Answer missing = Read(AdmitAndWait(admitter, Review({registry_.host() + "/app/missing:1"}), deferred));
  EXPECT_EQ(missing.patch.find("schedulingGates"), std::string::npos) << missing.patch;
  EXPECT_NE(missing.patch.find("archway.dev/skipped-reason"), std::string::npos) << missing.patch;
}

}  // namespace
}  // namespace archway::webhook

namespace archway::webhook {
namespace {

// Audit mode against the real registry: the cold (deferred) and the warm answer both carry
// only archway.dev/would-require, and the metric counts the pods by namespace.
TEST_F(AdmitterTest, AuditModeAnnotatesAndCountsButAddsNoAffinity) {
  PushImage(registry_, "audit/arm", "1", "arm64");
  PushImage(registry_, "audit/amd", "1", "amd64");
  Metrics metrics;
  AdmitterOptions options;
  options.mode = Mode::kAudit;
  AdmitterDeps deps;
  deps.metrics = &metrics;
  Admitter admitter(resolver_, options, deps);
  bool deferred = false;
  const std::string arm = Review({registry_.host() + "/audit/arm:1"});
  for (int i = 0; i < 2; ++i) {
    const Answer answer = Read(AdmitAndWait(admitter, arm, deferred));
    EXPECT_EQ(deferred, i == 0);
    EXPECT_EQ(answer.patch.find("affinity"), std::string::npos) << answer.patch;
    EXPECT_NE(answer.patch.find("archway.dev/would-require"), std::string::npos) << answer.patch;
    EXPECT_NE(answer.patch.find("kubernetes.io/arch in (arm64)"), std::string::npos) << answer.patch;
    EXPECT_NE(answer.warnings.find("nothing was enforced"), std::string::npos) << answer.warnings;
  }
  const Answer none = Read(AdmitAndWait(admitter, Review({registry_.host() + "/audit/arm:1", registry_.host() + "/audit/amd:1"}), deferred));
  EXPECT_EQ(none.patch.find("affinity"), std::string::npos) << none.patch;
  EXPECT_EQ(none.patch.find("schedulingGates"), std::string::npos) << none.patch;
  EXPECT_NE(none.patch.find("archway.dev/no-common-platform"), std::string::npos) << none.patch;
  const std::string scraped = metrics.Serialize();
  EXPECT_NE(scraped.find(R"(archway_audit_pods_total{namespace="team",outcome="constrained"} 2)"), std::string::npos)
      << scraped;
  EXPECT_NE(scraped.find(R"(archway_audit_pods_total{namespace="team",outcome="no_common_platform"} 1)"),
            std::string::npos)
      << scraped;
}

using testing::AnnotatedNamespaces;

std::string InNamespace(std::string review, const std::string& ns) {
  Json parsed = Json::parse(review);
  parsed["request"]["namespace"] = ns;
  parsed["request"]["object"]["metadata"]["namespace"] = ns;
  return parsed.dump();
}

std::string DaemonSetReview(const std::string& image, const std::string& ns) {
  const Json template_spec = {{"metadata", {{"labels", {{"app", "d"}}}}},
                              {"spec", {{"containers", Json::array({{{"name", "c"}, {"image", image}}})}}}};
  const Json daemon_set = {{"apiVersion", "apps/v1"},
                           {"kind", "DaemonSet"},
                           {"metadata", {{"name", "d"}, {"namespace", ns}}},
                           {"spec", {{"selector", {{"matchLabels", {{"app", "d"}}}}}, {"template", template_spec}}}};
  return Json{{"apiVersion", "admission.k8s.io/v1"},
              {"kind", "AdmissionReview"},
              {"request",
               {{"uid", "u2"},
                {"kind", {{"group", "apps"}, {"version", "v1"}, {"kind", "DaemonSet"}}},
                {"operation", "CREATE"},
                {"namespace", ns},
                {"dryRun", true},
                {"object", daemon_set}}}}
      .dump();
}

// The preferred terms of `review`'s object once `answer`'s patch is applied, as weight and
// architecture, in order ("50 arm64,10 amd64"); `spec` is where the pod spec is.
std::string PreferredAfter(const std::string& review, const Answer& answer, const std::string& spec) {
  Json object = Json::parse(review)["request"]["object"];
  if (!answer.patch.empty()) object = object.patch(Json::parse(answer.patch));
  const Json::json_pointer terms(spec + "/affinity/nodeAffinity/preferredDuringSchedulingIgnoredDuringExecution");
  std::string found;
  if (!object.contains(terms)) return found;
  for (const auto& term : object.at(terms)) {
    if (!found.empty()) found += ",";
    found += std::to_string(term["weight"].get<int>()) + " " +
             term["preference"]["matchExpressions"][1]["values"][0].get<std::string>();
  }
  return found;
}

// Pods and DaemonSet templates get their namespace's preferred platforms; a namespace
// whose annotation does not parse gets the config's, and a warning that says why.
TEST_F(AdmitterTest, TheNamespacesPreferredPlatformsReplaceTheConfigs) {
  testing::PushPlatformIndex(registry_, "steer/multi", "1", {"linux/amd64", "linux/arm64"});
  const std::string image = registry_.host() + "/steer/multi:1";
  const AnnotatedNamespaces namespaces({{"steered", "linux/arm64=50,linux/amd64=10"},
                                        {"unsteered", ""},
                                        {"typo", "linux/arm64=50,linux/amd64=500"}});
  AdmitterOptions options;
  options.decision.preferred_platforms = {{"linux", "amd64", 80}};
  AdmitterDeps deps;
  deps.namespaces = &namespaces;
  Admitter admitter(resolver_, options, deps);
  bool deferred = false;
  struct Case {
    std::string ns;
    std::string preferred;
    std::string warning;  // in the warnings ("" = none at all)
  };
  for (const Case& c : {Case{"steered", "50 arm64,10 amd64", ""}, Case{"unsteered", "", ""},
                        Case{"typo", "80 amd64", "\"linux/amd64=500\": weight 500 is outside 1-100"},
                        Case{"elsewhere", "80 amd64", ""}}) {
    SCOPED_TRACE(c.ns);
    const std::string pod_review = InNamespace(Review({image}), c.ns);
    const Answer pod = Read(AdmitAndWait(admitter, pod_review, deferred));
    EXPECT_NE(pod.patch.find("nodeSelectorTerms"), std::string::npos) << pod.patch;
    EXPECT_EQ(PreferredAfter(pod_review, pod, "/spec"), c.preferred) << pod.patch;
    const std::string daemon_set_review = DaemonSetReview(image, c.ns);
    const Answer daemon_set = Read(AdmitAndWait(admitter, daemon_set_review, deferred));
    EXPECT_NE(daemon_set.patch.find("nodeSelectorTerms"), std::string::npos) << daemon_set.patch;
    EXPECT_EQ(PreferredAfter(daemon_set_review, daemon_set, "/spec/template/spec"), c.preferred) << daemon_set.patch;
    for (const Answer* answer : {&pod, &daemon_set}) {
      if (c.warning.empty()) {
        EXPECT_EQ(answer->warnings, "") << answer->warnings;
      } else {
        EXPECT_NE(answer->warnings.find("namespace " + c.ns), std::string::npos) << answer->warnings;
        const std::string escaped = Json(c.warning).dump();  // as it is in the warnings' JSON text
        EXPECT_NE(answer->warnings.find(escaped.substr(1, escaped.size() - 2)), std::string::npos) << answer->warnings;
      }
    }
  }
}

}  // namespace
}  // namespace archway::webhook
