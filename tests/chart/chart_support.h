// Helpers for the chart, Dockerfile and YAML checks: run a command with a deadline, render
// the chart with `helm template` (or chart-render, the stand-in kept in
// ../shared/tools/chart-render, when helm is not installed), and look objects up in the
// rendered documents. Without either renderer the chart tests skip with the reason.
#pragma once

#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace archway::charttest {

std::filesystem::path SourceDir();
std::filesystem::path ChartDir();  // charts/archway

struct CommandResult {
  int exit_code = -1;  // -1: could not start or killed at the deadline
  std::string out;
  std::string err;
};

// Runs argv (no shell) with stdout and stderr captured; kills it after `timeout_seconds`.
CommandResult RunCommand(const std::vector<std::string>& argv, int timeout_seconds = 180);

// A fresh directory under $ARCHWAY_TEST_TMP (or /tmp), removed on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  // Writes `content` to path()/name and returns the full path.
  std::filesystem::path Write(const std::string& name, const std::string& content) const;

 private:
  std::filesystem::path path_;
};

std::string ReadFile(const std::filesystem::path& path);

// The command that renders a chart like `helm template`, before its arguments:
// $ARCHWAY_CHART_RENDER (a chart-render-compatible program), else `helm template` when
// helm is on PATH, else <repo>/../shared/tools/chart-render/chart-render. nullopt when
// there is none.
std::optional<std::vector<std::string>> ChartRenderer();
// "" when a renderer exists; otherwise one line saying what is missing.
std::string ChartRendererMissing();

// Skips the current test, with the reason, when there is no chart renderer.
#define SKIP_WITHOUT_CHART_RENDERER()                                                      \
  do {                                                                                     \
    if (const std::string why = ::archway::charttest::ChartRendererMissing(); !why.empty()) \
      GTEST_SKIP() << why;                                                                 \
  } while (0)

struct Rendered {
  CommandResult command;
  std::vector<YAML::Node> docs;  // non-empty documents, in output order
  std::string parse_error;       // set when stdout was not valid YAML

  bool ok() const { return command.exit_code == 0 && parse_error.empty(); }
  std::string Describe() const;  // exit code, stderr and parse error, for failure messages

  // Every object of `kind`; the one of `kind` named `name` (Absent() when missing).
  std::vector<YAML::Node> All(const std::string& kind) const;
  YAML::Node Find(const std::string& kind, const std::string& name) const;
};

// <renderer> archway charts/archway -n <ns> <extra args...>
Rendered RenderChart(const std::vector<std::string>& extra_args, const std::string& release_namespace = "archway-system");

// Decodes a Secret's data entry (base64); nullopt when absent or not base64.
std::optional<std::string> SecretData(const YAML::Node& secret, const std::string& key);

// The container named `name` in a Deployment's pod template (Absent() when missing).
YAML::Node Container(const YAML::Node& deployment, const std::string& name);

// An undefined node (false in a boolean context), for "not found".
YAML::Node Absent();

// Sorted string values of a sequence node.
std::vector<std::string> Strings(const YAML::Node& sequence);

// In a gtest: the pod and `container` of `workload` (a Deployment or DaemonSet) run as
// UID 65532, non-root, read-only root, no privilege escalation, no capabilities,
// seccomp RuntimeDefault.
void ExpectRestrictedSecurity(const YAML::Node& workload, const YAML::Node& container);

// A scalar's text; "" when the node is absent or not a scalar.
inline std::string Str(const YAML::Node& node) { return node ? node.as<std::string>("") : ""; }

// In a gtest: skips the current test, with the reason, when there is no chart renderer;
// fails it when the render failed.
#define ASSERT_RENDERED(rendered)                          \
  do {                                                     \
    SKIP_WITHOUT_CHART_RENDERER();                         \
    ASSERT_TRUE((rendered).ok()) << (rendered).Describe(); \
  } while (0)

}  // namespace archway::charttest
