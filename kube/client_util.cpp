#include "kube/client.h"

#include "kube/object.h"

namespace archway::kube {

const char* WatchEventTypeName(WatchEvent::Type type) {
  switch (type) {
    case WatchEvent::Type::kAdded: return "ADDED";
    case WatchEvent::Type::kModified: return "MODIFIED";
    case WatchEvent::Type::kDeleted: return "DELETED";
    case WatchEvent::Type::kBookmark: return "BOOKMARK";
  }
  return "?";
}

Result<ListResult> ListAll(Client& client, const ResourceRef& ref, const std::string& ns, ListOptions options,
                           const std::function<void(Json& item)>& each_item) {
  bool restarted = false;
  ListResult all;
  options.continue_token.clear();
  for (;;) {
    auto page = client.List(ref, ns, options);
    if (!page.ok()) {
      // The continue token outlived the server's history: start over once, consistently.
      if (IsGone(page.error()) && !options.continue_token.empty() && !restarted) {
        restarted = true;
        all = ListResult();
        options.continue_token.clear();
        continue;
      }
      return page.error();
    }
    // The first page's RV is the snapshot every later page belongs to.
    if (options.continue_token.empty()) all.resource_version = page->resource_version;
    for (auto& item : page->items) {
      if (each_item) each_item(item);
      all.items.push_back(std::move(item));
    }
    if (page->continue_token.empty()) break;
    options.continue_token = page->continue_token;
  }
  return all;
}

Status RetryOnConflict(const std::function<Status()>& fn, int attempts) {
  Status last;
  for (int i = 0; i < attempts; ++i) {
    last = fn();
    if (last.ok() || !IsConflict(last.error())) return last;
  }
  return last;
}

std::string ObjectKey(const std::string& ns, const std::string& name) {
  return ns.empty() ? name : ns + "/" + name;
}

std::string ObjectKey(const Json& object) { return ObjectKey(NamespaceOf(object), NameOf(object)); }

std::pair<std::string, std::string> SplitObjectKey(const std::string& key) {
  auto slash = key.find('/');
  if (slash == std::string::npos) return {"", key};
  return {key.substr(0, slash), key.substr(slash + 1)};
}

}  // namespace archway::kube
