#include "kube/informer.h"

#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

#include "base/log.h"
#include "kube/object.h"

namespace archway::kube {
namespace {

std::string ResourceVersionOf(const Json& object) {
  return StringAt(object, {"metadata", "resourceVersion"}).value_or("");
}

// Items of built-in lists and watch events carry no apiVersion/kind; keep cached objects uniform.
void SetTypeMeta(Json& object, const ResourceRef& ref) {
  if (!object.contains("apiVersion")) object["apiVersion"] = ref.ApiVersion();
  if (!object.contains("kind")) object["kind"] = ref.kind;
}

}  // namespace

struct Informer::Impl {
  Client& client;
  ResourceRef ref;
  InformerOptions options;
  InformerHandlers handlers;

  mutable std::mutex mu;  // guards the cache and the fields below
  mutable std::condition_variable synced_cv;
  std::map<std::string, Json> cache;
  std::string resource_version;
  bool synced = false;
  int list_count = 0;

  std::mutex dispatch_mu;  // handlers run one at a time (watch thread and resync thread)
  std::mutex sleep_mu;
  std::condition_variable_any sleep_cv;
  std::jthread thread;
  std::jthread resync_thread;
  bool started = false;

  Impl(Client& c, ResourceRef r, InformerOptions o) : client(c), ref(std::move(r)), options(std::move(o)) {}

  // Calls a handler (if set). A handler that throws (a library's exception on an object
  // of an unexpected shape) must not end the watch: the cache is already updated.
  template <typename Handler, typename... Objects>
  void Dispatch(const char* what, const Handler& handler, const Objects&... objects) {
    if (!handler) return;
    try {
      handler(objects...);
    } catch (const std::exception& e) {
      log::Error("kube informer: handler threw", {{"resource", ref.resource}, {"event", what}, {"error", e.what()}});
    } catch (...) {
      log::Error("kube informer: handler threw", {{"resource", ref.resource}, {"event", what}, {"error", "unknown"}});
    }
  }

  // Fills in TypeMeta, then applies the caller's transform (one that throws leaves `object` whole).
  void Prepare(Json& object) {
    SetTypeMeta(object, ref);
    if (!options.transform) return;
    try {
      object = options.transform(object);
    } catch (const std::exception& e) {
      log::Error("kube informer: transform threw; caching the object whole",
                 {{"resource", ref.resource}, {"object", ObjectKey(object)}, {"error", e.what()}});
    } catch (...) {
      log::Error("kube informer: transform threw; caching the object whole",
                 {{"resource", ref.resource}, {"object", ObjectKey(object)}, {"error", "unknown"}});
    }
  }

  // Sleeps up to `d`; false when stop was requested.
  bool Sleep(std::stop_token stop, std::chrono::milliseconds d) {
    std::unique_lock lock(sleep_mu);
    return !sleep_cv.wait_for(lock, stop, d, [] { return false; }) && !stop.stop_requested();
  }

  // Lists everything and reconciles the cache with it, emitting the differences.
  Status Relist(std::stop_token stop) {
    ListOptions list_options;
    list_options.label_selector = options.label_selector;
    list_options.field_selector = options.field_selector;
    list_options.limit = options.page_size;
    // Each page is prepared (transformed) as it arrives, so a list of whole objects is
    // never held at once.
    auto listed = ListAll(client, ref, options.ns, list_options, [this](Json& item) {
      if (item.is_object()) Prepare(item);
    });
    if (!listed.ok()) return listed.error();
    std::map<std::string, Json> fresh;
    for (auto& item : listed->items) {
      if (!item.is_object()) continue;  // nothing a handler could read
      std::string key = ObjectKey(item);
      fresh[key] = std::move(item);
    }
    std::vector<std::pair<Json, Json>> updates;  // (old, new); old null = add
    std::vector<Json> deletes;
    {
      std::lock_guard lock(mu);
      for (const auto& [key, obj] : fresh) {
        auto it = cache.find(key);
        if (it == cache.end()) updates.emplace_back(Json(), obj);
        else if (ResourceVersionOf(it->second) != ResourceVersionOf(obj)) updates.emplace_back(it->second, obj);
      }
      for (const auto& [key, obj] : cache)
        if (!fresh.count(key)) deletes.push_back(obj);
      cache = std::move(fresh);
      resource_version = listed->resource_version;
      ++list_count;
    }
    std::lock_guard dispatch(dispatch_mu);
    for (const auto& [old_obj, new_obj] : updates) {
      if (stop.stop_requested()) return Status::Ok();
      if (old_obj.is_null()) Dispatch("add", handlers.on_add, new_obj);
      else Dispatch("update", handlers.on_update, old_obj, new_obj);
    }
    for (const auto& obj : deletes) {
      if (stop.stop_requested()) return Status::Ok();
      Dispatch("delete", handlers.on_delete, obj);
    }
    {
      std::lock_guard lock(mu);
      synced = true;
    }
    synced_cv.notify_all();
    return Status::Ok();
  }

