// Preferred platforms per namespace (issue 15, part 3): the Namespace annotation
//
//   kubectl annotate namespace shop archway.dev/preferred-platforms="linux/arm64=50,linux/amd64=10"
//
// replaces the config's preferredPlatforms (preferred_platforms.h, the flag's syntax and
// rules) for the pods and DaemonSet templates of that namespace; an empty value means no
// preferred terms there. A value that does not parse is not applied: the config's list
// is, admission answers with a warning naming the namespace and the bad item, and the
// Namespace cache logs and counts it once per namespace and value (kube_cluster.h). A
// namespace not (yet) in the cache, or without the annotation, gets the config's list.
//
// The admitter, the DaemonSet template patcher and the gate controller all decide with
// OptionsForNamespace's options, so a pod gets the same preferred terms whichever of them
// decides it; Decide stays pure (it reads the list from the options it is given).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "webhook/decision.h"
#include "webhook/preferred_platforms.h"

namespace archway::webhook {

inline constexpr const char* kPreferredPlatformsAnnotation = "archway.dev/preferred-platforms";

// A namespace's annotation, parsed once when the Namespace changes (never per pod).
struct NamespacePreferredPlatforms {
  std::string value;                         // as written
  std::vector<PreferredPlatform> platforms;  // valid: what replaces the config's list
  std::string error;                         // not valid: why, naming the bad item
  bool valid() const { return error.empty(); }
};
NamespacePreferredPlatforms ParseNamespacePreferredPlatforms(std::string value);

// The annotations of the cluster's Namespaces (KubeCluster keeps them in a watch cache).
class NamespacePreferences {
 public:
  virtual ~NamespacePreferences() = default;
  // nullptr: the namespace has no archway.dev/preferred-platforms, or is not (yet) cached.
  virtual std::shared_ptr<const NamespacePreferredPlatforms> PreferredPlatformsOf(const std::string& ns) const = 0;
};

// What a pod of one namespace is decided with.
class NamespaceOptions {
 public:
  // `config` itself, or a copy with the namespace's list; `config` must outlive this.
  const DecisionOptions& options() const { return overridden_ ? *overridden_ : *config_; }
  // The admission warning about a bad annotation ("" when there is none).
  const std::string& warning() const { return warning_; }

 private:
  friend NamespaceOptions OptionsForNamespace(const DecisionOptions&, const std::string&,
                                              const std::shared_ptr<const NamespacePreferredPlatforms>&);
  const DecisionOptions* config_ = nullptr;
  std::optional<DecisionOptions> overridden_;
  std::string warning_;
};

// `annotation` is what NamespacePreferences answers for `ns` (nullptr: the config applies).
NamespaceOptions OptionsForNamespace(const DecisionOptions& config, const std::string& ns,
                                     const std::shared_ptr<const NamespacePreferredPlatforms>& annotation);
// The same, looked up in `namespaces` (null: no Namespace cache, the config applies).
NamespaceOptions OptionsForNamespace(const DecisionOptions& config, const std::string& ns,
                                     const NamespacePreferences* namespaces);
// The answer refers to `config`: a temporary would be gone before it is read.
NamespaceOptions OptionsForNamespace(DecisionOptions&& config, const std::string& ns,
                                     const std::shared_ptr<const NamespacePreferredPlatforms>& annotation) = delete;
NamespaceOptions OptionsForNamespace(DecisionOptions&& config, const std::string& ns,
                                     const NamespacePreferences* namespaces) = delete;

}  // namespace archway::webhook
