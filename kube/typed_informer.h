// An informer (kube/informer.h) whose cache holds a value of the caller's type per object
// instead of its JSON: each object is decoded as it arrives (each list page before the next
// is asked for, each watch event) and the JSON is dropped.
//
//   TypedInformer<PodRecord> pods(client, resources::kPods, {},
//                                 {.decode = DecodePod, .resource_version = [](const PodRecord& p) {...}});
//   pods.SetHandlers({.on_add = ..., .on_update = ..., .on_delete = ...});
//   pods.Start();
//   pods.Read("ns/name", [](const PodRecord& p) { ... });
//
// List, watch, resume, re-list on 410, resync and handlers behave as Informer's (which is a
// TypedInformer<Json>). The cache's entries, and whatever a value allocates through the
// memory resource decode is given (std::pmr members), live in a pool of the cache's own:
// allocated from the general heap between the freed pages of the JSON they were decoded
// from, 10,000 small records pinned a page each (bench/exec-watcher-rss.sh measured +40 MiB
// for 10,000 pods of ~300 bytes each); from the pool they fill its pages.
// Values copied out (Get, List, handler arguments) allocate their std::pmr members from the
// default resource: they do not depend on the cache.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory_resource>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "base/log.h"
#include "kube/client.h"
#include "kube/errors.h"
#include "kube/informer.h"
#include "kube/object.h"

namespace archway::kube {

template <typename T>
struct InformerCodec {
  // What to keep of `object` (apiVersion/kind filled in, InformerOptions::transform applied);
  // it may move from it. `memory` is the cache's pool: give std::pmr members this resource
  // so that they live there. Must not throw (an object it throws on is logged and skipped).
  std::function<T(Json&& object, std::pmr::memory_resource* memory)> decode;
  // The value's metadata.resourceVersion: how a re-list tells changed objects from unchanged ones.
  std::function<std::string(const T& value)> resource_version;
};

template <typename T>
struct TypedInformerHandlers {
  std::function<void(const T& value)> on_add{};
  std::function<void(const T& old_value, const T& new_value)> on_update{};
  std::function<void(const T& last_known)> on_delete{};
};

template <typename T>
class TypedInformer {
 public:
  TypedInformer(Client& client, ResourceRef ref, InformerOptions options, InformerCodec<T> codec)
      : client_(client), ref_(std::move(ref)), options_(std::move(options)), codec_(std::move(codec)) {}
  ~TypedInformer() { Stop(); }
  TypedInformer(const TypedInformer&) = delete;
  TypedInformer& operator=(const TypedInformer&) = delete;

  // Set before Start().
  void SetHandlers(TypedInformerHandlers<T> handlers) { handlers_ = std::move(handlers); }

  // Starts the background thread. Call once.
  void Start() {
    if (started_) return;
    started_ = true;
    thread_ = std::jthread([this](std::stop_token stop) { Run(stop); });
    if (options_.resync.count() > 0) resync_thread_ = std::jthread([this](std::stop_token stop) { Resync(stop); });
  }
  // Ends the watch and joins the threads; safe to call twice. Handlers are not called after.
  void Stop() {
    for (auto* t : {&thread_, &resync_thread_}) {
      if (t->joinable()) {
        t->request_stop();
        t->join();
      }
    }
  }

  // True once the first full list has been delivered to the cache and the handlers.
  bool HasSynced() const {
    std::lock_guard lock(mu_);
    return synced_;
  }
  bool WaitForSync(std::chrono::milliseconds timeout) const {
    std::unique_lock lock(mu_);
    return synced_cv_.wait_for(lock, timeout, [&] { return synced_; });
  }

