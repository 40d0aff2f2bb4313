// An informer: a local cache of one resource type kept current by list + watch, with
// handlers called on changes (client-go's SharedInformer, minus the sharing).
//
//   Informer secrets(client, resources::kSecrets, {.field_selector = "type=kubernetes.io/dockerconfigjson"});
//   secrets.SetHandlers({.on_add = ..., .on_update = ..., .on_delete = ...});
//   secrets.Start();
//   secrets.WaitForSync(5s);
//   auto s = secrets.Get("ns", "regcred");
//
// It lists, then watches from the list's resourceVersion with bookmarks, tracking the
// RV of every event. A dropped stream is resumed from the last RV (no event lost or
// repeated); a 410 Expired re-lists and emits adds/updates/deletes for the difference
// between the cache and the new list. Reconnects back off exponentially (capped).
// Handlers run on the informer's thread, one at a time, in order; one that throws is
// logged and the informer carries on (the cache is already updated).
//
// A cache of what its handlers read, not of whole objects: InformerOptions::transform
// rewrites each object as it arrives (each list page before the next is asked for, each
// watch event), before it is cached and handed to the handlers. A cache of typed records
// instead of JSON is a TypedInformer (kube/typed_informer.h, which this is over): the
// exec-format-error watcher keeps a compact record of every Pod that way (operator/exec_format.h).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kube/client.h"
#include "kube/object_reader.h"

namespace archway::kube {

struct InformerOptions {
  std::string ns{};               // "" = all namespaces (or cluster-scoped)
  std::string label_selector{};
  std::string field_selector{};
  int64_t page_size = 500;      // list page size
  int watch_timeout_seconds = 300;
  std::chrono::milliseconds min_backoff{200};
  std::chrono::milliseconds max_backoff{30000};
  // Periodic on_update(obj, obj) for every cached object (0 = off): the operator's resync.
  std::chrono::milliseconds resync{0};
  // What to keep of each object (list items and watch events, deletes included): called
  // after apiVersion/kind are filled in, its answer replaces the object before it is
  // cached or handed to a handler; {} = objects are kept whole. The answer must keep
  // metadata.name, metadata.namespace and metadata.resourceVersion (the cache key, and
  // how a re-list tells changed objects from unchanged ones). It runs on the informer's
  // thread; if it throws, that is logged and the object is kept whole (correct, larger).
  std::function<Json(const Json& object)> transform{};
};

struct InformerHandlers {
  std::function<void(const Json& obj)> on_add{};
  std::function<void(const Json& old_obj, const Json& new_obj)> on_update{};
  std::function<void(const Json& last_known)> on_delete{};
};

class Informer : public ObjectReader {
 public:
  Informer(Client& client, ResourceRef ref, InformerOptions options = {});
  ~Informer() override;  // Stop()s
  Informer(const Informer&) = delete;
  Informer& operator=(const Informer&) = delete;

  // Set before Start().
  void SetHandlers(InformerHandlers handlers);

  // Starts the background thread. Call once.
  void Start();
  // Ends the watch and joins the thread; safe to call twice. Handlers are not called after.
  void Stop();

  // True once the first full list has been delivered to the cache and the handlers.
  bool HasSynced() const;
  // Waits for HasSynced() up to `timeout`.
  bool WaitForSync(std::chrono::milliseconds timeout) const;

  std::optional<Json> Get(const std::string& ns, const std::string& name) const override;
  std::optional<Json> GetByKey(const std::string& key) const;
  std::vector<Json> List() const override;
  std::vector<std::string> Keys() const;

  // The resourceVersion the cache reflects (last list or event/bookmark).
  std::string LastResourceVersion() const;
  // How many times the informer listed (1 after the initial sync; more after 410s).
  int ListCount() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace archway::kube
