#include "webhook/json_text.h"

#include <algorithm>

namespace archway::webhook {

using Json = nlohmann::json;

void AppendJsonString(std::string_view text, std::string& out) {
  // Printable ASCII but '"' and '\\' -- uids, label keys, paths, platform names: nearly
  // every string written -- goes out as it is, without Json's byte-by-byte UTF-8 decoding.
  const bool plain =
      std::all_of(text.begin(), text.end(), [](char c) { return c >= 0x20 && c < 0x7F && c != '"' && c != '\\'; });
  if (!plain) {
    out += Json(std::string(text)).dump(-1, ' ', false, Json::error_handler_t::replace);
    return;
  }
  out += '"';
  out += text;
  out += '"';
}

void AppendJson(const Json& value, std::string& out) {
  if (value.is_object()) {
    AppendJsonObject(value.get_ref<const Json::object_t&>(), AppendJson, out);
  } else if (value.is_array()) {
    AppendJsonArray(value.get_ref<const Json::array_t&>(), AppendJson, out);
  } else if (value.is_string()) {
    AppendJsonString(value.get_ref<const Json::string_t&>(), out);
  } else {
    out += value.dump(-1, ' ', false, Json::error_handler_t::replace);  // numbers, booleans, null
  }
}

}  // namespace archway::webhook
