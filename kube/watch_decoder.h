// Decoding a watch body: one JSON object {"type","object"} per line, arriving in
// arbitrary pieces (a chunk may hold half a line or several lines).
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "base/result.h"
#include "kube/client.h"

namespace archway::kube {

class WatchDecoder {
 public:
  // Bounded: a line longer than this is an error (a hostile or broken peer).
  static constexpr size_t kMaxLineBytes = 16 << 20;

  // Feeds bytes. For every complete line calls `on_event`; an ERROR event becomes the
  // Error of its Status (410 Expired -> kGone); an undecodable line becomes kBadResponse.
  // `on_event` returning false stops decoding (Status OK, `stopped()` true).
  Status Feed(std::string_view bytes, const WatchHandler& on_event);

  // At end of stream: OK when no partial line is left, kNetwork ("truncated") otherwise.
  Status Finish() const;

  bool stopped() const { return stopped_; }

  // Decodes one line (without its '\n'). Exposed for tests and fuzzing.
  static Result<WatchEvent> DecodeLine(std::string_view line);

 private:
  std::string pending_{};
  bool stopped_ = false;
};

}  // namespace archway::kube
