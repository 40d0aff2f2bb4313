// The one writer of admission patches: a Mutation (decision.h) as a JSON Patch (RFC
// 6902), written as compact JSON text byte for byte as Json::dump writes it (members in
// its sorted order), since this runs for every admitted pod and a Json tree built only to
// be dumped costs more than the decision.
//
// Every op is an "add": into an object that exists it adds (or replaces) one member, and a
// missing object is added whole with what goes into it. Ops apply in order, so a later op
// adds into what an earlier one created. Existing required terms are copied from the pod
// with the additions ANDed in (the API has no op that appends into each of them).
//
// A Pod and a pod template (a DaemonSet's, issue 14) share the decision and differ only in
// where the pod is: PatchTarget.
#pragma once

#include <string>
#include <string_view>

#include "webhook/decision.h"

namespace archway::webhook {

struct PatchTarget {
  // JSON Pointer of the pod whose spec and metadata are patched: "" for a Pod (/spec,
  // /metadata), "/spec/template" for a workload's pod template.
  std::string_view pod;
};
inline constexpr PatchTarget kPodTarget{""};

// The patch for `mutation` of the pod `layout` describes (PlanPod's), at `target`; "" when
// the mutation is empty.
std::string WritePatch(const Mutation& mutation, const PodLayout& layout, PatchTarget target = kPodTarget);

// RFC 6901 escaping of one reference token ("archway.dev/skip" -> "archway.dev~1skip").
std::string EscapeJsonPointerToken(std::string_view token);

}  // namespace archway::webhook
