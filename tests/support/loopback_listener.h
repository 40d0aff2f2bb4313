// A TCP listener on a free 127.0.0.1 port that serves each accepted connection on a thread
// of its own: the plumbing of the tests' loopback servers (http_server.h, forward_proxy.h).
// Stop() shuts down every socket it knows of (the accepted ones and those Track()ed),
// which ends any blocking read on them, then joins the threads.
#pragma once

#include <atomic>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace archway::testing {

class LoopbackListener {
 public:
  LoopbackListener();  // listening already; throws when it cannot
  ~LoopbackListener();
  LoopbackListener(const LoopbackListener&) = delete;
  LoopbackListener& operator=(const LoopbackListener&) = delete;

  // Starts accepting. `serve(fd)` runs on the connection's thread and owns fd: it calls
  // Untrack(fd) before closing it.
  void Start(std::function<void(int fd)> serve);
  // Idempotent. An owner calls it first in its destructor, before what `serve` uses goes.
  void Stop();

  int port() const { return port_; }
  int accepted() const;
  // Another socket for Stop() to shut down (an upstream connection), and its removal.
  void Track(int fd);
  void Untrack(int fd);

 private:
  void AcceptLoop();

  std::function<void(int)> serve_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  mutable std::mutex mu_;
  int accepted_ = 0;
  std::vector<int> open_fds_;
  std::vector<std::thread> threads_;
  std::thread acceptor_;
};

}  // namespace archway::testing
