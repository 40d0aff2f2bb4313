// An image's look-up as the decision sees it (decision.h ImageOutcome), from what the
// resolver answered: shared by admission (admitter.h) and the gate controller
// (gate_controller.h), so both read the registries' answers the same way.
#pragma once

#include <string>

#include "base/result.h"
#include "registry/reference.h"
#include "registry/resolver.h"
#include "webhook/decision.h"

namespace archway::webhook {

// kFailed with `error` (not transient).
ImageOutcome FailedOutcome(const std::string& image, std::string error);

// kFailed with the resolver's error, without its own "<reference>: " prefix (Decide()
// names the image); transient per gates.h IsTransient.
ImageOutcome FailedOutcome(const std::string& image, const registry::Reference& ref, const Error& error);

// The scheduling view of an image's platforms: (os, arch) pairs, variants folded; kFailed
// when it declares none that can run (and is not data-only).
ImageOutcome ResolvedOutcome(const std::string& image, const registry::ImagePlatforms& platforms);

}  // namespace archway::webhook
