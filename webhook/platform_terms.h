// The nodeSelectorTerms archway requires for a pod's images, as a pure function of the
// images' manifest-list entries and what the cluster's nodes are labelled with. The
// terms are alternatives (ORed); decision.cpp ANDs each into each of the user's terms.
//
// Rules (containerd's platform matcher decides what a node pulls, so it decides here):
//  - Per OS that every image has: one plain term
//        kubernetes.io/os In [os], kubernetes.io/arch In [archs every image has]
//    and beside it, when a rule below takes an architecture out of it, one term per
//    (os, arch-group) for that architecture.
//  - 32-bit arm (archway.dev/arm-variant, set by `archway node-labeler`): a node of
//    variant vN runs arm entries vN..v5 (v8 runs v8,v7,v6,v5; v7 runs v7,v6,v5; v6 runs
//    v6,v5). Each image's oldest arm entry sets the floor; the pod runs on variants from
//    the newest floor up to v8. When that does not cover every variant a node may have,
//    arm leaves the plain term for
//        os In [linux], arch In [arm], archway.dev/arm-variant In [floor..v8]
//    "Every variant" is v6, v7 and v8 (v6: the Pi Zero / Pi 1, the oldest arm boards
//    running a kubelet) plus any older variant a node of the cluster is labelled with
//    (v5 has no Kubernetes build; if a node says it is v5, it counts). So a v6+v7 list
//    needs no variant requirement and a v7-only one requires [v7, v8] even before a Pi
//    Zero joins. An arm entry without a variant (hand-built, not from a registry, which
//    normalises it to v7) counts as runnable everywhere, as before this rule.
//  - 64-bit arm falling back to 32-bit: containerd on an arm64 node pulls an arm entry
//    when the list has no arm64 one, which runs only where the CPU executes 32-bit arm
//    code (archway.dev/arm32=v8; "none" on CPUs without AArch32). When some image has no
//    linux/arm64 entry but every image has linux/arm64 or a linux/arm entry, one term
//        os In [linux], arch In [arm64], archway.dev/arm32 In [v8]
//    admits those nodes. Otherwise arm64 is plain (every image has it) or absent.
//  - Windows builds: a process-isolated Windows container needs a host of its build.
//    For windows/<arch> where every image's entries carry os.version, the term requires
//        node.kubernetes.io/windows-build In [<major.minor.build> common to the images]
//    (architectures with the same builds share one term; no common build: that platform
//    is not offered). An image with a windows/<arch> entry without os.version (or one
//    that is not major.minor.build[.revision]) runs on any build there, as before.
//  - Labels missing: when the node cache is synced and no node carries
//    archway.dev/arm-variant (the labeler is not installed), the two arm rules are not
//    applied (arm stays plain, no arm64 fallback: today's behaviour, which never sends a
//    32-bit image to an arm64 node) and, when they would have changed the terms, one
//    warning says so and `arm_labels_missing` is set (the admitter counts it). When the
//    node cache is off or not synced (arm_variant_labels nullopt), likewise, silently.
//  - Other architectures and OSes are unaffected: plain terms, exactly as before.
//
// Reads: per resolved, non-data-only ImageOutcome its `entries` (os, architecture,
// variant, os_version) or, when empty, its `platforms` (variant and os.version unknown).
#pragma once

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "webhook/decision.h"

namespace archway::webhook {

inline constexpr const char* kArmVariantLabel = "archway.dev/arm-variant";  // = nodeinfo/labels.h
inline constexpr const char* kArm32Label = "archway.dev/arm32";             // = nodeinfo/labels.h
inline constexpr const char* kWindowsBuildLabel = "node.kubernetes.io/windows-build";

struct PlatformTerms {
  std::vector<Requirements> alternatives;  // ORed; empty: the images share no platform
  // What the terms admit, for the archway.dev/platforms annotation: "linux/amd64",
  // "linux/arm/v7+" (variants v7 and up), "linux/arm64 (32-bit arm)",
  // "windows/amd64 (build 10.0.17763)".
  std::vector<std::string> descriptions;
  std::set<OsArch> node_platforms;  // the (os, arch) pairs of the nodes they admit
  std::vector<std::string> warnings;
  bool arm_labels_missing = false;  // the arm rules were skipped and would have mattered
};

// `common`: the (os, arch) pairs every image has (decision.h CommonPlatforms, which the
// caller has at hand). `arm_variant_labels`: the archway.dev/arm-variant values the
// cluster's nodes carry (empty: no node is labelled; nullopt: not known).
PlatformTerms TermsForImages(const std::vector<ImageOutcome>& outcomes, const std::set<OsArch>& common,
                             const std::optional<std::set<std::string>>& arm_variant_labels);

// "10.0.17763" from "10.0.17763.2803" (or from itself); "" when `os_version` is not
// numbers joined by dots with at least three of them.
std::string WindowsBuild(const std::string& os_version);

}  // namespace archway::webhook
