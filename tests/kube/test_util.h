// Shared helpers for the kube tests: testdata access, a started fake API server and a
// client with fast retries, and a bounded wait.
#pragma once

#include <chrono>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "kube/client.h"
#include "tests/fakeapi/fake_api_server.h"

namespace archway::kube::testing {

// A custom resource, as the fake serves it (the operator's own ResourceRef lives above kube/).
inline const ResourceRef kMultiArchImages{"archway.dev", "v1alpha1", "multiarchimages", "MultiArchImage", true};

inline std::string Testdata(const std::string& name) {
  std::ifstream in(std::string(ARCHWAY_SOURCE_DIR) + "/tests/kube/testdata/" + name, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline Json TestJson(const std::string& name) { return Json::parse(Testdata(name)); }

// Polls `cond` until true or `timeout`.
inline bool WaitFor(const std::function<bool()>& cond, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return cond();
}

inline ClientOptions FastOptions() {
  ClientOptions options;
  options.qps = 0;  // no client-side limit unless a test wants one
  options.initial_backoff = std::chrono::milliseconds(5);
  options.max_backoff = std::chrono::milliseconds(50);
  options.request_timeout = std::chrono::milliseconds(5000);
  return options;
}

class FakeApiTest : public ::testing::Test {
 protected:
  void SetUp() override { StartServer({}); }

  void StartServer(fakeapi::FakeApiOptions options, ClientOptions client_options = FastOptions()) {
    if (client_) client_.reset();
    server_ = std::make_unique<fakeapi::FakeApiServer>(options);
    ASSERT_TRUE(server_->Start().ok());
    auto client = NewHttpClient(server_->ClusterConfig(), client_options);
    ASSERT_TRUE(client.ok()) << client.error().message;
    client_ = std::move(client.value());
  }

  Client& client() { return *client_; }
  fakeapi::FakeApiServer& server() { return *server_; }

  std::unique_ptr<fakeapi::FakeApiServer> server_;
  std::unique_ptr<Client> client_;
};

}  // namespace archway::kube::testing
