// /proc/cpuinfo parsing and the label decision over it must answer a value or an error for
// any input, never crash. The same bytes are also parsed as a binfmt_misc entry (the other
// text the node labeler reads from the kernel).
#include <cstddef>
#include <cstdint>
#include <string>

#include "nodeinfo/arm32_probe.h"
#include "nodeinfo/arm_variant.h"
#include "nodeinfo/binfmt.h"
#include "nodeinfo/cpuinfo.h"
#include "nodeinfo/labels.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  auto cpuinfo = archway::nodeinfo::ParseCpuInfo(text);
  if (cpuinfo.ok()) {
    for (const char* arch : {"arm", "arm64", "amd64"}) {
      archway::nodeinfo::NodeFacts facts;
      facts.node_arch = arch;
      facts.process_arch = arch;
      facts.machine = cpuinfo->model_name;  // any string: uname is input too
      facts.cpuinfo = *cpuinfo;
      auto plan = archway::nodeinfo::PlanLabels(facts);
      (void)archway::nodeinfo::LabelPatch(nullptr, plan);
    }
  }
  auto handler = archway::nodeinfo::ParseBinfmtEntry("fuzz", text);
  if (handler.ok()) (void)archway::nodeinfo::HandlesFile(*handler, archway::nodeinfo::Arm32ProbeElf());
  return 0;
}
