// Table tests of DaemonSet template patches (daemonset.h): each review is read by the
// admission reader, the template decided, and the patch applied with nlohmann's JSON
// Patch to the DaemonSet as sent; the template after it is checked. Plus the pod path's
// short cut for a DaemonSet's pods, the node matcher and the skipped-node count.
#include "webhook/daemonset.h"

#include <gtest/gtest.h>

#include "base/encoding.h"
#include "webhook/review.h"

namespace archway::webhook {
namespace {

using State = ImageOutcome::State;

const std::string kAmd = "reg.lan/exporter:1";       // linux/amd64 only
const std::string kMulti = "reg.lan/exporter:2";     // linux/amd64 + linux/arm64
const std::string kMixed = "reg.lan/agent:1";        // linux/amd64 + linux/arm64 + windows/amd64
const std::string kArm = "reg.lan/pi-only:1";        // linux/arm only
const std::string kUnknown = "reg.lan/slow:1";       // its look-up did not finish

ImageOutcome Outcome(const std::string& image) {
  ImageOutcome outcome;
  outcome.image = image;
  outcome.state = State::kResolved;
  if (image == kAmd) outcome.platforms = {{"linux", "amd64"}};
  if (image == kMulti) outcome.platforms = {{"linux", "amd64"}, {"linux", "arm64"}};
  if (image == kMixed) outcome.platforms = {{"linux", "amd64"}, {"linux", "arm64"}, {"windows", "amd64"}};
  if (image == kArm) outcome.platforms = {{"linux", "arm"}};
  if (image == kUnknown) outcome.state = State::kUnfinished;
  return outcome;
}

Json In(const std::string& key, const std::vector<std::string>& values) {
  return Json{{"key", key}, {"operator", "In"}, {"values", values}};
}
Json OsIs(const std::string& os) { return In("kubernetes.io/os", {os}); }
Json ArchIn(const std::vector<std::string>& archs) { return In("kubernetes.io/arch", archs); }
Json Zone(const std::string& zone) { return In("topology.kubernetes.io/zone", {zone}); }
Json Term(const std::vector<Json>& expressions) { return Json{{"matchExpressions", expressions}}; }
Json Affinity(const Json& terms) {
  return Json{{"nodeAffinity", {{"requiredDuringSchedulingIgnoredDuringExecution", {{"nodeSelectorTerms", terms}}}}}};
}

// A pod template as a user writes one (containers, optional affinity and annotations).
Json Template(const std::vector<std::string>& images, const Json& affinity = nullptr,
              const Json& annotations = nullptr) {
  Json tmpl = {{"metadata", {{"labels", {{"app", "node-exporter"}}}}},
               {"spec", {{"containers", Json::array()}, {"hostNetwork", true}}}};
  for (size_t i = 0; i < images.size(); ++i) {
    tmpl["spec"]["containers"].push_back({{"name", "c" + std::to_string(i)}, {"image", images[i]}});
  }
  if (!affinity.is_null()) tmpl["spec"]["affinity"] = affinity;
  if (!annotations.is_null()) tmpl["metadata"]["annotations"] = annotations;
  return tmpl;
}

Json DaemonSet(const Json& tmpl) {
  return {{"apiVersion", "apps/v1"},
          {"kind", "DaemonSet"},
          {"metadata", {{"name", "node-exporter"}, {"namespace", "monitoring"}, {"uid", "6b3c..."}}},
          {"spec",
           {{"selector", {{"matchLabels", {{"app", "node-exporter"}}}}},
            {"updateStrategy", {{"type", "RollingUpdate"}}},
            {"template", tmpl}}}};
}

// An AdmissionReview of a DaemonSet, as kube-apiserver sends one (admission.k8s.io/v1).
std::string Review(const Json& object, const Json& old_object) {
  return Json{{"apiVersion", "admission.k8s.io/v1"},
              {"kind", "AdmissionReview"},
              {"request",
               {{"uid", "a6f7c3d2-0000-4000-8000-000000000001"},
                {"kind", {{"group", "apps"}, {"version", "v1"}, {"kind", "DaemonSet"}}},
                {"resource", {{"group", "apps"}, {"version", "v1"}, {"resource", "daemonsets"}}},
                {"requestKind", {{"group", "apps"}, {"version", "v1"}, {"kind", "DaemonSet"}}},
                {"requestResource", {{"group", "apps"}, {"version", "v1"}, {"resource", "daemonsets"}}},
                {"name", "node-exporter"},
                {"namespace", "monitoring"},
                {"operation", old_object.is_null() ? "CREATE" : "UPDATE"},
                {"userInfo", {{"username", "kubernetes-admin"}, {"groups", {"system:masters"}}}},
                {"object", object},
                {"oldObject", old_object},
                {"dryRun", false},
                {"options", {{"apiVersion", "meta.k8s.io/v1"}, {"kind", old_object.is_null() ? "CreateOptions" : "UpdateOptions"}}}}}}
      .dump();
}

struct Decided {
  TemplateDecision decided;
  bool looked_up = false;  // the decision needed the images' look-ups
  Json after;              // the template after the patch
};

// The review read, planned, decided with the images' outcomes, and its patch applied to
// the DaemonSet as sent.
Decided Decide(const Json& tmpl, const Json& stored_tmpl = nullptr, DecisionOptions options = {},
               const std::vector<NodeLabels>* nodes = nullptr) {
  const Json object = DaemonSet(tmpl);
  const Json stored = stored_tmpl.is_null() ? Json() : DaemonSet(stored_tmpl);
  auto request = ParseAdmissionReview(Review(object, stored));
  EXPECT_TRUE(request.ok()) << (request.ok() ? "" : request.error().message);
  EXPECT_TRUE(request->IsDaemonSet());
  auto plan = PlanDaemonSet(request->object, request->old_object, request->ns, options);
  EXPECT_TRUE(plan.ok()) << (plan.ok() ? "" : plan.error().message);
  Decided out;
  out.looked_up = plan->NeedsLookUp();
  std::vector<ImageOutcome> outcomes;
  if (out.looked_up) {
    for (const auto& image : plan->pod.images) outcomes.push_back(Outcome(image));
  }
  ClusterFacts facts;
  out.decided = DecideTemplate(*plan, outcomes, facts, nodes, options);
  Json patched = object;
  if (!out.decided.patch.empty()) {
    const Json patch = Json::parse(out.decided.patch);
    EXPECT_EQ(patch.dump(), out.decided.patch) << "canonical JSON";
    for (const auto& op : patch) {
      EXPECT_EQ(op["path"].get<std::string>().rfind("/spec/template/", 0), 0u) << "only the template is patched: " << op;
    }
    patched = object.patch(patch);
    EXPECT_EQ(patched["metadata"], object["metadata"]);
    EXPECT_EQ(patched["spec"]["selector"], object["spec"]["selector"]);
  }
  out.after = patched["spec"]["template"];
  return out;
}

Json Terms(const Json& tmpl) {
  const auto pointer =
      "/spec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms"_json_pointer;
  return tmpl.contains(pointer) ? tmpl.at(pointer) : Json();
}

std::string Annotation(const Json& tmpl, const std::string& key) {
  const Json annotations = tmpl["metadata"].value("annotations", Json::object());
  return annotations.contains(key) ? annotations[key].get<std::string>() : "<none>";
}

const Json kUserTerms = Json::array({Term({Zone("a")}), Term({In("disk", {"ssd"})})});

TEST(DaemonSetTemplate, CreateGivesTheTemplateTheAffinityAPodWouldGet) {
  struct Case {
    std::string name;
    Json tmpl;
    Json terms;  // expected
    std::string platforms;
  };
  const Json pinned = Json::array({Term({Zone("a"), ArchIn({"arm64"})}), Term({Zone("b")})});
  const std::vector<Case> cases = {
      {"no affinity", Template({kAmd}), Json::array({Term({OsIs("linux"), ArchIn({"amd64"})})}), "linux/amd64"},
      {"user terms: ANDed into each",
       Template({kMulti}, Affinity(kUserTerms)),
       Json::array({Term({Zone("a"), OsIs("linux"), ArchIn({"amd64", "arm64"})}),
                    Term({In("disk", {"ssd"}), OsIs("linux"), ArchIn({"amd64", "arm64"})})}),
       "linux/amd64,linux/arm64"},
      {"a user term that pins the architecture is left as written",
       Template({kAmd}, Affinity(pinned)),
       Json::array({pinned[0], Term({Zone("b"), OsIs("linux"), ArchIn({"amd64"})})}), "linux/amd64"},
      {"mixed-OS images: one term per OS",
       Template({kMixed}, Affinity(Json::array({Term({Zone("a")})}))),
       Json::array({Term({Zone("a"), OsIs("linux"), ArchIn({"amd64", "arm64"})}),
                    Term({Zone("a"), OsIs("windows"), ArchIn({"amd64"})})}),
       "linux/amd64,linux/arm64,windows/amd64"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    Decided d = Decide(c.tmpl);
    EXPECT_TRUE(d.looked_up);
    EXPECT_EQ(d.decided.decision.result, AdmissionResult::kMutated);
    EXPECT_TRUE(d.decided.placement_changed);
    EXPECT_EQ(Terms(d.after), c.terms) << d.decided.patch;
    EXPECT_EQ(Annotation(d.after, kPlatformsAnnotation), c.platforms);
    EXPECT_EQ(d.after["metadata"]["labels"], c.tmpl["metadata"]["labels"]);
    EXPECT_EQ(d.after["spec"]["containers"], c.tmpl["spec"]["containers"]);
  }
}

TEST(DaemonSetTemplate, SkipRulesAreThoseOfPods) {
  const Json all_pinned = Affinity(Json::array({Term({ArchIn({"arm64"})})}));
  for (const Json& tmpl : {Template({kAmd}, all_pinned),
                           Template({kAmd}, nullptr, {{"archway.dev/skip", "true"}}),
                           [] {
                             Json t = Template({kAmd});
                             t["spec"]["nodeSelector"] = {{"kubernetes.io/arch", "amd64"}};
                             return t;
                           }()}) {
    SCOPED_TRACE(tmpl.dump());
    Decided d = Decide(tmpl);
    EXPECT_FALSE(d.looked_up);
    EXPECT_EQ(d.decided.decision.result, AdmissionResult::kSkipped);
    EXPECT_EQ(Terms(d.after), Terms(tmpl));
    EXPECT_NE(Annotation(d.after, kSkippedReasonAnnotation), "<none>");
  }
  DecisionOptions skipping;
  skipping.skip_namespaces = {"monitoring"};
  Decided untouched = Decide(Template({kAmd}), nullptr, skipping);
  EXPECT_EQ(untouched.decided.decision.result, AdmissionResult::kUnchanged);
  EXPECT_EQ(untouched.decided.patch, "");
}

// What a CREATE stored: the template an UPDATE starts from.
Json Placed(const Json& tmpl) { return Decide(tmpl).after; }

TEST(DaemonSetTemplate, AnUpdateThatKeepsTheImagesIsLeftAloneWithoutALookUp) {
  for (const Json& user : {Template({kAmd}), Template({kMixed}, Affinity(kUserTerms))}) {
    SCOPED_TRACE(user.dump());
    const Json stored = Placed(user);
    Json labelled = stored;  // e.g. `kubectl label` on the template, or a re-apply of the same manifest
    labelled["metadata"]["labels"]["team"] = "infra";
    for (const Json& sent : {stored, labelled}) {
      Decided d = Decide(sent, stored);
      EXPECT_FALSE(d.looked_up) << "the images and their platforms are those the stored template carries";
      EXPECT_EQ(d.decided.patch, "") << "no patch: no new rollout";
      EXPECT_EQ(d.decided.decision.result, AdmissionResult::kUnchanged);
      EXPECT_TRUE(d.decided.decision.events.empty());
    }
  }
}

// Preferred platforms (the config's or the namespace's): archway's preferred terms are
// taken out on every update and written again from the list that applies now, so they
// never pile up, an update that changes nothing writes nothing, and a changed list
// replaces them; the user's own preferred terms stay, first.
TEST(DaemonSetTemplate, PreferredTermsAreReplacedNotAppendedAgain) {
  const auto preferred = "/spec/affinity/nodeAffinity/preferredDuringSchedulingIgnoredDuringExecution"_json_pointer;
  auto prefer = [](int weight, const std::string& arch) {
    return Json{{"weight", weight}, {"preference", Term({OsIs("linux"), ArchIn({arch})})}};
  };
  DecisionOptions steer;
  steer.preferred_platforms = {{"linux", "arm64", 50}, {"linux", "amd64", 10}};
  const Json user_preference = prefer(7, "arm64");  // the user's own, of archway's shape
  Json user_affinity = Affinity(kUserTerms);
  user_affinity["nodeAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"] = Json::array({user_preference});
  for (const Json& user : {Template({kMulti}), Template({kMulti}, user_affinity)}) {
    SCOPED_TRACE(user.dump());
    const Json mine = user.contains(preferred) ? user.at(preferred) : Json::array();
    const Json stored = Decide(user, nullptr, steer).after;
    Json expected = mine;
    expected.push_back(prefer(50, "arm64"));
    expected.push_back(prefer(10, "amd64"));
    ASSERT_EQ(stored.at(preferred), expected);
    Json labelled = stored;
    labelled["metadata"]["labels"]["team"] = "infra";
    for (const Json& sent : {stored, labelled, user}) {
      Decided again = Decide(sent, stored, steer);
      EXPECT_EQ(again.decided.patch, sent == user ? again.decided.patch : "") << "nothing to write";
      EXPECT_EQ(again.after.at(preferred), expected) << again.decided.patch;
    }
    // Another list (the namespace's annotation changed): archway's terms are replaced.
    DecisionOptions amd_only;
    amd_only.preferred_platforms = {{"linux", "amd64", 30}};
    Json replaced = mine;
    replaced.push_back(prefer(30, "amd64"));
    EXPECT_EQ(Decide(stored, stored, amd_only).after.at(preferred), replaced);
    // None (""): only the user's terms are left, and objects archway made go.
    const Json none = Decide(stored, stored, DecisionOptions{}).after;
    if (mine.empty()) {
      EXPECT_FALSE(none.contains(preferred)) << none["spec"].dump();
    } else {
      EXPECT_EQ(none.at(preferred), mine);
    }
    EXPECT_EQ(Terms(none), Terms(stored)) << "the required terms are not touched";
  }
}

TEST(DaemonSetTemplate, AnImageChangeReplacesArchwaysRequirementAndKeepsTheUsers) {
  const Json stored = Placed(Template({kAmd}, Affinity(kUserTerms)));
  ASSERT_EQ(Terms(stored)[0], Term({Zone("a"), OsIs("linux"), ArchIn({"amd64"})}));
  Json sent = stored;
  sent["spec"]["containers"][0]["image"] = kMulti;
  Decided d = Decide(sent, stored);
  EXPECT_TRUE(d.looked_up);
  EXPECT_EQ(Terms(d.after), Json::array({Term({Zone("a"), OsIs("linux"), ArchIn({"amd64", "arm64"})}),
                                         Term({In("disk", {"ssd"}), OsIs("linux"), ArchIn({"amd64", "arm64"})})}))
      << d.decided.patch;
  EXPECT_EQ(Annotation(d.after, kPlatformsAnnotation), "linux/amd64,linux/arm64");

  // Mixed OS to one OS: the copies made per OS become the user's term again.
  const Json mixed = Placed(Template({kMixed}, Affinity(Json::array({Term({Zone("a")})}))));
  ASSERT_EQ(Terms(mixed).size(), 2u);
  Json to_amd = mixed;
  to_amd["spec"]["containers"][0]["image"] = kAmd;
  EXPECT_EQ(Terms(Decide(to_amd, mixed).after), Json::array({Term({Zone("a"), OsIs("linux"), ArchIn({"amd64"})})}));

  // Without user terms: archway's own term is replaced, and goes with its objects when
  // the new images get no affinity (their look-up did not finish).
  const Json bare = Placed(Template({kAmd}));
  Json slow = bare;
  slow["spec"]["containers"][0]["image"] = kUnknown;
  Decided missed = Decide(slow, bare);
  EXPECT_EQ(missed.decided.decision.result, AdmissionResult::kError);
  EXPECT_FALSE(missed.after["spec"].contains("affinity")) << missed.decided.patch;
  EXPECT_EQ(Annotation(missed.after, kPlatformsAnnotation), "<none>");
  EXPECT_NE(Annotation(missed.after, kSkippedReasonAnnotation).find("did not finish"), std::string::npos);
  EXPECT_TRUE(missed.decided.placement_changed);
}

TEST(DaemonSetTemplate, AffinityAndImagesEditedInTheSameUpdate) {
  const Json stored = Placed(Template({kAmd}, Affinity(kUserTerms)));
  Json sent = stored;  // the user replaces the second term and adds a third, and bumps the image
  sent["spec"]["containers"][0]["image"] = kMulti;
  auto& terms = sent["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"];
  terms[1] = Term({In("disk", {"nvme"})});
  terms.push_back(Term({Zone("c")}));
  Decided d = Decide(sent, stored);
  const Json both = ArchIn({"amd64", "arm64"});
  EXPECT_EQ(Terms(d.after), Json::array({Term({Zone("a"), OsIs("linux"), both}),
                                         Term({In("disk", {"nvme"}), OsIs("linux"), both}),
                                         Term({Zone("c"), OsIs("linux"), both})}))
      << d.decided.patch;

  // The affinity alone: the new term gets the requirement, from the stored platforms.
  Json edited = stored;
  edited["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
      .push_back(Term({Zone("c")}));
  Decided alone = Decide(edited, stored);
  EXPECT_FALSE(alone.looked_up);
  EXPECT_EQ(Terms(alone.after)[2], Term({Zone("c"), OsIs("linux"), ArchIn({"amd64"})})) << alone.decided.patch;
  EXPECT_EQ(Terms(alone.after)[0], Terms(stored)[0]);
}

TEST(DaemonSetTemplate, ARemovedRequirementIsPutBackAndTheTemplateIsAsStored) {
  const Json stored = Placed(Template({kAmd}, Affinity(kUserTerms)));
  // Someone took archway's requirement out of the template (kubectl edit), leaving the annotation.
  Json sent = stored;
  sent["spec"]["affinity"] = Affinity(kUserTerms);
  Decided d = Decide(sent, stored);
  EXPECT_FALSE(d.looked_up);
  EXPECT_EQ(d.after, stored) << "the stored template again: no rollout";
  // ... or the annotation (the requirement stayed): both are there again.
  Json without_annotation = stored;
  without_annotation["metadata"].erase("annotations");
  EXPECT_EQ(Decide(without_annotation, stored).after, stored);
  // ... or both, as a server-side apply of the user's manifest does when it owns them.
  const Json user = Template({kAmd}, Affinity(kUserTerms));
  Decided reapplied = Decide(user, stored);
  EXPECT_FALSE(reapplied.looked_up);
  EXPECT_EQ(reapplied.after, stored);
}

TEST(DaemonSetTemplate, OptingOutOnUpdateTakesArchwaysRequirementOut) {
  const Json stored = Placed(Template({kAmd}, Affinity(kUserTerms)));
  Json sent = stored;
  sent["metadata"]["annotations"]["archway.dev/skip"] = "true";
  Decided d = Decide(sent, stored);
  EXPECT_EQ(d.decided.decision.result, AdmissionResult::kSkipped);
  EXPECT_EQ(Terms(d.after), kUserTerms) << d.decided.patch;
  EXPECT_EQ(Annotation(d.after, kPlatformsAnnotation), "<none>");
  EXPECT_NE(Annotation(d.after, kSkippedReasonAnnotation).find("archway.dev/skip"), std::string::npos);
}

TEST(DaemonSetTemplate, AMissWritesNoAffinityAndAnUnchangedUpdateOfItWritesNothing) {
  Decided created = Decide(Template({kAmd, kUnknown}));
  EXPECT_EQ(created.decided.decision.result, AdmissionResult::kError);
  EXPECT_EQ(Terms(created.after), Json());
  EXPECT_NE(created.decided.patch, "");  // the skipped-reason
  // An update of that template (or of one that was never placed) is looked up again, but
  // writes nothing while nothing is known: the skipped-reason alone is never rewritten.
  Json labelled = created.after;
  labelled["metadata"]["labels"]["x"] = "y";
  Decided again = Decide(labelled, created.after);
  EXPECT_TRUE(again.looked_up);
  EXPECT_EQ(again.decided.patch, "");
  // Once the look-up is known it is placed (what the patcher does, and the next update).
  Json known = created.after;
  known["spec"]["containers"].erase(1);
  Json stored = known;
  Decided placed = Decide(known, stored);
  EXPECT_TRUE(placed.looked_up);
  EXPECT_EQ(Terms(placed.after), Json::array({Term({OsIs("linux"), ArchIn({"amd64"})})}));
  EXPECT_EQ(Annotation(placed.after, kSkippedReasonAnnotation), "<none>");
  EXPECT_EQ(Annotation(placed.after, kPlatformsAnnotation), "linux/amd64");
}

TEST(DaemonSetTemplate, NoCommonPlatformSpeaksOfTheDaemonSetAndIsReplacedLater) {
  const Json none = Template({kAmd, kArm});
  Decided d = Decide(none);
  EXPECT_EQ(d.decided.decision.result, AdmissionResult::kNoCommonPlatform);
  EXPECT_EQ(Terms(d.after), Json::array({Term({{{"key", kNoCommonPlatformKey}, {"operator", "Exists"}}})}));
  ASSERT_FALSE(d.decided.decision.warnings.empty());
  for (const auto& warning : d.decided.decision.warnings) {
    EXPECT_EQ(warning.find("pod stays"), std::string::npos) << warning;
    EXPECT_NE(warning.find("the DaemonSet makes no pods"), std::string::npos) << warning;
  }
  EXPECT_EQ(d.decided.decision.events.size(), 1u);
  // Fixed by the next update: the unsatisfiable requirement is archway's, and goes.
  Json fixed = d.after;
  fixed["spec"]["containers"][1]["image"] = kMulti;
  Decided later = Decide(fixed, d.after);
  EXPECT_EQ(Terms(later.after), Json::array({Term({OsIs("linux"), ArchIn({"amd64"})})})) << later.decided.patch;
  EXPECT_EQ(Annotation(later.after, kSkippedReasonAnnotation), "<none>");
  // Deny refuses the DaemonSet and writes nothing.
  DecisionOptions deny;
  deny.policy = NoCommonPlatformPolicy::kDeny;
  Decided refused = Decide(none, nullptr, deny);
  EXPECT_FALSE(refused.decided.decision.allowed());
  EXPECT_EQ(refused.decided.patch, "");
}

TEST(DaemonSetTemplate, CountsTheNodesArchwaySkips) {
  auto node = [](const std::string& name, const std::string& arch, const std::string& zone) {
    return NodeLabels{name, {{"kubernetes.io/os", "linux"}, {"kubernetes.io/arch", arch}, {"topology.kubernetes.io/zone", zone}}};
  };
  const std::vector<NodeLabels> nodes = {node("amd-1", "amd64", "a"), node("pi-1", "arm", "a"), node("pi-2", "arm", "a"),
                                         node("pi-3", "arm", "b"), node("rk-1", "arm64", "a"),
                                         NodeLabels{"bare", {{"topology.kubernetes.io/zone", "c"}}}};
  Decided all = Decide(Template({kAmd}), nullptr, {}, &nodes);
  EXPECT_TRUE(all.decided.skipped.counted);
  EXPECT_EQ(all.decided.skipped.Count(), 5u);
  EXPECT_EQ(all.decided.skipped.note,
            "skips 5 nodes: 1 unlabelled node (no kubernetes.io/os and kubernetes.io/arch labels), "
            "3 linux/arm nodes (image reg.lan/exporter:1 has no linux/arm build), "
            "1 linux/arm64 node (image reg.lan/exporter:1 has no linux/arm64 build)");
  // Nodes the user's own affinity excludes are not archway's doing.
  Decided zone_a = Decide(Template({kMulti}, Affinity(Json::array({Term({Zone("a")})}))), nullptr, {}, &nodes);
  EXPECT_EQ(zone_a.decided.skipped.note, "skips 2 linux/arm nodes: image reg.lan/exporter:2 has no linux/arm build")
      << zone_a.decided.skipped.Count();
  Json selecting = Template({kMulti});
  selecting["spec"]["nodeSelector"] = {{"topology.kubernetes.io/zone", "b"}};
  EXPECT_EQ(Decide(selecting, nullptr, {}, &nodes).decided.skipped.note,
            "skips 1 linux/arm node: image reg.lan/exporter:2 has no linux/arm build");
  Json two = Template({kMulti, kAmd});
  Decided both = Decide(two, nullptr, {}, &nodes);
  EXPECT_NE(both.decided.skipped.note.find("1 linux/arm64 node (image reg.lan/exporter:1 has no linux/arm64 build)"),
            std::string::npos)
      << both.decided.skipped.note;
  EXPECT_NE(both.decided.skipped.note.find("images reg.lan/exporter:2, reg.lan/exporter:1 have no linux/arm build"),
            std::string::npos)
      << both.decided.skipped.note;
  // An update that keeps everything counts from the stored platforms.
  Decided kept = Decide(all.after, all.after, {}, &nodes);
  EXPECT_EQ(kept.decided.skipped.Count(), 5u);
  EXPECT_NE(kept.decided.skipped.note.find("the images support only linux/amd64"), std::string::npos);
}

TEST(DaemonSetTemplate, MalformedTemplatesAreErrorsNotCrashes) {
  for (const char* broken : {R"({"spec":{}})", R"({"spec":{"template":"x"}})",
                             R"({"spec":{"template":{"spec":{"containers":"nope"}}}})",
                             R"({"spec":{"template":{"spec":{"containers":[],"affinity":[]}}}})"}) {
    auto plan = PlanDaemonSet(Json::parse(broken), nullptr, "team", {});
    EXPECT_FALSE(plan.ok()) << broken;
  }
  EXPECT_FALSE(PlanDaemonSet(Json::array(), nullptr, "team", {}).ok());
}

TEST(DaemonSetPods, OnlyADaemonSetsPodIsTrustedWithTheAnnotation) {
  // As the DaemonSet controller makes them: the template's annotations, its affinity
  // replaced by one term naming the node.
  auto pod = [](const std::string& kind, bool controller, bool annotated) {
    Json p = {{"metadata",
               {{"generateName", "node-exporter-"},
                {"ownerReferences",
                 {{{"apiVersion", "apps/v1"},
                   {"kind", kind},
                   {"name", "node-exporter"},
                   {"uid", "6b3c"},
                   {"controller", controller},
                   {"blockOwnerDeletion", true}}}}}},
              {"spec",
               {{"containers", {{{"name", "c"}, {"image", kAmd}}}},
                {"affinity", Affinity(Json::array({{{"matchFields", {In("metadata.name", {"pi-1"})}}}}))}}}};
    if (annotated) p["metadata"]["annotations"] = {{kPlatformsAnnotation, "linux/amd64"}};
    return p;
  };
  // What the admitter asks: does the pod carry the annotation (its plan), and then is its
  // controller a DaemonSet (its owner references, read again from the review).
  auto review = [](const Json& object) {
    return Json{{"apiVersion", "admission.k8s.io/v1"},
                {"kind", "AdmissionReview"},
                {"request",
                 {{"uid", "u"}, {"kind", {{"group", ""}, {"version", "v1"}, {"kind", "Pod"}}}, {"operation", "CREATE"},
                  {"namespace", "monitoring"}, {"object", object}}}}
        .dump();
  };
  auto placed = [&](const Json& object) {
    const std::string body = review(object);
    auto request = ParseAdmissionReview(body);
    EXPECT_TRUE(request.ok());
    auto plan = PlanPod(request->object, request->ns, {});
    EXPECT_TRUE(plan.ok());
    if (!plan->platforms_annotated) return false;
    const Json origin = ReadPodOrigin(body);
    EXPECT_EQ(origin["metadata"]["ownerReferences"][0].size(), 5u)
        << "apiVersion, controller, kind, name, uid: " << origin.dump();
    return PlacedByDaemonSetTemplate(origin);
  };
  EXPECT_TRUE(placed(pod("DaemonSet", true, true)));
  EXPECT_FALSE(placed(pod("DaemonSet", true, false)));
  EXPECT_FALSE(placed(pod("DaemonSet", false, true)));
  EXPECT_FALSE(placed(pod("ReplicaSet", true, true)));
  Json other_group = pod("DaemonSet", true, true);
  other_group["metadata"]["ownerReferences"][0]["apiVersion"] = "example.com/v1";
  EXPECT_FALSE(placed(other_group));
  EXPECT_FALSE(PlacedByDaemonSetTemplate(nullptr));
  EXPECT_FALSE(PlacedByDaemonSetTemplate(Json::array({"DaemonSet"})));
  EXPECT_FALSE(PlacedByDaemonSetTemplate(Json{{"metadata", {{"ownerReferences", "DaemonSet"}}}}));
}

TEST(DaemonSetReview, ReadsTheTemplateAndTheStoredOne) {
  Json stored = DaemonSet(Template({kAmd}));
  stored["metadata"]["managedFields"] = Json::array({{{"manager", "kubectl"}, {"operation", "Update"}}});
  stored["status"] = {{"numberReady", 3}};
  auto request = ParseAdmissionReview(Review(DaemonSet(Template({kMulti})), stored));
  ASSERT_TRUE(request.ok());
  EXPECT_EQ(request->operation, "UPDATE");
  EXPECT_EQ(request->object["spec"]["template"]["spec"]["containers"][0], Json({{"image", kMulti}}));
  EXPECT_EQ(request->old_object["spec"]["template"]["spec"]["containers"][0], Json({{"image", kAmd}}));
  EXPECT_EQ(request->old_object["metadata"], Json({{"name", "node-exporter"}, {"uid", "6b3c..."}}));
  EXPECT_FALSE(request->old_object.contains("status"));
  EXPECT_FALSE(request->object["spec"].contains("selector"));
  EXPECT_FALSE(request->object["spec"]["template"]["spec"].contains("hostNetwork"));
}

TEST(NodeMatches, AsTheSchedulerMatchesNodeAffinity) {
  const std::map<std::string, std::string> labels = {{"kubernetes.io/arch", "arm"}, {"gen", "4"}, {"zone", "a"}};
  auto terms = [](const std::vector<Json>& expressions) { return Json::array({Term(expressions)}); };
  auto match = [&](const Json& t, const Json& selector = nullptr) {
    return NodeMatches("pi-1", labels, selector.is_null() ? nullptr : &selector, t.is_null() ? nullptr : &t);
  };
  EXPECT_TRUE(match(nullptr));
  EXPECT_TRUE(match(nullptr, {{"zone", "a"}}));
  EXPECT_FALSE(match(nullptr, {{"zone", "b"}}));
  EXPECT_TRUE(match(terms({In("zone", {"a", "b"})})));
  EXPECT_FALSE(match(terms({In("zone", {"b"})})));
  EXPECT_TRUE(match(terms({{{"key", "zone"}, {"operator", "NotIn"}, {"values", {"b"}}}})));
  EXPECT_TRUE(match(terms({{{"key", "missing"}, {"operator", "NotIn"}, {"values", {"b"}}}})));
  EXPECT_TRUE(match(terms({{{"key", "gen"}, {"operator", "Exists"}}})));
  EXPECT_TRUE(match(terms({{{"key", "missing"}, {"operator", "DoesNotExist"}}})));
  EXPECT_TRUE(match(terms({{{"key", "gen"}, {"operator", "Gt"}, {"values", {"3"}}}})));
  EXPECT_FALSE(match(terms({{{"key", "gen"}, {"operator", "Lt"}, {"values", {"3"}}}})));
  EXPECT_FALSE(match(terms({{{"key", "gen"}, {"operator", "Gt"}, {"values", {"x"}}}})));
  EXPECT_FALSE(match(terms({{{"key", "zone"}, {"operator", "Near"}, {"values", {"a"}}}})));
  EXPECT_TRUE(match(Json::array({{{"matchFields", {In("metadata.name", {"pi-1"})}}}})));
  EXPECT_FALSE(match(Json::array({{{"matchFields", {In("metadata.name", {"pi-2"})}}}})));
  EXPECT_FALSE(match(Json::array({Json::object()})));                              // an empty term matches nothing
  EXPECT_TRUE(match(Json::array({Json::object(), Term({In("zone", {"a"})})})));    // terms are ORed
  EXPECT_FALSE(match(terms({In("zone", {"a"}), In("gen", {"5"})})));                // expressions are ANDed
}

TEST(ParsePlatforms, ReadsWhatArchwayWrites) {
  EXPECT_EQ(ParsePlatforms("linux/amd64"), (std::set<OsArch>{{"linux", "amd64"}}));
  EXPECT_EQ(ParsePlatforms("linux/arm64,linux/amd64"), (std::set<OsArch>{{"linux", "amd64"}, {"linux", "arm64"}}));
  for (const char* bad : {"", "linux", "linux/", "/amd64", "linux/arm/v7", "linux/amd64,", ",linux/amd64", "a/b,,c/d"}) {
    EXPECT_EQ(ParsePlatforms(bad), std::nullopt) << bad;
  }
}

}  // namespace
}  // namespace archway::webhook
