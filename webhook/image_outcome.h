// What the decision knows about one image (decision.h ImageOutcome), made from what the
// resolver answered. The webhook's admitter and `archway check` both use these, so an
// image means the same to both: its runnable (os, arch) pairs with variants folded, a
// data-only artifact fitting every platform, and an image that declares no runnable
// platform counted as not inspected.
#pragma once

#include <string>

#include "base/result.h"
#include "registry/reference.h"
#include "registry/resolver.h"
#include "webhook/decision.h"

namespace archway::webhook {

// kResolved with the image's (os, arch) pairs; kFailed when it declares none it can run.
ImageOutcome ResolvedOutcome(const std::string& image, const registry::ImagePlatforms& platforms);

// kFailed with `error`.
ImageOutcome FailedOutcome(const std::string& image, std::string error);

// kFailed with the resolver's error, without its own "<reference>: " prefix (Decide()
// names the image).
ImageOutcome FailedOutcome(const std::string& image, const registry::Reference& ref, const Error& error);

}  // namespace archway::webhook
