// What the pods of a finished builder Job say, read once when it finishes: the `build`
// container's termination message (the base images a buildah build used, base_images.h)
// and, when an emulated Job failed, the `emulation-check` init container's (what the node
// lacks, job_builder.h). Pods are read as the API stores them (containerStatuses[].state
// / .lastState .terminated), without exceptions (kube/object.h).
#pragma once

#include <vector>

#include <nlohmann/json.hpp>

#include "operator/planner.h"

namespace archway::op {

// The label the Job controller puts on the pods of a Job (every supported Kubernetes
// version; batch.kubernetes.io/job-name only from 1.27).
inline constexpr const char* kJobNamePodLabel = "job-name";

// From the pods of one Job (any order): the newest successful `build` container's
// message, the newest failed `emulation-check`'s message, and the node of the pod read.
JobReport ReadJobReport(const std::vector<nlohmann::json>& pods);

}  // namespace archway::op
