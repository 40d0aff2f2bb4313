// Static checks of the Dockerfile. Base images cannot be pulled here (no network, no
// Docker daemon), so `buildah build` cannot run in CI; instead this checks the stages, the
// non-root user and entrypoint, that nothing is downloaded outside apt, that every apt
// package named exists in Debian 12, and that the runtime stage's packages provide every
// shared library the archway binary built in this tree links (ldd + dpkg -S).
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "tests/chart/chart_support.h"

namespace archway::charttest {
namespace {

struct Instruction {
  std::string keyword;  // upper case
  std::string args;
};

struct Stage {
  std::string from;  // FROM arguments
  std::vector<Instruction> instructions;
};

struct Dockerfile {
  std::map<std::string, std::string> global_args;  // ARG before the first FROM
  std::vector<Stage> stages;
};

// Joins continuation lines and drops comment lines, as the Dockerfile parser does.
Dockerfile ParseDockerfile(const std::string& text) {
  Dockerfile file;
  std::istringstream in(text);
  std::string line, logical;
  std::vector<std::string> logical_lines;
  while (std::getline(in, line)) {
    const size_t start = line.find_first_not_of(" \t");
    if (start == std::string::npos || line[start] == '#') continue;
    std::string trimmed = line.substr(start);
    while (!trimmed.empty() && (trimmed.back() == ' ' || trimmed.back() == '\t')) trimmed.pop_back();
    if (!trimmed.empty() && trimmed.back() == '\\') {
      trimmed.pop_back();
      logical += trimmed + " ";
      continue;
    }
    logical += trimmed;
    logical_lines.push_back(logical);
    logical.clear();
  }
  for (const auto& l : logical_lines) {
    const size_t space = l.find(' ');
    Instruction instruction{l.substr(0, space), space == std::string::npos ? "" : l.substr(space + 1)};
    std::transform(instruction.keyword.begin(), instruction.keyword.end(), instruction.keyword.begin(), ::toupper);
    if (instruction.keyword == "FROM") {
      file.stages.push_back(Stage{instruction.args, {}});
    } else if (file.stages.empty()) {
      if (instruction.keyword == "ARG") {
        const size_t eq = instruction.args.find('=');
        file.global_args[instruction.args.substr(0, eq)] = eq == std::string::npos ? "" : instruction.args.substr(eq + 1);
      }
    } else {
      file.stages.back().instructions.push_back(instruction);
    }
  }
  return file;
}

std::string ExpandArgs(std::string text, const std::map<std::string, std::string>& args) {
  for (const auto& [name, value] : args) {
    for (const std::string& pattern : {"${" + name + "}", "$" + name}) {
      for (size_t at; (at = text.find(pattern)) != std::string::npos;) text.replace(at, pattern.size(), value);
    }
  }
  return text;
}

// Package names after `apt-get ... install` in a RUN, up to the end of that command.
std::vector<std::string> AptInstallPackages(const std::string& run) {
  std::vector<std::string> packages;
  const size_t install = run.find(" install ");
  if (run.find("apt-get") == std::string::npos || install == std::string::npos) return packages;
  std::istringstream words(run.substr(install + 9));
  std::string word;
  while (words >> word) {
    if (word == "&&" || word == ";") break;
    const bool last = word.back() == ';';
    if (last) word.pop_back();
    if (word[0] != '-' && word.find('=') == std::string::npos) {
      word.erase(std::remove(word.begin(), word.end(), '"'), word.end());
      packages.push_back(word);
    }
    if (last) break;
  }
  return packages;
}

Dockerfile Load() { return ParseDockerfile(ReadFile(SourceDir() / "Dockerfile")); }

// The names among `packages` that Debian's package lists know (one apt-cache call).
std::set<std::string> KnownPackages(const std::vector<std::string>& packages) {
  std::vector<std::string> argv = {"apt-cache", "show", "--no-all-versions"};
  argv.insert(argv.end(), packages.begin(), packages.end());
  const CommandResult r = RunCommand(argv, 120);
  std::set<std::string> known;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("Package: ", 0) == 0) known.insert(line.substr(9));
  }
  return known;
}

