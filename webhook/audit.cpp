#include "webhook/audit.h"

#include <algorithm>
#include <string_view>
#include <vector>

namespace archway::webhook {
namespace {

// One requirement in label-selector syntax (k8s.io/apimachinery labels.Parse): set-based
// operators, a bare key for Exists, !key for DoesNotExist. Gt and Lt have no selector
// form (node affinity alone has them); archway writes neither, they are spelt out.
std::string SelectorOf(const Requirement& requirement) {
  auto values = [&requirement] {
    std::string joined;
    for (const auto& value : requirement.values) {
      if (!joined.empty()) joined += ',';
      joined += value;
    }
    return joined;
  };
  if (requirement.op == "In") return requirement.key + " in (" + values() + ")";
  if (requirement.op == "NotIn") return requirement.key + " notin (" + values() + ")";
  if (requirement.op == "Exists") return requirement.key;
  if (requirement.op == "DoesNotExist") return "!" + requirement.key;
  return requirement.key + " " + requirement.op + " (" + values() + ")";
}

std::string SelectorOf(const Requirements& requirements) {
  std::string out;
  for (const auto& requirement : requirements) {
    if (!out.empty()) out += ',';
    out += SelectorOf(requirement);
  }
  return out;
}

// Enforce's warnings and denials start "archway: ".
std::string_view WithoutPrefix(std::string_view text) {
  constexpr std::string_view kPrefix = "archway: ";
  if (text.starts_with(kPrefix)) text.remove_prefix(kPrefix.size());
  return text;
}

// In audit mode they describe what did not happen.
std::string NotEnforced(std::string_view what) {
  return "archway (audit mode, not enforced): " + std::string(WithoutPrefix(what));
}

}  // namespace

const char* AuditOutcomeName(AuditOutcome outcome) {
  switch (outcome) {
    case AuditOutcome::kConstrained: return "constrained";
    case AuditOutcome::kNoCommonPlatform: return "no_common_platform";
    case AuditOutcome::kNone: break;
  }
  return "";
}

std::string WouldRequire(const Mutation& mutation) {
  // Every term gets the same alternatives (AndedIntoEveryTerm); each distinct one once.
  std::vector<std::string> alternatives;
  for (const auto& per_term : mutation.required) {
    for (const auto& requirements : per_term) {
      if (requirements.empty()) continue;
      std::string selector = SelectorOf(requirements);
      if (std::find(alternatives.begin(), alternatives.end(), selector) == alternatives.end()) {
        alternatives.push_back(std::move(selector));
      }
    }
  }
  std::string out;
  for (const auto& alternative : alternatives) {
    if (!out.empty()) out += " OR ";
    out += alternative;
  }
  return out;
}

AuditedDecision AuditDecision(const Decision& enforced) {
  AuditedDecision audited;
  Decision& answer = audited.decision;
  answer.result = enforced.result == AdmissionResult::kDenied ? AdmissionResult::kNoCommonPlatform : enforced.result;
  if (enforced.result == AdmissionResult::kNoCommonPlatform || enforced.result == AdmissionResult::kDenied) {
    audited.outcome = AuditOutcome::kNoCommonPlatform;
  } else if (enforced.result == AdmissionResult::kMutated) {
    audited.outcome = AuditOutcome::kConstrained;
  }
  for (const auto& warning : enforced.warnings) answer.warnings.push_back(NotEnforced(warning));
  if (enforced.denial) {
    answer.warnings.push_back(
        NotEnforced("enforce would deny the pod: " + std::string(WithoutPrefix(enforced.denial->message))));
  }
  const std::string requirement = WouldRequire(enforced.mutation);
  if (!requirement.empty()) {
    answer.mutation.annotations.emplace(kWouldRequireAnnotation, requirement);
    answer.warnings.push_back("archway (audit mode): enforce would require node labels " + requirement +
                              " (annotation " + kWouldRequireAnnotation + "); nothing was enforced");
  }
  return audited;
}

}  // namespace archway::webhook
