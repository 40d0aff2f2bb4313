// Typed accessors on API objects: what is there reads as its value, and every other shape
// (missing, null, another type, a non-object on the way) reads as absent without throwing.
#include "kube/object.h"

#include <gtest/gtest.h>

#include "tests/kube/test_util.h"

namespace archway::kube {
namespace {

TEST(ObjectTest, ReadsValuesAtPaths) {
  Json job = testing::TestJson("job-created.json");
  EXPECT_EQ(NameOf(job), job["metadata"]["name"].get<std::string>());
  EXPECT_EQ(NamespaceOf(job), job["metadata"]["namespace"].get<std::string>());
  EXPECT_EQ(UidOf(job), job["metadata"]["uid"].get<std::string>());
  EXPECT_EQ(StringAt(job, {"kind"}), "Job");
  EXPECT_EQ(IntAt(job, {"spec", "backoffLimit"}), job["spec"]["backoffLimit"].get<int64_t>());
  EXPECT_EQ(At(job, {}), &job);
  EXPECT_NE(ObjectAt(job, {"spec", "template"}), nullptr);
  EXPECT_EQ(ArrayAt(job, {"spec", "template"}), nullptr);
  EXPECT_NE(ArrayAt(job, {"spec", "template", "spec", "containers"}), nullptr);
}

TEST(ObjectTest, EveryOtherShapeReadsAsAbsent) {
  const Json odd = {{"metadata", {{"name", 7}, {"namespace", nullptr}, {"generation", 1.5}, {"labels", "x=y"},
                                  {"annotations", Json::array({"a"})}, {"ownerReferences", "me"}}},
                    {"spec", "not an object"},
                    {"status", {{"conditions", {{"type", "Ready"}}}}}};
  EXPECT_EQ(NameOf(odd), "");
  EXPECT_EQ(NamespaceOf(odd), "");
  EXPECT_EQ(GenerationOf(odd), 0);
  EXPECT_TRUE(LabelsOf(odd).empty());
  EXPECT_EQ(LabelOf(odd, "x"), "");
  EXPECT_TRUE(AnnotationsOf(odd).empty());
  EXPECT_TRUE(OwnerReferencesOf(odd).empty());
  EXPECT_EQ(ControllerUidOf(odd), "");
  EXPECT_TRUE(ConditionsOf(odd).empty());  // an object where a list belongs
  EXPECT_FALSE(ConditionOf(odd, "Ready"));
  EXPECT_EQ(At(odd, {"spec", "template"}), nullptr);  // through a string
  EXPECT_EQ(StringAt(odd, {"spec"}), "not an object");
  EXPECT_FALSE(IntAt(odd, {"spec"}));
  EXPECT_FALSE(BoolAt(odd, {"spec"}));
  for (const Json& not_an_object : {Json(), Json(3), Json("s"), Json::array({1, 2})}) {
    EXPECT_EQ(NameOf(not_an_object), "");
    EXPECT_FALSE(IsBeingDeleted(not_an_object));
    EXPECT_TRUE(ConditionsOf(not_an_object).empty());
  }
}

TEST(ObjectTest, IntegersOnlyWithinInt64) {
  EXPECT_EQ(IntAt(Json{{"n", -3}}, {"n"}), -3);
  EXPECT_EQ(IntAt(Json{{"n", 9223372036854775807ULL}}, {"n"}), 9223372036854775807LL);
  EXPECT_FALSE(IntAt(Json{{"n", 9223372036854775808ULL}}, {"n"}));
  EXPECT_FALSE(IntAt(Json{{"n", 2.0}}, {"n"}));
  EXPECT_FALSE(IntAt(Json{{"n", "2"}}, {"n"}));
  EXPECT_FALSE(IntAt(Json{{"n", true}}, {"n"}));
}

TEST(ObjectTest, LabelsAnnotationsOwnersAndConditionsKeepTheWellFormedEntries) {
  const Json obj = {
      {"metadata",
       {{"labels", {{"app", "web"}, {"n", 1}}},
        {"annotations", {{"archway.dev/image", "r/a:1"}, {"bad", Json::array()}}},
        {"deletionTimestamp", "2026-11-23T15:11:40Z"},
        {"ownerReferences",
         Json::array({"junk",
                      {{"apiVersion", "archway.dev/v1alpha1"}, {"kind", "MultiArchImage"}, {"name", "web"},
                       {"uid", "u-1"}, {"controller", "yes"}},
                      {{"kind", "MultiArchImage"}, {"name", "web"}, {"uid", "u-2"}, {"controller", true}}})}}},
      {"status",
       {{"conditions", Json::array({7,
                                    {{"type", "Ready"}, {"status", "True"}, {"reason", 3}},
                                    {{"type", "Ready"}, {"status", "False"}}})}}}};
  EXPECT_EQ(LabelsOf(obj), (std::map<std::string, std::string>{{"app", "web"}}));
  EXPECT_EQ(AnnotationOf(obj, "archway.dev/image"), "r/a:1");
  EXPECT_EQ(AnnotationsOf(obj).size(), 1u);
  EXPECT_TRUE(IsBeingDeleted(obj));
  auto owners = OwnerReferencesOf(obj);
  ASSERT_EQ(owners.size(), 2u);
  EXPECT_FALSE(owners[0].controller);  // "yes" is not a bool
  EXPECT_EQ(owners[0].api_version, "archway.dev/v1alpha1");
  EXPECT_EQ(ControllerUidOf(obj), "u-2");
  ASSERT_EQ(ConditionsOf(obj).size(), 2u);
  auto ready = ConditionOf(obj, "Ready");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, "True");  // the first of its type
  EXPECT_EQ(ready->reason, "");
}

}  // namespace
}  // namespace archway::kube
