// Everything the node labeler knows about its node, gathered once per check: the
// kernel's and CPU's own statements (uname, AT_HWCAP, /proc/cpuinfo), the binfmt_misc
// handlers, and, on arm64 nodes, the result of executing a 32-bit arm program.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "nodeinfo/arm32_probe.h"
#include "nodeinfo/binfmt.h"
#include "nodeinfo/cpuinfo.h"

namespace archway::nodeinfo {

struct NodeFacts {
  std::string node_arch{};         // the node's kubernetes.io/arch: "arm", "arm64", "amd64", ...
  std::string node_arch_source{};  // where node_arch came from, for logs
  std::string process_arch{};      // what this binary was built for (BuildArch())
  std::string machine{};           // uname -m of this process
  uint64_t hwcap = 0;              // getauxval(AT_HWCAP) / (AT_HWCAP2), in process_arch's bit layout
  uint64_t hwcap2 = 0;
  std::optional<CpuInfo> cpuinfo{};
  std::string cpuinfo_error{};     // why cpuinfo is absent
  std::optional<Arm32Probe> arm32{};  // set when the probe ran
  BinfmtState binfmt{};
};

// The Kubernetes/Go name of the architecture this binary was compiled for: "amd64",
// "arm64", "arm", "386", "ppc64le", "s390x", "riscv64" (or "unknown"). On a node this is
// what the runtime picked from archway's image for the node, i.e. the node's own arch.
const char* BuildArch();

struct GatherOptions {
  std::string cpuinfo_path = "/proc/cpuinfo";
  std::string binfmt_dir = "/proc/sys/fs/binfmt_misc";
  bool probe_arm32 = false;  // run the 32-bit arm probe
  std::chrono::milliseconds probe_timeout{3000};
};

// Reads this machine's facts. `node_arch` (and its source) are recorded as given.
NodeFacts GatherLocalFacts(std::string node_arch, std::string node_arch_source, const GatherOptions& options);

}  // namespace archway::nodeinfo
