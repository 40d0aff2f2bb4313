#include "base/listen_address.h"

namespace archway {
namespace {

Error Invalid(const std::string& message) { return Error(ErrorCode::kInvalidArgument, message); }

}  // namespace

std::string ListenAddress::String() const {
  const std::string port_text = std::to_string(port);
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + port_text;
  return host + ":" + port_text;
}

Result<ListenAddress> ParseListenAddress(std::string_view text_view) {
  const std::string text(text_view);
  std::string host;
  std::string port_text;
  if (text.starts_with("[")) {
    const auto close = text.find("]:");
    if (close == std::string::npos) return Invalid("listen address \"" + text + "\": expected [ADDR]:PORT");
    host = text.substr(1, close - 1);
    port_text = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string::npos) return Invalid("listen address \"" + text + "\": expected HOST:PORT or :PORT");
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
    if (host.find(':') != std::string::npos) {
      return Invalid("listen address \"" + text + "\": write IPv6 addresses as [ADDR]:PORT");
    }
  }
  if (port_text.empty() || port_text.size() > 5 || port_text.find_first_not_of("0123456789") != std::string::npos ||
      std::stoul(port_text) > 65535) {
    return Invalid("listen address \"" + text + "\": bad port \"" + port_text + "\"");
  }
  return ListenAddress{host, static_cast<unsigned short>(std::stoul(port_text))};
}

}  // namespace archway
