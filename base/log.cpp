#include "base/log.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <memory>
#include <mutex>

#include <nlohmann/json.hpp>

namespace archway::log {
namespace {

std::mutex g_mutex;
std::shared_ptr<Sink> g_sink;
std::atomic<int> g_min_level{static_cast<int>(Level::kInfo)};

std::string NowRfc3339() {
  auto now = std::chrono::system_clock::now();
  std::time_t seconds = std::chrono::system_clock::to_time_t(now);
  auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(millis));
  return buffer;
}

}  // namespace

const char* LevelName(Level level) {
  switch (level) {
    case Level::kDebug: return "debug";
    case Level::kInfo: return "info";
    case Level::kWarn: return "warn";
    case Level::kError: return "error";
  }
  return "info";
}

void SetSink(Sink sink) {
  std::lock_guard<std::mutex> lock(g_mutex);
  g_sink = sink ? std::make_shared<Sink>(std::move(sink)) : nullptr;
}

void SetMinLevel(Level level) { g_min_level = static_cast<int>(level); }

bool Enabled(Level level) { return static_cast<int>(level) >= g_min_level.load(); }

void Write(Level level, std::string_view message, std::initializer_list<Field> fields) {
  if (!Enabled(level)) return;
  std::shared_ptr<Sink> sink;
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    sink = g_sink;
  }
  if (sink) (*sink)(level, message, fields);
}

Sink JsonStderrSink() {
  auto mutex = std::make_shared<std::mutex>();
  return [mutex](Level level, std::string_view message, std::initializer_list<Field> fields) {
    nlohmann::ordered_json line;
    line["ts"] = NowRfc3339();
    line["level"] = LevelName(level);
    line["msg"] = std::string(message);
    for (const auto& [key, value] : fields) line[std::string(key)] = value;
    std::string text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    std::lock_guard<std::mutex> lock(*mutex);
    std::fwrite(text.data(), 1, text.size(), stderr);
    std::fflush(stderr);
  };
}

Sink TextStderrSink() {
  auto mutex = std::make_shared<std::mutex>();
  return [mutex](Level level, std::string_view message, std::initializer_list<Field> fields) {
    std::string text = std::string(LevelName(level)) + " " + std::string(message);
    for (const auto& [key, value] : fields) text += " " + std::string(key) + "=" + value;
    text += "\n";
    std::lock_guard<std::mutex> lock(*mutex);
    std::fwrite(text.data(), 1, text.size(), stderr);
  };
}

}  // namespace archway::log
