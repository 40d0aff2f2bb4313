#include "kube/informer.h"

#include "kube/object.h"
#include "kube/typed_informer.h"

namespace archway::kube {

// The cache keeps each object's JSON (after InformerOptions::transform).
struct Informer::Impl {
  const bool namespaced;
  TypedInformer<Json> typed;

  Impl(Client& client, ResourceRef ref, InformerOptions options)
      : namespaced(ref.namespaced),
        typed(client, std::move(ref), std::move(options),
              {.decode = [](Json&& object, std::pmr::memory_resource*) { return std::move(object); },
               .resource_version =
                   [](const Json& object) { return StringAt(object, {"metadata", "resourceVersion"}).value_or(""); }}) {}
};

Informer::Informer(Client& client, ResourceRef ref, InformerOptions options)
    : impl_(std::make_unique<Impl>(client, std::move(ref), std::move(options))) {}

Informer::~Informer() { Stop(); }

void Informer::SetHandlers(InformerHandlers handlers) {
  impl_->typed.SetHandlers({.on_add = std::move(handlers.on_add),
                            .on_update = std::move(handlers.on_update),
                            .on_delete = std::move(handlers.on_delete)});
}

void Informer::Start() { impl_->typed.Start(); }

void Informer::Stop() { impl_->typed.Stop(); }

bool Informer::HasSynced() const { return impl_->typed.HasSynced(); }

bool Informer::WaitForSync(std::chrono::milliseconds timeout) const { return impl_->typed.WaitForSync(timeout); }

std::optional<Json> Informer::Get(const std::string& ns, const std::string& name) const {
  return GetByKey(ObjectKey(impl_->namespaced ? ns : "", name));
}

std::optional<Json> Informer::GetByKey(const std::string& key) const { return impl_->typed.GetByKey(key); }

std::vector<Json> Informer::List() const { return impl_->typed.List(); }

std::vector<std::string> Informer::Keys() const { return impl_->typed.Keys(); }

std::string Informer::LastResourceVersion() const { return impl_->typed.LastResourceVersion(); }

int Informer::ListCount() const { return impl_->typed.ListCount(); }

}  // namespace archway::kube
