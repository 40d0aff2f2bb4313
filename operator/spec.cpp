#include "operator/spec.h"

#include <regex>
#include <set>

#include "kube/object.h"

namespace archway::op {
namespace {

Error Invalid(const std::string& field, const std::string& message) {
  return Error(ErrorCode::kInvalidArgument, field + ": " + message);
}

// Reads an optional string field; a present non-string is an error.
Result<std::string> OptionalString(const Json& obj, const char* key, const std::string& field,
                                   std::string fallback = "") {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return fallback;
  if (!it->is_string()) return Invalid(field + "." + key, "must be a string");
  return it->get<std::string>();
}

Result<std::map<std::string, std::string>> StringMap(const Json& obj, const char* key, const std::string& field) {
  std::map<std::string, std::string> out;
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return out;
  if (!it->is_object()) return Invalid(field + "." + key, "must be an object of strings");
  for (const auto& [k, v] : it->items()) {
    if (!v.is_string()) return Invalid(field + "." + key + "." + k, "must be a string");
    out[k] = v.get<std::string>();
  }
  return out;
}

// Each one costs a registry HEAD per reconcile that checks the bases; also the CRD's maxItems.
constexpr size_t kMaxBaseImages = 16;

// spec.build.git: {url (required), revision}.
Status ParseGitSource(const Json& build, const std::string& f, BuildSpec& b) {
  auto git = build.find("git");
  if (git == build.end() || !git->is_object()) return Invalid(f + ".git", "required: {url, revision}");
  auto url = OptionalString(*git, "url", f + ".git");
  if (!url.ok()) return url.error();
  if (url->empty()) return Invalid(f + ".git.url", "required");
  b.git_url = *url;
  auto rev = OptionalString(*git, "revision", f + ".git");
  if (!rev.ok()) return rev.error();
  b.git_revision = *rev;
  return Status::Ok();
}

// spec.build.platformOverrides: per listed platform its own dockerfile, buildArgs, strategy,
// builderImage.
Status ParsePlatformOverrides(const Json& build, const std::string& f, const std::vector<registry::Platform>& platforms, BuildSpec& b) {
  auto overrides = build.find("platformOverrides");
  if (overrides != build.end() && !overrides->is_null()) {
    if (!overrides->is_object()) return Invalid(f + ".platformOverrides", "must be an object keyed by platform");
    for (const auto& [key, value] : overrides->items()) {
      std::string field = f + ".platformOverrides[" + key + "]";
      auto p = registry::ParsePlatform(key);
      if (!p.ok()) return Invalid(field, p.error().message);
      bool listed = false;
      for (const auto& q : platforms) listed = listed || q == *p;
      if (!listed) return Invalid(field, "platform " + p->String() + " is not in spec.platforms");
      if (!value.is_object()) return Invalid(field, "must be an object {dockerfile, buildArgs}");
      PlatformOverride o;
      auto odf = OptionalString(value, "dockerfile", field);
      if (!odf.ok()) return odf.error();
      o.dockerfile = *odf;
      auto oargs = StringMap(value, "buildArgs", field);
      if (!oargs.ok()) return oargs.error();
      o.build_args = *oargs;
      auto ostrategy = OptionalString(value, "strategy", field);
      if (!ostrategy.ok()) return ostrategy.error();
      if (!ostrategy->empty() && *ostrategy != "buildah" && *ostrategy != "buildkit")
        return Invalid(field + ".strategy",
                       "Unsupported value \"" + *ostrategy + "\": supported values: \"buildah\", \"buildkit\"");
      o.strategy = *ostrategy;
      auto oimage = OptionalString(value, "builderImage", field);
      if (!oimage.ok()) return oimage.error();
      o.builder_image = *oimage;
      b.platform_overrides[p->String()] = o;
    }
  }
  return Status::Ok();
}

// spec.build.baseImages (tags, unique, at most kMaxBaseImages), followBaseImages (not with
// baseImages) and rebuildPolicy.
Status ParseBaseImages(const Json& build, const std::string& f, BuildSpec& b) {
  auto bases = build.find("baseImages");
  if (bases != build.end() && !bases->is_null()) {
    const std::string field = f + ".baseImages";
    if (!bases->is_array()) return Invalid(field, "must be a list of image references");
    if (bases->size() > kMaxBaseImages)
      return Invalid(field, "lists more than " + std::to_string(kMaxBaseImages) + " images");
    for (size_t i = 0; i < bases->size(); ++i) {
      const std::string item = field + "[" + std::to_string(i) + "]";
      const Json& entry = (*bases)[i];
      if (!entry.is_string() || entry.get<std::string>().empty()) return Invalid(item, "must be an image reference");
      auto ref = registry::ParseReference(entry.get<std::string>());
      if (!ref.ok()) return Invalid(item, ref.error().message);
      if (ref->HasDigest())
        return Invalid(item, "is pinned by digest, which never changes: name the base by tag to follow it");
      SourceImage image{entry.get<std::string>(), std::move(ref).value()};
      for (const auto& earlier : b.base_images)
        if (earlier.ref.String() == image.ref.String()) return Invalid(item, "duplicate base image " + image.text);
      b.base_images.push_back(std::move(image));
    }
  }
  auto follow = build.find("followBaseImages");
  if (follow != build.end() && !follow->is_null()) {
    if (!follow->is_boolean()) return Invalid(f + ".followBaseImages", "must be true or false");
    b.follow_base_images = follow->get<bool>();
  }
  if (b.follow_base_images && !b.base_images.empty())
    return Invalid(f + ".followBaseImages",
                   "set spec.build.baseImages or spec.build.followBaseImages: true, not both (listed bases are "
                   "followed as listed, the builder Jobs' reports would be ignored)");
  auto policy = OptionalString(build, "rebuildPolicy", f, "OnBaseChange");
  if (!policy.ok()) return policy.error();
  if (*policy != "OnBaseChange" && *policy != "Never")
    return Invalid(f + ".rebuildPolicy",
                   "Unsupported value \"" + *policy + "\": supported values: \"OnBaseChange\", \"Never\"");
  b.rebuild_on_base_change = *policy == "OnBaseChange";
  return Status::Ok();
}

Result<BuildSpec> ParseBuild(const Json& build, const std::vector<registry::Platform>& platforms) {
  const std::string f = "spec.build";
  if (!build.is_object()) return Invalid(f, "must be an object");
  BuildSpec b;
  if (Status s = ParseGitSource(build, f, b); !s.ok()) return s.error();

  auto ctx = OptionalString(build, "contextDir", f, ".");
  if (!ctx.ok()) return ctx.error();
  b.context_dir = ctx->empty() ? "." : *ctx;
  if (b.context_dir.front() == '/' || b.context_dir.find("..") != std::string::npos)
    return Invalid(f + ".contextDir", "must be a relative path inside the repository, without \"..\"");
  auto df = OptionalString(build, "dockerfile", f, "Dockerfile");
  if (!df.ok()) return df.error();
  b.dockerfile = df->empty() ? "Dockerfile" : *df;
  auto args = StringMap(build, "buildArgs", f);
  if (!args.ok()) return args.error();
  b.build_args = *args;

  if (Status s = ParsePlatformOverrides(build, f, platforms, b); !s.ok()) return s.error();

  auto strategy = OptionalString(build, "strategy", f, "buildah");
  if (!strategy.ok()) return strategy.error();
  if (*strategy != "buildah" && *strategy != "buildkit")
    return Invalid(f + ".strategy", "Unsupported value \"" + *strategy + "\": supported values: \"buildah\", \"buildkit\"");
  b.strategy = *strategy;
  auto image = OptionalString(build, "builderImage", f);
  if (!image.ok()) return image.error();
  b.builder_image = *image;
  auto selector = StringMap(build, "nodeSelector", f);
  if (!selector.ok()) return selector.error();
  b.node_selector = *selector;
  auto emulation = OptionalString(build, "emulation", f, "Never");
  if (!emulation.ok()) return emulation.error();
  if (*emulation != "Never" && *emulation != "Allow")
    return Invalid(f + ".emulation", "Unsupported value \"" + *emulation + "\": supported values: \"Never\", \"Allow\"");
  b.allow_emulation = *emulation == "Allow";
  auto sa = OptionalString(build, "serviceAccountName", f);
  if (!sa.ok()) return sa.error();
  b.service_account = *sa;
  if (Status s = ParseBaseImages(build, f, b); !s.ok()) return s.error();
  auto resources = build.find("resources");
  if (resources != build.end() && !resources->is_null()) {
    if (!resources->is_object()) return Invalid(f + ".resources", "must be an object {requests, limits}");
    b.resources = *resources;
  }
  for (const auto& p : platforms) {
    if (p.os != "linux")
      return Invalid("spec.platforms", "build mode builds Linux platforms only (" + p.String() +
                                           "); add Windows images through spec.sources");
  }
  return b;
}

}  // namespace

const std::string& BuildSpec::StrategyFor(const registry::Platform& platform) const {
  auto it = platform_overrides.find(platform.String());
  return it != platform_overrides.end() && !it->second.strategy.empty() ? it->second.strategy : strategy;
}

std::string PlatformSlug(const registry::Platform& platform) {
  std::string s = platform.os + "-" + platform.architecture;
  if (!platform.variant.empty()) s += "-" + platform.variant;
  return s;
}

constexpr size_t kMaxPlatformLength = 40;

Result<MultiArchImageSpec> ParseSpec(const Json& spec) {
  if (!spec.is_object()) return Invalid("spec", "required");
  MultiArchImageSpec out;
  auto image = spec.find("image");
  if (image == spec.end() || !image->is_string() || image->get<std::string>().empty())
    return Invalid("spec.image", "required: the reference to publish the list to, e.g. registry.lan/web:1.4");
  out.image_text = image->get<std::string>();
  auto ref = registry::ParseReference(out.image_text);
  if (!ref.ok()) return Invalid("spec.image", ref.error().message);
  if (ref->HasDigest()) return Invalid("spec.image", "must be a tag, not a digest: a list is published at a tag");
  out.image = *ref;

  auto platforms = spec.find("platforms");
  if (platforms == spec.end() || !platforms->is_array() || platforms->empty())
    return Invalid("spec.platforms", "required: at least one os/arch[/variant]");
  std::set<registry::Platform> seen;
  for (size_t i = 0; i < platforms->size(); ++i) {
    std::string field = "spec.platforms[" + std::to_string(i) + "]";
    const Json& p = (*platforms)[i];
    if (!p.is_string()) return Invalid(field, "must be a string os/arch[/variant]");
    // Also the CRD's maxLength: Job names (63 characters) and child tags are derived from it.
    if (p.get<std::string>().size() > kMaxPlatformLength) {
      return Invalid(field, "is longer than " + std::to_string(kMaxPlatformLength) + " characters");
    }
    // The CRD's pattern, checked here too for objects that did not pass the API's schema.
    static const std::regex kPattern("^[a-z0-9]+/[a-z0-9]+(/v[0-9]+)?$");
    if (!std::regex_match(p.get<std::string>(), kPattern))
      return Invalid(field, "\"" + p.get<std::string>() + "\" should be os/arch[/variant], e.g. linux/arm/v7");
    auto parsed = registry::ParsePlatform(p.get<std::string>());
    if (!parsed.ok()) return Invalid(field, parsed.error().message);
    if (!seen.insert(*parsed).second) return Invalid(field, "duplicate platform " + parsed->String());
    out.platforms.push_back(*parsed);
  }

  auto format = OptionalString(spec, "format", "spec", "oci");
  if (!format.ok()) return format.error();
  if (*format != "oci" && *format != "docker")
    return Invalid("spec.format", "Unsupported value \"" + *format + "\": supported values: \"oci\", \"docker\"");
  out.docker_format = *format == "docker";

  auto secret = spec.find("pushSecretRef");
  if (secret != spec.end() && !secret->is_null()) {
    if (!secret->is_object()) return Invalid("spec.pushSecretRef", "must be {name: <secret>}");
    auto name = OptionalString(*secret, "name", "spec.pushSecretRef");
    if (!name.ok()) return name.error();
    if (name->empty()) return Invalid("spec.pushSecretRef.name", "required");
    out.push_secret = *name;
  }

  bool has_sources = spec.contains("sources") && !spec["sources"].is_null();
  bool has_build = spec.contains("build") && !spec["build"].is_null();
  if (has_sources == has_build) return Invalid("spec", "exactly one of spec.sources or spec.build must be set");
  if (has_sources) {
    const Json& sources = spec["sources"];
    if (!sources.is_array() || sources.empty()) return Invalid("spec.sources", "must list at least one {image}");
    for (size_t i = 0; i < sources.size(); ++i) {
      std::string field = "spec.sources[" + std::to_string(i) + "].image";
      const Json& s = sources[i];
      if (!s.is_object() || !s.contains("image") || !s["image"].is_string())
        return Invalid(field, "required");
      auto r = registry::ParseReference(s["image"].get<std::string>());
      if (!r.ok()) return Invalid(field, r.error().message);
      out.sources.push_back(SourceImage{s["image"].get<std::string>(), std::move(r).value()});
    }
  } else {
    auto build = ParseBuild(spec["build"], out.platforms);
    if (!build.ok()) return build.error();
    out.build = std::move(build).value();
  }
  return out;
}

Result<MultiArchImage> ParseMultiArchImage(const Json& object) {
  if (!object.is_object() || !object.contains("metadata") || !object["metadata"].is_object())
    return Error(ErrorCode::kInvalidArgument, "MultiArchImage: metadata missing");
  const Json& md = object["metadata"];
  MultiArchImage mai;
  for (auto [key, out] : {std::pair{"namespace", &mai.ns}, std::pair{"name", &mai.name}, std::pair{"uid", &mai.uid}}) {
    auto value = OptionalString(md, key, "MultiArchImage: metadata");
    if (!value.ok()) return value.error();
    *out = std::move(*value);
  }
  mai.generation = kube::GenerationOf(object);
  if (mai.name.empty()) return Error(ErrorCode::kInvalidArgument, "MultiArchImage: metadata.name missing");
  mai.spec_json = object.contains("spec") ? object["spec"] : Json();
  auto spec = ParseSpec(mai.spec_json);
  if (!spec.ok()) return spec.error();
  mai.spec = std::move(spec).value();
  return mai;
}

}  // namespace archway::op
