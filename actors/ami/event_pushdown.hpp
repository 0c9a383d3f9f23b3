#pragma once
// Event filters pushed to Asterisk (internal to actors/ami). Asterisk writes every event to
// every AMI session; a session whose subscribers want only some events asks for less: an
// `Events:` class mask and include `Filter` rules. These are the pure parts (what the
// subscribers need -> which mask and which Filter actions); session_pushdown.cpp drives them
// on the session actor. Client-side filtering (event_filter::matches) stays authoritative:
// what Asterisk is asked for is only ever a superset of what the subscribers want.
//
// Asterisk's rules (main/manager.c, Asterisk 10 and later): an event reaches a session when
// its class is in the session's mask ((mask & class) == class) and, once the session has
// include filters, at least one of them matches. Filters are only ever added (`Operation:
// Add` is the only operation) and last as long as the session.
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "actors/ami/session.hpp"
#include "protocols/ami/action.hpp"

namespace astra::ami::detail {

struct wanted_name {
  std::string spelling;     // the wire spelling of a documented event, else the subscriber's own
  bool documented = false;  // spelling is certain (structured name() filters compare it exactly)
};

// What the subscribers need from Asterisk.
struct event_demand {
  enum class kind {
    nothing,     // no subscriber wants events (links only, or none): Events: off
    names,       // only the named events
    everything,  // an all/predicate subscriber, or a name no filter can express
  };
  kind what = kind::nothing;
  std::map<std::string, wanted_name> names;  // kind::names: keyed by the lower-case name
};

// The union of the subscribers' filters. A name outside [A-Za-z0-9_-] (or empty) cannot be
// written as a filter: the demand is then everything.
event_demand demand_of(const std::vector<const event_filter*>& filters);

// A configured Events: mask as Asterisk reads it: its true words (on, yes, true, y, t) ->
// "on", its false words (off, no, false, n, f) and "0" -> "off", anything else (a class
// list such as "call,system", or a number) as given.
std::string normalize_mask(std::string_view configured);

// The Events: mask for `d`. nothing -> "off"; everything -> the configured mask; names ->
// the configured mask when it is not "on" (the configuration restricts), else the union of
// the names' documented classes (sorted, comma-separated), or "on" when any name has no
// certain class (protocols/ami/catalog.hpp event_spec::event_class).
std::string mask_for(const event_demand& d, std::string_view configured);

// True when an Asterisk of this version (CoreSettings AsteriskVersion, e.g. "22.11.0-rc1",
// "certified-20.7-cert5") takes structured filters (MatchCriteria: name(...)): 18.26, 20.11,
// 21.6, 22.1 and later. Unparsable versions (GIT-master-...) -> false (the regex filters
// work everywhere).
bool structured_filters_supported(std::string_view asterisk_version);

// The POSIX extended regex Asterisk (regcomp REG_EXTENDED|REG_NOSUB, run on the whole event
// text, which starts with "Event: <name>\r\n") matches for exactly this event name, any
// letter case: ^Event: [Hh][Aa][Nn][Gg][Uu][Pp][[:space:]]. `name` is [A-Za-z0-9_-]+.
std::string legacy_filter_regex(std::string_view name);

// The include filter for one wanted name: `MatchCriteria: name(<wire spelling>)` when
// `structured` and the spelling is documented (Asterisk compares a case-sensitive hash),
// else `Filter: <legacy_filter_regex>`.
action filter_action(const wanted_name& name, bool structured);

// An include filter every event matches (`Filter: ^Event: `): widens a filtered session to
// every event (Asterisk cannot remove a filter).
action match_all_filter_action();

}  // namespace astra::ami::detail
