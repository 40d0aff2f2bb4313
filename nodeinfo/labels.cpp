#include "nodeinfo/labels.h"

#include "nodeinfo/arm_variant.h"

namespace archway::nodeinfo {
namespace {

void PlanArm(const NodeFacts& facts, LabelPlan& plan) {
  const CpuInfo* cpuinfo = facts.cpuinfo ? &*facts.cpuinfo : nullptr;
  VariantFinding finding = ContainerdArmVariant(cpuinfo, facts.machine);

  std::vector<std::string> capabilities = cpuinfo ? cpuinfo->features : std::vector<std::string>{};
  if (facts.process_arch == "arm") {
    for (auto& name : ArmHwcapNames(facts.hwcap, facts.hwcap2)) capabilities.push_back(std::move(name));
  }
  const ArmVariant floor = CapabilityFloor(capabilities);

  if (finding.variant == ArmVariant::kUnknown && floor != ArmVariant::kUnknown) {
    finding.variant = floor;
    finding.source += "; neither names a variant, so the CPU's capabilities decide (at least " +
                      std::string(ArmVariantName(floor)) + ")";
  }
  const int variant = static_cast<int>(finding.variant);
  if (variant >= 5) {
    plan.labels[kArmVariantLabel] = ArmVariantName(finding.variant);
    plan.notes.push_back(std::string("arm variant ") + ArmVariantName(finding.variant) + ", as containerd finds it: " +
                         finding.source);
  } else {
    plan.labels[kArmVariantLabel] = std::nullopt;
    plan.notes.push_back(std::string("no arm variant label: containerd's variant is ") +
                         ArmVariantName(finding.variant) + " (" + finding.source +
                         "); archway labels v5 to v8 only");
  }
  if (floor != ArmVariant::kUnknown && variant >= 5 && static_cast<int>(floor) > variant) {
    plan.notes.push_back(std::string("the CPU has ") + ArmVariantName(floor) +
                         " capabilities, but containerd here selects " + ArmVariantName(finding.variant) +
                         " images (a 32-bit kernel reports its own architecture): labelled " +
                         ArmVariantName(finding.variant));
  }
  if (floor != ArmVariant::kUnknown && variant >= 5 && static_cast<int>(floor) < variant &&
      floor < ArmVariant::kV7 && finding.variant >= ArmVariant::kV7) {
    plan.notes.push_back(std::string("the CPU lists no v7 capability (at least ") + ArmVariantName(floor) +
                         ") while containerd selects " + ArmVariantName(finding.variant) +
                         " images here: if those fail with illegal instructions, the board is mis-detected");
  }
  plan.labels[kArm32Label] = std::nullopt;  // only arm64 nodes carry it
}

void PlanArm64(const NodeFacts& facts, LabelPlan& plan) {
  plan.labels[kArmVariantLabel] = "v8";
  plan.notes.push_back("arm variant v8: an arm64 node");
  if (!facts.arm32) {
    plan.labels[kArm32Label] = "none";
    plan.notes.push_back("32-bit arm: not probed, so none");
    return;
  }
  const Arm32Probe& probe = *facts.arm32;
  if (probe.support == Arm32Support::kNative) {
    plan.labels[kArm32Label] = "v8";
    plan.notes.push_back("32-bit arm: v8, " + probe.detail);
    return;
  }
  plan.labels[kArm32Label] = "none";
  std::string note = "32-bit arm: none, " + probe.detail;
  if (probe.support == Arm32Support::kEmulated) {
    note += "; emulated programs are not counted (pods would run under QEMU)";
    auto handlers = HandlersFor(facts.binfmt, Arm32ProbeElf());
    for (const auto& handler : handlers) note += "; binfmt_misc " + handler.name + " -> " + handler.interpreter;
    if (handlers.empty() && !facts.binfmt.visible) note += "; binfmt_misc is not visible here to say which handler";
  }
  plan.notes.push_back(std::move(note));
}

}  // namespace

LabelPlan PlanLabels(const NodeFacts& facts) {
  LabelPlan plan;
  if (facts.node_arch == "arm") {
    PlanArm(facts, plan);
  } else if (facts.node_arch == "arm64") {
    PlanArm64(facts, plan);
  } else {
    plan.labels[kArmVariantLabel] = std::nullopt;
    plan.labels[kArm32Label] = std::nullopt;
    plan.notes.push_back("the node's architecture is " + (facts.node_arch.empty() ? "unknown" : facts.node_arch) +
                         ": archway's arm labels do not apply");
  }
  if (!facts.cpuinfo && !facts.cpuinfo_error.empty()) plan.notes.push_back("cpuinfo unreadable: " + facts.cpuinfo_error);
  return plan;
}

nlohmann::json LabelPatch(const nlohmann::json& current_labels, const LabelPlan& plan) {
  nlohmann::json changes = nlohmann::json::object();
  for (const auto& [key, value] : plan.labels) {
    const bool present = current_labels.is_object() && current_labels.contains(key);
    if (value) {
      if (!present || !current_labels[key].is_string() || current_labels[key].get<std::string>() != *value) {
        changes[key] = *value;
      }
    } else if (present) {
      changes[key] = nullptr;
    }
  }
  if (changes.empty()) return nullptr;
  return {{"metadata", {{"labels", std::move(changes)}}}};
}

}  // namespace archway::nodeinfo
