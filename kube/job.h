// A batch/v1 Job's state, from its status (the Complete/Failed conditions, then the
// count of active pods), read without exceptions (object.h). Samples of what the API
// stores: tests/operator/testdata/job-status-*.json.
#pragma once

#include <string>

#include "kube/object.h"

namespace archway::kube {

enum class JobPhase {
  kPending,    // created, no pod running yet
  kRunning,    // status.active > 0
  kSucceeded,  // condition Complete is True
  kFailed,     // condition Failed is True
};

// "pending", "running", "succeeded", "failed".
const char* JobPhaseName(JobPhase phase);

struct JobState {
  JobPhase phase = JobPhase::kPending;
  std::string reason;   // of the Failed condition ("BackoffLimitExceeded"), else ""
  std::string message;  // of the Failed condition, else ""
};

// The first of Complete/Failed that is True decides; otherwise active pods mean running.
JobState ReadJobState(const Json& job);

}  // namespace archway::kube
