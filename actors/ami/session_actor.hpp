#pragma once
// Typed view of the AMI session actor for actor code that wants compile-time checked
// request/then: `self->request(ami::typed(session), 5s, ami::request{ami::actions::ping()})
// .then([](ami::reply& r) {...})`. Includes caf/typed_actor.hpp (heavier than session.hpp).
#include <caf/actor.hpp>
#include <caf/actor_cast.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "actors/ami/session.hpp"

namespace astra::ami {

// The public protocol of the actor returned by spawn_session() (see session.hpp).
using session_actor = caf::typed_actor<caf::replies_to<request>::with<reply>,
                                       caf::replies_to<status_query>::with<session_status>,
                                       caf::reacts_to<subscribe_request>,
                                       caf::reacts_to<unsubscribe_request>,
                                       caf::reacts_to<stop_request>>;

inline session_actor typed(const caf::actor& session) { return caf::actor_cast<session_actor>(session); }

}  // namespace astra::ami
