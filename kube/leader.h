// Leader election on a coordination.k8s.io/v1 Lease, as client-go's leaderelection:
// acquire when the Lease is free, held by us, or expired (renewTime + duration in the
// past); renew every retry period; step down when a renew has not succeeded within
// renew_deadline; on Stop() release by clearing holderIdentity so a successor need not
// wait for expiry. Times are MicroTime (time.h).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "kube/client.h"

namespace archway::kube {

struct LeaderElectionConfig {
  std::string lease_namespace{};
  std::string lease_name{};
  std::string identity{};  // unique per candidate, e.g. "<pod name>_<random>"
  std::chrono::milliseconds lease_duration{15000};
  std::chrono::milliseconds renew_deadline{10000};
  std::chrono::milliseconds retry_period{2000};
  std::function<void()> on_started_leading{};  // called on the elector's thread
  std::function<void()> on_stopped_leading{};  // called when leadership is lost or released
  std::function<void(const std::string& identity)> on_new_leader{};  // optional
};

class LeaderElector {
 public:
  LeaderElector(Client& client, LeaderElectionConfig config);
  ~LeaderElector();  // Stop()s
  LeaderElector(const LeaderElector&) = delete;
  LeaderElector& operator=(const LeaderElector&) = delete;

  // Starts campaigning on a background thread.
  void Start();
  // Stops; releases the Lease if held (on_stopped_leading is called). Idempotent.
  void Stop();

  bool IsLeader() const;
  // The holder last observed ("" if none).
  std::string CurrentLeader() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace archway::kube
