// A server's configuration from one table of keys: a YAML file whose nested maps spell a
// key's path ("tls: {certFile: x}" is the key tls.certFile), and command-line flags of
// the same names, written as the key (--tls.certFile) or in kebab case
// (--tls-cert-file): case and '-', '.', '_' do not matter in a flag.
//
// Everything applies over the defaults: a key left out keeps its default, and so does one
// written with no value ("key:"), unless its entry says what that means. Unknown keys and
// values of the wrong type are errors naming the key, so a typo never silently falls back
// to a default:
//   config: unknown key "budjet"
//   config key "budget": bad duration "soon" ...
//   --budget: missing value
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace archway {

struct ConfigKey {
  std::string name;  // its path in the file: "tls.certFile"
  // A key of one value (a YAML scalar; a flag's value). Errors are wrapped with the key.
  std::function<Status(const std::string& value)> set = nullptr;
  // Instead, a list key: the items of a YAML sequence, or of a flag's value split at
  // commas (empty items dropped).
  std::function<Status(std::vector<std::string> items)> set_list = nullptr;
  // What "key:" with no value means; unset: the default stays.
  std::function<void()> set_null = nullptr;
  // More names the flag answers to ("tls-cert"); compared as flag names are.
  std::vector<std::string> flag_aliases = {};
};

// A `set` that stores what `parse` makes of the value in `field` (parse: string ->
// Result<T>), so a key's table entry is one line.
template <typename T, typename Parse>
std::function<Status(const std::string&)> ConfigSetter(T& field, Parse parse) {
  return [&field, parse](const std::string& value) -> Status {
    auto parsed = parse(value);
    if (!parsed.ok()) return parsed.error();
    field = std::move(*parsed);
    return Status::Ok();
  };
}

// Value parsers for ConfigSetter: text kept as written; true/false (also True, False, 1, 0).
Result<std::string> ConfigText(const std::string& value);
Result<bool> ParseConfigBool(const std::string& value);

// Applies the YAML text (empty: nothing). Errors start with "config".
Status ApplyConfigYaml(std::string_view yaml_text, const std::vector<ConfigKey>& keys);

// Applies `--key value` and `--key=value` pairs. --config FILE is skipped: the caller
// reads the file first, so flags override it.
Status ApplyConfigFlags(const std::vector<std::string>& args, const std::vector<ConfigKey>& keys);

// The text of a config file, or kNotFound naming it.
Result<std::string> ReadConfigFile(const std::string& path);

}  // namespace archway
