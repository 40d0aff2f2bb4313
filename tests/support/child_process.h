// A long-running child process for tests (etcd, kube-apiserver, `archway webhook`, ...)
// that never outlives the test:
//  - it runs in its own process group, so Stop() reaches anything it forks;
//  - the kernel kills it (SIGKILL) if the thread that started it dies, so a crashed
//    or killed test binary leaves nothing running (PR_SET_PDEATHSIG: start children from
//    a thread that lives as long as they should, e.g. the main thread);
//  - stdout and stderr go to one log file, for failure messages.
//
//   ChildProcess etcd({"/usr/bin/etcd", "--data-dir", dir}, dir + "/etcd.log");
//   ASSERT_TRUE(etcd.Running()) << etcd.Log();
//   int code = etcd.Stop();            // SIGTERM to the group, SIGKILL after the grace period
//   EXPECT_TRUE(etcd.GroupGone());     // no process of its group is left
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace archway::testing {

class ChildProcess {
 public:
  // Starts argv[0] (a path, not searched in PATH) with the arguments. `env` entries
  // ("NAME=value") are added to (or replace those of) this process's environment.
  // Throws std::runtime_error when it cannot be started.
  ChildProcess(std::vector<std::string> argv, std::string log_path, std::vector<std::string> env = {});
  ~ChildProcess();  // Stop()
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  // False once the process has exited (it is reaped then; exit_code() tells how).
  bool Running();
  // Sends `signal` to the whole group (while it runs).
  void Signal(int signal);
  // SIGTERM to the group; SIGKILL to the group after `grace`. Waits for the process and
  // answers its exit code (128 + signal when a signal ended it). Idempotent.
  int Stop(std::chrono::milliseconds grace = std::chrono::seconds(10));
  // The exit code once it has exited (128 + signal), -1 while it runs.
  int exit_code() const { return exit_code_; }
  // True when no process of its process group exists any more.
  bool GroupGone() const;

  const std::string& log_path() const { return log_path_; }
  std::string Log() const;
  // The last `bytes` of the log (for assertion messages).
  std::string LogTail(size_t bytes = 4000) const;

 private:
  void Reap(int status);

  std::string log_path_;
  pid_t pid_ = -1;
  bool exited_ = false;
  int exit_code_ = -1;
};

}  // namespace archway::testing
