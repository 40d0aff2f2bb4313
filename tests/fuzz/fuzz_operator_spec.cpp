// Fuzzes the MultiArchImage parser and, for specs it accepts, the Job builder and the
// build planner: any JSON a user can get past (or around) the CRD schema must give an
// error value, never a crash, and accepted specs must give Jobs with names the API
// accepts (<= 63 characters). The same input is also read as the stored status, a Node
// and a Job, since a controller sees objects of any shape there too.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "kube/job.h"
#include "kube/node.h"
#include "kube/object.h"
#include "operator/config.h"
#include "operator/job_builder.h"
#include "operator/job_report.h"
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
  // Answer what the planner asks to read, as the reconciler does, until it stops asking:
  // the Jobs' pods (the same input read as a pod), the builder images' platforms (the
  // spec's own), and the followed bases (a new digest per platform, so a base change
  // and a rebuild are planned), then the target.
  for (int round = 0; round < 4 && plan.NeedsReads(); ++round) {
    if (!plan.needs_reports.empty()) {
      std::map<std::string, op::JobReport> reports;
      for (const auto& job : plan.needs_reports) reports[job] = op::ReadJobReport({object});
      in.reports = std::move(reports);
    }
    if (!plan.needs_images.empty()) {
      std::vector<op::ImageFact> facts;
      for (const auto& image : plan.needs_images) facts.push_back(op::ImageFact{image, mai->spec.platforms});
      in.images = std::move(facts);
    }
    if (!plan.needs_bases.empty()) {
      std::vector<op::BaseFact> facts;
      for (const auto& q : plan.needs_bases) {
        op::ResolvedBase resolved;
        resolved.digest = "sha256:" + std::string(64, 'b');
        resolved.list = true;
        for (const auto& p : mai->spec.platforms) resolved.entries[p.String()] = "sha256:" + std::string(64, 'c');
        for (const auto& digest : q.reported) resolved.reported_exists[digest] = digest.size() % 2 == 0;
        facts.push_back(op::BaseFact{q.image, std::move(resolved)});
      }
      in.bases = std::move(facts);
    }
    if (plan.needs_target) in.target = Result<registry::Descriptor>(Error(ErrorCode::kNotFound, "manifest unknown"));
    plan = op::PlanBuild(in);
  }
  (void)op::RenderStatus(plan.status, observed, mai->generation, "2026-11-23T15:00:00Z");
  return 0;
}
