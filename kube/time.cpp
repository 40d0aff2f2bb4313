#include "kube/time.h"

#include <cctype>
#include <cstdio>
#include <ctime>

#include "base/utf8.h"

namespace archway::kube {

using SystemClock = std::chrono::system_clock;

std::string FormatMicroTime(SystemClock::time_point t) {
  auto micros = std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
  std::time_t seconds = static_cast<std::time_t>(micros / 1000000);
  long fraction = static_cast<long>(micros % 1000000);
  if (fraction < 0) {
    fraction += 1000000;
    --seconds;
  }
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, fraction);
  return buf;
}

std::string FormatTime(SystemClock::time_point t) {
  std::time_t seconds = SystemClock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

Result<SystemClock::time_point> ParseTime(const std::string& text) {
  auto bad = [&] { return Error(ErrorCode::kInvalidArgument, "not an RFC 3339 time: \"" + TruncateUtf8(text, 64) + "\""); };
  std::tm tm{};
  int consumed = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                  &tm.tm_min, &tm.tm_sec, &consumed) != 6 || consumed != 19)
    return bad();
  if (tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 ||
      tm.tm_sec > 60)
    return bad();
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  size_t i = 19;
  int64_t micros = 0;
  if (i < text.size() && text[i] == '.') {
    ++i;
    int digits = 0;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
      if (digits < 6) micros = micros * 10 + (text[i] - '0');
      ++digits;
      ++i;
    }
    if (digits == 0) return bad();
    for (int d = digits; d < 6; ++d) micros *= 10;
  }
  int64_t offset_seconds = 0;
  if (i < text.size() && (text[i] == 'Z' || text[i] == 'z')) {
    ++i;
  } else if (i + 6 == text.size() && (text[i] == '+' || text[i] == '-') && text[i + 3] == ':') {
    int hh = 0, mm = 0;
    if (std::sscanf(text.c_str() + i + 1, "%2d:%2d", &hh, &mm) != 2) return bad();
    offset_seconds = (hh * 3600 + mm * 60) * (text[i] == '+' ? 1 : -1);
    i += 6;
  } else {
    return bad();
  }
  if (i != text.size()) return bad();
  std::time_t seconds = timegm(&tm) - offset_seconds;
  return SystemClock::time_point(std::chrono::seconds(seconds)) + std::chrono::microseconds(micros);
}

}  // namespace archway::kube
