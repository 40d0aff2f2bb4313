// Kubeconfig parsing must answer a value or an error for any input, never crash.
#include <cstddef>
#include <cstdint>
#include <string>

#include "kube/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  // base_dir "" and no file references resolve outside the input (absolute paths would
  // be read, which is harmless: a missing file is an error value).
  auto config = archway::kube::ParseKubeconfig(text);
  if (config.ok()) (void)archway::kube::CurrentToken(*config);
  return 0;
}
