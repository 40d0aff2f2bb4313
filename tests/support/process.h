// Small process and filesystem helpers for tests: temp dirs that clean up, free loopback
// ports, and running a command with a timeout.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace archway::testing {

// A fresh directory under $TMPDIR (or /tmp), removed recursively on destruction.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "archway-test");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  // path() + "/" + name
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// A port that was free on 127.0.0.1 a moment ago (bind to 0, read it back, close).
int FreePort();
// A listening TCP socket on 127.0.0.1 with a port of the kernel's choice (set in *port);
// throws std::runtime_error naming `who` when that fails.
int ListenOnLoopback(int* port, const std::string& who);
// The next connection on `listen_fd` (close-on-exec), or -1 when none came within
// `timeout_ms` (so an accept loop can check whether it should stop).
int AcceptWithin(int listen_fd, int timeout_ms);

struct CommandResult {
  int exit_code = -1;   // -1 when killed by the timeout or a signal
  bool timed_out = false;
  std::string output;   // stdout and stderr interleaved
};

// Runs argv[0] (searched in PATH) with the arguments; kills it after `timeout`.
CommandResult RunCommand(const std::vector<std::string>& argv,
                         std::chrono::milliseconds timeout = std::chrono::seconds(60));

void WriteFile(const std::string& path, const std::string& content);
std::string ReadFile(const std::string& path);

}  // namespace archway::testing
