#include "cmd/server_process.h"

#include <cerrno>
#include <ctime>
#include <random>

#include <pthread.h>
#include <unistd.h>

#include "base/encoding.h"

namespace archway::cmd {

std::string ConfigFlag(const std::vector<std::string>& args) {
  std::string path;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--config" && i + 1 < args.size()) path = args[i + 1];
    if (args[i].starts_with("--config=")) path = args[i].substr(9);
  }
  return path;
}

std::string LeaseIdentity(const std::string& fallback) {
  char host[256] = {0};
  std::string name = gethostname(host, sizeof(host) - 1) == 0 && host[0] != '\0' ? host : fallback;
  std::random_device rd;
  return name + "_" + Sha256Hex(std::to_string(rd()) + std::to_string(rd())).substr(0, 8);
}

StopSignals::StopSignals() {
  sigemptyset(&signals_);
  sigaddset(&signals_, SIGTERM);
  sigaddset(&signals_, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals_, nullptr);
}

int StopSignals::Wait() {
  int number = 0;
  sigwait(&signals_, &number);
  return number;
}

int StopSignals::WaitFor(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::nanoseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return 0;
    timespec wait{static_cast<time_t>(left.count() / 1000000000), static_cast<long>(left.count() % 1000000000)};
    int number = sigtimedwait(&signals_, nullptr, &wait);
    if (number > 0) return number;
    if (errno != EINTR) return 0;  // EAGAIN: the time ran out
  }
}

}  // namespace archway::cmd
