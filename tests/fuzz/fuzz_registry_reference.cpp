// libFuzzer target: ParseReference must never crash, and whatever it accepts must
// round-trip through its canonical String().
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "registry/reference.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto ref = archway::registry::ParseReference(text);
  if (!ref.ok()) return 0;
  auto again = archway::registry::ParseReference(ref->String());
  if (!again.ok() || !(*again == *ref)) std::abort();
  return 0;
}
