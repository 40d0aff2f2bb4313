// The shared Job reader on Job statuses as the API stores them (tests/operator/testdata,
// from a v1.28 cluster) and on odd shapes.
#include "kube/job.h"

#include <fstream>

#include <gtest/gtest.h>

#include "tests/kube/test_util.h"

namespace archway::kube {
namespace {

Json Sample(const std::string& name) {
  std::ifstream in(std::string(ARCHWAY_SOURCE_DIR) + "/tests/operator/testdata/" + name);
  return Json::parse(in);
}

TEST(JobTest, RecordedStatuses) {
  EXPECT_EQ(ReadJobState(testing::TestJson("job-created.json")).phase, JobPhase::kPending);
  EXPECT_EQ(ReadJobState(Sample("job-status-succeeded.json")).phase, JobPhase::kSucceeded);
  JobState failed = ReadJobState(Sample("job-status-failed.json"));
  EXPECT_EQ(failed.phase, JobPhase::kFailed);  // after FailureTarget, which is not Failed yet
  EXPECT_EQ(failed.reason, "BackoffLimitExceeded");
  EXPECT_EQ(failed.message, "Job has reached the specified backoff limit");
  Json running = testing::TestJson("job-created.json");
  running["status"] = {{"active", 1}, {"startTime", "2026-11-23T15:12:34Z"}};
  EXPECT_EQ(ReadJobState(running).phase, JobPhase::kRunning);
}

TEST(JobTest, OnlyTrueConditionsCountAndOddShapesArePending) {
  Json job = {{"status", {{"active", 1}, {"conditions", Json::array({{{"type", "Failed"}, {"status", "False"}}})}}}};
  EXPECT_EQ(ReadJobState(job).phase, JobPhase::kRunning);
  for (const Json& odd : {Json(), Json("job"), Json{{"status", "done"}}, Json{{"status", {{"active", "1"}}}},
                          Json{{"status", {{"conditions", Json::array({{{"type", 1}, {"status", "True"}}})}}}}}) {
    EXPECT_EQ(ReadJobState(odd).phase, JobPhase::kPending) << odd.dump();
  }
  EXPECT_STREQ(JobPhaseName(JobPhase::kSucceeded), "succeeded");
}

}  // namespace
}  // namespace archway::kube
