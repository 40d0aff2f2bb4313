#include "webhook/patch.h"

#include <algorithm>
#include <initializer_list>

#include "webhook/json_text.h"

namespace archway::webhook {
namespace {

constexpr std::string_view kExpressions = "matchExpressions";

void AppendString(const std::string& text, std::string& out) { AppendJsonString(text, out); }

void AppendRequirement(const Requirement& requirement, std::string& out) {
  out += R"({"key":)";
  AppendJsonString(requirement.key, out);
  out += R"(,"operator":)";
  AppendJsonString(requirement.op, out);
  if (!requirement.values.empty()) {
    out += R"(,"values":)";
    AppendJsonArray(requirement.values, AppendString, out);
  }
  out += '}';
}

// `expression` (from the pod) is exactly `requirement`, so ANDing it again adds nothing.
bool SameRequirement(const Json& expression, const Requirement& requirement) {
  if (!expression.is_object() || expression.size() != (requirement.values.empty() ? 2u : 3u)) return false;
  auto key = expression.find("key");
  auto op = expression.find("operator");
  if (key == expression.end() || *key != requirement.key || op == expression.end() || *op != requirement.op) {
    return false;
  }
  if (requirement.values.empty()) return true;
  auto values = expression.find("values");
  if (values == expression.end() || !values->is_array() || values->size() != requirement.values.size()) return false;
  for (size_t i = 0; i < requirement.values.size(); ++i) {
    if ((*values)[i] != requirement.values[i]) return false;
  }
  return true;
}

// "matchExpressions":[...]: those of `existing` (may be null) with `addition` ANDed in; a
// requirement the term already has exactly is not repeated.
void AppendAndedExpressions(const Json* existing, const Requirements& addition, std::string& out) {
  out += R"("matchExpressions":[)";
  JsonItems expressions;
  if (existing) {
    for (const auto& expression : *existing) {
      expressions.Next(out);
      AppendJson(expression, out);
    }
  }
  for (const auto& requirement : addition) {
    if (existing && std::any_of(existing->begin(), existing->end(),
                                [&](const Json& expression) { return SameRequirement(expression, requirement); })) {
      continue;
    }
    expressions.Next(out);
    AppendRequirement(requirement, out);
  }
  out += ']';
}

// `term` (an existing nodeSelectorTerm, or null for none) with `addition` ANDed into its
// matchExpressions; its other members are kept, all in the sorted order Json::dump uses.
void AppendAndedTerm(const Json* term, const Requirements& addition, std::string& out) {
  const Json* existing = nullptr;
  if (term) {
    auto found = term->find(kExpressions);
    if (found != term->end() && found->is_array()) existing = &*found;
  }
  out += '{';
  JsonItems members;
  bool expressions_written = false;
  if (term) {
    for (auto it = term->begin(); it != term->end(); ++it) {
      if (it.key() == kExpressions) continue;
      if (!expressions_written && it.key() > kExpressions) {
        members.Next(out);
        AppendAndedExpressions(existing, addition, out);
        expressions_written = true;
      }
      members.Next(out);
      AppendJsonString(it.key(), out);
      out += ':';
      AppendJson(*it, out);
    }
  }
  if (!expressions_written) {
    members.Next(out);
    AppendAndedExpressions(existing, addition, out);
  }
  out += '}';
}

void AppendGate(const std::string& gate, std::string& out) {
  out += R"({"name":)";
  AppendJsonString(gate, out);
  out += '}';
}

void AppendPreferredTerm(const PreferredTerm& term, std::string& out) {
  out += R"({"preference":{)";
  AppendAndedExpressions(nullptr, term.preference, out);
  out += R"(},"weight":)";
  out += std::to_string(term.weight);
  out += '}';
}

// RFC 6901: "~" -> "~0", "/" -> "~1".
void AppendEscaped(std::string_view token, std::string& out) {
  if (token.find('~') == std::string_view::npos && token.find('/') == std::string_view::npos) {
    out.append(token);  // nearly always: member names, label keys without a prefix
    return;
  }
  for (char c : token) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
}

class PatchWriter {
 public:
  PatchWriter(const PodLayout& layout, PatchTarget target) : layout_(layout), exists_(layout), pod_(target.pod) {}

  void Required(const std::vector<std::vector<Requirements>>& required) {
    const auto adds = [](const std::vector<Requirements>& additions) { return !additions.empty(); };
    if (std::none_of(required.begin(), required.end(), adds)) return;  // (nor an empty term list)
    const size_t closes = BeginAdd({"spec", "affinity", "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution",
                                    "nodeSelectorTerms"},
                                   NodeAffinityDepth() + exists_.required);
    exists_.affinity = exists_.node_affinity = exists_.required = true;
    out_ += '[';
    JsonItems terms;
    if (const Json* existing = layout_.required_terms) {
      for (size_t i = 0; i < existing->size(); ++i) {
        const Json& term = (*existing)[i];
        if (i >= required.size() || required[i].empty()) {
          terms.Next(out_);
          AppendJson(term, out_);
          continue;
        }
        for (const auto& addition : required[i]) {
          terms.Next(out_);
          AppendAndedTerm(&term, addition, out_);
        }
      }
    } else {
      for (const auto& addition : required.front()) {
        terms.Next(out_);
        AppendAndedTerm(nullptr, addition, out_);
      }
    }
    out_ += ']';
    EndAdd(closes);
  }

