// /proc/cpuinfo as Linux writes it: "key<TAB>: value" lines, one block per processor
// (arm64 and x86), or per-processor blocks followed by machine lines such as "Hardware"
// and "Revision" (32-bit arm kernels, Raspberry Pi kernels). Keys are matched as
// containerd's platforms package matches them: trimmed and case-insensitive, the first
// occurrence wins (for an SMP system the first core is enough), the value is everything
// after the first ':' (except "Model", matched exactly: x86 has a numeric "model").
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace archway::nodeinfo {

struct CpuInfo {
  int processors = 0;              // "processor" lines
  std::string cpu_architecture{};  // "CPU architecture": "7", "8"; "AArch64" on early arm64 kernels
  std::string model_name{};        // "model name": "ARMv6-compatible processor rev 7 (v6l)" (32-bit
                                   // kernels, arm64 kernels read with PER_LINUX32, x86)
  std::vector<std::string> features{};  // "Features" (arm) or "flags" (x86), split on blanks
  std::string cpu_implementer{};   // "0x41" (Arm Ltd)
  std::string cpu_part{};          // "0xd4f" (Neoverse V2), "0xb76" (ARM1176)
  std::string hardware{};          // "Hardware": "BCM2835" (32-bit Raspberry Pi kernels)
  std::string model{};             // "Model": "Raspberry Pi Zero Rev 1.3" (Raspberry Pi kernels)

  bool HasFeature(std::string_view name) const;
};

// Texts above this size are refused (a 192-core server writes about 200 KiB).
inline constexpr size_t kMaxCpuInfoBytes = 4 << 20;

// kInvalidArgument when the text is too large, contains NUL bytes, or has no
// "processor" line and none of the keys above (not /proc/cpuinfo text).
Result<CpuInfo> ParseCpuInfo(std::string_view text);

// Reads and parses a cpuinfo file (normally /proc/cpuinfo), at most kMaxCpuInfoBytes.
Result<CpuInfo> ReadCpuInfo(const std::string& path = "/proc/cpuinfo");

}  // namespace archway::nodeinfo
