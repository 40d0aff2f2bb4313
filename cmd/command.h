// Subcommand registry. Each cmd/<name>.cpp registers itself with a static
// CommandRegistration, so main.cpp stays a thin dispatcher and adding a command
// touches one file.
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace archway::cmd {

// args excludes the program and command names. Returns the process exit code.
using CommandFn = std::function<int(const std::vector<std::string>& args)>;

struct Command {
  std::string name;
  std::string summary;  // one line for `archway --help`
  CommandFn run;
};

struct CommandRegistration {
  CommandRegistration(std::string name, std::string summary, CommandFn run);
};

const std::vector<Command>& Commands();

}  // namespace archway::cmd
