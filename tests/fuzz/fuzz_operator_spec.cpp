// Fuzzes the MultiArchImage parser and, for specs it accepts, the Job builder and the
// build planner: any JSON a user can get past (or around) the CRD schema must give an
// error value, never a crash, and accepted specs must give Jobs with names the API
// accepts (<= 63 characters). The same input is also read as the stored status, a Node
// and a Job, since a controller sees objects of any shape there too.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include <nlohmann/json.hpp>

#include "kube/job.h"
#include "kube/node.h"
#include "kube/object.h"
#include "operator/config.h"
#include "operator/job_builder.h"
#include "operator/planner.h"
#include "operator/spec.h"
#include "operator/status.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace archway;
  auto object = nlohmann::json::parse(std::string(reinterpret_cast<const char*>(data), size), nullptr, false);
  if (object.is_discarded()) return 0;
  const op::ObservedStatus observed = op::ReadObservedStatus(object);
  auto mai = op::ParseMultiArchImage(object);
  if (!mai.ok()) {
    (void)op::RenderStatus(op::PlanInvalidSpec(mai.error()).status, observed, 1, "2026-11-23T15:00:00Z");
    return 0;
  }
  if (!mai->spec.build) return 0;
  op::OperatorConfig config;
  for (const auto& platform : mai->spec.platforms) {
    auto job = op::BuildJob(*mai, platform, config, false);
    if (job["metadata"]["name"].get<std::string>().size() > 63) std::abort();
  }
  op::BuildInputs in{*mai, observed, config, {}, {kube::ReadNode(object)}, Status::Ok(), std::nullopt};
  in.jobs.push_back(op::ObservedJob{kube::NameOf(object), kube::ControllerUidOf(object), kube::ReadJobState(object)});
  op::Plan plan = op::PlanBuild(in);
  if (plan.needs_target) {
    in.target = Result<registry::Descriptor>(Error(ErrorCode::kNotFound, "manifest unknown"));
    plan = op::PlanBuild(in);
  }
  (void)op::RenderStatus(plan.status, observed, mai->generation, "2026-11-23T15:00:00Z");
  return 0;
}
