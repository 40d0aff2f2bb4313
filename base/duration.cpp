#include "base/duration.h"

#include <cctype>
#include <cstdint>
#include <limits>

namespace archway {

Result<std::chrono::milliseconds> ParseDuration(std::string_view text) {
  const std::string original(text);
  auto bad = [&](const std::string& why) {
    return Error(ErrorCode::kInvalidArgument,
                 "invalid duration \"" + original + "\": " + why + " (use e.g. 500ms, 2s, 10m, 1h30m)");
  };
  if (text == "0") return std::chrono::milliseconds(0);
  if (text.empty()) return bad("empty");
  int64_t total_ms = 0;
  while (!text.empty()) {
    if (!std::isdigit(static_cast<unsigned char>(text.front()))) return bad("expected a number");
    int64_t number = 0;
    while (!text.empty() && std::isdigit(static_cast<unsigned char>(text.front()))) {
      number = number * 10 + (text.front() - '0');
      if (number > 1'000'000'000) return bad("too large");
      text.remove_prefix(1);
    }
    int64_t unit_ms = 0;
    if (text.starts_with("ms")) { unit_ms = 1; text.remove_prefix(2); }
    else if (text.starts_with("s")) { unit_ms = 1000; text.remove_prefix(1); }
    else if (text.starts_with("m")) { unit_ms = 60'000; text.remove_prefix(1); }
    else if (text.starts_with("h")) { unit_ms = 3'600'000; text.remove_prefix(1); }
    else return bad("missing unit");
    total_ms += number * unit_ms;
    if (total_ms > std::numeric_limits<int32_t>::max() * int64_t{1000}) return bad("too large");
  }
  return std::chrono::milliseconds(total_ms);
}

std::string FormatDuration(std::chrono::milliseconds duration) {
  int64_t ms = duration.count();
  if (ms == 0) return "0s";
  std::string out;
  if (ms < 0) { out = "-"; ms = -ms; }
  int64_t hours = ms / 3'600'000; ms %= 3'600'000;
  int64_t minutes = ms / 60'000; ms %= 60'000;
  int64_t seconds = ms / 1000; ms %= 1000;
  if (hours) out += std::to_string(hours) + "h";
  if (minutes) out += std::to_string(minutes) + "m";
  if (seconds) out += std::to_string(seconds) + "s";
  if (ms) out += std::to_string(ms) + "ms";
  return out;
}

}  // namespace archway
