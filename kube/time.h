// The API's two time formats: metav1.Time, RFC 3339 to the second
// ("2026-11-23T15:11:50Z", conditions, Event timestamps), and metav1.MicroTime, exactly 6
// fractional digits ("2026-11-23T15:11:40.976347Z", Leases, events.k8s.io eventTime),
// which the API rejects with any other number of digits.
#pragma once

#include <chrono>
#include <string>

#include "base/result.h"

namespace archway::kube {

// metav1.Time.
std::string FormatTime(std::chrono::system_clock::time_point t);
// metav1.MicroTime.
std::string FormatMicroTime(std::chrono::system_clock::time_point t);
// Parses MicroTime or RFC 3339 time (any fraction, Z or ±hh:mm); kInvalidArgument otherwise.
Result<std::chrono::system_clock::time_point> ParseTime(const std::string& text);

}  // namespace archway::kube
