// Host name resolution bounded by a deadline, for base/http's connect timeout.
//
// getaddrinfo cannot be cancelled, and asio's async_resolve runs it on one private thread
// per io_context that ~io_context joins (boost/asio/detail/impl/resolver_service_base.ipp):
// a look-up that hangs (a resolver dropping packets costs resolv.conf's timeout x attempts
// x nameservers, 10 s and more) would hold the caller in a destructor past any deadline,
// or, with one shared io_context, queue every other look-up behind it. So each look-up
// runs asio's blocking resolve on a thread of its own, and the caller stops waiting at its
// deadline; the thread finishes and frees its state on its own.
//
// Bounds: concurrent look-ups of one host:port share one thread (every waiter gets its
// answer); at most kMaxLookupThreads threads exist at once, and beyond that a look-up fails
// at once instead of starting another. The threads are detached, so neither a destructor
// nor process exit ever waits for a hung one. IP literals are converted in place (no
// thread, no DNS). There is no cache: the system's (nscd, systemd-resolved) applies.
#pragma once

#include <boost/asio/ip/tcp.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "base/result.h"

namespace archway::http {

using Endpoints = std::vector<boost::asio::ip::tcp::endpoint>;

inline constexpr size_t kMaxLookupThreads = 32;

// The addresses of host:port (a name or an IP literal without brackets). kTimeout at the
// deadline, kNetwork when the name does not resolve or too many look-ups are outstanding.
Result<Endpoints> Resolve(const std::string& host, const std::string& port,
                          std::chrono::steady_clock::time_point deadline);

// Look-up threads still running, including those whose callers stopped waiting.
size_t LookupThreadsRunning();

// For tests: replaces the blocking look-up that Resolve runs on its threads (nullptr
// restores asio's getaddrinfo). A replacement that blocks must be released, and
// LookupThreadsRunning() seen at 0, before what it captures goes away.
using LookupFunction = std::function<Result<Endpoints>(const std::string& host, const std::string& port)>;
void SetLookupForTesting(LookupFunction lookup);

}  // namespace archway::http
