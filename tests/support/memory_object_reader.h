// An ObjectReader (kube/object_reader.h) over objects held in memory: the cache a
// reconciler reads, for fuzz targets and unit tests that need no informer. Objects are
// keyed as informers key them ("ns/name", or "name" when cluster-scoped) and kept as
// given, whatever their shape; a later object with the same key replaces an earlier one.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "kube/client.h"
#include "kube/object_reader.h"

namespace archway::testing {

class MemoryObjectReader : public kube::ObjectReader {
 public:
  // `namespaced` false for a cluster-scoped resource (Nodes): Get ignores its `ns`.
  explicit MemoryObjectReader(bool namespaced = true) : namespaced_(namespaced) {}

  void Put(const kube::Json& object) {
    objects_[kube::ObjectKey(namespaced_ ? kube::NamespaceOf(object) : "", kube::NameOf(object))] = object;
  }

  std::optional<kube::Json> Get(const std::string& ns, const std::string& name) const override {
    auto it = objects_.find(kube::ObjectKey(namespaced_ ? ns : "", name));
    if (it == objects_.end()) return std::nullopt;
    return it->second;
  }

  std::vector<kube::Json> List() const override {
    std::vector<kube::Json> out;
    for (const auto& [key, object] : objects_) out.push_back(object);
    return out;
  }

 private:
  bool namespaced_;
  std::map<std::string, kube::Json> objects_;
};

}  // namespace archway::testing
