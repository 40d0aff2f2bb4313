// Registry look-ups share one thread pool, but a registry that hangs must not take all of
// it: a look-up blocks for up to the registry client's request timeout, so without a cap
// a hung registry's pods soon hold every thread and a pod naming an image at a sound
// registry waits behind them past its budget (bench/webhook-chaos.sh, "5 pods at once
// naming a sound registry": 1117 ms and no affinity with a 1 s budget).
//
// LookupSlots runs work on an executor with at most `per_host` jobs of one registry host
// in flight (posted or running); the others of that host wait in a FIFO queue of their
// own and start, in order, as the host's jobs in flight finish. A hung host therefore
// holds at most `per_host` threads, and a host with free slots never waits behind another.
// A queued job runs even when nobody waits for its result any more (it fills the cache).
//
// Memory is bounded: at most `max_queued_per_host` jobs wait per host and `max_queued` in
// all; Run() refuses a job beyond that (the caller reports it as unfinished). Jobs in
// flight are at most `per_host` per host that has work. A host with no job in flight or
// queued has no entry.
#pragma once

#include <boost/asio/any_io_executor.hpp>

#include <cstddef>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>

namespace archway::webhook {

struct LookupSlotsOptions {
  size_t per_host = 4;               // at least 1
  size_t max_queued_per_host = 256;  // waiting jobs per host
  size_t max_queued = 4096;          // waiting jobs across hosts
};

class LookupSlots {
 public:
  // `executor` (e.g. a thread pool's) runs the jobs; it and this object must outlive every
  // job handed to Run() that is run (a stopped pool's abandoned jobs are never run).
  LookupSlots(boost::asio::any_io_executor executor, LookupSlotsOptions options);
  LookupSlots(const LookupSlots&) = delete;
  LookupSlots& operator=(const LookupSlots&) = delete;

  // Posts `job` to the executor now if `host` has a free slot, else queues it behind the
  // host's earlier jobs. false (and `job` dropped, never run) when the queue is full.
  bool Run(const std::string& host, std::function<void()> job);

  size_t InFlight(const std::string& host) const;
  size_t Queued(const std::string& host) const;

 private:
  struct Host {
    size_t in_flight = 0;
    std::deque<std::function<void()>> queue;
  };

  // Posts `job`, which frees its slot of `host` when it returns.
  void Post(const std::string& host, std::function<void()> job);
  void Release(const std::string& host);

  boost::asio::any_io_executor executor_;
  LookupSlotsOptions options_;
  mutable std::mutex mu_;
  std::map<std::string, Host, std::less<>> hosts_;  // guarded by mu_
  size_t queued_ = 0;                               // guarded by mu_
};

}  // namespace archway::webhook
