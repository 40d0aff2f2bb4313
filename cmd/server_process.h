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
