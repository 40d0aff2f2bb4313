#include "check/manifests.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>

#include "check/yaml_json.h"
#include "webhook/json_depth.h"
#include "webhook/pod_template.h"

namespace archway::check {
namespace {

namespace fs = std::filesystem;

// A List inside a List inside a List is as deep as anything real goes.
constexpr int kMaxListDepth = 3;
// As for YAML (yaml_json.h): deeper JSON is refused before anything walks it recursively.
constexpr int kMaxJsonDepth = YamlLimits{}.max_depth;

struct Chunk {
  int first_line = 1;
  std::string_view text;
};

// A line that is "---" (trailing blanks allowed) ends a document, as in
// k8s.io/apimachinery/pkg/util/yaml's YAMLReader; "--- " followed by content is part of
// the document (a YAML directives end marker).
bool IsSeparator(std::string_view line) {
  if (!line.starts_with("---")) return false;
  for (char c : line.substr(3)) {
    if (!std::isspace(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

std::vector<Chunk> SplitDocuments(std::string_view text) {
  std::vector<Chunk> chunks;
  size_t chunk_start = 0;
  int chunk_line = 1;
  int line_number = 1;
  size_t at = 0;
  while (at <= text.size()) {
    size_t end = text.find('\n', at);
    if (end == std::string_view::npos) end = text.size();
    if (IsSeparator(text.substr(at, end - at))) {
      chunks.push_back(Chunk{chunk_line, text.substr(chunk_start, at - chunk_start)});
      chunk_start = std::min(end + 1, text.size());
      chunk_line = line_number + 1;
    }
    at = end + 1;
    ++line_number;
  }
  chunks.push_back(Chunk{chunk_line, text.substr(chunk_start)});
  return chunks;
}

const Json* Member(const Json& object, const char* key) {
  if (!object.is_object()) return nullptr;
  auto it = object.find(key);
  return it == object.end() || it->is_null() ? nullptr : &*it;
}

std::string StringMember(const Json& object, const char* key) {
  const Json* value = Member(object, key);
  return value && value->is_string() ? value->get<std::string>() : std::string();
}

// "/spec/jobTemplate/spec/template" -> "spec.jobTemplate.spec.template"
std::string Dotted(std::string_view pointer) {
  std::string out(pointer.substr(pointer.empty() ? 0 : 1));
  std::replace(out.begin(), out.end(), '/', '.');
  return out;
}

class Reader {
 public:
  explicit Reader(Manifests& out) : out_(out) {}

  void Document(Json document, const Source& source, int depth = 0) {
    if (!document.is_object()) return Fail(source, "not a Kubernetes object (the document is not a mapping)");
    const std::string kind = StringMember(document, "kind");
    const std::string api_version = StringMember(document, "apiVersion");
    if (kind.empty()) return Fail(source, "the object has no kind");
    if (api_version.empty()) return Fail(source, kind + " has no apiVersion");
    if (const Json* items = Member(document, "items"); items && kind.ends_with("List")) {
      return List(std::move(document), kind, api_version, source, depth);
    }
    const webhook::WorkloadKind* workload_kind = webhook::FindWorkloadKind(api_version, kind);
    if (workload_kind == nullptr) {
      ++out_.ignored[api_version + "/" + kind];
      return;
    }
    Workload workload;
    workload.source = source;
    workload.api_version = api_version;
    workload.kind = kind;
    const Json* metadata = Member(document, "metadata");
    if (metadata && !metadata->is_object()) return Fail(source, kind + ": metadata is not a mapping");
    if (metadata) {
      workload.ns = StringMember(*metadata, "namespace");
      workload.name = StringMember(*metadata, "name");
      if (workload.name.empty()) workload.name = StringMember(*metadata, "generateName");
    }
    if (workload.name.empty()) return Fail(source, kind + " has no metadata.name");
    workload.pod_path = std::string(workload_kind->pod_path);
    workload.object = std::move(document);
    const Json& pod = workload.Pod();
    if (!pod.is_object()) {
      return Fail(source, workload.Id() + " has no pod template (" + Dotted(workload.pod_path) + ")");
    }
    const Json* spec = Member(pod, "spec");
    if (!spec || !spec->is_object()) {
      return Fail(source, workload.Id() + " has no " +
                              (workload.pod_path.empty() ? std::string("spec") : Dotted(workload.pod_path) + ".spec"));
    }
    out_.workloads.push_back(std::move(workload));
  }

  void Fail(const Source& source, std::string message) { out_.problems.push_back(Problem{source, std::move(message)}); }

 private:
  void List(Json document, const std::string& kind, const std::string& api_version, const Source& source,
            int depth) {
    Json& items = document["items"];
    if (!items.is_array()) return Fail(source, kind + ": items is not a list");
    if (depth >= kMaxListDepth) return Fail(source, kind + ": lists nested deeper than " + std::to_string(kMaxListDepth));
    // The API's typed lists (DeploymentList) leave kind and apiVersion out of their items.
    const std::string item_kind = kind == "List" ? std::string() : kind.substr(0, kind.size() - 4);
    for (size_t i = 0; i < items.size(); ++i) {
      Source at = source;
      at.item = static_cast<int>(i + 1);
      Json& item = items[i];
      if (item.is_object()) {
        if (!item_kind.empty() && !Member(item, "kind")) item["kind"] = item_kind;
        if (!Member(item, "apiVersion")) item["apiVersion"] = api_version;
      }
      Document(std::move(item), at, depth + 1);
    }
  }

  Manifests& out_;
};

bool LooksLikeJson(const std::string& name, std::string_view text) {
  if (name.size() >= 5 && name.compare(name.size() - 5, 5, ".json") == 0) return true;
  for (char c : text) {
    if (std::isspace(static_cast<unsigned char>(c))) continue;
    return c == '{' || c == '[';
  }
  return false;
}

void ReadJson(const std::string& name, std::string_view text, Reader& reader) {
  Source source{name, 1, 0, 0};
  Json document;
  try {
    document = Json::parse(text);
  } catch (const Json::exception& e) {
    std::string message = e.what();
    if (message.starts_with("[json.exception.")) message = message.substr(message.find(']') + 2);
    return reader.Fail(source, "not JSON: " + message);
  }
  if (webhook::NestedDeeperThan(document, kMaxJsonDepth)) {
    return reader.Fail(source, "nested deeper than " + std::to_string(kMaxJsonDepth) + " levels");
  }
  reader.Document(std::move(document), source);
}

void ReadYaml(const std::string& name, std::string_view text, Reader& reader) {
  int document_index = 0;
  for (const Chunk& chunk : SplitDocuments(text)) {
    auto documents = ParseYamlStream(chunk.text, chunk.first_line);
    if (!documents.ok()) {
      reader.Fail(Source{name, ++document_index, 0, chunk.first_line}, "not YAML: " + documents.error().message);
      continue;
    }
    for (YamlDocument& document : *documents) {
      if (document.value.is_null()) continue;  // empty, or only comments
      reader.Document(std::move(document.value), Source{name, ++document_index, 0, document.line});
    }
  }
}

bool IsManifestFile(const fs::path& path) {
  const std::string extension = path.extension().string();
  return extension == ".yaml" || extension == ".yml" || extension == ".json";
}

}  // namespace

std::string Source::String() const {
  std::string out = file == "-" ? "<stdin>" : file;
  if (document == 0) return out;
  out += ": document " + std::to_string(document);
  if (line > 0) out += " (line " + std::to_string(line) + ")";
  if (item > 0) out += ", item " + std::to_string(item);
  return out;
}

std::string Problem::String() const { return source.String() + ": " + message; }

std::string Workload::Id() const { return kind + "/" + (ns.empty() ? "" : ns + "/") + name; }

const Json& Workload::Pod() const {
  static const Json kNull;
  const Json* at = &object;
  std::string_view rest = pod_path;
  while (!rest.empty()) {
    rest.remove_prefix(1);  // '/'
    const size_t slash = rest.find('/');
    const std::string key(rest.substr(0, slash));
    rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
    at = Member(*at, key.c_str());
    if (at == nullptr) return kNull;
  }
  return *at;
}

int Manifests::IgnoredCount() const {
  int count = 0;
  for (const auto& [kind, n] : ignored) count += n;
  return count;
}

void ReadManifestText(const std::string& name, std::string_view text, Manifests& out) {
  ++out.files;
  Reader reader(out);
  if (LooksLikeJson(name, text)) {
    ReadJson(name, text, reader);
  } else {
    ReadYaml(name, text, reader);
  }
}

void ReadManifestPath(const std::string& path, Manifests& out) {
  Reader reader(out);
  std::error_code ec;
  const fs::file_status status = fs::status(path, ec);
  if (ec) return reader.Fail(Source{path}, "cannot read: " + ec.message());
  std::vector<fs::path> files;
  if (fs::is_directory(status)) {
    fs::recursive_directory_iterator it(path, fs::directory_options::skip_permission_denied, ec);
    for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (IsManifestFile(it->path()) && it->is_regular_file(ec)) files.push_back(it->path());
    }
    if (ec) return reader.Fail(Source{path}, "cannot read the directory: " + ec.message());
    if (files.empty()) return reader.Fail(Source{path}, "no *.yaml, *.yml or *.json file in the directory");
    std::sort(files.begin(), files.end());
  } else {
    files.push_back(path);
  }
  for (const fs::path& file : files) {
    std::ifstream in(file, std::ios::binary);
    std::ostringstream text;
    if (in) text << in.rdbuf();
    if (!in || in.bad()) {
      reader.Fail(Source{file.string()}, std::string("cannot read: ") + std::strerror(errno));
      continue;
    }
    ReadManifestText(file.string(), text.view(), out);
  }
}

}  // namespace archway::check
