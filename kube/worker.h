// A controller's worker loop, as controller-runtime's: take a key from the WorkQueue,
// reconcile it, repeat until the queue shuts down. A failed reconcile retries that key
// with its exponential backoff (AddRateLimited); so does one that throws (a library's
// exception on an object of an unexpected shape, say nlohmann's type_error): it is
// logged with the key and becomes an error like any other, and the loop carries on with
// the next key. A success forgets the key's backoff, and re-adds the key after
// `requeue_after` when that is above zero.
#pragma once

#include <chrono>
#include <functional>
#include <string>

#include "base/result.h"
#include "kube/workqueue.h"

namespace archway::kube {

// What a reconcile asks for on success: re-run after this long (0 = only when enqueued again).
using Requeue = std::chrono::milliseconds;
using ReconcileFunc = std::function<Result<Requeue>(const std::string& key)>;
// Told every outcome, exceptions included, before the key is rescheduled (metrics, counters).
using OutcomeFunc = std::function<void(const std::string& key, const Status& outcome)>;

// Runs on the calling thread until `queue` shuts down. `controller` names it in logs.
void RunWorker(WorkQueue& queue, const std::string& controller, const ReconcileFunc& reconcile,
               const OutcomeFunc& on_outcome = {});

}  // namespace archway::kube
