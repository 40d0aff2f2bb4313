#include "nodeinfo/facts.h"

#include <sys/auxv.h>
#include <sys/utsname.h>

namespace archway::nodeinfo {

const char* BuildArch() {
#if defined(__aarch64__)
  return "arm64";
#elif defined(__arm__)
  return "arm";
#elif defined(__x86_64__)
  return "amd64";
#elif defined(__i386__)
  return "386";
#elif defined(__powerpc64__) && defined(__LITTLE_ENDIAN__)
  return "ppc64le";
#elif defined(__s390x__)
  return "s390x";
#elif defined(__riscv) && __riscv_xlen == 64
  return "riscv64";
#else
  return "unknown";
#endif
}

NodeFacts GatherLocalFacts(std::string node_arch, std::string node_arch_source, const GatherOptions& options) {
  NodeFacts facts;
  facts.node_arch = std::move(node_arch);
  facts.node_arch_source = std::move(node_arch_source);
  facts.process_arch = BuildArch();
  utsname names{};
  if (uname(&names) == 0) facts.machine = names.machine;
  facts.hwcap = getauxval(AT_HWCAP);
#ifdef AT_HWCAP2
  facts.hwcap2 = getauxval(AT_HWCAP2);
#endif
  auto cpuinfo = ReadCpuInfo(options.cpuinfo_path);
  if (cpuinfo.ok()) {
    facts.cpuinfo = std::move(*cpuinfo);
  } else {
    facts.cpuinfo_error = cpuinfo.error().message;
  }
  facts.binfmt = ReadBinfmtMisc(options.binfmt_dir);
  if (options.probe_arm32) facts.arm32 = ClassifyArm32Probe(RunArm32Probe(options.probe_timeout), facts.machine);
  return facts;
}

}  // namespace archway::nodeinfo
