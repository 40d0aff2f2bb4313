#include "kube/job.h"

namespace archway::kube {

const char* JobPhaseName(JobPhase phase) {
  switch (phase) {
    case JobPhase::kPending: return "pending";
    case JobPhase::kRunning: return "running";
    case JobPhase::kSucceeded: return "succeeded";
    case JobPhase::kFailed: return "failed";
  }
  return "pending";
}

JobState ReadJobState(const Json& job) {
  for (const auto& condition : ConditionsOf(job)) {
    if (condition.status != "True") continue;
    if (condition.type == "Complete") return {JobPhase::kSucceeded, "", ""};
    if (condition.type == "Failed") return {JobPhase::kFailed, condition.reason, condition.message};
  }
  if (IntAt(job, {"status", "active"}).value_or(0) > 0) return {JobPhase::kRunning, "", ""};
  return {JobPhase::kPending, "", ""};
}

}  // namespace archway::kube
