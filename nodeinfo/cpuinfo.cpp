#include "nodeinfo/cpuinfo.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>

namespace archway::nodeinfo {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
           return lower(x) == lower(y);
         });
}

std::vector<std::string> SplitBlanks(std::string_view s) {
  std::vector<std::string> words;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
    size_t start = i;
    while (i < s.size() && s[i] != ' ' && s[i] != '\t') ++i;
    if (i > start) words.emplace_back(s.substr(start, i - start));
  }
  return words;
}

}  // namespace

bool CpuInfo::HasFeature(std::string_view name) const {
  return std::find(features.begin(), features.end(), name) != features.end();
}

Result<CpuInfo> ParseCpuInfo(std::string_view text) {
  if (text.size() > kMaxCpuInfoBytes) {
    return Error(ErrorCode::kInvalidArgument, "cpuinfo: " + std::to_string(text.size()) +
                                                  " bytes is more than /proc/cpuinfo ever holds (limit " +
                                                  std::to_string(kMaxCpuInfoBytes) + ")");
  }
  if (text.find('\0') != std::string_view::npos) {
    return Error(ErrorCode::kInvalidArgument, "cpuinfo: contains NUL bytes: not /proc/cpuinfo text");
  }
  CpuInfo info;
  bool recognised = false;
  bool have_features = false;
  auto first = [&](std::string& field, std::string_view value) {
    recognised = true;
    if (field.empty()) field = std::string(value);
  };
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view key = Trim(line.substr(0, colon));
    std::string_view value = Trim(line.substr(colon + 1));
    if (EqualsIgnoreCase(key, "processor")) {
      recognised = true;
      ++info.processors;
    } else if (EqualsIgnoreCase(key, "CPU architecture")) {
      first(info.cpu_architecture, value);
    } else if (EqualsIgnoreCase(key, "model name")) {
      first(info.model_name, value);
    } else if (EqualsIgnoreCase(key, "Features") || EqualsIgnoreCase(key, "flags")) {
      recognised = true;
      if (!have_features) info.features = SplitBlanks(value);
      have_features = true;
    } else if (EqualsIgnoreCase(key, "CPU implementer")) {
      first(info.cpu_implementer, value);
    } else if (EqualsIgnoreCase(key, "CPU part")) {
      first(info.cpu_part, value);
    } else if (EqualsIgnoreCase(key, "Hardware")) {
      first(info.hardware, value);
    } else if (key == "Model") {  // case-sensitive: x86's "model" is a number
      first(info.model, value);
    }
  }
  if (!recognised) {
    return Error(ErrorCode::kInvalidArgument,
                 "cpuinfo: no \"processor\", \"CPU architecture\" or \"Features\" line: not /proc/cpuinfo text");
  }
  return info;
}

Result<CpuInfo> ReadCpuInfo(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error(ErrorCode::kNotFound, path + ": " + std::strerror(errno));
  std::string text;
  char buffer[16384];
  while (in.read(buffer, sizeof(buffer)) || in.gcount() > 0) {
    text.append(buffer, static_cast<size_t>(in.gcount()));
    if (text.size() > kMaxCpuInfoBytes) break;
  }
  auto parsed = ParseCpuInfo(text);
  if (!parsed.ok()) return parsed.error().Wrap(path);
  return parsed;
}

}  // namespace archway::nodeinfo