  void Preferred(const std::vector<PreferredTerm>& preferred) {
    if (preferred.empty()) return;
    if (exists_.preferred) {
      for (const auto& term : preferred) {
        const size_t closes =
            BeginAdd({"spec", "affinity", "nodeAffinity", "preferredDuringSchedulingIgnoredDuringExecution", "-"}, 4);
        AppendPreferredTerm(term, out_);
        EndAdd(closes);
      }
      return;
    }
    const size_t closes =
        BeginAdd({"spec", "affinity", "nodeAffinity", "preferredDuringSchedulingIgnoredDuringExecution"},
                 NodeAffinityDepth());
    exists_.affinity = exists_.node_affinity = exists_.preferred = true;
    AppendJsonArray(preferred, AppendPreferredTerm, out_);
    EndAdd(closes);
  }

  void SchedulingGates(const std::vector<std::string>& gates) {
    if (gates.empty()) return;
    if (!exists_.scheduling_gates) {
      const size_t closes = BeginAdd({"spec", "schedulingGates"}, 1);
      exists_.scheduling_gates = true;
      AppendJsonArray(gates, AppendGate, out_);
      EndAdd(closes);
      return;
    }
    for (const auto& gate : gates) {
      const size_t closes = BeginAdd({"spec", "schedulingGates", "-"}, 2);
      AppendGate(gate, out_);
      EndAdd(closes);
    }
  }

  void Annotations(const std::map<std::string, std::string>& entries) {
    Metadata("annotations", entries, exists_.annotations);
  }
  void Labels(const std::map<std::string, std::string>& entries) { Metadata("labels", entries, exists_.labels); }

  std::string Finish() {
    if (!out_.empty()) out_ += ']';
    return std::move(out_);
  }

 private:
  // What exists at the target so far: PlanPod's layout, then what earlier ops added.
  struct Exists {
    explicit Exists(const PodLayout& l)
        : metadata(l.metadata), annotations(l.annotations), labels(l.labels), scheduling_gates(l.scheduling_gates),
          affinity(l.affinity), node_affinity(l.node_affinity), required(l.required), preferred(l.preferred) {}
    bool metadata, annotations, labels, scheduling_gates, affinity, node_affinity, required, preferred;
  };

  // metadata.<member>: one op per entry into a map that exists, else the map added whole.
  void Metadata(std::string_view member, const std::map<std::string, std::string>& entries, bool& map_exists) {
    if (entries.empty()) return;
    if (!exists_.metadata || !map_exists) {
      const size_t closes = BeginAdd({"metadata", member}, exists_.metadata ? 1 : 0);
      exists_.metadata = map_exists = true;
      AppendJsonObject(entries, AppendString, out_);
      EndAdd(closes);
      return;
    }
    for (const auto& [key, value] : entries) {
      const size_t closes = BeginAdd({"metadata", member, key}, 2);
      AppendJsonString(value, out_);
      EndAdd(closes);
    }
  }

  // How many of spec, affinity, nodeAffinity exist (spec always does: PlanPod checks).
  size_t NodeAffinityDepth() const { return 1 + (exists_.affinity ? 1 + exists_.node_affinity : 0); }

  // Begins an "add" op for the value at `chain` (member names from the pod down), of which
  // the first `existing` exist: the op adds the first that does not, with the objects
  // down to the value opened in it. Returns how many of those to close (EndAdd).
  size_t BeginAdd(std::initializer_list<std::string_view> chain, size_t existing) {
    const size_t last = std::min(existing, chain.size() - 1);
    path_.assign(pod_);
    auto name = chain.begin();
    for (size_t i = 0; i <= last; ++i, ++name) {
      path_ += '/';
      AppendEscaped(*name, path_);
    }
    out_ += out_.empty() ? '[' : ',';
    out_ += R"({"op":"add","path":)";
    AppendJsonString(path_, out_);
    out_ += R"(,"value":)";
    for (; name != chain.end(); ++name) {
      out_ += '{';
      AppendJsonString(*name, out_);
      out_ += ':';
    }
    return chain.size() - 1 - last;
  }

  void EndAdd(size_t closes) {
    out_.append(closes, '}');
    out_ += '}';
  }

  const PodLayout& layout_;
  Exists exists_;
  std::string_view pod_;
  std::string path_;
  std::string out_;
};

}  // namespace

std::string EscapeJsonPointerToken(std::string_view token) {
  std::string out;
  out.reserve(token.size());
  AppendEscaped(token, out);
  return out;
}

std::string WritePatch(const Mutation& mutation, const PodLayout& layout, PatchTarget target) {
  PatchWriter writer(layout, target);
  writer.Required(mutation.required);
  writer.Preferred(mutation.preferred);
  writer.SchedulingGates(mutation.scheduling_gates);
  writer.Annotations(mutation.annotations);
  writer.Labels(mutation.labels);
  return writer.Finish();
}

}  // namespace archway::webhook
