#pragma once
// Umbrella header of the ARI protocol layer (see /work/issues/api-ari.md). No nlohmann, no I/O.
#include "generated/ari/events.hpp"
#include "generated/ari/models.hpp"
#include "generated/ari/operations.hpp"
#include "protocols/ari/errors.hpp"
#include "protocols/ari/json.hpp"
#include "protocols/ari/rest.hpp"
