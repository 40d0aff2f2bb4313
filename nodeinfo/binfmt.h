// binfmt_misc handlers (/proc/sys/fs/binfmt_misc): the kernel hands a file whose header
// matches a registered magic to that handler's interpreter, e.g. qemu-arm for 32-bit arm
// ELF files. binfmt_misc is consulted before the kernel's own ELF loaders, so with such a
// handler a 32-bit arm program runs emulated even on a CPU that could run it natively.
// Inside a container the directory is usually not mounted: handlers are then invisible
// (and still apply, since they are global to the kernel).
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace archway::nodeinfo {

struct BinfmtHandler {
  std::string name{};         // file name: "qemu-arm"
  bool enabled = false;
  std::string interpreter{};  // "/usr/bin/qemu-arm-static"
  std::string flags{};        // "OCF"; F = the interpreter was opened at registration
  size_t offset = 0;          // where magic is compared
  std::string magic{};        // raw bytes (already masked, as the kernel stores them)
  std::string mask{};         // raw bytes, same length as magic
  std::string extension{};    // extension-matching handlers (".exe") have no magic
};

// Parses one entry file as fs/binfmt_misc.c prints it ("enabled", "interpreter X",
// "flags: F", "offset 0", "magic 7f45...", "mask ff..." or "extension .exe").
// kInvalidArgument when the text is not in that shape.
Result<BinfmtHandler> ParseBinfmtEntry(std::string name, std::string_view text);

// Whether the kernel would give a file starting with `header` to `handler` (enabled,
// magic-matching, header long enough).
bool HandlesFile(const BinfmtHandler& handler, std::span<const unsigned char> header);

struct BinfmtState {
  bool visible = false;   // the directory could be read
  bool enabled = false;   // its "status" file says enabled
  std::vector<BinfmtHandler> handlers{};
  std::string problem{};  // why not visible, or which entries did not parse
};

// Reads every entry of `dir` (normally /proc/sys/fs/binfmt_misc).
BinfmtState ReadBinfmtMisc(const std::string& dir = "/proc/sys/fs/binfmt_misc");

// The enabled handlers in `state` that would run a file starting with `header`, when
// binfmt_misc itself is enabled.
std::vector<BinfmtHandler> HandlersFor(const BinfmtState& state, std::span<const unsigned char> header);

}  // namespace archway::nodeinfo
