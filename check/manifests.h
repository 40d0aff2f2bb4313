// Reading Kubernetes manifests the way `kubectl apply -f` takes them, for `archway check`:
// files of multi-document YAML (split at "---" lines, as Kubernetes' YAML reader does, so
// one bad document costs only itself), JSON, directories (recursively, *.yaml, *.yml and
// *.json in path order) and standard input. Lists (`kind: List`, and the typed lists the
// API returns, e.g. DeploymentList, whose items may omit kind and apiVersion) are
// expanded. The workloads are the kinds webhook/pod_template.h knows: each with the pod
// (template) its controller makes. Every other kind is counted, not read.
//
// Nothing here throws or gives up on a file: what cannot be read is a Problem naming the
// file and the document, and reading goes on with the next document.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace archway::check {

using Json = nlohmann::json;

// Where a document is, for messages and the JSON report.
struct Source {
  std::string file;   // as given; "-" is standard input
  int document = 0;   // 1-based among the file's non-empty documents; 0 = the file itself
  int item = 0;       // 1-based in a List's items; 0 when not in a list
  int line = 0;       // 1-based line where the document starts; 0 when not known (JSON)

  // "deploy.yaml: document 2 (line 14), item 3", "<stdin>: document 1", "charts/"
  std::string String() const;
};

struct Workload {
  Source source;
  std::string api_version;  // "apps/v1"
  std::string kind;         // "Deployment"
  std::string ns;           // metadata.namespace; "" when the manifest does not say
  std::string name;         // metadata.name (or generateName)
  std::string pod_path;     // JSON Pointer of the pod in `object` (pod_template.h)
  Json object;              // the whole document

  // "Deployment/shop/web", or "Deployment/web" without a namespace.
  std::string Id() const;
  // The pod (template) at pod_path; null when it is missing.
  const Json& Pod() const;
};

// A document that could not be read: bad YAML or JSON, no kind, a workload without a pod
// template. The message says what to fix.
struct Problem {
  Source source;
  std::string message;
  // "deploy.yaml: document 2 (line 14): <message>"
  std::string String() const;
};

struct Manifests {
  std::vector<Workload> workloads;
  std::vector<Problem> problems;
  std::map<std::string, int> ignored;  // documents of other kinds, by "apiVersion/kind"
  int files = 0;                       // files read

  int IgnoredCount() const;
};

// Reads the text of one file (or of standard input, named "-"): YAML, or JSON when the
// name ends in .json or the text starts with '{' or '[' (JSON is read as nlohmann reads
// it, which is faster than YAML for `kubectl get -o json` of a whole cluster).
void ReadManifestText(const std::string& name, std::string_view text, Manifests& out);

// Reads a file, or a directory's *.yaml, *.yml and *.json files recursively (directory
// symlinks are not followed). A path that cannot be read is a Problem of document 0.
void ReadManifestPath(const std::string& path, Manifests& out);

}  // namespace archway::check
