#include "kube/worker.h"

#include <exception>

#include "base/log.h"

namespace archway::kube {
namespace {

Result<Requeue> ReconcileCatching(const std::string& controller, const ReconcileFunc& reconcile,
                                  const std::string& key) {
  std::string what;
  try {
    return reconcile(key);
  } catch (const std::exception& e) {
    what = e.what();
  } catch (...) {
    what = "an exception that is not a std::exception";
  }
  log::Error("reconcile threw; treating it as a failure", {{"controller", controller}, {"key", key}, {"error", what}});
  return Error(ErrorCode::kInternal, "reconcile threw: " + what);
}

}  // namespace

void RunWorker(WorkQueue& queue, const std::string& controller, const ReconcileFunc& reconcile,
               const OutcomeFunc& on_outcome) {
  while (auto key = queue.Get()) {
    Result<Requeue> result = ReconcileCatching(controller, reconcile, *key);
    if (on_outcome) on_outcome(*key, result.ok() ? Status::Ok() : Status(result.error()));
    if (!result.ok()) {
      log::Warn("reconcile failed; retrying with backoff",
                {{"controller", controller}, {"key", *key}, {"error", result.error().message},
                 {"retries", std::to_string(queue.NumRequeues(*key))}});
      queue.AddRateLimited(*key);
    } else {
      queue.Forget(*key);
      if (result->count() > 0) queue.AddAfter(*key, *result);
    }
    queue.Done(*key);
  }
}

}  // namespace archway::kube
