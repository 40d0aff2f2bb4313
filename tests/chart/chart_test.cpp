// Renders charts/archway with `helm template` (or chart-render, its stand-in) and checks
// the objects a cluster would receive: hardening, probes, RBAC, the webhook registration,
// the TLS wiring and the config files the binaries read. What a real API server does with
// these objects (schema validation, RBAC, calling the webhook) is tested in
// tests/apiserver; the `lookup` reuse of the TLS Secret on upgrade is not (no Helm release
// exists there).
#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "base/duration.h"
#include "tests/chart/chart_support.h"

namespace archway::charttest {
namespace {

const char kNamespace[] = "archway-system";
const char kWebhook[] = "archway-webhook";
const char kOperator[] = "archway-operator";
const char kTlsSecret[] = "archway-webhook-tls";

// Flattens a map to dotted leaf keys ("tls.certFile"); sequences are leaves.
void LeafKeys(const YAML::Node& node, const std::string& prefix, std::set<std::string>& out) {
  for (const auto& entry : node) {
    std::string key = prefix + entry.first.as<std::string>();
    if (entry.second.IsMap() && entry.second.size() > 0) {
      LeafKeys(entry.second, key + ".", out);
    } else {
      out.insert(key);
    }
  }
}

YAML::Node ConfigFile(const Rendered& rendered, const std::string& configmap) {
  const YAML::Node cm = rendered.Find("ConfigMap", configmap);
  if (!cm || !cm["data"]["config.yaml"]) return Absent();
  return YAML::Load(cm["data"]["config.yaml"].as<std::string>());
}

// The port number a ":8443"-style listen address names.
int ListenPort(const std::string& listen) { return std::stoi(listen.substr(listen.rfind(':') + 1)); }

int NamedContainerPort(const YAML::Node& container, const std::string& name) {
  for (const auto& port : container["ports"]) {
    if (Str(port["name"]) == name) return port["containerPort"].as<int>();
  }
  return -1;
}

YAML::Node Volume(const YAML::Node& deployment, const std::string& name) {
  for (const auto& volume : deployment["spec"]["template"]["spec"]["volumes"]) {
    if (Str(volume["name"]) == name) return volume;
  }
  return Absent();
}

// The volume mounted at the directory holding `file` (e.g. /tls for /tls/tls.crt).
YAML::Node VolumeForFile(const YAML::Node& deployment, const YAML::Node& container, const std::string& file) {
  const std::string dir = file.substr(0, file.rfind('/'));
  for (const auto& mount : container["volumeMounts"]) {
    if (Str(mount["mountPath"]) == dir) return Volume(deployment, Str(mount["name"]));
  }
  return Absent();
}

std::string Basename(const std::string& path) { return path.substr(path.rfind('/') + 1); }

// Whether a Secret volume exposes `file` (its basename) from Secret `secret`.
bool SecretVolumeProvides(const YAML::Node& volume, const std::string& secret, const std::string& file) {
  if (!volume || Str(volume["secret"]["secretName"]) != secret) return false;
  const YAML::Node items = volume["secret"]["items"];
  if (!items) return true;  // every key is a file
  for (const auto& item : items) {
    if (Str(item["path"]) == Basename(file)) return true;
  }
  return false;
}

// rules -> {"group/resource" or "group/resource@names" -> verbs}
std::map<std::string, std::set<std::string>> RuleMap(const YAML::Node& role) {
  std::map<std::string, std::set<std::string>> rules;
  for (const auto& rule : role["rules"]) {
    std::string names;
    for (const auto& n : Strings(rule["resourceNames"])) names += "@" + n;
    for (const auto& group : Strings(rule["apiGroups"])) {
      for (const auto& resource : Strings(rule["resources"])) {
        for (const auto& verb : Strings(rule["verbs"])) rules[group + "/" + resource + names].insert(verb);
      }
    }
  }
  return rules;
}

void ExpectNoWildcards(const YAML::Node& role) {
  for (const auto& rule : role["rules"]) {
    for (const char* field : {"apiGroups", "resources", "verbs", "resourceNames", "nonResourceURLs"}) {
      for (const auto& value : Strings(rule[field])) {
        EXPECT_EQ(value.find('*'), std::string::npos) << Str(role["metadata"]["name"]) << " has a wildcard in " << field;
      }
    }
  }
}

void ExpectHardenedPod(const YAML::Node& deployment, const std::string& container_name) {
  SCOPED_TRACE(Str(deployment["metadata"]["name"]));
  const YAML::Node container = Container(deployment, container_name);
  ASSERT_TRUE(container) << "no container " << container_name;
  ExpectRestrictedSecurity(deployment, container);
  EXPECT_TRUE(container["resources"]["requests"]["memory"]) << "memory request";
  EXPECT_TRUE(container["resources"]["limits"]["memory"]) << "memory limit";
  // A read-only root needs a writable /tmp.
  bool tmp = false;
  for (const auto& mount : container["volumeMounts"]) tmp |= Str(mount["mountPath"]) == "/tmp";
  EXPECT_TRUE(tmp) << "no writable /tmp";
}

void ExpectProbe(const YAML::Node& probe, const std::string& path, const std::string& scheme, int port,
                 const YAML::Node& container) {
  ASSERT_TRUE(probe) << "missing probe for " << path;
  EXPECT_EQ(Str(probe["httpGet"]["path"]), path);
  EXPECT_EQ(Str(probe["httpGet"]["scheme"]), scheme);
  const YAML::Node probe_port = probe["httpGet"]["port"];
  int number = -1;
  if (probe_port.IsScalar() && !probe_port.as<std::string>().empty() &&
      std::isdigit(static_cast<unsigned char>(probe_port.as<std::string>()[0]))) {
    number = probe_port.as<int>();
  } else {
    number = NamedContainerPort(container, Str(probe_port));
  }
  EXPECT_EQ(number, port) << path << " probe port";
}

struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct KeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;
using KeyPtr = std::unique_ptr<EVP_PKEY, KeyFree>;

X509Ptr ParseCert(const std::string& pem) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), BIO_free);
  return X509Ptr(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
}

KeyPtr ParseKey(const std::string& pem) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), BIO_free);
  return KeyPtr(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
}

std::vector<std::string> ServiceDnsNames(const std::string& ns) {
  const std::string svc = kWebhook;
  return {svc, svc + "." + ns, svc + "." + ns + ".svc", svc + "." + ns + ".svc.cluster.local"};
}