TEST(Dockerfile, CrossCompilingBuildStageAndMinimalRuntimeStage) {
  const Dockerfile file = Load();
  ASSERT_EQ(file.stages.size(), 2u) << "expected a build stage and a runtime stage";
  const Stage& build = file.stages[0];
  EXPECT_NE(build.from.find("--platform=$BUILDPLATFORM"), std::string::npos) << build.from;
  EXPECT_NE(build.from.find(" AS build"), std::string::npos) << build.from;
  EXPECT_EQ(ExpandArgs(build.from.substr(build.from.find(' ') + 1), file.global_args).rfind("debian:12 ", 0), 0u)
      << build.from;
  bool target_arch = false, cross_toolchain = false, builds_binary = false;
  for (const auto& i : build.instructions) {
    target_arch |= i.keyword == "ARG" && i.args == "TARGETARCH";
    cross_toolchain |= i.keyword == "RUN" && i.args.find("crossbuild-essential-") != std::string::npos &&
                       i.args.find("dpkg --add-architecture") != std::string::npos;
    builds_binary |= i.keyword == "RUN" && i.args.find("--target archway") != std::string::npos &&
                     i.args.find("-DARCHWAY_TESTS=OFF") != std::string::npos;
  }
  EXPECT_TRUE(target_arch && cross_toolchain && builds_binary);

  const Stage& runtime = file.stages[1];
  const std::string base = ExpandArgs(runtime.from, file.global_args);
  EXPECT_TRUE(base.rfind("debian:12-slim", 0) == 0 || base.rfind("gcr.io/distroless/cc-debian12", 0) == 0) << base;
  EXPECT_EQ(base.find("--platform"), std::string::npos) << "the runtime stage must be the target platform";
  std::string user, entrypoint;
  bool copies_binary = false;
  for (const auto& i : runtime.instructions) {
    if (i.keyword == "USER") user = i.args;
    if (i.keyword == "ENTRYPOINT") entrypoint = i.args;
    copies_binary |= i.keyword == "COPY" && i.args.find("--from=build") != std::string::npos &&
                     i.args.find("/usr/local/bin/archway") != std::string::npos;
    EXPECT_NE(i.keyword, "ADD") << "runtime stage: use COPY";
  }
  EXPECT_EQ(user, "65532:65532") << "the chart runs as 65532; the image must too";
  EXPECT_EQ(entrypoint, R"(["/usr/local/bin/archway"])");
  EXPECT_TRUE(copies_binary);
}

TEST(Dockerfile, DownloadsNothingButDebianPackages) {
  const Dockerfile file = Load();
  const std::regex url(R"(https?://)");
  for (const auto& stage : file.stages) {
    for (const auto& i : stage.instructions) {
      if (i.keyword == "ADD") {
        EXPECT_FALSE(std::regex_search(i.args, url)) << "ADD of a URL: " << i.args;
      }
      if (i.keyword == "RUN") {
        for (const char* tool : {"curl ", "wget ", "git clone"}) {
          EXPECT_EQ(i.args.find(tool), std::string::npos) << tool << "in: " << i.args;
        }
      }
    }
  }
}

TEST(Dockerfile, EveryAptPackageExistsInDebian) {
  const Dockerfile file = Load();
  std::vector<std::string> packages;
  for (const auto& stage : file.stages) {
    for (const auto& i : stage.instructions) {
      if (i.keyword != "RUN") continue;
      for (auto name : AptInstallPackages(i.args)) {
        if (name.find("${toolchain") != std::string::npos) {
          // The cross toolchains the build stage picks from.
          for (const char* arch : {"arm64", "armhf", "amd64"}) packages.push_back(std::string("crossbuild-essential-") + arch);
          packages.push_back("g++");
          continue;
        }
        const size_t colon = name.find(":$");
        if (colon != std::string::npos) name.resize(colon);  // libfoo-dev:$debarch
        packages.push_back(name);
      }
    }
  }
  ASSERT_GE(packages.size(), 10u) << "could not find the apt-get install lists";
  const std::set<std::string> known = KnownPackages(packages);
  ASSERT_FALSE(known.empty()) << "apt-cache knows no packages: run apt-get update";
  for (const auto& name : packages) EXPECT_TRUE(known.count(name)) << "no Debian package " << name << " (apt-cache show)";
}

