#include "tests/support/child_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <stdexcept>
#include <thread>

#include "tests/support/process.h"

extern char** environ;

namespace archway::testing {

ChildProcess::ChildProcess(std::vector<std::string> argv, std::string log_path, std::vector<std::string> env)
    : log_path_(std::move(log_path)) {
  if (argv.empty()) throw std::runtime_error("ChildProcess: no command");
  if (access(argv[0].c_str(), X_OK) != 0) throw std::runtime_error("ChildProcess: cannot execute " + argv[0]);
  // Everything the child needs is built before fork(): after it, only async-signal-safe calls.
  std::map<std::string, std::string> merged;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string entry = *e;
    merged[entry.substr(0, entry.find('='))] = entry;
  }
  for (const auto& entry : env) merged[entry.substr(0, entry.find('='))] = entry;
  std::vector<std::string> env_strings;
  for (auto& [name, entry] : merged) env_strings.push_back(entry);
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  std::vector<char*> envp;
  for (auto& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);

  const int log_fd = open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (log_fd < 0) throw std::runtime_error("ChildProcess: cannot write " + log_path_);
  const pid_t parent = getpid();
  pid_ = fork();
  if (pid_ < 0) {
    close(log_fd);
    throw std::runtime_error(std::string("ChildProcess: fork failed: ") + std::strerror(errno));
  }
  if (pid_ == 0) {
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);  // the parent died before prctl took effect
    const int null_fd = open("/dev/null", O_RDONLY);
    if (null_fd >= 0) dup2(null_fd, 0);
    dup2(log_fd, 1);
    dup2(log_fd, 2);
    execve(args[0], args.data(), envp.data());
    _exit(127);
  }
  close(log_fd);
  // Also from the parent's side, so Signal() on the group works even before the child ran.
  setpgid(pid_, pid_);
}

ChildProcess::~ChildProcess() { Stop(); }

void ChildProcess::Reap(int status) {
  exited_ = true;
  exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

bool ChildProcess::Running() {
  if (exited_) return false;
  int status = 0;
  if (waitpid(pid_, &status, WNOHANG) == pid_) {
    Reap(status);
    return false;
  }
  return true;
}

void ChildProcess::Signal(int signal) {
  if (!exited_) kill(-pid_, signal);
}

int ChildProcess::Stop(std::chrono::milliseconds grace) {
  if (pid_ <= 0) return exit_code_;
  if (!exited_) {
    kill(-pid_, SIGTERM);
    const auto deadline = std::chrono::steady_clock::now() + grace;
    while (Running()) {
      if (std::chrono::steady_clock::now() >= deadline) {
        kill(-pid_, SIGKILL);
        int status = 0;
        if (waitpid(pid_, &status, 0) == pid_) Reap(status);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  // Whatever the leader left in its group goes too; give the kernel (and init, which reaps
  // the orphans) a moment to finish them.
  if (!GroupGone()) kill(-pid_, SIGKILL);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!GroupGone() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return exit_code_;
}

bool ChildProcess::GroupGone() const {
  if (pid_ <= 0) return true;
  return kill(-pid_, 0) != 0 && errno == ESRCH;
}

std::string ChildProcess::Log() const { return ReadFile(log_path_); }

std::string ChildProcess::LogTail(size_t bytes) const {
  std::string log = Log();
  return log.size() > bytes ? "..." + log.substr(log.size() - bytes) : log;
}

}  // namespace archway::testing
