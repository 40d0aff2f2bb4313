// Which arm variant a 32-bit arm node's container runtime selects images for, found the
// way containerd's platforms package finds it (getArmCPUVariant in cpuinfo_linux.go), so
// that a label derived here predicts what containerd on the node will pull:
//  1. /proc/cpuinfo "CPU architecture": 8 or AArch64 -> v8; 7, 7M, ?(12)..?(17) -> v7;
//     6, 6TEJ -> v6; 5, 5T, 5TE, 5TEJ -> v5; 4, 4T -> v4; 3 -> v3; else unknown.
//  2. Without that line (emulators), `uname -m`: aarch64 -> v8, armvN... -> vN.
//  3. The Raspberry Pi ARMv6 quirk: the ARM1176 of a Pi Zero / Pi 1 advertises the v7
//     memory model, so a 32-bit kernel reports "CPU architecture: 7"; a "model name"
//     starting with "ARMv6-compatible" makes it v6.
// A 32-bit kernel on an ARMv8 CPU (a Pi 3 or 4 with a 32-bit OS) reports 7, so containerd
// there selects v7 images, while a 64-bit kernel under a 32-bit userland reports 8.
//
// The hardware capabilities (the AT_HWCAP/AT_HWCAP2 bits of a 32-bit arm process, or the
// words of cpuinfo "Features", which the kernel prints from the same bits) give a lower
// bound on the instruction set. It is a cross-check, and the answer of last resort when
// neither cpuinfo nor uname names a variant. Bit numbers: Linux
// arch/arm/include/uapi/asm/hwcap.h (the same on arm64 for 32-bit tasks, COMPAT_HWCAP*).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "nodeinfo/cpuinfo.h"

namespace archway::nodeinfo {

enum class ArmVariant { kUnknown = 0, kV3 = 3, kV4 = 4, kV5 = 5, kV6 = 6, kV7 = 7, kV8 = 8 };

// "v3".."v8", or "unknown".
const char* ArmVariantName(ArmVariant variant);

struct VariantFinding {
  ArmVariant variant = ArmVariant::kUnknown;
  std::string source{};  // how it was found, for logs: `cpuinfo "CPU architecture: 7"`
};

// Steps 1-3 above. `cpuinfo` may be null (unreadable); `machine` is `uname -m`.
VariantFinding ContainerdArmVariant(const CpuInfo* cpuinfo, std::string_view machine);

// The kernel's names (as in cpuinfo "Features") of the 32-bit arm AT_HWCAP/AT_HWCAP2 bits
// set in `hwcap`/`hwcap2`. Only meaningful for values read by a 32-bit arm process.
std::vector<std::string> ArmHwcapNames(uint64_t hwcap, uint64_t hwcap2);

// The lowest variant that has every capability named (32-bit names such as "neon",
// "lpae", "crc32", or arm64 ones such as "asimd", which imply v8): tls -> v6 (v6K);
// thumbee, neon, vfpv3, vfpv3d16, vfpv4, idiva, idivt, lpae -> v7; aes, pmull, sha1,
// sha2, crc32, asimd -> v8. kUnknown when none of those is present.
ArmVariant CapabilityFloor(const std::vector<std::string>& feature_names);

}  // namespace archway::nodeinfo
