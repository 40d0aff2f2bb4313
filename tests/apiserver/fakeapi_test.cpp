// The fake API server (tests/fakeapi) against the real one: the same calls, through the
// same kube::Client, on both, and what archway's code can observe of each answer (error
// class and API reason, defaults, generation, status subresource, selectors, paging,
// deletion answers, watch events) must be the same. Every difference found here was
// either fixed in the fake or is listed in tests/fakeapi/fake_api_server.h as a known,
// deliberate one.
#include <algorithm>
#include <chrono>
#include <functional>
#include <map>
#include <thread>

#include <gtest/gtest.h>

#include "kube/client.h"
#include "kube/errors.h"
#include "kube/resource.h"
#include "operator/spec.h"
#include "tests/apiserver/apiserver_env.h"
#include "tests/fakeapi/fake_api_server.h"

namespace archway::apitest {
namespace {

namespace r = kube::resources;

std::string Outcome(const Error& e) { return std::string(ErrorCodeName(e.code)) + " / " + e.reason; }

template <typename T>
Json Outcome(const Result<T>& result) {
  return result.ok() ? Json("ok") : Json(Outcome(result.error()));
}

// A Secret; pull-secret types carry the key their type requires, with JSON in it.
Json Secret(const std::string& name, const Json& labels, const std::string& type = "") {
  Json secret = {{"apiVersion", "v1"},
                 {"kind", "Secret"},
                 {"metadata", {{"name", name}, {"labels", labels}}},
                 {"data", {{"k", "dg=="}}}};
  if (!type.empty()) secret["type"] = type;
  if (type == "kubernetes.io/dockerconfigjson") secret["data"][".dockerconfigjson"] = "eyJhdXRocyI6e319";  // {"auths":{}}
  if (type == "kubernetes.io/dockercfg") secret["data"][".dockercfg"] = "e30=";                          // {}
  return secret;
}

std::vector<std::string> Names(const Result<kube::ListResult>& list) {
  std::vector<std::string> names;
  if (!list.ok()) return {"error: " + Outcome(list.error())};
  for (const auto& item : list->items) {
    const std::string name = item["metadata"].value("name", "");
    names.push_back(name.rfind("gen-", 0) == 0 ? "gen-(generated)" : name);  // the suffix is random
  }
  std::sort(names.begin(), names.end());
  return names;
}

Json MetadataKeys(const Json& object) {
  Json keys = Json::array();
  for (const char* key : {"name", "namespace", "uid", "resourceVersion", "creationTimestamp", "generation"}) {
    if (object["metadata"].contains(key)) keys.push_back(key);
  }
  return keys;
}

// The field a 422 names first ("spec.schedulingGates[1].name"), from the API's message
// "Pod \"x\" is invalid: <field>: <reason>..." (or "... is invalid: [<field>: ...]").
std::string InvalidField(const Error& e) {
  const std::string marker = "is invalid: ";
  size_t at = e.message.find(marker);
  if (at == std::string::npos) return "";
  at += marker.size();
  if (at < e.message.size() && e.message[at] == '[') ++at;
  const size_t colon = e.message.find(':', at);
  return colon == std::string::npos ? "" : e.message.substr(at, colon - at);
}

template <typename T>
Json OutcomeWithField(const Result<T>& result) {
  if (result.ok()) return "ok";
  const std::string field = InvalidField(result.error());
  return Outcome(result.error()) + (field.empty() ? "" : " @ " + field);
}

Json GatedPod(const std::string& name, const std::vector<std::string>& gates, const Json& spec = Json::object()) {
  Json pod = {{"apiVersion", "v1"},
              {"kind", "Pod"},
              {"metadata", {{"name", name}}},
              {"spec", {{"containers", Json::array({{{"name", "c"}, {"image", "busybox:1"}}})}}}};
  for (const auto& gate : gates) pod["spec"]["schedulingGates"].push_back({{"name", gate}});
  if (spec.is_object()) pod["spec"].update(spec);
  return pod;
}

const Json kTerm = Json::parse(R"({"matchExpressions":[{"key":"disk","operator":"In","values":["ssd"]}]})");
const Json kArch = Json::parse(R"({"key":"kubernetes.io/arch","operator":"In","values":["arm64"]})");

Json Required(const Json& terms) {
  return {{"nodeAffinity", {{"requiredDuringSchedulingIgnoredDuringExecution", {{"nodeSelectorTerms", terms}}}}}};
}

// The rules of KEP-3521 (gates only at creation, then only removed) and KEP-3838 (a gated
// pod's nodeSelector may only gain entries; its required node affinity may be set when
// there is none, else only gain requirements in its existing terms; its preferred terms
// are free), and what an ungated pod may not do, as each server enforces them.
void ObserveGatedPods(kube::Client& c, const std::string& ns, Json& o) {
  auto created = c.Create(r::kPods, ns, GatedPod("gated", {"example.com/a", "archway.dev/platforms"}));
  o["gated: create"] = OutcomeWithField(created);
  if (created.ok()) {
    Json gates = Json::array();
    for (const auto& gate : created->at("spec").value("schedulingGates", Json::array())) gates.push_back(gate.value("name", ""));
    o["gated: stored gates"] = gates;
    Json conditions = Json::array();
    for (const auto& condition : created->value("status", Json::object()).value("conditions", Json::array())) {
      conditions.push_back(condition.value("type", "") + "=" + condition.value("status", "") + " " +
                           condition.value("reason", ""));
    }
    o["gated: status conditions"] = conditions;
  }
  o["gated: create with spec.nodeName"] =
      OutcomeWithField(c.Create(r::kPods, ns, GatedPod("bound", {"archway.dev/platforms"}, {{"nodeName", "n1"}})));
  o["gated: create with a gate twice"] =
      OutcomeWithField(c.Create(r::kPods, ns, GatedPod("twice", {"archway.dev/platforms", "archway.dev/platforms"})));
  std::vector<std::string> fifty;
  for (int i = 0; i < 50; ++i) fifty.push_back("example.com/g" + std::to_string(i));
  o["gated: create with 50 gates"] = OutcomeWithField(c.Create(r::kPods, ns, GatedPod("fifty", fifty)));
  o["gated: create with an invalid gate name"] =
      OutcomeWithField(c.Create(r::kPods, ns, GatedPod("badgate", {"not a name"})));

  // Each update case: a pod of its own, created with `gates` and `spec`, then changed.
  int n = 0;
  auto update = [&](const std::string& what, const std::vector<std::string>& gates, const Json& spec,
                    const std::function<void(Json&)>& change) {
    const std::string name = "u" + std::to_string(n++);
    auto made = c.Create(r::kPods, ns, GatedPod(name, gates, spec));
    if (!made.ok()) {
      o[what] = "create: " + OutcomeWithField(made).get<std::string>();
      return;
    }
    Json changed = *made;
    change(changed);
    auto updated = c.Update(r::kPods, ns, changed);
    Json seen = OutcomeWithField(updated);
    if (updated.ok()) {
      const auto pointer =
          "/spec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms"_json_pointer;
      seen = Json{{"outcome", "ok"},
                  {"gates", updated->at("spec").value("schedulingGates", Json::array()).size()},
                  {"terms", updated->contains(pointer) ? Json(updated->at(pointer).size()) : Json()}};
    }
    o[what] = seen;
  };
  const std::vector<std::string> gate = {"archway.dev/platforms"};
  const std::vector<std::string> two = {"example.com/a", "archway.dev/platforms"};
  auto gates_of = [](Json& pod) -> Json& { return pod["spec"]["schedulingGates"]; };
  update("gated: add a gate", gate, {}, [&](Json& p) { gates_of(p).push_back({{"name", "example.com/late"}}); });
  update("gated: remove one of two gates", two, {}, [&](Json& p) { gates_of(p).erase(1); });
  update("gated: remove the last gate", gate, {}, [](Json& p) { p["spec"].erase("schedulingGates"); });
  update("ungated: add a gate", {}, {}, [&](Json& p) { p["spec"]["schedulingGates"] = {{{"name", "example.com/a"}}}; });
  update("gated: labels and annotations", gate, {}, [](Json& p) {
    p["metadata"]["labels"]["x"] = "y";
    p["metadata"]["annotations"]["archway.dev/platforms"] = "linux/amd64";
  });
  update("gated: image", gate, {}, [](Json& p) { p["spec"]["containers"][0]["image"] = "busybox:2"; });
  update("gated: nodeSelector added", gate, {}, [](Json& p) { p["spec"]["nodeSelector"] = {{"disk", "ssd"}}; });
  update("gated: nodeSelector entry added", gate, {{"nodeSelector", {{"disk", "ssd"}}}},
         [](Json& p) { p["spec"]["nodeSelector"]["zone"] = "a"; });
  update("gated: nodeSelector entry changed", gate, {{"nodeSelector", {{"disk", "ssd"}}}},
         [](Json& p) { p["spec"]["nodeSelector"]["disk"] = "hdd"; });
  update("gated: nodeSelector entry removed", gate, {{"nodeSelector", {{"disk", "ssd"}, {"zone", "a"}}}},
         [](Json& p) { p["spec"]["nodeSelector"].erase("zone"); });
  update("ungated: nodeSelector added", {}, {}, [](Json& p) { p["spec"]["nodeSelector"] = {{"disk", "ssd"}}; });
  update("gated: required affinity set (none before), two terms", gate, {}, [&](Json& p) {
    p["spec"]["affinity"] = Required(Json::array({kTerm, kTerm}));
  });
  update("gated: required affinity set, gate removed in the same update", gate, {}, [&](Json& p) {
    p["spec"]["affinity"] = Required(Json::array({kTerm}));
    p["spec"].erase("schedulingGates");
  });
  update("ungated: required affinity set", {}, {}, [&](Json& p) { p["spec"]["affinity"] = Required(Json::array({kTerm})); });
  const Json with_terms = {{"affinity", Required(Json::array({kTerm, kTerm}))}};
  update("gated: expression appended to each term", gate, with_terms, [&](Json& p) {
    for (auto& term : p["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
                          ["nodeSelectorTerms"]) {
      term["matchExpressions"].push_back(kArch);
    }
  });
  update("gated: expression inserted before the existing one", gate, with_terms, [&](Json& p) {
    auto& expressions = p["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
                         ["nodeSelectorTerms"][0]["matchExpressions"];
    expressions.insert(expressions.begin(), kArch);
  });
  update("gated: matchFields added to a term", gate, with_terms, [&](Json& p) {
    p["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0]
     ["matchFields"] = Json::parse(R"([{"key":"metadata.name","operator":"In","values":["n1"]}])");
  });
  update("gated: a term added", gate, with_terms, [&](Json& p) {
    p["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
        .push_back(kTerm);
  });
  update("gated: an existing expression changed", gate, with_terms, [&](Json& p) {
    p["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0]
     ["matchExpressions"][0]["values"] = {"hdd"};
  });
  update("gated: required affinity removed", gate, with_terms,
         [](Json& p) { p["spec"]["affinity"]["nodeAffinity"].erase("requiredDuringSchedulingIgnoredDuringExecution"); });
  update("gated: preferred terms set", gate, with_terms, [&](Json& p) {
    p["spec"]["affinity"]["nodeAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"] = {
        {{"weight", 10}, {"preference", kTerm}}};
  });
  update("gated: required set where only preferred was", gate,
         {{"affinity", {{"nodeAffinity", {{"preferredDuringSchedulingIgnoredDuringExecution",
                                           {{{"weight", 10}, {"preference", kTerm}}}}}}}}},
         [&](Json& p) {
           p["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"] = {
               {"nodeSelectorTerms", {kTerm}}};
         });
  update("gated: podAntiAffinity added", gate, {}, [&](Json& p) {
    p["spec"]["affinity"] = Json::parse(
        R"({"podAntiAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":[{"topologyKey":"kubernetes.io/hostname","labelSelector":{"matchLabels":{"a":"b"}}}]}})");
  });
  update("gated: tolerations added", gate, {}, [](Json& p) {
    p["spec"]["tolerations"] = Json::parse(R"([{"key":"k","operator":"Exists","effect":"NoSchedule"}])");
  });
  update("gated: restartPolicy changed", gate, {}, [](Json& p) { p["spec"]["restartPolicy"] = "Never"; });
}

// Everything observed, keyed by what was done. `ns` exists on both servers.
Json Observe(kube::Client& c, const std::string& ns) {
  Json o;
  // --- Secrets: create, read, conflicts, updates, patches -----------------------------
  auto created = c.Create(r::kSecrets, ns, Secret("a", {{"app", "web"}, {"tier", "front"}}, "kubernetes.io/dockerconfigjson"));
  o["create"] = Outcome(created);
  if (!created.ok()) return o;
  o["create: metadata set"] = MetadataKeys(*created);
  o["create: type defaults to"] = c.Create(r::kSecrets, ns, Secret("b", {{"app", "web"}, {"tier", "back"}}))->value("type", "");
  o["create: dockercfg"] = Outcome(c.Create(r::kSecrets, ns, Secret("c", {{"app", "db"}}, "kubernetes.io/dockercfg")));
  Json generated = Secret("", Json::object());
  generated["metadata"].erase("name");
  generated["metadata"]["generateName"] = "gen-";
  auto made = c.Create(r::kSecrets, ns, generated);
  o["create with generateName"] = made.ok() ? Json(made->at("metadata").value("name", "").substr(0, 4) + " + " +
                                                  std::to_string(made->at("metadata").value("name", "").size() - 4) +
                                                  " characters")
                                            : Outcome(made);
  Json without_key = Secret("d", Json::object(), "kubernetes.io/dockerconfigjson");
  without_key["data"].erase(".dockerconfigjson");
  o["create: dockerconfigjson without its key"] = Outcome(c.Create(r::kSecrets, ns, without_key));
  Json not_json = Secret("d", Json::object(), "kubernetes.io/dockerconfigjson");
  not_json["data"][".dockerconfigjson"] = "bm90IGpzb24=";  // "not json"
  o["create: dockerconfigjson that is not JSON"] = Outcome(c.Create(r::kSecrets, ns, not_json));
  o["create: bad name"] = Outcome(c.Create(r::kSecrets, ns, Secret("Bad_Name", Json::object())));
  o["create: duplicate"] = Outcome(c.Create(r::kSecrets, ns, Secret("a", Json::object())));
  o["create: in a namespace that does not exist"] = Outcome(c.Create(r::kSecrets, "no-such-namespace", Secret("x", Json::object())));
  o["get: missing"] = Outcome(c.Get(r::kSecrets, ns, "missing"));

  Json stale = *created;
  Json fresh = *created;
  fresh["data"]["k"] = "dzI=";
  auto updated = c.Update(r::kSecrets, ns, fresh);
  o["update"] = Outcome(updated);
  o["update: resourceVersion changes"] =
      updated.ok() && updated->at("metadata").value("resourceVersion", "") != created->at("metadata").value("resourceVersion", "");
  stale["data"]["k"] = "dzM=";
  o["update: stale resourceVersion"] = Outcome(c.Update(r::kSecrets, ns, stale));
  Json unconditional = *created;
  unconditional["metadata"].erase("resourceVersion");
  o["update: no resourceVersion"] = Outcome(c.Update(r::kSecrets, ns, unconditional));
  auto merged = c.Patch(r::kSecrets, ns, "a", kube::PatchType::kMerge, {{"metadata", {{"labels", {{"tier", nullptr}, {"x", "y"}}}}}});
  o["patch: merge"] = merged.ok() ? merged->at("metadata").value("labels", Json::object()) : Outcome(merged);
  o["patch: json, failing test"] = Outcome(c.Patch(r::kSecrets, ns, "a", kube::PatchType::kJson,
                                                    Json::parse(R"([{"op":"test","path":"/type","value":"x"}])")));
  o["patch: missing object"] = Outcome(c.Patch(r::kSecrets, ns, "missing", kube::PatchType::kMerge, Json::object()));

  // --- lists: selectors and paging ------------------------------------------------------
  auto list = [&](const std::string& label, const std::string& field) {
    kube::ListOptions options;
    options.label_selector = label;
    options.field_selector = field;
    return Names(c.List(r::kSecrets, ns, options));
  };
  o["list: app=web"] = list("app=web", "");
  o["list: app!=web"] = list("app!=web", "");
  o["list: app in (web,db)"] = list("app in (web,db)", "");
  o["list: app notin (web)"] = list("app notin (web)", "");
  o["list: tier"] = list("tier", "");
  o["list: !tier"] = list("!tier", "");
  o["list: type=dockerconfigjson"] = list("", "type=kubernetes.io/dockerconfigjson");
  o["list: metadata.name=b"] = list("", "metadata.name=b");
  o["list: unsupported field selector"] = list("", "data.k=dg==");
  kube::ListOptions paged;
  paged.limit = 2;
  auto page1 = c.List(r::kSecrets, ns, paged);
  if (page1.ok()) {
    o["list: page 1"] = {{"items", page1->items.size()},
                         {"continue", !page1->continue_token.empty()},
                         {"remaining", page1->remaining_item_count.value_or(-1)}};
    paged.continue_token = page1->continue_token;
    auto page2 = c.List(r::kSecrets, ns, paged);
    o["list: page 2"] = page2.ok() ? Json{{"items", page2->items.size()},
                                          {"continue", !page2->continue_token.empty()},
                                          {"remaining", page2->remaining_item_count.value_or(-1)}}
                                   : Outcome(page2);
  }

  // --- deletion answers -----------------------------------------------------------------
  auto deleted = c.Delete(r::kSecrets, ns, "b");
  o["delete: secret answers"] = deleted.ok() ? Json(deleted->value("kind", "")) : Outcome(deleted);
  o["delete: missing"] = Outcome(c.Delete(r::kSecrets, ns, "missing"));

  // --- pods and jobs: validation and defaults -------------------------------------------
  Json pod = {{"apiVersion", "v1"}, {"kind", "Pod"}, {"metadata", {{"name", "p"}}}, {"spec", {{"containers", Json::array()}}}};
  o["pod: no containers"] = Outcome(c.Create(r::kPods, ns, pod));
  ObserveGatedPods(c, ns, o);
  Json job_pod = {{"restartPolicy", "Never"}, {"containers", Json::array({{{"name", "c"}, {"image", "busybox"}}})}};
  Json job = {{"apiVersion", "batch/v1"}, {"kind", "Job"}, {"metadata", {{"name", "j"}}}};
  job["spec"]["template"]["spec"] = job_pod;
  auto made_job = c.Create(r::kJobs, ns, job);
  o["job: create"] = Outcome(made_job);
  if (made_job.ok()) {
    const Json& spec = made_job->at("spec");
    o["job: defaults"] = {{"parallelism", spec.value("parallelism", -1)},
                          {"completions", spec.value("completions", -1)},
                          {"backoffLimit", spec.value("backoffLimit", -1)},
                          {"completionMode", spec.value("completionMode", "")},
                          {"suspend", spec.value("suspend", true)},
                          {"generation", made_job->at("metadata").value("generation", 0)},
                          {"selector has controller-uid",
                           spec["selector"]["matchLabels"].contains("batch.kubernetes.io/controller-uid")},
                          {"template job-name", spec["template"]["metadata"]["labels"].value("job-name", "")}};
    Json with_status = *made_job;
    with_status["status"] = {{"succeeded", 1}, {"active", 0}};
    auto status = c.UpdateStatus(r::kJobs, ns, with_status);
    o["job: status update"] = status.ok() ? Json(status->at("status").value("succeeded", 0)) : Outcome(status);
  }

  // --- the custom resource ----------------------------------------------------------------
  Json mai = {{"apiVersion", "archway.dev/v1alpha1"},
              {"kind", "MultiArchImage"},
              {"metadata", {{"name", "m"}}},
              {"spec",
               {{"image", "registry.lan/web:1"},
                {"platforms", {"linux/amd64"}},
                {"sources", {{{"image", "registry.lan/web:1-amd64"}}}},
                {"unknownField", true}}}};
  auto made_mai = c.Create(op::kMultiArchImageResource, ns, mai);
  o["mai: create"] = Outcome(made_mai);
  if (made_mai.ok()) {
    o["mai: create"] = {{"generation", made_mai->at("metadata").value("generation", 0)},
                        {"format default", made_mai->at("spec").value("format", "")},
                        {"unknown field kept", made_mai->at("spec").contains("unknownField")}};
    Json spec_change = *made_mai;
    spec_change["spec"]["platforms"] = {"linux/amd64", "linux/arm64"};
    spec_change["spec"]["sources"].push_back({{"image", "registry.lan/web:1-arm64"}});
    auto after_spec = c.Update(op::kMultiArchImageResource, ns, spec_change);
    Json label_change = after_spec.ok() ? *after_spec : Json(spec_change);
    label_change["metadata"]["labels"] = {{"team", "a"}};
    auto after_labels = c.Update(op::kMultiArchImageResource, ns, label_change);
    Json status_change = after_labels.ok() ? *after_labels : label_change;
    status_change["status"] = {{"phase", "Ready"}, {"observedGeneration", 2}};
    status_change["spec"]["image"] = "registry.lan/ignored:9";
    auto after_status = c.UpdateStatus(op::kMultiArchImageResource, ns, status_change);
    Json main_with_status = after_status.ok() ? *after_status : status_change;
    main_with_status["status"]["phase"] = "Failed";
    auto after_main = c.Update(op::kMultiArchImageResource, ns, main_with_status);
    auto generation = [](const Result<Json>& obj) { return obj.ok() ? obj->at("metadata").value("generation", 0) : -1; };
    o["mai: generation after spec, labels, status, main updates"] = {generation(after_spec), generation(after_labels),
                                                                     generation(after_status), generation(after_main)};
    o["mai: status update keeps the spec"] = after_status.ok() ? after_status->at("spec").value("image", "") : "error";
    o["mai: main update keeps the status"] =
        after_main.ok() ? after_main->value("status", Json::object()).value("phase", "") : "error";
    auto gone = c.Delete(op::kMultiArchImageResource, ns, "m");
    o["mai: delete answers"] = gone.ok() ? Json{{"kind", gone->value("kind", "")}, {"status", gone->value("status", "")}}
                                         : Outcome(gone);
  }

  // --- Lease MicroTime, Events ----------------------------------------------------------------
  Json lease = {{"apiVersion", "coordination.k8s.io/v1"},
                {"kind", "Lease"},
                {"metadata", {{"name", "l"}}},
                {"spec", {{"holderIdentity", "me"}, {"leaseDurationSeconds", 15}, {"renewTime", "2026-11-23T15:11:45.5Z"}}}};
  o["lease: renewTime without 6 fraction digits"] = Outcome(c.Create(r::kLeases, ns, lease));
  lease["spec"]["renewTime"] = "2026-11-23T15:11:45.500000Z";
  o["lease: MicroTime"] = Outcome(c.Create(r::kLeases, ns, lease));
  Json event = {{"apiVersion", "events.k8s.io/v1"},
                {"kind", "Event"},
                {"metadata", {{"name", "e"}}},
                {"eventTime", "2026-11-23T15:11:45.500000Z"},
                {"reason", "Test"},
                {"regarding", {{"kind", "Secret"}, {"name", "a"}, {"namespace", ns}}}};
  o["event: without reportingController, action, type"] = Outcome(c.Create(r::kEvents, ns, event));

  // --- watch from a list's resourceVersion ----------------------------------------------------
  kube::ListOptions labelled;
  labelled.label_selector = "watched=yes";
  auto before = c.List(r::kSecrets, ns, labelled);
  if (before.ok()) {
    std::vector<std::string> seen;
    std::stop_source stop;
    std::thread watcher([&] {
      kube::WatchOptions options;
      options.resource_version = before->resource_version;
      options.label_selector = "watched=yes";
      options.allow_bookmarks = false;
      options.timeout_seconds = 10;
      Status s = c.Watch(r::kSecrets, ns, options, [&](const kube::WatchEvent& e) {
        seen.push_back(std::string(kube::WatchEventTypeName(e.type)) + " " + e.object["metadata"].value("name", ""));
        return seen.size() < 3;
      }, stop.get_token());
      if (!s.ok()) seen.push_back("error: " + Outcome(s.error()));
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    o["watch: create"] = Outcome(c.Create(r::kSecrets, ns, Secret("w", {{"watched", "yes"}})));
    o["watch: patch"] = Outcome(c.Patch(r::kSecrets, ns, "w", kube::PatchType::kMerge, {{"data", {{"k", "eA=="}}}}));
    o["watch: delete"] = Outcome(c.Delete(r::kSecrets, ns, "w"));
    watcher.join();
    o["watch: events"] = seen;
  }
  return o;
}

TEST(FakeApiServer, AnswersAsTheRealApiserverDoes) {
  ARCHWAY_REQUIRE_CLUSTER();
  const std::string ns = "fake-vs-real";
  Cluster().CreateNamespace(ns);
  auto real_client = Cluster().AdminClient();

  fakeapi::FakeApiServer fake;
  ASSERT_TRUE(fake.Start().ok());
  fake.Put(r::kNamespaces, {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", ns}}}});
  kube::ClientOptions options;
  options.max_retries = 0;
  auto fake_client = kube::NewHttpClient(fake.ClusterConfig(), options);
  ASSERT_TRUE(fake_client.ok()) << fake_client.error().message;

  const Json real = Observe(*real_client, ns);
  const Json faked = Observe(**fake_client, ns);
  // Deliberate differences (fake_api_server.h says why).
  const std::map<std::string, std::string> known = {
      {"create: in a namespace that does not exist", "the fake has no namespace lifecycle: every namespace exists"},
  };
  for (const auto& [what, observed] : real.items()) {
    if (known.count(what)) {
      std::printf("known difference, %s: real %s, fake %s (%s)\n", what.c_str(), observed.dump().c_str(),
                  faked.value(what, Json()).dump().c_str(), known.at(what).c_str());
      continue;
    }
    EXPECT_EQ(faked.value(what, Json("(not observed)")), observed) << what;
  }
  for (const auto& [what, observed] : real.items()) {
    if (what.rfind("gated", 0) == 0 || what.rfind("ungated", 0) == 0) {
      std::printf("real apiserver, %s: %s\n", what.c_str(), observed.dump().c_str());
    }
  }
  std::printf("fake vs real: %zu observations compared\n", real.size());
}

}  // namespace
}  // namespace archway::apitest
