// A kube::Client over maps in memory, for fuzz targets and unit tests that run logic
// above the client once per input: no network, no threads, deterministic (uids and
// resourceVersions count up from 1). It answers as the API does for the calls a
// controller makes: AlreadyExists on a second Create, NotFound, Conflict on a stale
// resourceVersion; List filters by namespace and equality label selectors (k=v, k!=v, k).
// Every write is serialised as the HTTP client would send it, so an object that cannot be
// (a string that is not UTF-8) fails as it would on the wire; every accepted write is
// logged for the caller to inspect. Watch and field selectors are not served (kUnsupported).
// Not thread-safe: one caller at a time.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "kube/client.h"

namespace archway::testing {

class MemoryKubeClient : public kube::Client {
 public:
  struct Write {
    std::string verb;      // "create", "update", "updateStatus", "patch", "delete"
    std::string resource;  // plural: "jobs"
    std::string ns;
    kube::Json object;     // as stored afterwards (the deleted object for "delete")
  };

  // Stores `object` as is (a uid and resourceVersion are added when missing), no write logged.
  void Put(const kube::ResourceRef& ref, const kube::Json& object);
  std::vector<kube::Json> Objects(const kube::ResourceRef& ref) const;
  const std::vector<Write>& Writes() const { return writes_; }
  // Writes refused because the object could not be serialised (see above).
  int UnserialisableWrites() const { return unserialisable_; }

  Result<kube::Json> Get(const kube::ResourceRef& ref, const std::string& ns, const std::string& name) override;
  Result<kube::ListResult> List(const kube::ResourceRef& ref, const std::string& ns,
                                const kube::ListOptions& options = {}) override;
  Result<kube::Json> Create(const kube::ResourceRef& ref, const std::string& ns, const kube::Json& object) override;
  Result<kube::Json> Update(const kube::ResourceRef& ref, const std::string& ns, const kube::Json& object) override;
  Result<kube::Json> UpdateStatus(const kube::ResourceRef& ref, const std::string& ns,
                                  const kube::Json& object) override;
  Result<kube::Json> Patch(const kube::ResourceRef& ref, const std::string& ns, const std::string& name,
                           kube::PatchType type, const kube::Json& patch, const std::string& subresource = "") override;
  Result<kube::Json> Delete(const kube::ResourceRef& ref, const std::string& ns, const std::string& name,
                            const kube::DeleteOptions& options = {}) override;
  Result<kube::Json> GetPath(const std::string& path) override;
  Status Watch(const kube::ResourceRef& ref, const std::string& ns, const kube::WatchOptions& options,
               const kube::WatchHandler& handler, std::stop_token stop) override;

 private:
  // (group/resource, namespace, name); namespace "" for cluster-scoped resources.
  using Key = std::tuple<std::string, std::string, std::string>;
  Key KeyOf(const kube::ResourceRef& ref, const std::string& ns, const std::string& name) const;
  // Stores `object` under `key` with a new resourceVersion and logs the write.
  Result<kube::Json> Store(const std::string& verb, const kube::ResourceRef& ref, const Key& key, kube::Json object);

  std::map<Key, kube::Json> objects_;
  std::vector<Write> writes_;
  int64_t next_version_ = 1;
  int unserialisable_ = 0;
};

}  // namespace archway::testing
