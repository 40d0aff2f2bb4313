#include "nodeinfo/arm_variant.h"

#include <algorithm>
#include <array>

namespace archway::nodeinfo {
namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// containerd's switch over the "CPU architecture" value (lower-cased).
ArmVariant FromCpuArchitecture(const std::string& value) {
  const std::string v = Lower(value);
  if (v == "8" || v == "aarch64") return ArmVariant::kV8;
  if (v == "7" || v == "7m" || v == "?(12)" || v == "?(13)" || v == "?(14)" || v == "?(15)" || v == "?(16)" ||
      v == "?(17)") {
    return ArmVariant::kV7;
  }
  if (v == "6" || v == "6tej") return ArmVariant::kV6;
  if (v == "5" || v == "5t" || v == "5te" || v == "5tej") return ArmVariant::kV5;
  if (v == "4" || v == "4t") return ArmVariant::kV4;
  if (v == "3") return ArmVariant::kV3;
  return ArmVariant::kUnknown;
}

// containerd's getCPUVariantFromArch: aarch64 -> 8, armvN... -> N (3..8).
ArmVariant FromMachine(std::string_view machine) {
  const std::string m = Lower(machine);
  if (m == "aarch64") return ArmVariant::kV8;
  if (m.size() >= 5 && m.compare(0, 4, "armv") == 0 && m[4] >= '3' && m[4] <= '8') {
    return static_cast<ArmVariant>(m[4] - '0');
  }
  return ArmVariant::kUnknown;
}

struct Capability {
  const char* name;
  int word;  // 1 = AT_HWCAP, 2 = AT_HWCAP2, 0 = arm64 cpuinfo name only
  int bit;
  ArmVariant floor;
};

// Linux arch/arm/include/uapi/asm/hwcap.h; floors from the Arm ARM (TLS register: v6K;
// ThumbEE, NEON, VFPv3/v4, LPAE, integer divide: v7; the v8 crypto and CRC32 extensions).
constexpr std::array<Capability, 29> kCapabilities{{
    {"swp", 1, 0, ArmVariant::kUnknown},      {"half", 1, 1, ArmVariant::kUnknown},
    {"thumb", 1, 2, ArmVariant::kUnknown},    {"26bit", 1, 3, ArmVariant::kUnknown},
    {"fastmult", 1, 4, ArmVariant::kUnknown}, {"fpa", 1, 5, ArmVariant::kUnknown},
    {"vfp", 1, 6, ArmVariant::kUnknown},      {"edsp", 1, 7, ArmVariant::kUnknown},
    {"java", 1, 8, ArmVariant::kUnknown},     {"iwmmxt", 1, 9, ArmVariant::kUnknown},
    {"crunch", 1, 10, ArmVariant::kUnknown},  {"thumbee", 1, 11, ArmVariant::kV7},
    {"neon", 1, 12, ArmVariant::kV7},         {"vfpv3", 1, 13, ArmVariant::kV7},
    {"vfpv3d16", 1, 14, ArmVariant::kV7},     {"tls", 1, 15, ArmVariant::kV6},
    {"vfpv4", 1, 16, ArmVariant::kV7},        {"idiva", 1, 17, ArmVariant::kV7},
    {"idivt", 1, 18, ArmVariant::kV7},        {"vfpd32", 1, 19, ArmVariant::kUnknown},
    {"lpae", 1, 20, ArmVariant::kV7},         {"evtstrm", 1, 21, ArmVariant::kUnknown},
    {"aes", 2, 0, ArmVariant::kV8},           {"pmull", 2, 1, ArmVariant::kV8},
    {"sha1", 2, 2, ArmVariant::kV8},          {"sha2", 2, 3, ArmVariant::kV8},
    {"crc32", 2, 4, ArmVariant::kV8},         {"asimd", 0, 0, ArmVariant::kV8},
    {"fp", 0, 0, ArmVariant::kUnknown},
}};

}  // namespace

const char* ArmVariantName(ArmVariant variant) {
  switch (variant) {
    case ArmVariant::kV3: return "v3";
    case ArmVariant::kV4: return "v4";
    case ArmVariant::kV5: return "v5";
    case ArmVariant::kV6: return "v6";
    case ArmVariant::kV7: return "v7";
    case ArmVariant::kV8: return "v8";
    case ArmVariant::kUnknown: break;
  }
  return "unknown";
}

VariantFinding ContainerdArmVariant(const CpuInfo* cpuinfo, std::string_view machine) {
  VariantFinding finding;
  bool plain_seven = false;  // containerd applies the quirk to the raw value "7" only
  if (cpuinfo != nullptr && !cpuinfo->cpu_architecture.empty()) {
    finding.variant = FromCpuArchitecture(cpuinfo->cpu_architecture);
    finding.source = "cpuinfo \"CPU architecture: " + cpuinfo->cpu_architecture + "\"";
    plain_seven = cpuinfo->cpu_architecture == "7";
  } else {
    finding.variant = FromMachine(machine);
    finding.source = std::string(cpuinfo == nullptr ? "no cpuinfo" : "no \"CPU architecture\" in cpuinfo") +
                     ", uname -m \"" + std::string(machine) + "\"";
    plain_seven = finding.variant == ArmVariant::kV7;
  }
  if (plain_seven && cpuinfo != nullptr && Lower(cpuinfo->model_name).rfind("armv6-compatible", 0) == 0) {
    finding.variant = ArmVariant::kV6;
    finding.source += " with model name \"" + cpuinfo->model_name + "\" (the Raspberry Pi ARMv6 quirk)";
  }
  return finding;
}

std::vector<std::string> ArmHwcapNames(uint64_t hwcap, uint64_t hwcap2) {
  std::vector<std::string> names;
  for (const Capability& c : kCapabilities) {
    const uint64_t word = c.word == 1 ? hwcap : c.word == 2 ? hwcap2 : 0;
    if (c.word != 0 && (word >> c.bit) & 1u) names.emplace_back(c.name);
  }
  return names;
}

ArmVariant CapabilityFloor(const std::vector<std::string>& feature_names) {
  ArmVariant floor = ArmVariant::kUnknown;
  for (const std::string& name : feature_names) {
    for (const Capability& c : kCapabilities) {
      if (name == c.name && static_cast<int>(c.floor) > static_cast<int>(floor)) floor = c.floor;
    }
  }
  return floor;
}

}  // namespace archway::nodeinfo
