// archway: thin driver over the libraries. Parses the subcommand and hands over.
#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "cmd/command.h"

namespace archway::cmd {
namespace {

std::vector<Command>& Registry() {
  static std::vector<Command> commands;
  return commands;
}

void PrintUsage(std::FILE* out) {
  std::fprintf(out, "usage: archway <command> [options]\n\ncommands:\n");
  std::vector<Command> sorted = Registry();
  std::sort(sorted.begin(), sorted.end(), [](const Command& a, const Command& b) { return a.name < b.name; });
  for (const auto& command : sorted) std::fprintf(out, "  %-10s %s\n", command.name.c_str(), command.summary.c_str());
  std::fprintf(out, "\nRun `archway <command> --help` for a command's options.\n");
}

}  // namespace

CommandRegistration::CommandRegistration(std::string name, std::string summary, CommandFn run) {
  Registry().push_back(Command{std::move(name), std::move(summary), std::move(run)});
}

const std::vector<Command>& Commands() { return Registry(); }

}  // namespace archway::cmd

int main(int argc, char** argv) {
  using namespace archway::cmd;
  if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h" ||
      std::string(argv[1]) == "help") {
    PrintUsage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  std::string name = argv[1];
  if (name == "version" || name == "--version") {
    std::printf("archway %s\n", ARCHWAY_VERSION);
    return 0;
  }
  for (const auto& command : Commands()) {
    if (command.name == name) return command.run(std::vector<std::string>(argv + 2, argv + argc));
  }
  std::fprintf(stderr, "archway: unknown command \"%s\"\n", name.c_str());
  PrintUsage(stderr);
  return 2;
}
