// Fuzzes the MultiArchImage parser and, for specs it accepts, the Job builder: any JSON a
// user can get past (or around) the CRD schema must give an error value, never a crash,
// and accepted specs must give Jobs with names the API accepts (<= 63 characters).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include <nlohmann/json.hpp>

#include "operator/config.h"
#include "operator/job_builder.h"
#include "operator/spec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto object = nlohmann::json::parse(std::string(reinterpret_cast<const char*>(data), size), nullptr, false);
  if (object.is_discarded()) return 0;
  auto mai = archway::op::ParseMultiArchImage(object);
  if (!mai.ok() || !mai->spec.build) return 0;
  archway::op::OperatorConfig config;
  for (const auto& platform : mai->spec.platforms) {
    auto job = archway::op::BuildJob(*mai, platform, config, false);
    if (job["metadata"]["name"].get<std::string>().size() > 63) std::abort();
  }
  return 0;
}
