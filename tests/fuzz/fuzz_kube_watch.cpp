// The watch-stream decoder must survive any byte stream split anywhere.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "kube/watch_decoder.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  // The first byte chooses the piece size, so splits inside lines are explored too.
  size_t piece = size > 0 ? (static_cast<size_t>(data[0]) % 64) + 1 : 1;
  archway::kube::WatchDecoder decoder;
  size_t events = 0;
  for (size_t i = 0; i < input.size(); i += piece) {
    auto status = decoder.Feed(input.substr(i, piece), [&](const archway::kube::WatchEvent& e) {
      ++events;
      return e.type != archway::kube::WatchEvent::Type::kDeleted || events < 1000;
    });
    if (!status.ok() || decoder.stopped()) return 0;
  }
  (void)decoder.Finish();
  return 0;
}