// The packages owning `paths`, as `dpkg -S` says ("libssl3:amd64: /usr/lib/..." -> libssl3).
// With merged /usr a library may be registered under the other spelling of its path.
std::map<std::string, std::string> OwningPackages(const std::vector<std::string>& paths) {
  std::map<std::string, std::string> spelled;  // a spelling -> the path ldd printed
  for (const auto& path : paths) {
    spelled[path] = path;
    std::error_code ec;
    const std::string canonical = std::filesystem::canonical(path, ec).string();
    for (const auto& p : ec ? std::vector<std::string>{path} : std::vector<std::string>{path, canonical}) {
      spelled[p] = path;
      spelled[p.rfind("/usr/", 0) == 0 ? p.substr(4) : "/usr" + p] = path;
    }
  }
  std::vector<std::string> argv = {"dpkg", "-S"};
  for (const auto& [spelling, _] : spelled) argv.push_back(spelling);
  const CommandResult r = RunCommand(argv, 120);  // non-zero when some spelling is unknown
  std::map<std::string, std::string> owners;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) {
    const size_t sep = line.find(": /");
    if (sep == std::string::npos) continue;
    const auto it = spelled.find(line.substr(sep + 2));
    if (it != spelled.end()) owners[it->second] = line.substr(0, line.find_first_of(":,"));
  }
  return owners;
}

TEST(Dockerfile, RuntimePackagesProvideEveryLibraryTheBinaryLinks) {
  const std::filesystem::path binary = ARCHWAY_BINARY;
  ASSERT_TRUE(std::filesystem::exists(binary)) << binary << " is not built (build the archway target first)";
  const CommandResult ldd = RunCommand({"ldd", binary.string()}, 60);
  ASSERT_EQ(ldd.exit_code, 0) << ldd.err;

  const Dockerfile file = Load();
  std::vector<std::string> runtime_packages;
  for (const auto& i : file.stages.back().instructions) {
    if (i.keyword != "RUN") continue;
    for (const auto& p : AptInstallPackages(i.args)) runtime_packages.push_back(p);
  }
  ASSERT_FALSE(runtime_packages.empty());
  EXPECT_NE(std::find(runtime_packages.begin(), runtime_packages.end(), "ca-certificates"), runtime_packages.end());

  // What apt installs for them: the packages and their dependencies, recursively.
  std::vector<std::string> depends = {"apt-cache", "depends", "--recurse", "--no-recommends", "--no-suggests",
                                      "--no-conflicts", "--no-breaks", "--no-replaces", "--no-enhances"};
  depends.insert(depends.end(), runtime_packages.begin(), runtime_packages.end());
  const CommandResult closure_out = RunCommand(depends, 120);
  ASSERT_EQ(closure_out.exit_code, 0) << closure_out.err << " (apt-cache needs package lists: apt-get update)";
  std::set<std::string> closure;
  std::istringstream lines(closure_out.out);
  for (std::string line; std::getline(lines, line);) {
    if (!line.empty() && line[0] != ' ' && line[0] != '<') closure.insert(line.substr(0, line.find(':')));
  }

  // Every resolved library of the binary (sanitizer runtimes of test builds aside).
  const std::regex resolved(R"((\S+) => (/\S+) \(0x)"), loader(R"(^\s*(/\S+) \(0x)");
  const std::regex sanitizer(R"(^lib(a|ub|l|t)san|clang_rt)");
  std::vector<std::string> libraries;
  std::istringstream ldd_lines(ldd.out);
  for (std::string line; std::getline(ldd_lines, line);) {
    std::smatch m;
    std::string path;
    if (std::regex_search(line, m, resolved)) path = m[2];
    else if (std::regex_search(line, m, loader)) path = m[1];
    else continue;
    if (!std::regex_search(std::filesystem::path(path).filename().string(), sanitizer)) libraries.push_back(path);
  }
  const auto owners = OwningPackages(libraries);
  for (const auto& path : libraries) {
    const auto owner = owners.find(path);
    ASSERT_NE(owner, owners.end()) << "no Debian package owns " << path;
    EXPECT_TRUE(closure.count(owner->second)) << path << " comes from " << owner->second
                                              << ", which the runtime stage's apt-get install does not pull in";
  }
  EXPECT_GE(libraries.size(), 5u) << ldd.out;
}

}  // namespace
}  // namespace archway::charttest
