// The operator's Prometheus metrics (prefix archway_):
//   archway_reconciles_total{result="success|error"}   counter, one per Reconcile call
//   archway_builder_jobs_created_total                  counter, Jobs this process created
//   archway_builder_jobs{state="pending|running|succeeded|failed"}  gauge, the Jobs
//                                                       archway manages, by state, now
//   archway_publishes_total{result="success|error"}    counter, list publications
//   archway_exec_format_errors_total{namespace,evidence="stated|crashed"}  counter, containers
//                                                       the exec-format-error watcher reported
//                                                       (operator/exec_watcher.h), once each
//   archway_suspect_image_platforms_total              counter, (digest, platform) pairs a
//                                                       node contradicted (the list said it runs)
//   archway_base_image_lookups_total{result="success|error"}  counter, one per followed
//                                                       base image looked up (its HEAD)
//   archway_base_image_rebuilds_total                   counter, build runs started
//                                                       because a followed base changed
// Every series exists from the start (reading 0 rather than absent). prometheus-cpp stays
// inside metrics.cpp: /metrics serves Exposition().
#pragma once

#include <map>
#include <memory>
#include <string>

#include "kube/job.h"

namespace archway::op {

class Metrics {
 public:
  Metrics();
  ~Metrics();

  void Reconciled(bool ok);
  void JobCreated();
  void Published(bool ok);
  // `evidence`: EvidenceName() of operator/exec_format.h.
  void ExecFormatError(const std::string& ns, const std::string& evidence);
  void SuspectImagePlatform();
  void BaseImageLookedUp(bool ok);
  void BaseImageRebuildStarted();
  // Replaces the gauge values: every phase not in `counts` reads 0.
  void SetJobsByPhase(const std::map<kube::JobPhase, int>& counts);

  double ReconcileCount(bool ok) const;
  double ExecFormatErrorCount(const std::string& ns, const std::string& evidence) const;

  // Every series in the Prometheus text exposition format (version 0.0.4).
  std::string Exposition() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace archway::op
