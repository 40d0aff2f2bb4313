#include "tests/support/loopback_listener.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <stdexcept>

#include "tests/support/process.h"

namespace archway::testing {

LoopbackListener::LoopbackListener() { listen_fd_ = ListenOnLoopback(&port_, "LoopbackListener"); }

LoopbackListener::~LoopbackListener() {
  Stop();
  close(listen_fd_);
}

void LoopbackListener::Start(std::function<void(int fd)> serve) {
  serve_ = std::move(serve);
  acceptor_ = std::thread([this] { AcceptLoop(); });
}

void LoopbackListener::Stop() {
  stopping_ = true;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (int fd : open_fds_) shutdown(fd, SHUT_RDWR);
  }
  if (acceptor_.joinable()) acceptor_.join();
  std::vector<std::thread> threads;
  {
    std::lock_guard<std::mutex> lock(mu_);
    threads.swap(threads_);
  }
  for (auto& t : threads) t.join();
}

int LoopbackListener::accepted() const {
  std::lock_guard<std::mutex> lock(mu_);
  return accepted_;
}

void LoopbackListener::Track(int fd) {
  std::lock_guard<std::mutex> lock(mu_);
  open_fds_.push_back(fd);
  if (stopping_) shutdown(fd, SHUT_RDWR);
}

void LoopbackListener::Untrack(int fd) {
  std::lock_guard<std::mutex> lock(mu_);
  open_fds_.erase(std::remove(open_fds_.begin(), open_fds_.end(), fd), open_fds_.end());
}

void LoopbackListener::AcceptLoop() {
  while (!stopping_) {
    const int fd = AcceptWithin(listen_fd_, 50);
    if (fd < 0) continue;
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) {
      close(fd);
      break;
    }
    ++accepted_;
    open_fds_.push_back(fd);
    threads_.emplace_back([this, fd] { serve_(fd); });
  }
}

}  // namespace archway::testing
