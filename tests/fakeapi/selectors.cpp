#include "tests/fakeapi/selectors.h"

#include <algorithm>
#include <cctype>
#include <optional>

namespace archway::fakeapi {
namespace {

std::string Trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t");
  return s.substr(b, e - b + 1);
}

// Splits on commas outside parentheses.
std::vector<std::string> SplitTerms(const std::string& text) {
  std::vector<std::string> out;
  std::string cur;
  int depth = 0;
  for (char c : text) {
    if (c == '(') ++depth;
    if (c == ')') --depth;
    if (c == ',' && depth == 0) {
      out.push_back(Trim(cur));
      cur.clear();
    } else {
      cur += c;
    }
  }
  out.push_back(Trim(cur));
  return out;
}

bool ValidKey(const std::string& key) {
  if (key.empty() || key.size() > 316) return false;
  return std::all_of(key.begin(), key.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' || c == '/';
  });
}

Error Bad(const std::string& text, const std::string& why) {
  return Error(ErrorCode::kInvalidArgument, "unable to parse requirement: \"" + text + "\": " + why);
}

// Value of a field for field selectors; nullopt when unsupported.
std::optional<std::string> FieldValue(const nlohmann::json& obj, const std::string& resource, const std::string& key) {
  auto str = [&](const char* a, const char* b) -> std::string {
    if (!obj.contains(a) || !obj[a].is_object() || !obj[a].contains(b) || !obj[a][b].is_string()) return "";
    return obj[a][b];
  };
  if (key == "metadata.name") return str("metadata", "name");
  if (key == "metadata.namespace") return str("metadata", "namespace");
  if (resource == "secrets" && key == "type") return obj.contains("type") && obj["type"].is_string() ? obj["type"].get<std::string>() : "";
  if (resource == "pods" && key == "spec.nodeName") return str("spec", "nodeName");
  if (resource == "pods" && key == "status.phase") return str("status", "phase");
  if (resource == "nodes" && key == "spec.unschedulable") {
    bool u = obj.contains("spec") && obj["spec"].is_object() && obj["spec"].value("unschedulable", false);
    return u ? "true" : "false";
  }
  if (resource == "events" && key.rfind("involvedObject.", 0) == 0) return str("involvedObject", key.substr(15).c_str());
  if (resource == "events" && key.rfind("regarding.", 0) == 0) return str("regarding", key.substr(10).c_str());
  if (resource == "jobs" && key == "status.successful") {
    int n = obj.contains("status") && obj["status"].is_object() ? obj["status"].value("succeeded", 0) : 0;
    return std::to_string(n);
  }
  return std::nullopt;
}

// `key!=value`, `key=value` or `key==value` (label and field selectors share these).
bool ParseEquality(const std::string& term, Requirement& r) {
  if (auto ne = term.find("!="); ne != std::string::npos) {
    r.key = Trim(term.substr(0, ne));
    r.op = Requirement::Op::kNotEquals;
    r.values.push_back(Trim(term.substr(ne + 2)));
    return true;
  }
  if (auto eq = term.find('='); eq != std::string::npos) {
    r.key = Trim(term.substr(0, eq));
    size_t vstart = eq + 1 < term.size() && term[eq + 1] == '=' ? eq + 2 : eq + 1;
    r.values.push_back(Trim(term.substr(vstart)));
    return true;
  }
  return false;
}

bool Matches(const Requirement& r, const std::optional<std::string>& value) {
  switch (r.op) {
    case Requirement::Op::kEquals: return value && *value == r.values[0];
    case Requirement::Op::kNotEquals: return !value || *value != r.values[0];
    case Requirement::Op::kIn: return value && std::find(r.values.begin(), r.values.end(), *value) != r.values.end();
    case Requirement::Op::kNotIn: return !value || std::find(r.values.begin(), r.values.end(), *value) == r.values.end();
    case Requirement::Op::kExists: return value.has_value();
    case Requirement::Op::kNotExists: return !value.has_value();
  }
  return false;
}

}  // namespace

Result<std::vector<Requirement>> ParseLabelSelector(const std::string& text) {
  std::vector<Requirement> out;
  if (Trim(text).empty()) return out;
  for (const std::string& term : SplitTerms(text)) {
    if (term.empty()) return Bad(text, "empty requirement");
    Requirement r;
    if (term[0] == '!') {
      r.key = Trim(term.substr(1));
      r.op = Requirement::Op::kNotExists;
    } else if (auto p = term.find(" notin "); p != std::string::npos || (p = term.find(" in ")) != std::string::npos) {
      bool notin = term.compare(p, 7, " notin ") == 0;
      r.key = Trim(term.substr(0, p));
      r.op = notin ? Requirement::Op::kNotIn : Requirement::Op::kIn;
      std::string rest = Trim(term.substr(p + (notin ? 7 : 4)));
      if (rest.size() < 2 || rest.front() != '(' || rest.back() != ')') return Bad(text, "expected (values)");
      std::string inner = rest.substr(1, rest.size() - 2);
      size_t start = 0;
      while (true) {
        size_t comma = inner.find(',', start);
        r.values.push_back(Trim(inner.substr(start, comma == std::string::npos ? std::string::npos : comma - start)));
        if (comma == std::string::npos) break;
        start = comma + 1;
      }
    } else if (!ParseEquality(term, r)) {
      r.key = term;
      r.op = Requirement::Op::kExists;
    }
    if (!ValidKey(r.key)) return Bad(text, "invalid label key \"" + r.key + "\"");
    out.push_back(std::move(r));
  }
  return out;
}

Result<std::vector<Requirement>> ParseFieldSelector(const std::string& text) {
  std::vector<Requirement> out;
  if (Trim(text).empty()) return out;
  for (const std::string& term : SplitTerms(text)) {
    Requirement r;
    if (!ParseEquality(term, r)) {
      return Error(ErrorCode::kInvalidArgument, "invalid selector: '" + text + "'; can't understand '" + term + "'");
    }
    out.push_back(std::move(r));
  }
  return out;
}

bool MatchesLabels(const std::vector<Requirement>& selector, const nlohmann::json& object) {
  const nlohmann::json* labels = nullptr;
  if (object.contains("metadata") && object["metadata"].is_object() && object["metadata"].contains("labels") &&
      object["metadata"]["labels"].is_object())
    labels = &object["metadata"]["labels"];
  for (const auto& r : selector) {
    std::optional<std::string> value;
    if (labels && labels->contains(r.key) && (*labels)[r.key].is_string()) value = (*labels)[r.key].get<std::string>();
    if (!Matches(r, value)) return false;
  }
  return true;
}

bool MatchesFields(const std::vector<Requirement>& selector, const nlohmann::json& object, const std::string& resource) {
  for (const auto& r : selector) {
    auto value = FieldValue(object, resource, r.key);
    if (!value || !Matches(r, value)) return false;
  }
  return true;
}

Status CheckFieldSelector(const std::vector<Requirement>& selector, const std::string& resource) {
  nlohmann::json empty = nlohmann::json::object();
  for (const auto& r : selector)
    if (!FieldValue(empty, resource, r.key)) return Error(ErrorCode::kInvalidArgument, "field label not supported: " + r.key);
  return Status::Ok();
}

}  // namespace archway::fakeapi
