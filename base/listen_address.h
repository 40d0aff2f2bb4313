// Where a server listens, as the config files and flags write it.
#pragma once

#include <string>
#include <string_view>

#include "base/result.h"

namespace archway {

// "host:port", ":port" (every interface: IPv6 and IPv4, or IPv4 alone on a host without
// IPv6) or "[v6]:port". The host is an IP address, or a name resolved when the server
// starts; port 0 takes a free port.
struct ListenAddress {
  std::string host;  // "" = every interface
  unsigned short port = 0;
  std::string String() const;  // as it is written: "[::1]:9", ":8443", "127.0.0.1:0"
};

// kInvalidArgument naming the text when it is none of those.
Result<ListenAddress> ParseListenAddress(std::string_view text);

}  // namespace archway
