#include "webhook/kube_cluster.h"

#include "base/encoding.h"
#include "base/log.h"
#include "kube/node.h"
#include "kube/object.h"
#include "kube/resource.h"
#include "webhook/platform_terms.h"

namespace archway::webhook {
namespace {

kube::InformerOptions OfType(const std::string& type) {
  kube::InformerOptions options;
  options.field_selector = "type=" + type;
  return options;
}

std::string StringAt(const kube::Json& obj, const char* key) {
  if (!obj.is_object()) return "";
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : "";
}

const kube::Json& Metadata(const kube::Json& obj) {
  static const kube::Json kEmpty = kube::Json::object();
  if (!obj.is_object()) return kEmpty;
  auto it = obj.find("metadata");
  return it != obj.end() && it->is_object() ? *it : kEmpty;
}

std::optional<std::string> PreferredPlatformsAnnotation(const kube::Json& ns) {
  return kube::StringAt(ns, {"metadata", "annotations", kPreferredPlatformsAnnotation});
}

// A Namespace cached as its name, resourceVersion and archway.dev/preferred-platforms:
// nothing else of it is read.
kube::InformerOptions OnlyPreferredPlatforms() {
  kube::InformerOptions options;
  options.transform = [](const kube::Json& ns) {
    kube::Json metadata = {{"name", kube::NameOf(ns)},
                           {"resourceVersion", kube::StringAt(ns, {"metadata", "resourceVersion"}).value_or("")}};
    if (auto value = PreferredPlatformsAnnotation(ns)) metadata["annotations"] = {{kPreferredPlatformsAnnotation, *value}};
    return kube::Json{{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", std::move(metadata)}};
  };
  return options;
}

}  // namespace

KubeCluster::KubeCluster(kube::Client& client, SecretRef global_secret, std::string instance, Metrics* metrics)
    : global_secret_(std::move(global_secret)),
      dockerconfigjson_secrets_(client, kube::resources::kSecrets, OfType("kubernetes.io/dockerconfigjson")),
      dockercfg_secrets_(client, kube::resources::kSecrets, OfType("kubernetes.io/dockercfg")),
      nodes_(client, kube::resources::kNodes),
      namespaces_(client, kube::resources::kNamespaces, OnlyPreferredPlatforms()),
      metrics_(metrics),
      events_(client, kube::EventSource{"archway.dev/webhook", std::move(instance)}) {
  kube::InformerHandlers secret_handlers{
      .on_add = [this](const kube::Json& s) { PutSecret(s); },
      .on_update = [this](const kube::Json&, const kube::Json& s) { PutSecret(s); },
      .on_delete = [this](const kube::Json& s) { DeleteSecret(s); },
  };
  dockerconfigjson_secrets_.SetHandlers(secret_handlers);
  dockercfg_secrets_.SetHandlers(secret_handlers);
  nodes_.SetHandlers({
      .on_add = [this](const kube::Json& n) { PutNode(n); },
      .on_update = [this](const kube::Json&, const kube::Json& n) { PutNode(n); },
      .on_delete = [this](const kube::Json& n) { DeleteNode(n); },
  });
  namespaces_.SetHandlers({
      .on_add = [this](const kube::Json& n) { PutNamespace(n); },
      .on_update = [this](const kube::Json&, const kube::Json& n) { PutNamespace(n); },
      .on_delete = [this](const kube::Json& n) { DeleteNamespace(n); },
  });
}

KubeCluster::~KubeCluster() { Stop(); }

void KubeCluster::Start() {
  dockerconfigjson_secrets_.Start();
  dockercfg_secrets_.Start();
  nodes_.Start();
  namespaces_.Start();
}

void KubeCluster::Stop() {
  dockerconfigjson_secrets_.Stop();
  dockercfg_secrets_.Stop();
  nodes_.Stop();
  namespaces_.Stop();
}

bool KubeCluster::HasSynced() const {
  return dockerconfigjson_secrets_.HasSynced() && dockercfg_secrets_.HasSynced() && nodes_.HasSynced() &&
         namespaces_.HasSynced();
}

bool KubeCluster::WaitForSync(std::chrono::milliseconds timeout) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (const kube::Informer* informer : {&dockerconfigjson_secrets_, &dockercfg_secrets_, &nodes_, &namespaces_}) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (!informer->WaitForSync(std::max(left, std::chrono::milliseconds(0)))) return false;
  }
  return true;
}

void KubeCluster::PutSecret(const kube::Json& secret) {
  const auto& metadata = Metadata(secret);
  const std::string key = kube::ObjectKey(StringAt(metadata, "namespace"), StringAt(metadata, "name"));
  const std::string type = StringAt(secret, "type");
  const char* field = type == "kubernetes.io/dockercfg" ? ".dockercfg" : ".dockerconfigjson";
  std::optional<std::string> decoded;
  if (auto data = secret.find("data"); data != secret.end() && data->is_object()) {
    decoded = Base64Decode(StringAt(*data, field));
  }
  Result<registry::Keychain> keychain = Error(ErrorCode::kInvalidArgument, std::string("no valid data.") + field);
  if (decoded) {
    keychain = type == "kubernetes.io/dockercfg" ? registry::Keychain::FromDockerCfg(*decoded)
                                                 : registry::Keychain::FromDockerConfigJson(*decoded);
  }
  std::unique_lock lock(mu_);
  if (!keychain.ok()) {
    // The message names the format problem, never the content.
    log::Warn("pull secret not usable", {{"secret", key}, {"error", keychain.error().message}});
    keychains_.erase(key);
    return;
  }
  keychains_[key] = std::make_shared<const registry::Keychain>(std::move(*keychain));
}

void KubeCluster::DeleteSecret(const kube::Json& secret) {
  const auto& metadata = Metadata(secret);
  std::unique_lock lock(mu_);
  keychains_.erase(kube::ObjectKey(StringAt(metadata, "namespace"), StringAt(metadata, "name")));
}

void KubeCluster::PutNode(const kube::Json& node) {
  const kube::NodeState state = kube::ReadNode(node);
  NodeInfo info;
  info.platform.os = state.Label(kube::kOsLabel);
  info.platform.arch = state.Label(kube::kArchLabel);
  info.ready = state.ready;
  info.labels = state.labels;
  info.arm_variant = state.Label(kArmVariantLabel);
  std::unique_lock lock(mu_);
  node_info_[state.name] = info;
}

void KubeCluster::DeleteNode(const kube::Json& node) {
  std::unique_lock lock(mu_);
  node_info_.erase(kube::NameOf(node));
}

void KubeCluster::PutNamespace(const kube::Json& ns) {
  const std::string name = kube::NameOf(ns);
  std::optional<std::string> value = PreferredPlatformsAnnotation(ns);
  std::unique_lock lock(mu_);
  auto it = preferred_platforms_.find(name);
  if (!value) {
    if (it != preferred_platforms_.end()) preferred_platforms_.erase(it);
    return;
  }
  if (it != preferred_platforms_.end() && it->second->value == *value) return;  // another change of the Namespace
  auto parsed = std::make_shared<const NamespacePreferredPlatforms>(ParseNamespacePreferredPlatforms(std::move(*value)));
  preferred_platforms_[name] = parsed;
  lock.unlock();
  if (!parsed->valid()) {
    // Once per value the Namespace takes: its pods' warnings say it again, the log does not.
    log::Warn("namespace annotation not applied: its pods get the configured preferredPlatforms",
              {{"namespace", name}, {"annotation", kPreferredPlatformsAnnotation}, {"error", parsed->error}});
    if (metrics_) metrics_->BadNamespacePreferredPlatforms();
  }
}

void KubeCluster::DeleteNamespace(const kube::Json& ns) {
  std::unique_lock lock(mu_);
  preferred_platforms_.erase(kube::NameOf(ns));
}

std::shared_ptr<const NamespacePreferredPlatforms> KubeCluster::PreferredPlatformsOf(const std::string& ns) const {
  std::shared_lock lock(mu_);
  auto it = preferred_platforms_.find(ns);
  return it == preferred_platforms_.end() ? nullptr : it->second;
}

std::shared_ptr<const registry::Keychain> KubeCluster::KeychainFor(const std::string& ns,
                                                                   const std::vector<std::string>& names) const {
  std::shared_lock lock(mu_);
  std::vector<std::shared_ptr<const registry::Keychain>> found;
  for (const auto& name : names) {
    if (auto it = keychains_.find(kube::ObjectKey(ns, name)); it != keychains_.end()) found.push_back(it->second);
  }
  if (!global_secret_.empty()) {
    if (auto it = keychains_.find(kube::ObjectKey(global_secret_.ns, global_secret_.name)); it != keychains_.end()) {
      found.push_back(it->second);
    }
  }
  lock.unlock();
  if (found.empty()) return nullptr;
  if (found.size() == 1) return found.front();
  registry::Keychain merged = *found.front();
  for (size_t i = 1; i < found.size(); ++i) merged = merged.MergedOver(*found[i]);
  return std::make_shared<const registry::Keychain>(std::move(merged));
}

std::optional<std::set<OsArch>> KubeCluster::ReadyPlatforms() const {
  if (!nodes_.HasSynced()) return std::nullopt;
  std::set<OsArch> platforms;
  std::shared_lock lock(mu_);
  for (const auto& [name, info] : node_info_) {
    if (info.ready && !info.platform.arch.empty()) platforms.insert(info.platform);
  }
  return platforms;
}

std::vector<NodeLabels> KubeCluster::ReadyNodes() const {
  if (!nodes_.HasSynced()) return {};
  std::vector<NodeLabels> nodes;
  std::shared_lock lock(mu_);
  for (const auto& [name, info] : node_info_) {
    if (info.ready) nodes.push_back(NodeLabels{name, info.labels});
  }
  return nodes;
}

std::optional<OsArch> KubeCluster::PlatformOf(const std::string& node_name) const {
  std::shared_lock lock(mu_);
  auto it = node_info_.find(node_name);
  if (it == node_info_.end() || it->second.platform.arch.empty()) return std::nullopt;
  return it->second.platform;
}

std::optional<std::set<std::string>> KubeCluster::ArmVariantLabels() const {
  if (!nodes_.HasSynced()) return std::nullopt;
  std::set<std::string> variants;
  std::shared_lock lock(mu_);
  for (const auto& [name, info] : node_info_) {
    if (!info.arm_variant.empty()) variants.insert(info.arm_variant);
  }
  return variants;
}

void KubeCluster::Warn(const std::string& ns, const std::string& pod_name, const std::string& reason,
                       const std::string& note) {
  const kube::Json regarding = {{"apiVersion", "v1"}, {"kind", "Pod"}, {"metadata", {{"name", pod_name}, {"namespace", ns}}}};
  std::lock_guard lock(events_mu_);
  if (auto s = events_.Warning(regarding, reason, note); !s.ok()) {
    log::Warn("event not recorded", {{"pod", ns + "/" + pod_name}, {"error", s.error().message}});
  }
}

void KubeCluster::WarnController(const std::string& ns, const kube::OwnerReference& controller,
                                 const std::string& reason, const std::string& note) {
  const kube::Json regarding = {{"apiVersion", controller.api_version},
                                {"kind", controller.kind},
                                {"metadata", {{"name", controller.name}, {"namespace", ns}, {"uid", controller.uid}}}};
  std::lock_guard lock(events_mu_);
  if (auto s = events_.Warning(regarding, reason, note); !s.ok()) {
    log::Warn("event not recorded",
              {{"object", controller.kind + " " + ns + "/" + controller.name}, {"error", s.error().message}});
  }
}

}  // namespace archway::webhook
