// Which archway.dev labels a node should carry, as a pure function of its facts:
//
//   archway.dev/arm-variant   32-bit arm nodes: the variant containerd on the node selects
//                             images for (v5, v6, v7, v8; see arm_variant.h). arm64 nodes: v8.
//   archway.dev/arm32         arm64 nodes only: v8 when a 32-bit arm program ran natively
//                             (containerd falls back to arm/v8..v5 entries there), none when
//                             it did not: exec format error, a failed probe, or emulation.
//
// Emulation counts as none: with a qemu-arm binfmt_misc handler every 32-bit arm program
// on the node (containers included) runs under QEMU, several times slower and with
// emulator gaps, which is what archway keeps pods away from; the notes say so, so the
// decision is visible in the labeler's log. Other nodes carry neither label, and a label
// that no longer applies is removed.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "nodeinfo/facts.h"

namespace archway::nodeinfo {

inline constexpr char kArmVariantLabel[] = "archway.dev/arm-variant";
inline constexpr char kArm32Label[] = "archway.dev/arm32";

struct LabelPlan {
  // Every archway label: its value, or nullopt when the node must not carry it.
  std::map<std::string, std::optional<std::string>> labels{};
  std::vector<std::string> notes{};  // why, one sentence each
};

// Reads: facts.node_arch, cpuinfo (CPU architecture, model name, Features), machine,
// hwcap/hwcap2 (only when process_arch is "arm"), arm32, binfmt (for the notes).
LabelPlan PlanLabels(const NodeFacts& facts);

// The JSON merge patch ({"metadata":{"labels":{...}}}, null removes a key) that takes a
// Node with `current_labels` (a JSON object, or null) to `plan`; null when the Node
// already matches. Only the keys of plan.labels appear in it.
nlohmann::json LabelPatch(const nlohmann::json& current_labels, const LabelPlan& plan);

}  // namespace archway::nodeinfo
