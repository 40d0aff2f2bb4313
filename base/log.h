// Structured logging through a sink the program installs. Libraries log through here and
// never write to stdout/stderr themselves; with no sink installed, nothing is written
// (tests stay quiet). Never pass secrets (passwords, tokens, Authorization headers) as
// fields: there is no redaction layer to save you.
#pragma once

#include <functional>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace archway::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

using Field = std::pair<std::string_view, std::string>;
using Sink = std::function<void(Level, std::string_view message, std::initializer_list<Field> fields)>;

// Installs the process-wide sink (thread-safe). Pass nullptr to silence.
void SetSink(Sink sink);
void SetMinLevel(Level level);
bool Enabled(Level level);

void Write(Level level, std::string_view message, std::initializer_list<Field> fields = {});

inline void Debug(std::string_view m, std::initializer_list<Field> f = {}) { Write(Level::kDebug, m, f); }
inline void Info(std::string_view m, std::initializer_list<Field> f = {}) { Write(Level::kInfo, m, f); }
inline void Warn(std::string_view m, std::initializer_list<Field> f = {}) { Write(Level::kWarn, m, f); }
inline void Error(std::string_view m, std::initializer_list<Field> f = {}) { Write(Level::kError, m, f); }

// A sink writing one JSON object per line to stderr ({"ts":..,"level":..,"msg":..,k:v}).
Sink JsonStderrSink();
// A sink writing `LEVEL message k=v ...` to stderr, for humans at a terminal.
Sink TextStderrSink();

const char* LevelName(Level level);

}  // namespace archway::log
