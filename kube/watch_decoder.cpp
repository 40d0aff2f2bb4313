#include "kube/watch_decoder.h"

#include "kube/errors.h"

namespace archway::kube {

Result<WatchEvent> WatchDecoder::DecodeLine(std::string_view line) {
  auto parsed = Json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (!parsed.is_object() || !parsed.contains("type") || !parsed["type"].is_string())
    return Error(ErrorCode::kBadResponse, "watch: undecodable event line (" + std::to_string(line.size()) + " bytes)");
  const std::string type = parsed["type"].get<std::string>();
  Json object = parsed.contains("object") ? std::move(parsed["object"]) : Json();
  if (type == "ERROR") return ErrorFromStatus(object, "watch");
  if (!object.is_object()) return Error(ErrorCode::kBadResponse, "watch: " + type + " event without an object");
  WatchEvent event;
  if (type == "ADDED") event.type = WatchEvent::Type::kAdded;
  else if (type == "MODIFIED") event.type = WatchEvent::Type::kModified;
  else if (type == "DELETED") event.type = WatchEvent::Type::kDeleted;
  else if (type == "BOOKMARK") event.type = WatchEvent::Type::kBookmark;
  else return Error(ErrorCode::kBadResponse, "watch: unknown event type " + Json(type).dump());
  event.object = std::move(object);
  return event;
}

Status WatchDecoder::Feed(std::string_view bytes, const WatchHandler& on_event) {
  size_t start = 0;
  while (start < bytes.size() && !stopped_) {
    size_t newline = bytes.find('\n', start);
    if (newline == std::string_view::npos) {
      if (pending_.size() + (bytes.size() - start) > kMaxLineBytes)
        return Error(ErrorCode::kBadResponse, "watch: event line longer than 16 MiB");
      pending_.append(bytes.substr(start));
      return Status::Ok();
    }
    std::string_view piece = bytes.substr(start, newline - start);
    start = newline + 1;
    std::string line;
    std::string_view whole = piece;
    if (!pending_.empty()) {
      line = std::move(pending_);
      pending_.clear();
      line.append(piece);
      whole = line;
    }
    if (whole.size() > kMaxLineBytes) return Error(ErrorCode::kBadResponse, "watch: event line longer than 16 MiB");
    if (whole.find_first_not_of(" \r\t") == std::string_view::npos) continue;  // blank line
    auto event = DecodeLine(whole);
    if (!event.ok()) return event.error();
    if (!on_event(*event)) stopped_ = true;
  }
  return Status::Ok();
}

Status WatchDecoder::Finish() const {
  if (pending_.find_first_not_of(" \r\t") != std::string::npos)
    return Error(ErrorCode::kNetwork, "watch: stream ended inside an event (" + std::to_string(pending_.size()) + " bytes truncated)");
  return Status::Ok();
}

}  // namespace archway::kube
