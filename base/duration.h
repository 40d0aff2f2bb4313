// Go-style durations as used in the config files and flags: "2s", "500ms", "10m", "1h30m".
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "base/result.h"

namespace archway {

// Units: ms, s, m, h (a bare "0" is zero). Negative or overflowing values are errors.
Result<std::chrono::milliseconds> ParseDuration(std::string_view text);

// Shortest exact rendering: 2000ms -> "2s", 90000ms -> "1m30s".
std::string FormatDuration(std::chrono::milliseconds duration);

}  // namespace archway