TEST(Chart, EveryObjectCarriesTheStandardLabels) {
  const Rendered r = RenderChart({});
  ASSERT_RENDERED(r);
  ASSERT_GE(r.docs.size(), 15u);
  for (const auto& doc : r.docs) {
    SCOPED_TRACE(Str(doc["kind"]) + "/" + Str(doc["metadata"]["name"]));
    const YAML::Node labels = doc["metadata"]["labels"];
    EXPECT_EQ(Str(labels["app.kubernetes.io/name"]), "archway");
    EXPECT_EQ(Str(labels["app.kubernetes.io/instance"]), "archway");
    EXPECT_EQ(Str(labels["app.kubernetes.io/managed-by"]), "Helm");
    EXPECT_FALSE(Str(labels["app.kubernetes.io/version"]).empty());
    EXPECT_EQ(Str(labels["helm.sh/chart"]).rfind("archway-", 0), 0u);
    const std::string kind = Str(doc["kind"]);
    const bool cluster_scoped = kind == "ClusterRole" || kind == "ClusterRoleBinding" ||
                                kind == "MutatingWebhookConfiguration" || kind == "ValidatingAdmissionPolicy" ||
                                kind == "ValidatingAdmissionPolicyBinding";
    EXPECT_EQ(Str(doc["metadata"]["namespace"]), cluster_scoped ? "" : kNamespace);
  }
}

TEST(Chart, DefaultInstallHasEveryPiece) {
  const Rendered r = RenderChart({});
  ASSERT_RENDERED(r);
  for (const auto& [kind, name] : std::vector<std::pair<std::string, std::string>>{
           {"Deployment", kWebhook}, {"Deployment", kOperator}, {"Service", kWebhook},
           {"PodDisruptionBudget", kWebhook}, {"ServiceAccount", kWebhook}, {"ServiceAccount", kOperator},
           {"ClusterRole", kWebhook}, {"ClusterRole", kOperator}, {"ClusterRoleBinding", kWebhook},
           {"ClusterRoleBinding", kOperator}, {"Role", "archway-operator-leader-election"},
           {"RoleBinding", "archway-operator-leader-election"}, {"ConfigMap", kWebhook}, {"ConfigMap", kOperator},
           {"Secret", kTlsSecret}, {"Secret", "archway-registries"}, {"MutatingWebhookConfiguration", "archway"}}) {
    EXPECT_TRUE(r.Find(kind, name)) << "missing " << kind << "/" << name;
  }
  EXPECT_TRUE(r.All("ServiceMonitor").empty()) << "ServiceMonitor must be off by default";
  EXPECT_TRUE(r.All("Certificate").empty()) << "cert-manager must be off by default";
}

TEST(Chart, DeploymentsAreHardened) {
  const Rendered r = RenderChart({});
  ASSERT_RENDERED(r);
  ExpectHardenedPod(r.Find("Deployment", kWebhook), "webhook");
  ExpectHardenedPod(r.Find("Deployment", kOperator), "operator");
}