  // The key of an object is kube::ObjectKey's ("ns/name", or "name" for cluster-scoped ones).
  std::optional<T> GetByKey(const std::string& key) const {
    return Read(key, [](const T& value) { return T(value); });
  }
  // fn(the cached value) under the cache's lock, without copying it; nullopt when absent.
  template <typename Fn>
  auto Read(const std::string& key, Fn&& fn) const -> std::optional<decltype(fn(std::declval<const T&>()))> {
    std::lock_guard lock(mu_);
    auto it = cache_.find(std::string_view(key));
    if (it == cache_.end()) return std::nullopt;
    return fn(it->second);
  }
  std::vector<T> List() const {
    std::lock_guard lock(mu_);
    std::vector<T> out;
    out.reserve(cache_.size());
    for (const auto& [key, value] : cache_) out.push_back(value);
    return out;
  }
  std::vector<std::string> Keys() const {
    std::lock_guard lock(mu_);
    std::vector<std::string> out;
    out.reserve(cache_.size());
    for (const auto& [key, value] : cache_) out.emplace_back(key);
    return out;
  }
  size_t Size() const {
    std::lock_guard lock(mu_);
    return cache_.size();
  }

  // The resourceVersion the cache reflects (last list or event/bookmark).
  std::string LastResourceVersion() const {
    std::lock_guard lock(mu_);
    return resource_version_;
  }
  // How many times the informer listed (1 after the initial sync; more after 410s).
  int ListCount() const {
    std::lock_guard lock(mu_);
    return list_count_;
  }

 private:
  // The pool the cache allocates from, behind a lock: entries are made and dropped on the
  // informer's thread, but a value's last copy may be dropped on any.
  class LockedPool : public std::pmr::memory_resource {
   private:
    void* do_allocate(size_t bytes, size_t alignment) override {
      std::lock_guard lock(mu_);
      return pool_.allocate(bytes, alignment);
    }
    void do_deallocate(void* p, size_t bytes, size_t alignment) override {
      std::lock_guard lock(mu_);
      pool_.deallocate(p, bytes, alignment);
    }
    bool do_is_equal(const std::pmr::memory_resource& other) const noexcept override { return this == &other; }
    std::mutex mu_;
    // Chunks of at most 256 blocks: grown by doubling without a bound, the last chunk of
    // each block size left up to half the pool unused (+2.9 MiB for 10,000 Pods).
    std::pmr::unsynchronized_pool_resource pool_{std::pmr::pool_options{.max_blocks_per_chunk = 256}};
  };
  using Cache = std::pmr::map<std::pmr::string, T, std::less<>>;

  // Calls a handler (if set). A handler that throws (a library's exception on an object
  // of an unexpected shape) must not end the watch: the cache is already updated.
  template <typename Handler, typename... Values>
  void Dispatch(const char* what, const Handler& handler, const Values&... values) {
    if (!handler) return;
    try {
      handler(values...);
    } catch (const std::exception& e) {
      log::Error("kube informer: handler threw", {{"resource", ref_.resource}, {"event", what}, {"error", e.what()}});
    } catch (...) {
      log::Error("kube informer: handler threw", {{"resource", ref_.resource}, {"event", what}, {"error", "unknown"}});
    }
  }

  // Fills in TypeMeta (items of built-in lists and watch events carry none), applies the
  // transform (one that throws leaves `object` whole) and decodes it.
  std::optional<T> Prepare(Json& object) {
    if (!object.contains("apiVersion")) object["apiVersion"] = ref_.ApiVersion();
    if (!object.contains("kind")) object["kind"] = ref_.kind;
    if (options_.transform) {
      try {
        object = options_.transform(object);
      } catch (const std::exception& e) {
        log::Error("kube informer: transform threw; caching the object whole",
                   {{"resource", ref_.resource}, {"object", ObjectKey(object)}, {"error", e.what()}});
      } catch (...) {
        log::Error("kube informer: transform threw; caching the object whole",
                   {{"resource", ref_.resource}, {"object", ObjectKey(object)}, {"error", "unknown"}});
      }
    }
    const std::string key = ObjectKey(object);
    try {
      return codec_.decode(std::move(object), &pool_);
    } catch (const std::exception& e) {
      log::Error("kube informer: decode threw; object skipped",
                 {{"resource", ref_.resource}, {"object", key}, {"error", e.what()}});
    } catch (...) {
      log::Error("kube informer: decode threw; object skipped",
                 {{"resource", ref_.resource}, {"object", key}, {"error", "unknown"}});
    }
    return std::nullopt;
  }