  bool Apply(const WatchEvent& event, std::stop_token stop) {
    if (stop.stop_requested()) return false;
    Json obj = event.object;
    std::string rv = ResourceVersionOf(obj);
    if (event.type == WatchEvent::Type::kBookmark) {
      std::lock_guard lock(mu);
      if (!rv.empty()) resource_version = rv;
      return true;
    }
    Prepare(obj);
    std::string key = ObjectKey(obj);
    Json old_obj;
    {
      std::lock_guard lock(mu);
      auto it = cache.find(key);
      if (it != cache.end()) old_obj = it->second;
      if (event.type == WatchEvent::Type::kDeleted) cache.erase(key);
      else cache[key] = obj;
      if (!rv.empty()) resource_version = rv;
    }
    std::lock_guard dispatch(dispatch_mu);
    if (event.type == WatchEvent::Type::kDeleted) Dispatch("delete", handlers.on_delete, obj);
    else if (old_obj.is_null()) Dispatch("add", handlers.on_add, obj);
    else Dispatch("update", handlers.on_update, old_obj, obj);
    return true;
  }

  void Run(std::stop_token stop) {
    bool need_list = true;
    auto backoff = options.min_backoff;
    while (!stop.stop_requested()) {
      if (need_list) {
        Status listed = Relist(stop);
        if (!listed.ok()) {
          log::Warn("kube informer: list failed", {{"resource", ref.resource}, {"error", listed.error().message}});
          if (!Sleep(stop, backoff)) return;
          backoff = std::min(backoff * 2, options.max_backoff);
          continue;
        }
        need_list = false;
      }
      WatchOptions watch_options;
      watch_options.label_selector = options.label_selector;
      watch_options.field_selector = options.field_selector;
      watch_options.allow_bookmarks = true;
      watch_options.timeout_seconds = options.watch_timeout_seconds;
      {
        std::lock_guard lock(mu);
        watch_options.resource_version = resource_version;
      }
      int events = 0;
      Status watched = client.Watch(ref, options.ns, watch_options, [&](const WatchEvent& e) {
        ++events;
        return Apply(e, stop);
      }, stop);
      if (stop.stop_requested()) return;
      if (watched.ok()) {
        backoff = options.min_backoff;
        continue;  // the server ended the stream at its timeout: resume from the last RV
      }
      if (IsGone(watched.error())) {
        log::Info("kube informer: resourceVersion expired, re-listing", {{"resource", ref.resource}});
        need_list = true;
        continue;
      }
      if (events > 0) backoff = options.min_backoff;
      log::Warn("kube informer: watch failed, reconnecting",
                {{"resource", ref.resource}, {"error", watched.error().message},
                 {"backoff_ms", std::to_string(backoff.count())}});
      if (!Sleep(stop, backoff)) return;
      backoff = std::min(backoff * 2, options.max_backoff);
    }
  }

  void Resync(std::stop_token stop) {
    while (Sleep(stop, options.resync)) {
      std::vector<Json> objects;
      {
        std::lock_guard lock(mu);
        if (!synced) continue;
        for (const auto& [key, obj] : cache) objects.push_back(obj);
      }
      std::lock_guard dispatch(dispatch_mu);
      for (const auto& obj : objects) {
        if (stop.stop_requested()) return;
        Dispatch("update", handlers.on_update, obj, obj);
      }
    }
  }
};

Informer::Informer(Client& client, ResourceRef ref, InformerOptions options)
    : impl_(std::make_unique<Impl>(client, std::move(ref), std::move(options))) {}

Informer::~Informer() { Stop(); }

void Informer::SetHandlers(InformerHandlers handlers) { impl_->handlers = std::move(handlers); }

void Informer::Start() {
  if (impl_->started) return;
  impl_->started = true;
  impl_->thread = std::jthread([this](std::stop_token stop) { impl_->Run(stop); });
  if (impl_->options.resync.count() > 0)
    impl_->resync_thread = std::jthread([this](std::stop_token stop) { impl_->Resync(stop); });
}

void Informer::Stop() {
  for (auto* t : {&impl_->thread, &impl_->resync_thread}) {
    if (t->joinable()) {
      t->request_stop();
      t->join();
    }
  }
}

bool Informer::HasSynced() const {
  std::lock_guard lock(impl_->mu);
  return impl_->synced;
}

bool Informer::WaitForSync(std::chrono::milliseconds timeout) const {
  std::unique_lock lock(impl_->mu);
  return impl_->synced_cv.wait_for(lock, timeout, [&] { return impl_->synced; });
}

std::optional<Json> Informer::Get(const std::string& ns, const std::string& name) const {
  return GetByKey(ObjectKey(impl_->ref.namespaced ? ns : "", name));
}

std::optional<Json> Informer::GetByKey(const std::string& key) const {
  std::lock_guard lock(impl_->mu);
  auto it = impl_->cache.find(key);
  if (it == impl_->cache.end()) return std::nullopt;
  return it->second;
}

std::vector<Json> Informer::List() const {
  std::lock_guard lock(impl_->mu);
  std::vector<Json> out;
  out.reserve(impl_->cache.size());
  for (const auto& [key, obj] : impl_->cache) out.push_back(obj);
  return out;
}

std::vector<std::string> Informer::Keys() const {
  std::lock_guard lock(impl_->mu);
  std::vector<std::string> out;
  for (const auto& [key, obj] : impl_->cache) out.push_back(key);
  return out;
}

std::string Informer::LastResourceVersion() const {
  std::lock_guard lock(impl_->mu);
  return impl_->resource_version;
}

int Informer::ListCount() const {
  std::lock_guard lock(impl_->mu);
  return impl_->list_count;
}

}  // namespace archway::kube
