#include "tests/chart/chart_support.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <gtest/gtest.h>

#include "base/encoding.h"

extern char** environ;

namespace archway::charttest {

std::filesystem::path SourceDir() { return ARCHWAY_SOURCE_DIR; }
std::filesystem::path ChartDir() { return SourceDir() / "charts" / "archway"; }

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

TempDir::TempDir() {
  const char* base = std::getenv("ARCHWAY_TEST_TMP");
  std::filesystem::path root = base && *base ? base : "/tmp";
  std::filesystem::create_directories(root);
  std::string pattern = (root / "archway-chart-XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed under " + root.string());
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

std::filesystem::path TempDir::Write(const std::string& name, const std::string& content) const {
  std::filesystem::path file = path_ / name;
  std::ofstream(file, std::ios::binary) << content;
  return file;
}

CommandResult RunCommand(const std::vector<std::string>& argv, int timeout_seconds) {
  CommandResult result;
  TempDir capture;
  const std::string out_path = (capture.path() / "stdout").string();
  const std::string err_path = (capture.path() / "stderr").string();

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_addopen(&actions, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  std::vector<char*> args;
  for (const auto& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  int spawn_error = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (spawn_error != 0) {
    result.err = "cannot start " + argv[0] + ": " + std::strerror(spawn_error);
    return result;
  }

  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_seconds);
  int status = 0;
  bool timed_out = false;
  while (true) {
    pid_t done = waitpid(pid, &status, WNOHANG);
    if (done == pid) break;
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      timed_out = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  result.out = ReadFile(out_path);
  result.err = ReadFile(err_path);
  if (timed_out) {
    result.err += "\n(killed after " + std::to_string(timeout_seconds) + " s)";
  } else if (WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
  }
  return result;
}

namespace {

std::filesystem::path SharedChartRender() {
  return SourceDir().parent_path() / "shared" / "tools" / "chart-render" / "chart-render";
}

std::string OnPath(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path != nullptr ? path : "");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (!dir.empty() && access((dir + "/" + name).c_str(), X_OK) == 0) return dir + "/" + name;
  }
  return "";
}

}  // namespace

std::optional<std::vector<std::string>> ChartRenderer() {
  if (const char* env = std::getenv("ARCHWAY_CHART_RENDER"); env && *env) {
    if (access(env, X_OK) != 0) return std::nullopt;
    return std::vector<std::string>{env};
  }
  if (std::string helm = OnPath("helm"); !helm.empty()) return std::vector<std::string>{helm, "template"};
  if (access(SharedChartRender().c_str(), X_OK) == 0) return std::vector<std::string>{SharedChartRender().string()};
  return std::nullopt;
}

std::string ChartRendererMissing() {
  if (ChartRenderer()) return "";
  if (const char* env = std::getenv("ARCHWAY_CHART_RENDER"); env && *env) {
    return std::string("ARCHWAY_CHART_RENDER=") + env + " is not executable";
  }
  return "no chart renderer: helm is not on PATH and " + SharedChartRender().string() + " does not exist";
}

std::string Rendered::Describe() const {
  std::string text = "exit code " + std::to_string(command.exit_code);
  if (!command.err.empty()) text += "; stderr:\n" + command.err;
  if (!parse_error.empty()) text += "; rendered YAML does not parse: " + parse_error;
  return text;
}

std::vector<YAML::Node> Rendered::All(const std::string& kind) const {
  std::vector<YAML::Node> found;
  for (const auto& doc : docs) {
    if (doc["kind"] && doc["kind"].as<std::string>() == kind) found.push_back(doc);
  }
  return found;
}

YAML::Node Absent() {
  // A missing key of a const map is an undefined node: false in a boolean context.
  static const YAML::Node empty(YAML::NodeType::Map);
  return empty["absent"];
}

YAML::Node Rendered::Find(const std::string& kind, const std::string& name) const {
  for (const auto& doc : All(kind)) {
    if (doc["metadata"]["name"].as<std::string>("") == name) return doc;
  }
  return Absent();
}

Rendered RenderChart(const std::vector<std::string>& extra_args, const std::string& release_namespace) {
  Rendered rendered;
  auto renderer = ChartRenderer();
  if (!renderer) {
    rendered.command.err = ChartRendererMissing();
    return rendered;
  }
  std::vector<std::string> argv = *renderer;
  for (const std::string& arg : {std::string("archway"), ChartDir().string(), std::string("-n"), release_namespace}) {
    argv.push_back(arg);
  }
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  rendered.command = RunCommand(argv);
  if (rendered.command.exit_code != 0) return rendered;
  try {
    for (const auto& doc : YAML::LoadAll(rendered.command.out)) {
      if (doc.IsMap()) rendered.docs.push_back(doc);
    }
  } catch (const YAML::Exception& e) {
    rendered.parse_error = e.what();
  }
  return rendered;
}

std::optional<std::string> SecretData(const YAML::Node& secret, const std::string& key) {
  const YAML::Node value = secret["data"][key];
  if (!value || !value.IsScalar()) return std::nullopt;
  return Base64Decode(value.as<std::string>());
}

YAML::Node Container(const YAML::Node& deployment, const std::string& name) {
  for (const auto& container : deployment["spec"]["template"]["spec"]["containers"]) {
    if (container["name"].as<std::string>("") == name) return container;
  }
  return Absent();
}

void ExpectRestrictedSecurity(const YAML::Node& workload, const YAML::Node& container) {
  const YAML::Node pod = workload["spec"]["template"]["spec"];
  EXPECT_TRUE(pod["securityContext"]["runAsNonRoot"].as<bool>(false));
  EXPECT_EQ(pod["securityContext"]["runAsUser"].as<int>(0), 65532);
  EXPECT_EQ(Str(pod["securityContext"]["seccompProfile"]["type"]), "RuntimeDefault");
  const YAML::Node sc = container["securityContext"];
  EXPECT_TRUE(sc["runAsNonRoot"].as<bool>(false));
  EXPECT_EQ(sc["runAsUser"].as<int>(0), 65532);
  EXPECT_FALSE(sc["allowPrivilegeEscalation"].as<bool>(true));
  EXPECT_TRUE(sc["readOnlyRootFilesystem"].as<bool>(false));
  EXPECT_FALSE(sc["privileged"].as<bool>(false));
  EXPECT_EQ(Strings(sc["capabilities"]["drop"]), std::vector<std::string>{"ALL"});
  EXPECT_FALSE(sc["capabilities"]["add"]);
  EXPECT_EQ(Str(sc["seccompProfile"]["type"]), "RuntimeDefault");
}

std::vector<std::string> Strings(const YAML::Node& sequence) {
  std::vector<std::string> values;
  if (sequence && sequence.IsSequence()) {
    for (const auto& item : sequence) values.push_back(item.as<std::string>());
  }
  std::sort(values.begin(), values.end());
  return values;
}

}  // namespace archway::charttest