  // Sleeps up to `d`; false when stop was requested.
  bool Sleep(std::stop_token stop, std::chrono::milliseconds d) {
    std::unique_lock lock(sleep_mu_);
    return !sleep_cv_.wait_for(lock, stop, d, [] { return false; }) && !stop.stop_requested();
  }

  // Lists everything and reconciles the cache with it, emitting the differences.
  Status Relist(std::stop_token stop) {
    ListOptions list_options;
    list_options.label_selector = options_.label_selector;
    list_options.field_selector = options_.field_selector;
    list_options.limit = options_.page_size;
    // Each item is decoded as its page arrives and its JSON dropped, so a list of whole
    // objects is never held at once.
    Cache fresh(&pool_);
    auto listed = ListAll(client_, ref_, options_.ns, list_options, [&](Json& item) {
      if (!item.is_object()) return;  // nothing a handler could read
      std::string key = ObjectKey(item);
      if (auto value = Prepare(item)) fresh.insert_or_assign(std::pmr::string(key, &pool_), std::move(*value));
      item = nullptr;
    });
    if (!listed.ok()) return listed.error();
    std::vector<std::pair<std::optional<T>, T>> updates;  // (old, new); no old = add
    std::vector<T> deletes;
    {
      std::lock_guard lock(mu_);
      for (const auto& [key, value] : fresh) {
        auto it = cache_.find(std::string_view(key));
        if (it == cache_.end()) updates.emplace_back(std::nullopt, value);
        else if (codec_.resource_version(it->second) != codec_.resource_version(value))
          updates.emplace_back(it->second, value);
      }
      for (const auto& [key, value] : cache_)
        if (!fresh.count(key)) deletes.push_back(value);
      cache_ = std::move(fresh);
      resource_version_ = listed->resource_version;
      ++list_count_;
    }
    std::lock_guard dispatch(dispatch_mu_);
    for (const auto& [old_value, new_value] : updates) {
      if (stop.stop_requested()) return Status::Ok();
      if (!old_value) Dispatch("add", handlers_.on_add, new_value);
      else Dispatch("update", handlers_.on_update, *old_value, new_value);
    }
    for (const auto& value : deletes) {
      if (stop.stop_requested()) return Status::Ok();
      Dispatch("delete", handlers_.on_delete, value);
    }
    {
      std::lock_guard lock(mu_);
      synced_ = true;
    }
    synced_cv_.notify_all();
    return Status::Ok();
  }

  bool Apply(const WatchEvent& event, std::stop_token stop) {
    if (stop.stop_requested()) return false;
    Json obj = event.object;
    const std::string rv = StringAt(obj, {"metadata", "resourceVersion"}).value_or("");
    if (event.type == WatchEvent::Type::kBookmark) {
      std::lock_guard lock(mu_);
      if (!rv.empty()) resource_version_ = rv;
      return true;
    }
    const std::string key = ObjectKey(obj);
    std::optional<T> value = Prepare(obj);
    std::optional<T> old_value;
    {
      std::lock_guard lock(mu_);
      auto it = cache_.find(std::string_view(key));
      if (it != cache_.end()) {
        old_value = it->second;
        if (event.type == WatchEvent::Type::kDeleted || !value) cache_.erase(it);
      }
      if (event.type != WatchEvent::Type::kDeleted && value) {
        // Moved in (its pmr members stay in the pool); the handlers get a copy.
        auto kept = cache_.insert_or_assign(std::pmr::string(key, &pool_), std::move(*value)).first;
        value = kept->second;
      }
      if (!rv.empty()) resource_version_ = rv;
    }
    std::lock_guard dispatch(dispatch_mu_);
    if (event.type == WatchEvent::Type::kDeleted) {
      if (value) Dispatch("delete", handlers_.on_delete, *value);
      else if (old_value) Dispatch("delete", handlers_.on_delete, *old_value);
    } else if (!value) {
      if (old_value) Dispatch("delete", handlers_.on_delete, *old_value);  // no longer decodable: gone from the cache
    } else if (!old_value) {
      Dispatch("add", handlers_.on_add, *value);
    } else {
      Dispatch("update", handlers_.on_update, *old_value, *value);
    }
    return true;
  }

