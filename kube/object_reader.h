// Reading objects of one resource from a local cache: what a reconciler needs to see of
// the cluster. Informer (informer.h) is the implementation; logic above it can be given
// any other (an in-memory map in a test or a fuzz target) and needs no API server.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace archway::kube {

class ObjectReader {
 public:
  virtual ~ObjectReader() = default;

  // `ns` is ignored for cluster-scoped resources.
  virtual std::optional<nlohmann::json> Get(const std::string& ns, const std::string& name) const = 0;
  // Every cached object, in key order.
  virtual std::vector<nlohmann::json> List() const = 0;
};

}  // namespace archway::kube
