// What the long-running commands (webhook, operator, node-labeler) share before their own set-up:
// finding --config, and stop signals delivered to the main thread only.
#pragma once

#include <chrono>
#include <csignal>
#include <string>
#include <vector>

namespace archway::cmd {

// The value of --config FILE / --config=FILE ("" when absent); other flags are left for
// the command's own parser.
std::string ConfigFlag(const std::vector<std::string>& args);

// A Lease holder identity unique per process: "<hostname>_<8 random hex>" (a pod's
// hostname is its name; the suffix tells a restarted container, or two processes on one
// host, apart). `fallback` stands for the hostname when there is none.
std::string LeaseIdentity(const std::string& fallback);

// SIGTERM and SIGINT, blocked in the calling thread and so in every thread it starts
// afterwards: call before any thread exists, then Wait().
class StopSignals {
 public:
  StopSignals();
  // Blocks until SIGTERM or SIGINT arrives; returns its number.
  int Wait();
  // Same, for at most `timeout`: 0 when it passed with no signal.
  int WaitFor(std::chrono::milliseconds timeout);

 private:
  sigset_t signals_;
};

}  // namespace archway::cmd