  void Run(std::stop_token stop) {
    bool need_list = true;
    auto backoff = options_.min_backoff;
    while (!stop.stop_requested()) {
      if (need_list) {
        Status listed = Relist(stop);
        if (!listed.ok()) {
          log::Warn("kube informer: list failed", {{"resource", ref_.resource}, {"error", listed.error().message}});
          if (!Sleep(stop, backoff)) return;
          backoff = std::min(backoff * 2, options_.max_backoff);
          continue;
        }
        need_list = false;
      }
      WatchOptions watch_options;
      watch_options.label_selector = options_.label_selector;
      watch_options.field_selector = options_.field_selector;
      watch_options.allow_bookmarks = true;
      watch_options.timeout_seconds = options_.watch_timeout_seconds;
      {
        std::lock_guard lock(mu_);
        watch_options.resource_version = resource_version_;
      }
      int events = 0;
      Status watched = client_.Watch(ref_, options_.ns, watch_options, [&](const WatchEvent& e) {
        ++events;
        return Apply(e, stop);
      }, stop);
      if (stop.stop_requested()) return;
      if (watched.ok()) {
        backoff = options_.min_backoff;
        continue;  // the server ended the stream at its timeout: resume from the last RV
      }
      if (IsGone(watched.error())) {
        log::Info("kube informer: resourceVersion expired, re-listing", {{"resource", ref_.resource}});
        need_list = true;
        continue;
      }
      if (events > 0) backoff = options_.min_backoff;
      log::Warn("kube informer: watch failed, reconnecting",
                {{"resource", ref_.resource}, {"error", watched.error().message},
                 {"backoff_ms", std::to_string(backoff.count())}});
      if (!Sleep(stop, backoff)) return;
      backoff = std::min(backoff * 2, options_.max_backoff);
    }
  }

  void Resync(std::stop_token stop) {
    while (Sleep(stop, options_.resync)) {
      std::vector<T> values;
      {
        std::lock_guard lock(mu_);
        if (!synced_) continue;
        for (const auto& [key, value] : cache_) values.push_back(value);
      }
      std::lock_guard dispatch(dispatch_mu_);
      for (const auto& value : values) {
        if (stop.stop_requested()) return;
        Dispatch("update", handlers_.on_update, value, value);
      }
    }
  }

  Client& client_;
  const ResourceRef ref_;
  const InformerOptions options_;
  const InformerCodec<T> codec_;
  TypedInformerHandlers<T> handlers_;

  LockedPool pool_;       // declared before the cache it holds
  mutable std::mutex mu_;  // guards the cache and the fields below
  mutable std::condition_variable synced_cv_;
  Cache cache_{&pool_};
  std::string resource_version_;
  bool synced_ = false;
  int list_count_ = 0;

  std::mutex dispatch_mu_;  // handlers run one at a time (watch thread and resync thread)
  std::mutex sleep_mu_;
  std::condition_variable_any sleep_cv_;
  bool started_ = false;
  std::jthread thread_;         // last: joined (by Stop) before the members it reads go
  std::jthread resync_thread_;
};

}  // namespace archway::kube
