#include "nodeinfo/binfmt.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>

namespace archway::nodeinfo {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r' || s.front() == '\n')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) s.remove_suffix(1);
  return s;
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool DecodeHex(std::string_view hex, std::string& out) {
  if (hex.size() % 2 != 0) return false;
  out.clear();
  for (size_t i = 0; i < hex.size(); i += 2) {
    int hi = HexDigit(hex[i]), lo = HexDigit(hex[i + 1]);
    if (hi < 0 || lo < 0) return false;
    out.push_back(static_cast<char>(hi * 16 + lo));
  }
  return true;
}

bool StartsWith(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

std::string ReadSmallFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::string text;
  char buffer[4096];
  while (text.size() < 65536 && (in.read(buffer, sizeof(buffer)) || in.gcount() > 0)) {
    text.append(buffer, static_cast<size_t>(in.gcount()));
  }
  return text;
}

}  // namespace

Result<BinfmtHandler> ParseBinfmtEntry(std::string name, std::string_view text) {
  BinfmtHandler handler;
  handler.name = std::move(name);
  bool saw_state = false;
  bool have_mask = false;
  auto bad = [&](const std::string& why) {
    return Error(ErrorCode::kInvalidArgument, "binfmt_misc entry " + handler.name + ": " + why);
  };
  std::istringstream lines{std::string(text)};
  std::string raw;
  while (std::getline(lines, raw)) {
    std::string_view line = Trim(raw);
    if (line.empty()) continue;
    if (line == "enabled" || line == "disabled") {
      handler.enabled = line == "enabled";
      saw_state = true;
    } else if (StartsWith(line, "interpreter ")) {
      handler.interpreter = std::string(Trim(line.substr(12)));
    } else if (StartsWith(line, "flags:")) {
      handler.flags = std::string(Trim(line.substr(6)));
    } else if (StartsWith(line, "offset ")) {
      std::string_view digits = Trim(line.substr(7));
      if (digits.empty() || digits.size() > 6 || !std::all_of(digits.begin(), digits.end(), [](char c) {
            return c >= '0' && c <= '9';
          })) {
        return bad("offset \"" + std::string(digits) + "\" is not a number");
      }
      handler.offset = std::stoul(std::string(digits));
    } else if (StartsWith(line, "magic ")) {
      if (!DecodeHex(Trim(line.substr(6)), handler.magic)) return bad("magic is not hex");
    } else if (StartsWith(line, "mask ")) {
      if (!DecodeHex(Trim(line.substr(5)), handler.mask)) return bad("mask is not hex");
      have_mask = true;
    } else if (StartsWith(line, "extension ")) {
      handler.extension = std::string(Trim(line.substr(10)));
    }
  }
  if (!saw_state) return bad("no \"enabled\"/\"disabled\" line");
  if (handler.magic.empty() && handler.extension.empty()) return bad("neither magic nor extension");
  if (!have_mask) handler.mask.assign(handler.magic.size(), '\xff');
  if (handler.mask.size() != handler.magic.size()) return bad("mask and magic differ in length");
  return handler;
}

bool HandlesFile(const BinfmtHandler& handler, std::span<const unsigned char> header) {
  if (!handler.enabled || handler.magic.empty()) return false;
  if (header.size() < handler.offset || header.size() - handler.offset < handler.magic.size()) return false;
  for (size_t i = 0; i < handler.magic.size(); ++i) {
    const auto byte = static_cast<unsigned char>(header[handler.offset + i]);
    const auto mask = static_cast<unsigned char>(handler.mask[i]);
    if ((byte & mask) != (static_cast<unsigned char>(handler.magic[i]) & mask)) return false;
  }
  return true;
}

BinfmtState ReadBinfmtMisc(const std::string& dir) {
  BinfmtState state;
  std::error_code ec;
  std::filesystem::directory_iterator it(dir, ec);
  if (ec) {
    state.problem = dir + ": " + ec.message();
    return state;
  }
  std::vector<std::filesystem::path> entries;
  for (; it != std::filesystem::directory_iterator(); it.increment(ec)) {
    if (ec) break;
    entries.push_back(it->path());
  }
  std::sort(entries.begin(), entries.end());
  bool saw_status = false;
  for (const auto& path : entries) {
    const std::string name = path.filename().string();
    if (name == "register") continue;
    std::string text = ReadSmallFile(path);
    if (name == "status") {
      saw_status = true;
      state.enabled = Trim(text) == "enabled";
      continue;
    }
    auto handler = ParseBinfmtEntry(name, text);
    if (handler.ok()) {
      state.handlers.push_back(std::move(*handler));
    } else {
      state.problem += (state.problem.empty() ? "" : "; ") + handler.error().message;
    }
  }
  // An empty directory is a mount point without binfmt_misc mounted on it.
  state.visible = saw_status;
  if (!saw_status && state.problem.empty()) state.problem = dir + ": binfmt_misc is not mounted here";
  return state;
}

std::vector<BinfmtHandler> HandlersFor(const BinfmtState& state, std::span<const unsigned char> header) {
  std::vector<BinfmtHandler> matching;
  if (!state.visible || !state.enabled) return matching;
  for (const auto& handler : state.handlers) {
    if (HandlesFile(handler, header)) matching.push_back(handler);
  }
  return matching;
}

}  // namespace archway::nodeinfo
