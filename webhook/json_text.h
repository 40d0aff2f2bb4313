// JSON text written directly, byte for byte as nlohmann's Json::dump(-1) writes it (members
// in its sorted order, invalid UTF-8 replaced rather than thrown on). The admission answer
// and its JSON Patch are written this way for every admitted pod: building a DOM only to
// dump it costs more than the rest of the decision.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace archway::webhook {

// `text` as a quoted JSON string.
void AppendJsonString(std::string_view text, std::string& out);

// `value` as compact JSON.
void AppendJson(const nlohmann::json& value, std::string& out);

// The commas between the items of a JSON array or object being written: Next() before
// each item.
class JsonItems {
 public:
  void Next(std::string& out) {
    if (!first_) out += ',';
    first_ = false;
  }

 private:
  bool first_ = true;
};

// `items` as a JSON array; `append_item(item, out)` writes each.
template <typename Items, typename AppendItem>
void AppendJsonArray(const Items& items, AppendItem append_item, std::string& out) {
  out += '[';
  JsonItems commas;
  for (const auto& item : items) {
    commas.Next(out);
    append_item(item, out);
  }
  out += ']';
}

// (key, value) pairs, in the sorted order Json::dump writes members, as a JSON object;
// `append_value(value, out)` writes each value.
template <typename Members, typename AppendValue>
void AppendJsonObject(const Members& members, AppendValue append_value, std::string& out) {
  out += '{';
  JsonItems items;
  for (const auto& [key, value] : members) {
    items.Next(out);
    AppendJsonString(key, out);
    out += ':';
    append_value(value, out);
  }
  out += '}';
}

}  // namespace archway::webhook