TEST(Chart, WebhookDeploymentProbesMountsAndSpread) {
  const Rendered r = RenderChart({});
  ASSERT_RENDERED(r);
  const YAML::Node deployment = r.Find("Deployment", kWebhook);
  ASSERT_TRUE(deployment);
  EXPECT_EQ(deployment["spec"]["replicas"].as<int>(), 2);
  const YAML::Node container = Container(deployment, "webhook");
  const YAML::Node config = ConfigFile(r, kWebhook);
  ASSERT_TRUE(config);
  const int https = ListenPort(Str(config["listen"]));
  EXPECT_EQ(NamedContainerPort(container, "https"), https);
  EXPECT_EQ(NamedContainerPort(container, "metrics"), ListenPort(Str(config["metricsListen"])));
  ExpectProbe(container["livenessProbe"], "/healthz", "HTTPS", https, container);
  ExpectProbe(container["readinessProbe"], "/readyz", "HTTPS", https, container);

  // The binary is started with the mounted config file.
  std::vector<std::string> ordered;
  for (const auto& a : container["args"]) ordered.push_back(a.as<std::string>());
  ASSERT_EQ(ordered.size(), 3u);
  EXPECT_EQ(ordered[0], "webhook");
  EXPECT_EQ(ordered[1], "--config");
  const YAML::Node config_volume = VolumeForFile(deployment, container, ordered[2]);
  ASSERT_TRUE(config_volume) << ordered[2] << " is not on a mounted volume";
  EXPECT_EQ(Str(config_volume["configMap"]["name"]), kWebhook);
  EXPECT_TRUE(r.Find("ConfigMap", kWebhook)["data"][Basename(ordered[2])]);

  // TLS files and registries.yaml come from the Secrets the chart makes.
  for (const char* key : {"certFile", "keyFile"}) {
    const std::string file = Str(config["tls"][key]);
    EXPECT_TRUE(SecretVolumeProvides(VolumeForFile(deployment, container, file), kTlsSecret, file)) << file;
  }
  const std::string registries = Str(config["registries"]["configFile"]);
  EXPECT_TRUE(SecretVolumeProvides(VolumeForFile(deployment, container, registries), "archway-registries", registries))
      << registries;
  for (const auto& mount : container["volumeMounts"]) {
    if (Str(mount["mountPath"]) != "/tmp") {
      EXPECT_TRUE(mount["readOnly"].as<bool>(false)) << Str(mount["mountPath"]);
    }
  }

  // Replicas prefer different nodes; the PDB covers the same pods.
  const YAML::Node anti = deployment["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]
                                    ["preferredDuringSchedulingIgnoredDuringExecution"];
  ASSERT_TRUE(anti && anti.size() == 1);
  EXPECT_EQ(Str(anti[0]["podAffinityTerm"]["topologyKey"]), "kubernetes.io/hostname");
  const YAML::Node pod_labels = deployment["spec"]["template"]["metadata"]["labels"];
  for (const auto& selector : {anti[0]["podAffinityTerm"]["labelSelector"]["matchLabels"],
                               r.Find("PodDisruptionBudget", kWebhook)["spec"]["selector"]["matchLabels"],
                               deployment["spec"]["selector"]["matchLabels"]}) {
    ASSERT_TRUE(selector && selector.size() >= 2);
    for (const auto& entry : selector) {
      EXPECT_EQ(Str(pod_labels[entry.first.as<std::string>()]), entry.second.as<std::string>());
    }
  }
  EXPECT_EQ(Str(r.Find("PodDisruptionBudget", kWebhook)["spec"]["maxUnavailable"]), "1");
  EXPECT_EQ(Str(deployment["spec"]["template"]["spec"]["serviceAccountName"]), kWebhook);
}

TEST(Chart, OperatorDeploymentProbesAndLeaderElection) {
  const Rendered r = RenderChart({});
  ASSERT_RENDERED(r);
  const YAML::Node deployment = r.Find("Deployment", kOperator);
  ASSERT_TRUE(deployment);
  EXPECT_EQ(deployment["spec"]["replicas"].as<int>(), 1);
  const YAML::Node container = Container(deployment, "operator");
  const YAML::Node config = ConfigFile(r, kOperator);
  ASSERT_TRUE(config);
  const int health = ListenPort(Str(config["healthListen"]));
  ExpectProbe(container["livenessProbe"], "/healthz", "HTTP", health, container);
  ExpectProbe(container["readinessProbe"], "/readyz", "HTTP", health, container);
  EXPECT_EQ(NamedContainerPort(container, "metrics"), ListenPort(Str(config["metricsListen"])));
  EXPECT_TRUE(config["leaderElection"]["enabled"].as<bool>(false));
  EXPECT_EQ(Str(config["leaderElection"]["namespace"]), kNamespace);
  const std::string registries = Str(config["registries"]["configFile"]);
  EXPECT_TRUE(SecretVolumeProvides(VolumeForFile(deployment, container, registries), "archway-registries", registries));
  EXPECT_EQ(Str(deployment["spec"]["template"]["spec"]["serviceAccountName"]), kOperator);
}

TEST(Chart, RbacIsExactlyWhatEachBinaryUses) {
  const Rendered r = RenderChart({});
  ASSERT_RENDERED(r);
  using Rules = std::map<std::string, std::set<std::string>>;
  const Rules webhook = {
      {"/secrets", {"get", "list", "watch"}},
      {"/nodes", {"get", "list", "watch"}},
      {"/namespaces", {"list", "watch"}},  // archway.dev/preferred-platforms, from a watch cache
      {"/pods", {"get", "list", "watch", "update"}},
      {"/events", {"create"}},
      {"events.k8s.io/events", {"create"}},
      {"apps/daemonsets", {"get", "patch"}},  // template patches after a look-up missed the budget
  };
  const Rules operator_rules = {
      {"archway.dev/multiarchimages", {"get", "list", "watch"}},
      {"archway.dev/multiarchimages/status", {"get", "update", "patch"}},
      {"archway.dev/multiarchimages/finalizers", {"update"}},
      {"batch/jobs", {"get", "list", "watch", "create", "delete"}},
      {"/nodes", {"list", "watch"}},
      {"/secrets", {"list", "watch"}},
      {"/pods", {"list", "watch"}},  // builder Jobs' pods (the bases a build reports); watch: the exec-format-error watcher
      {"apps/replicasets", {"get"}},  // the watcher's Deployment look-up
      {"/events", {"create"}},
      {"events.k8s.io/events", {"create"}},
  };
  const Rules lease = {
      {"coordination.k8s.io/leases", {"create"}},
      {"coordination.k8s.io/leases@archway-operator", {"get", "update"}},
  };
  EXPECT_EQ(RuleMap(r.Find("ClusterRole", kWebhook)), webhook);
  EXPECT_EQ(RuleMap(r.Find("ClusterRole", kOperator)), operator_rules);
  EXPECT_EQ(RuleMap(r.Find("Role", "archway-operator-leader-election")), lease);
  EXPECT_EQ(Str(ConfigFile(r, kOperator)["leaderElection"]["leaseName"]), "archway-operator");
  const Rules gate_lease = {
      {"coordination.k8s.io/leases", {"create"}},
      {"coordination.k8s.io/leases@archway-webhook-gates", {"get", "update"}},
  };
  EXPECT_EQ(RuleMap(r.Find("Role", "archway-webhook-gates")), gate_lease);
  EXPECT_EQ(Str(ConfigFile(r, kWebhook)["gateLease"]["name"]), "archway-webhook-gates");
  EXPECT_EQ(Str(ConfigFile(r, kWebhook)["gateLease"]["namespace"]), kNamespace);
  // Without the watcher, its grants go too.
  const Rendered no_watcher = RenderChart({"--set", "operator.execFormatWatcher.enabled=false"});
  ASSERT_RENDERED(no_watcher);
  Rules without = operator_rules;
  without["/pods"] = {"list"};  // builder Jobs' pods are still read
  without.erase("apps/replicasets");
  EXPECT_EQ(RuleMap(no_watcher.Find("ClusterRole", kOperator)), without);
  EXPECT_FALSE(ConfigFile(no_watcher, kOperator)["execFormatWatcher"]["enabled"].as<bool>(true));
  for (const char* kind : {"ClusterRole", "Role"}) {
    for (const auto& role : r.All(kind)) ExpectNoWildcards(role);
  }
  // Each binding gives its role to its own ServiceAccount only.
  for (const auto& [kind, name, role, sa] : std::vector<std::tuple<std::string, std::string, std::string, std::string>>{
           {"ClusterRoleBinding", kWebhook, kWebhook, kWebhook},
           {"ClusterRoleBinding", kOperator, kOperator, kOperator},
           {"RoleBinding", "archway-operator-leader-election", "archway-operator-leader-election", kOperator},
           {"RoleBinding", "archway-webhook-gates", "archway-webhook-gates", kWebhook}}) {
    const YAML::Node binding = r.Find(kind, name);
    ASSERT_TRUE(binding) << kind << "/" << name;
    EXPECT_EQ(Str(binding["roleRef"]["name"]), role);
    ASSERT_EQ(binding["subjects"].size(), 1u);
    EXPECT_EQ(Str(binding["subjects"][0]["kind"]), "ServiceAccount");
    EXPECT_EQ(Str(binding["subjects"][0]["name"]), sa);
    EXPECT_EQ(Str(binding["subjects"][0]["namespace"]), kNamespace);
  }
}

TEST(Chart, MutatingWebhookConfigurationRegistersPodCreate) {
  const Rendered r = RenderChart({});
  ASSERT_RENDERED(r);
  const YAML::Node mwc = r.Find("MutatingWebhookConfiguration", "archway");
  ASSERT_TRUE(mwc);
  ASSERT_EQ(mwc["webhooks"].size(), 1u);
  const YAML::Node hook = mwc["webhooks"][0];
  EXPECT_EQ(Strings(hook["admissionReviewVersions"]), std::vector<std::string>{"v1"});
  // It records Events, but never for a dry run (kubectl --dry-run=server reaches it).
  EXPECT_EQ(Str(hook["sideEffects"]), "NoneOnDryRun");
  EXPECT_EQ(Str(hook["failurePolicy"]), "Ignore");
  EXPECT_EQ(Str(hook["reinvocationPolicy"]), "Never");
  EXPECT_EQ(hook["timeoutSeconds"].as<int>(), 4);  // budget 2s + 2
  ASSERT_EQ(hook["rules"].size(), 2u);
  const YAML::Node rule = hook["rules"][0];
  EXPECT_EQ(Strings(rule["apiGroups"]), std::vector<std::string>{""});
  EXPECT_EQ(Strings(rule["apiVersions"]), std::vector<std::string>{"v1"});
  EXPECT_EQ(Strings(rule["operations"]), std::vector<std::string>{"CREATE"});
  EXPECT_EQ(Strings(rule["resources"]), std::vector<std::string>{"pods"});
  // workloads.daemonSets (on by default): DaemonSets' pod templates, same exclusions and policy.
  const YAML::Node daemon_sets = hook["rules"][1];
  EXPECT_EQ(Strings(daemon_sets["apiGroups"]), std::vector<std::string>{"apps"});
  EXPECT_EQ(Strings(daemon_sets["apiVersions"]), std::vector<std::string>{"v1"});
  EXPECT_EQ(Strings(daemon_sets["operations"]), (std::vector<std::string>{"CREATE", "UPDATE"}));
  EXPECT_EQ(Strings(daemon_sets["resources"]), std::vector<std::string>{"daemonsets"});
  EXPECT_EQ(Str(daemon_sets["scope"]), "Namespaced");

  const YAML::Node expressions = hook["namespaceSelector"]["matchExpressions"];
  ASSERT_EQ(expressions.size(), 2u);
  EXPECT_EQ(Str(expressions[0]["key"]), "kubernetes.io/metadata.name");
  EXPECT_EQ(Str(expressions[0]["operator"]), "NotIn");
  EXPECT_EQ(Strings(expressions[0]["values"]), (std::vector<std::string>{"archway-system", "kube-system"}));
  EXPECT_EQ(Str(expressions[1]["key"]), "archway.dev/ignore");
  EXPECT_EQ(Str(expressions[1]["operator"]), "DoesNotExist");
  EXPECT_FALSE(hook["objectSelector"]);
  EXPECT_FALSE(hook["namespaceSelector"]["matchLabels"]) << "opt-in selection is off by default";

  // The API server reaches the webhook's HTTPS port through the Service.
  const YAML::Node service_ref = hook["clientConfig"]["service"];
  EXPECT_EQ(Str(service_ref["name"]), kWebhook);
  EXPECT_EQ(Str(service_ref["namespace"]), kNamespace);
  EXPECT_EQ(Str(service_ref["path"]), "/mutate");
  const YAML::Node service = r.Find("Service", kWebhook);
  ASSERT_TRUE(service);
  bool routed = false;
  for (const auto& port : service["spec"]["ports"]) {
    if (port["port"].as<int>() != service_ref["port"].as<int>(443)) continue;
    const int target = NamedContainerPort(Container(r.Find("Deployment", kWebhook), "webhook"), Str(port["targetPort"]));
    routed = target == ListenPort(Str(ConfigFile(r, kWebhook)["listen"]));
  }
  EXPECT_TRUE(routed) << "Service port " << Str(service_ref["port"]) << " does not reach the webhook's listen port";
  EXPECT_EQ(service_ref["port"].as<int>(443), 443);
}

TEST(Chart, DaemonSetsOffLeavesTheirRuleAndRoleOut) {
  const Rendered r = RenderChart({"--set", "webhook.workloads.daemonSets=false"});
  ASSERT_RENDERED(r);
  const YAML::Node hook = r.Find("MutatingWebhookConfiguration", "archway")["webhooks"][0];
  ASSERT_EQ(hook["rules"].size(), 1u);
  EXPECT_EQ(Strings(hook["rules"][0]["resources"]), std::vector<std::string>{"pods"});
  EXPECT_EQ(RuleMap(r.Find("ClusterRole", kWebhook)).count("apps/daemonsets"), 0u);
  EXPECT_FALSE(ConfigFile(r, kWebhook)["workloads"]["daemonSets"].as<bool>());
}

TEST(Chart, WebhookValuesReachTheWebhookConfiguration) {
  const Rendered r = RenderChart({"--set", "webhook.failurePolicy=Fail", "--set-json",
                                  R"(webhook.objectSelector={"matchLabels":{"archway.dev/enabled":"true"}})",
                                  "--set-json", R"(webhook.skipNamespaces=["monitoring"])"},
                                 "platform");
  ASSERT_RENDERED(r);
  const YAML::Node hook = r.Find("MutatingWebhookConfiguration", "archway")["webhooks"][0];
  EXPECT_EQ(Str(hook["failurePolicy"]), "Fail");
  EXPECT_EQ(Str(hook["objectSelector"]["matchLabels"]["archway.dev/enabled"]), "true");
  const std::vector<std::string> skipped = {"kube-system", "monitoring", "platform"};
  EXPECT_EQ(Strings(hook["namespaceSelector"]["matchExpressions"][0]["values"]), skipped);
  EXPECT_EQ(Strings(ConfigFile(r, kWebhook)["skipNamespaces"]), skipped);
  EXPECT_EQ(Str(hook["clientConfig"]["service"]["namespace"]), "platform");
  EXPECT_EQ(Str(ConfigFile(r, kOperator)["leaderElection"]["namespace"]), "platform");
  EXPECT_EQ(Str(ConfigFile(r, kWebhook)["globalPullSecret"]["namespace"]), "platform");
  EXPECT_EQ(Str(r.Find("Role", "archway-operator-leader-election")["metadata"]["namespace"]), "platform");
}

TEST(Chart, NamespaceSelectorOptsInOnTopOfTheExclusions) {
  const Rendered r = RenderChart(
      {"--set-json", R"(webhook.namespaceSelector={"matchLabels":{"archway.dev/enabled":"true"},)"
                     R"("matchExpressions":[{"key":"tier","operator":"NotIn","values":["system"]}]})"});
  ASSERT_RENDERED(r);
  const YAML::Node selector = r.Find("MutatingWebhookConfiguration", "archway")["webhooks"][0]["namespaceSelector"];
  EXPECT_EQ(Str(selector["matchLabels"]["archway.dev/enabled"]), "true");
  const YAML::Node expressions = selector["matchExpressions"];
  ASSERT_EQ(expressions.size(), 3u) << "the exclusions stay, the user's expression is ANDed";
  EXPECT_EQ(Str(expressions[0]["key"]), "kubernetes.io/metadata.name");
  EXPECT_EQ(Str(expressions[1]["key"]), "archway.dev/ignore");
  EXPECT_EQ(Str(expressions[2]["key"]), "tier");
  EXPECT_EQ(Strings(expressions[2]["values"]), std::vector<std::string>{"system"});
  // Only label-selector keys are accepted.
  SKIP_WITHOUT_CHART_RENDERER();
  EXPECT_NE(RenderChart({"--set-json", R"(webhook.namespaceSelector={"matchLabel":{"a":"b"}})"}).command.exit_code, 0);
}

// The required node affinity of one archway pod, as (terms -> "key op values" lines).
std::vector<std::vector<std::string>> RequiredTerms(const YAML::Node& deployment) {
  std::vector<std::vector<std::string>> terms;
  YAML::Node node;
  node.reset(deployment);  // (assignment would copy into the node, not rebind it)
  for (const char* key : {"spec", "template", "spec", "affinity", "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution"}) {
    if (!node.IsMap() || !node[key]) return terms;
    node.reset(node[key]);
  }
  const YAML::Node required = node;
  for (const auto& term : required["nodeSelectorTerms"]) {
    std::vector<std::string> expressions;
    for (const auto& e : term["matchExpressions"]) {
      std::string line = Str(e["key"]) + " " + Str(e["operator"]);
      for (const auto& v : e["values"]) line += " " + v.as<std::string>();
      expressions.push_back(line);
    }
    terms.push_back(expressions);
  }
  return terms;
}

TEST(Chart, ArchwayPodsArePinnedToThePlatformsTheImageIsBuiltFor) {
  const Rendered r = RenderChart({});
  ASSERT_RENDERED(r);
  const std::vector<std::vector<std::string>> pinned = {
      {"kubernetes.io/os In linux", "kubernetes.io/arch In amd64 arm64 arm"}};
  EXPECT_EQ(RequiredTerms(r.Find("Deployment", kWebhook)), pinned);
  EXPECT_EQ(RequiredTerms(r.Find("Deployment", kOperator)), pinned);
  // The webhook keeps its default spreading beside the pinning.
  EXPECT_TRUE(r.Find("Deployment", kWebhook)["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]);

  // The default is what the Dockerfile builds ("Supported targets:" line; arm/v7 is the
  // node label arch "arm").
  const std::string dockerfile = ReadFile(SourceDir() / "Dockerfile");
  const size_t line = dockerfile.find("# Supported targets:");
  ASSERT_NE(line, std::string::npos);
  std::string targets = dockerfile.substr(line, dockerfile.find('\n', line) - line);
  std::vector<std::string> built;
  for (const std::string platform : {"linux/amd64", "linux/arm64", "linux/arm/v7"}) {
    if (targets.find(platform) != std::string::npos) built.push_back(platform == "linux/arm/v7" ? "linux/arm" : platform);
  }
  const YAML::Node values = YAML::LoadFile((ChartDir() / "values.yaml").string());
  std::vector<std::string> defaults;
  for (const auto& p : values["image"]["platforms"]) defaults.push_back(p.as<std::string>());
  EXPECT_EQ(defaults, built) << targets;

  // A user's required terms each get the platforms ANDed in, one term per OS.
  const Rendered custom = RenderChart(
      {"--set-json", R"(image.platforms=["linux/amd64","windows/amd64"])", "--set-json",
       R"(operator.affinity={"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[)"
       R"({"matchExpressions":[{"key":"pool","operator":"In","values":["infra"]}]}]}}})"});
  ASSERT_TRUE(custom.ok()) << custom.Describe();
  EXPECT_EQ(RequiredTerms(custom.Find("Deployment", kOperator)),
            (std::vector<std::vector<std::string>>{
                {"pool In infra", "kubernetes.io/os In linux", "kubernetes.io/arch In amd64"},
                {"pool In infra", "kubernetes.io/os In windows", "kubernetes.io/arch In amd64"}}));
  // [] turns the pinning off.
  const Rendered off = RenderChart({"--set-json", "image.platforms=[]"});
  ASSERT_TRUE(off.ok()) << off.Describe();
  EXPECT_TRUE(RequiredTerms(off.Find("Deployment", kWebhook)).empty());
  const YAML::Node off_pod = off.Find("Deployment", kOperator)["spec"]["template"]["spec"];
  ASSERT_TRUE(off_pod.IsMap());
  EXPECT_FALSE(off_pod["affinity"]);
}

TEST(Chart, TimeoutSecondsFollowsTheBudget) {
  struct Case {
    std::vector<std::string> args;
    int timeout;  // 0: the render must fail
    std::string error;
  };
  const std::vector<Case> cases = {
      {{"--set", "webhook.budget=500ms"}, 3, ""},
      {{"--set", "webhook.budget=1500ms"}, 4, ""},
      {{"--set", "webhook.budget=10s"}, 12, ""},
      {{"--set", "webhook.budget=1m"}, 0, "at most 30"},
      {{"--set", "webhook.timeoutSeconds=10"}, 10, ""},
      {{"--set", "webhook.timeoutSeconds=2"}, 0, "must be longer than webhook.budget"},
      {{"--set", "webhook.budget=2 seconds"}, 0, "budget"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.args.back());
    const Rendered r = RenderChart(c.args);
    SKIP_WITHOUT_CHART_RENDERER();
    if (c.timeout == 0) {
      EXPECT_NE(r.command.exit_code, 0);
      EXPECT_NE(r.command.err.find(c.error), std::string::npos) << r.command.err;
      continue;
    }
    ASSERT_TRUE(r.ok()) << r.Describe();
    const int timeout = r.Find("MutatingWebhookConfiguration", "archway")["webhooks"][0]["timeoutSeconds"].as<int>();
    EXPECT_EQ(timeout, c.timeout);
    auto budget = ParseDuration(Str(ConfigFile(r, kWebhook)["budget"]));
    ASSERT_TRUE(budget.ok());
    EXPECT_LT(budget->count(), timeout * 1000) << "the API server would give up before the webhook's budget";
  }
}

TEST(Chart, GeneratedCaIsTheCaBundleAndSignsTheServingCertificate) {
  const Rendered r = RenderChart({});
  ASSERT_RENDERED(r);
  const YAML::Node secret = r.Find("Secret", kTlsSecret);
  ASSERT_TRUE(secret);
  EXPECT_EQ(Str(secret["type"]), "kubernetes.io/tls");
  const YAML::Node hook = r.Find("MutatingWebhookConfiguration", "archway")["webhooks"][0];
  EXPECT_EQ(Str(hook["clientConfig"]["caBundle"]), Str(secret["data"]["ca.crt"]));

  auto ca_pem = SecretData(secret, "ca.crt");
  auto cert_pem = SecretData(secret, "tls.crt");
  auto key_pem = SecretData(secret, "tls.key");
  ASSERT_TRUE(ca_pem && cert_pem && key_pem);
  X509Ptr ca = ParseCert(*ca_pem);
  X509Ptr cert = ParseCert(*cert_pem);
  KeyPtr key = ParseKey(*key_pem);
  ASSERT_TRUE(ca && cert && key);
  EXPECT_EQ(X509_check_ca(ca.get()), 1) << "ca.crt is not a CA";
  EXPECT_EQ(X509_verify(cert.get(), X509_get0_pubkey(ca.get())), 1) << "tls.crt is not signed by ca.crt";
  EXPECT_EQ(X509_check_private_key(cert.get(), key.get()), 1) << "tls.key does not match tls.crt";
  EXPECT_GT(X509_cmp_current_time(X509_get0_notAfter(cert.get())), 0) << "expired";
  for (const auto& name : ServiceDnsNames(kNamespace)) {
    EXPECT_EQ(X509_check_host(cert.get(), name.c_str(), name.size(), 0, nullptr), 1) << "no SAN " << name;
  }
  const std::string other = "archway-webhook.other.svc";
  EXPECT_NE(X509_check_host(cert.get(), other.c_str(), other.size(), 0, nullptr), 1);
}

TEST(Chart, CertManagerModeIssuesAndInjectsTheCa) {
  const Rendered r = RenderChart({"--set", "certManager.enabled=true", "--api-versions", "cert-manager.io/v1"});
  ASSERT_RENDERED(r);
  EXPECT_FALSE(r.Find("Secret", kTlsSecret)) << "cert-manager owns the TLS Secret";
  const YAML::Node mwc = r.Find("MutatingWebhookConfiguration", "archway");
  EXPECT_FALSE(mwc["webhooks"][0]["clientConfig"]["caBundle"]) << "cainjector fills caBundle";
  const std::string inject = Str(mwc["metadata"]["annotations"]["cert-manager.io/inject-ca-from"]);
  ASSERT_EQ(inject.rfind(std::string(kNamespace) + "/", 0), 0u) << inject;
  const YAML::Node serving = r.Find("Certificate", inject.substr(inject.find('/') + 1));
  ASSERT_TRUE(serving) << "inject-ca-from names no Certificate: " << inject;
  EXPECT_EQ(Str(serving["metadata"]["namespace"]), kNamespace);
  EXPECT_EQ(Str(serving["spec"]["secretName"]), kTlsSecret);
  EXPECT_EQ(Strings(serving["spec"]["dnsNames"]),
            [] { auto v = ServiceDnsNames(kNamespace); std::sort(v.begin(), v.end()); return v; }());
  // The Deployment mounts the Secret cert-manager writes.
  const YAML::Node deployment = r.Find("Deployment", kWebhook);
  EXPECT_EQ(Str(Volume(deployment, "tls")["secret"]["secretName"]), kTlsSecret);
  // Issuer chain: serving <- CA Issuer (from the CA Certificate's Secret) <- self-signed Issuer.
  const YAML::Node ca_issuer = r.Find("Issuer", Str(serving["spec"]["issuerRef"]["name"]));
  ASSERT_TRUE(ca_issuer);
  const std::string ca_secret = Str(ca_issuer["spec"]["ca"]["secretName"]);
  bool ca_certificate = false;
  for (const auto& certificate : r.All("Certificate")) {
    if (Str(certificate["spec"]["secretName"]) != ca_secret) continue;
    ca_certificate = certificate["spec"]["isCA"].as<bool>(false);
    EXPECT_TRUE(r.Find("Issuer", Str(certificate["spec"]["issuerRef"]["name"]))["spec"]["selfSigned"]);
  }
  EXPECT_TRUE(ca_certificate) << "no isCA Certificate writes " << ca_secret;

  // An existing ClusterIssuer replaces the chart's own CA.
  const Rendered external = RenderChart({"--set", "certManager.enabled=true", "--api-versions", "cert-manager.io/v1",
                                         "--set", "certManager.issuerRef.name=corp-ca", "--set",
                                         "certManager.issuerRef.kind=ClusterIssuer"});
  ASSERT_TRUE(external.ok()) << external.Describe();
  EXPECT_TRUE(external.All("Issuer").empty());
  const YAML::Node issued = external.Find("Certificate", kWebhook);
  EXPECT_EQ(Str(issued["spec"]["issuerRef"]["name"]), "corp-ca");
  EXPECT_EQ(Str(issued["spec"]["issuerRef"]["kind"]), "ClusterIssuer");
}

TEST(Chart, CertManagerWithoutItsApiFailsWithTheReason) {
  const Rendered r = RenderChart({"--set", "certManager.enabled=true"});
  SKIP_WITHOUT_CHART_RENDERER();
  EXPECT_NE(r.command.exit_code, 0);
  EXPECT_NE(r.command.err.find("cert-manager.io/v1"), std::string::npos) << r.command.err;
}

TEST(Chart, ConfigFilesHaveTheDesignKeysAndParse) {
  const Rendered r = RenderChart({});
  ASSERT_RENDERED(r);
  const YAML::Node webhook = ConfigFile(r, kWebhook);
  const YAML::Node op = ConfigFile(r, kOperator);
  ASSERT_TRUE(webhook && op);
  std::set<std::string> webhook_keys, operator_keys;
  LeafKeys(webhook, "", webhook_keys);
  LeafKeys(op, "", operator_keys);
  EXPECT_EQ(webhook_keys, (std::set<std::string>{"listen", "tls.certFile", "tls.keyFile", "metricsListen", "budget",
                                                 "noCommonPlatform", "mode", "skipNamespaces", "registries.configFile",
                                                 "registries.dockerConfig", "globalPullSecret.namespace",
                                                 "globalPullSecret.name", "kubeconfig", "onMiss", "gateTimeout",
                                                 "gateLease.namespace", "gateLease.name", "gateLease.duration",
                                                 "workloads.daemonSets", "preferredPlatforms"}));
  // builder.gitImage (clone init container) and execFormatWatcher.enabled (issue 18): the
  // operator's additions to the design's list.
  EXPECT_EQ(operator_keys, (std::set<std::string>{"kubeconfig", "metricsListen", "healthListen", "leaderElection.enabled",
                                                  "leaderElection.namespace", "leaderElection.leaseName", "resync",
                                                  "registries.configFile", "registries.dockerConfig",
                                                  "builder.buildahImage", "builder.buildkitImage", "builder.gitImage",
                                                  "builder.binfmtImage", "baseImages.minRebuildInterval",
                                                  "execFormatWatcher.enabled"}));
  EXPECT_TRUE(ParseDuration(Str(webhook["budget"])).ok());
  EXPECT_TRUE(ParseDuration(Str(op["resync"])).ok());
  EXPECT_EQ(Str(webhook["noCommonPlatform"]), "pending");
  EXPECT_EQ(Str(webhook["mode"]), "enforce");
  EXPECT_EQ(Str(webhook["kubeconfig"]), "");
  EXPECT_TRUE(webhook["workloads"]["daemonSets"].as<bool>());
  EXPECT_EQ(Str(webhook["globalPullSecret"]["name"]), "");
  EXPECT_EQ(Str(op["builder"]["buildahImage"]), "quay.io/buildah/stable:v1.37");
  EXPECT_EQ(Str(op["builder"]["buildkitImage"]), "moby/buildkit:v0.16.0-rootless");

  const Rendered custom = RenderChart({"--set", "webhook.noCommonPlatform=deny", "--set", "webhook.budget=1500ms",
                                       "--set", "globalPullSecret.name=archway-pull", "--set",
                                       "operator.builder.buildahImage=registry.lan/buildah:1", "--set",
                                       "operator.resync=5m"});
  ASSERT_TRUE(custom.ok()) << custom.Describe();
  const YAML::Node w = ConfigFile(custom, kWebhook);
  EXPECT_EQ(Str(w["noCommonPlatform"]), "deny");
  EXPECT_EQ(Str(w["budget"]), "1500ms");
  EXPECT_EQ(Str(w["globalPullSecret"]["name"]), "archway-pull");
  EXPECT_EQ(Str(w["globalPullSecret"]["namespace"]), kNamespace);
  EXPECT_EQ(Str(ConfigFile(custom, kOperator)["builder"]["buildahImage"]), "registry.lan/buildah:1");
  EXPECT_EQ(Str(ConfigFile(custom, kOperator)["resync"]), "5m");
}

TEST(Chart, RegistriesValuesBecomeAK3sRegistriesYamlSecret) {
  TempDir dir;
  const auto values = dir.Write("values.yaml", R"yaml(registries:
  config:
    mirrors:
      docker.io:
        endpoint: ["https://mirror.lan:5000", "https://registry-1.docker.io"]
        rewrite:
          "^library/(.*)": "mirrored/$1"
    configs:
      "mirror.lan:5000":
        auth: {username: ci, password: "p@ss: word"}
        tls: {insecure_skip_verify: true}
)yaml");
  const Rendered r = RenderChart({"-f", values.string()});
  ASSERT_RENDERED(r);
  auto text = SecretData(r.Find("Secret", "archway-registries"), "registries.yaml");
  ASSERT_TRUE(text);
  const YAML::Node registries = YAML::Load(*text);
  std::set<std::string> top;
  for (const auto& entry : registries) top.insert(entry.first.as<std::string>());
  EXPECT_EQ(top, (std::set<std::string>{"mirrors", "configs"}));
  EXPECT_EQ(Strings(registries["mirrors"]["docker.io"]["endpoint"]),
            (std::vector<std::string>{"https://mirror.lan:5000", "https://registry-1.docker.io"}));
  EXPECT_EQ(Str(registries["mirrors"]["docker.io"]["rewrite"]["^library/(.*)"]), "mirrored/$1");
  EXPECT_EQ(Str(registries["configs"]["mirror.lan:5000"]["auth"]["username"]), "ci");
  EXPECT_EQ(Str(registries["configs"]["mirror.lan:5000"]["auth"]["password"]), "p@ss: word");
  EXPECT_TRUE(registries["configs"]["mirror.lan:5000"]["tls"]["insecure_skip_verify"].as<bool>(false));
  // The secret material never lands in a ConfigMap.
  for (const auto& cm : r.All("ConfigMap")) EXPECT_EQ(YAML::Dump(cm).find("p@ss"), std::string::npos);

  // A node's file, passed verbatim with --set-file, is stored byte for byte.
  const std::string node_file =
      "# /etc/rancher/k3s/registries.yaml\nmirrors:\n  \"*\":\n    endpoint:\n      - \"http://10.0.0.5:5000\"\n"
      "configs:\n  \"10.0.0.5:5000\":\n    tls:\n      insecure_skip_verify: true\n";
  const auto node_path = dir.Write("registries.yaml", node_file);
  const Rendered from_file = RenderChart({"--set-file", "registries.file=" + node_path.string()});
  ASSERT_TRUE(from_file.ok()) << from_file.Describe();
  EXPECT_EQ(SecretData(from_file.Find("Secret", "archway-registries"), "registries.yaml").value_or(""), node_file);

  // An existing Secret is mounted instead, under the key the user names.
  const Rendered existing = RenderChart({"--set", "registries.existingSecret=node-registries", "--set",
                                         "registries.existingSecretKey=k3s.yaml"});
  ASSERT_TRUE(existing.ok()) << existing.Describe();
  EXPECT_FALSE(existing.Find("Secret", "archway-registries"));
  for (const char* name : {kWebhook, kOperator}) {
    const YAML::Node volume = Volume(existing.Find("Deployment", name), "registries");
    EXPECT_EQ(Str(volume["secret"]["secretName"]), "node-registries") << name;
    EXPECT_EQ(Str(volume["secret"]["items"][0]["key"]), "k3s.yaml") << name;
    EXPECT_EQ(Str(volume["secret"]["items"][0]["path"]), "registries.yaml") << name;
  }

  // Only k3s keys are accepted.
  const Rendered typo = RenderChart({"--set", "registries.config.auths.registry=x"});
  EXPECT_NE(typo.command.exit_code, 0);
  EXPECT_NE(typo.command.err.find("auths"), std::string::npos) << typo.command.err;
}

TEST(Chart, DockerConfigSecretIsMountedAsConfigJson) {
  const Rendered r = RenderChart({"--set", "registries.dockerConfigSecret=regcred"});
  ASSERT_RENDERED(r);
  for (const auto& [deployment_name, container_name] :
       std::vector<std::pair<std::string, std::string>>{{kWebhook, "webhook"}, {kOperator, "operator"}}) {
    const YAML::Node deployment = r.Find("Deployment", deployment_name);
    const std::string file = Str(ConfigFile(r, deployment_name)["registries"]["dockerConfig"]);
    const YAML::Node volume = VolumeForFile(deployment, Container(deployment, container_name), file);
    EXPECT_TRUE(SecretVolumeProvides(volume, "regcred", file)) << deployment_name << " " << file;
    EXPECT_EQ(Str(volume["secret"]["items"][0]["key"]), ".dockerconfigjson");
  }
}

TEST(Chart, ValuesSchemaRejectsTyposAndBadEnums) {
  for (const auto& set : {"webhook.replica=3", "webhook.noCommonPlatform=sometimes", "webhook.failurePolicy=Never",
                          "operator.resync=often", "webhook.onMiss=wait", "webhook.gateTimeout=soon",
                          "webhook.gateLease.nam=x", "webhook.mode=warn"}) {
    const Rendered r = RenderChart({"--set", set});
    SKIP_WITHOUT_CHART_RENDERER();
    EXPECT_NE(r.command.exit_code, 0) << set << " was accepted";
  }
}

TEST(Chart, OperatorCanBeLeftOut) {
  const Rendered r = RenderChart({"--set", "operator.enabled=false"});
  ASSERT_RENDERED(r);
  EXPECT_FALSE(r.Find("Deployment", kOperator));
  EXPECT_FALSE(r.Find("ClusterRole", kOperator));
  EXPECT_FALSE(r.Find("Role", "archway-operator-leader-election"));
  EXPECT_TRUE(r.Find("Deployment", kWebhook));
}

TEST(Chart, SeveralOperatorReplicasNeedLeaderElection) {
  const Rendered unsafe = RenderChart({"--set", "operator.replicas=2", "--set", "operator.leaderElection.enabled=false"});
  SKIP_WITHOUT_CHART_RENDERER();
  EXPECT_NE(unsafe.command.exit_code, 0);
  EXPECT_NE(unsafe.command.err.find("leaderElection"), std::string::npos) << unsafe.command.err;
  const Rendered single = RenderChart({"--set", "operator.leaderElection.enabled=false"});
  ASSERT_TRUE(single.ok()) << single.Describe();
  EXPECT_FALSE(single.Find("Role", "archway-operator-leader-election"));
  EXPECT_FALSE(ConfigFile(single, kOperator)["leaderElection"]["enabled"].as<bool>(true));
}

TEST(Chart, ServiceMonitorScrapesBothMetricsPorts) {
  const Rendered missing_api = RenderChart({"--set", "serviceMonitor.enabled=true"});
  SKIP_WITHOUT_CHART_RENDERER();
  EXPECT_NE(missing_api.command.exit_code, 0);
  EXPECT_NE(missing_api.command.err.find("monitoring.coreos.com/v1"), std::string::npos);

  const Rendered r = RenderChart({"--set", "serviceMonitor.enabled=true", "-a", "monitoring.coreos.com/v1"});
  ASSERT_RENDERED(r);
  const YAML::Node monitor = r.Find("ServiceMonitor", "archway");
  ASSERT_TRUE(monitor);
  const YAML::Node selector = monitor["spec"]["selector"]["matchLabels"];
  const std::string port = Str(monitor["spec"]["endpoints"][0]["port"]);
  int selected = 0;
  for (const auto& service : r.All("Service")) {
    bool matches = true;
    for (const auto& entry : selector) {
      matches &= Str(service["metadata"]["labels"][entry.first.as<std::string>()]) == entry.second.as<std::string>();
    }
    if (!matches) continue;
    ++selected;
    bool has_port = false;
    for (const auto& p : service["spec"]["ports"]) has_port |= Str(p["name"]) == port;
    EXPECT_TRUE(has_port) << Str(service["metadata"]["name"]) << " has no port " << port;
  }
  EXPECT_EQ(selected, 2) << "the webhook's and the operator's metrics Services";
}

TEST(Chart, CrdIsTheTopLevelCrd) {
  const auto top = SourceDir() / "crds" / "archway.dev_multiarchimages.yaml";
  const auto chart = ChartDir() / "crds" / "archway.dev_multiarchimages.yaml";
  ASSERT_TRUE(std::filesystem::exists(top)) << top;
  ASSERT_TRUE(std::filesystem::exists(chart)) << chart;
  EXPECT_TRUE(ReadFile(top) == ReadFile(chart))
      << "charts/archway/crds/ differs from crds/: copy crds/archway.dev_multiarchimages.yaml into the chart";
  // Helm installs it from crds/ (never templated).
  const Rendered r = RenderChart({"--include-crds"});
  ASSERT_RENDERED(r);
  const YAML::Node crd = r.Find("CustomResourceDefinition", "multiarchimages.archway.dev");
  ASSERT_TRUE(crd);
  EXPECT_EQ(Str(crd["spec"]["names"]["shortNames"][0]), "mai");
}

// "A comment on every value": each key in values.yaml has a comment line right above it,
// except the keys inside a `resources:` block (standard Kubernetes requests/limits).
TEST(Chart, EveryValueIsCommented) {
  std::istringstream lines(ReadFile(ChartDir() / "values.yaml"));
  std::string line, previous;
  std::vector<std::pair<size_t, std::string>> stack;  // (indent, key) of the enclosing keys
  int keys = 0;
  while (std::getline(lines, line)) {
    const size_t indent = line.find_first_not_of(' ');
    if (indent == std::string::npos) { previous.clear(); continue; }
    if (line[indent] == '#') { previous = line; continue; }
    const size_t colon = line.find(':');
    if (line[indent] == '-' || colon == std::string::npos) { previous = line; continue; }
    const std::string key = line.substr(indent, colon - indent);
    while (!stack.empty() && stack.back().first >= indent) stack.pop_back();
    bool in_resources = false;
    for (const auto& [_, parent] : stack) in_resources |= parent == "resources";
    if (!in_resources) {
      ++keys;
      const size_t prev_indent = previous.find_first_not_of(' ');
      EXPECT_TRUE(prev_indent == indent && previous[prev_indent] == '#')
          << "values.yaml: `" << key << "` has no comment line above it";
    }
    stack.emplace_back(indent, key);
    previous = line;
  }
  EXPECT_GT(keys, 40);
}

}  // namespace
}  // namespace archway::charttest
