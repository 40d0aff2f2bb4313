#include "base/resolve.h"

#include <algorithm>
#include <cctype>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <system_error>
#include <thread>
#include <unordered_map>

#include <boost/asio/io_context.hpp>

namespace archway::http {
namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;

// One look-up in flight, shared by every caller asking for the same host:port meanwhile.
struct Lookup {
  std::mutex mu;
  std::condition_variable done_cv;
  std::optional<Result<Endpoints>> result;  // set once, by the look-up thread
};

// Process-wide state. Allocated once and never destroyed: a detached thread may still
// finish a look-up while the process exits, and must not find this destroyed under it.
struct Lookups {
  std::mutex mu;
  std::unordered_map<std::string, std::shared_ptr<Lookup>> in_flight;  // by host:port
  size_t threads = 0;
  LookupFunction replacement;  // tests only
};

Lookups& State() {
  static Lookups* state = new Lookups();
  return *state;
}

Result<Endpoints> SystemLookup(const std::string& host, const std::string& port) {
  net::io_context ioc;
  tcp::resolver resolver(ioc);
  boost::system::error_code ec;
  auto results = resolver.resolve(host, port, ec);  // getaddrinfo, on this thread
  if (ec) return Error(ErrorCode::kNetwork, "resolve " + host + ": " + ec.message());
  Endpoints endpoints;
  for (const auto& entry : results) endpoints.push_back(entry.endpoint());
  if (endpoints.empty()) return Error(ErrorCode::kNetwork, "resolve " + host + ": no addresses");
  return endpoints;
}

void RunLookup(std::string key, std::string host, std::string port, std::shared_ptr<Lookup> lookup,
               LookupFunction replacement) {
  Result<Endpoints> result = replacement ? replacement(host, port) : SystemLookup(host, port);
  {
    std::lock_guard<std::mutex> lock(lookup->mu);
    lookup->result.emplace(std::move(result));
  }
  lookup->done_cv.notify_all();
  Lookups& state = State();
  std::lock_guard<std::mutex> lock(state.mu);
  auto it = state.in_flight.find(key);
  if (it != state.in_flight.end() && it->second == lookup) state.in_flight.erase(it);
  --state.threads;
}

std::optional<uint16_t> NumericPort(const std::string& port) {
  if (port.empty() || port.size() > 5 || !std::all_of(port.begin(), port.end(), [](unsigned char c) { return std::isdigit(c); })) {
    return std::nullopt;
  }
  int value = std::stoi(port);
  if (value > 65535) return std::nullopt;
  return static_cast<uint16_t>(value);
}

}  // namespace

Result<Endpoints> Resolve(const std::string& host, const std::string& port,
                          std::chrono::steady_clock::time_point deadline) {
  if (auto number = NumericPort(port)) {
    boost::system::error_code ec;
    net::ip::address address = net::ip::make_address(host, ec);
    if (!ec) return Endpoints{tcp::endpoint(address, *number)};
  }
  const std::string key = host + "\n" + port;
  std::shared_ptr<Lookup> lookup;
  {
    Lookups& state = State();
    std::lock_guard<std::mutex> lock(state.mu);
    auto& slot = state.in_flight[key];
    if (!slot) {
      if (state.threads >= kMaxLookupThreads) {
        state.in_flight.erase(key);
        return Error(ErrorCode::kNetwork, "resolve " + host + ": " + std::to_string(state.threads) +
                                              " DNS look-ups are still outstanding (the resolver does not answer)");
      }
      auto started = std::make_shared<Lookup>();
      try {
        std::thread(RunLookup, key, host, port, started, state.replacement).detach();
      } catch (const std::system_error& e) {
        state.in_flight.erase(key);
        return Error(ErrorCode::kNetwork, "resolve " + host + ": cannot start a look-up thread: " + e.what());
      }
      ++state.threads;
      slot = std::move(started);
    }
    lookup = slot;
  }
  std::unique_lock<std::mutex> lock(lookup->mu);
  if (!lookup->done_cv.wait_until(lock, deadline, [&] { return lookup->result.has_value(); })) {
    return Error(ErrorCode::kTimeout, "resolve " + host + ": no answer before the deadline");
  }
  return *lookup->result;
}

size_t LookupThreadsRunning() {
  Lookups& state = State();
  std::lock_guard<std::mutex> lock(state.mu);
  return state.threads;
}

void SetLookupForTesting(LookupFunction lookup) {
  Lookups& state = State();
  std::lock_guard<std::mutex> lock(state.mu);
  state.replacement = std::move(lookup);
}

}  // namespace archway::http
