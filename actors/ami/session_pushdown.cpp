// Event filters pushed to Asterisk, driven on the session actor (see event_pushdown.hpp for
// the pure parts and session.hpp session_config::push_event_filters for the contract).
//
// Per connection: Login carries Events: off unless the subscribers want everything; once it
// is answered, pushdown_after_login() sends, pipelined (Asterisk runs one session's actions
// in order): CoreSettings (once, only when a documented name is to be filtered, to choose
// between name() and regex filters), one include Filter per wanted name, then the Events
// mask. The link is reported up when all of them are answered. Later subscription changes
// run the same plan against what the connection already has (pushdown_state): new names
// get new filters, an all/predicate subscriber gets a match-all filter, the mask follows
// the demand both ways. Each action has login_timeout; every answer is checked against the
// connection generation.
#include <spdlog/spdlog.h>

#include "actors/ami/event_pushdown.hpp"
#include "actors/ami/session_detail.hpp"

namespace astra::ami::detail {
namespace {

event_demand current_demand(self_ptr self) {
  std::vector<const event_filter*> filters;
  filters.reserve(self->state.subscribers.size());
  for (const auto& s : self->state.subscribers) filters.push_back(&s.filter);
  return demand_of(filters);
}

bool pushing(const session_state& st) { return st.cfg.push_event_filters && !st.mask_refused; }

// Logging in and nothing left to answer: the link is up.
void settle(self_ptr self) {
  auto& st = self->state;
  if (st.state == link_state_t::logging_in && st.conn && st.pushdown.in_flight == 0 && !st.pushdown.probing)
    became_up(self);
}

// One pushdown action was answered.
void answered(self_ptr self) {
  auto& pd = self->state.pushdown;
  if (pd.in_flight > 0 || pd.probing) return;
  if (pd.dirty) pushdown_sync(self);  // settles on its own
  else settle(self);
}

// Include filters are installed and one was refused: events of the refused name would be
// withheld by the others. Logs in again (without filters: filters_refused is sticky).
bool close_if_partial(self_ptr self) {
  auto& st = self->state;
  if (!st.filters_refused || st.pushdown.filters_accepted == 0 || !st.conn) return false;
  st.conn->close({make_error_code(ami_errc::rejected),
                  "Asterisk took some event filters and refused others: logging in again without filters"});
  return true;
}

void send_filter(self_ptr self, const action& a, std::string key /* "" = match-all */) {
  auto& st = self->state;
  auto& pd = st.pushdown;
  if (key.empty()) pd.match_all = true;
  else pd.filters.insert(key);
  ++pd.in_flight;
  const auto gen = st.generation;
  std::string shown(a.get("MatchCriteria") ? "MatchCriteria: " + std::string(*a.get("MatchCriteria"))
                                           : "Filter: " + std::string(a.get("Filter").value_or("")));
  dispatch(self, a, st.cfg.login_timeout, std::nullopt, [self, gen, key, shown](reply& r) {
    auto& st = self->state;
    if (gen != st.generation || !st.conn) return;
    auto& pd = st.pushdown;
    --pd.in_flight;
    if (r.ok()) {
      ++pd.filters_accepted;
      if (close_if_partial(self)) return;
      answered(self);
      return;
    }
    if (key.empty()) pd.match_all = false;
    else pd.filters.erase(key);
    if (r.error.code != make_error_code(ami_errc::rejected)) {
      // No answer: whether Asterisk has the filter is unknown, so events may be withheld.
      st.conn->close({r.error.code, "event filter (" + shown + "): " + r.error.message()});
      return;
    }
    if (!st.filters_refused) {
      st.filters_refused = true;
      spdlog::warn("ami[{}]: Asterisk refused the event filter ({}): {}; this session filters events on the client "
                   "only (the AMI user needs write=system for Action: Filter)",
                   st.label, shown, r.error.detail);
    }
    if (close_if_partial(self)) return;
    pd.dirty = true;  // re-plan without filters (the mask still narrows)
    answered(self);
  });
}

void send_mask(self_ptr self, const std::string& mask) {
  auto& st = self->state;
  auto& pd = st.pushdown;
  pd.mask = mask;
  ++pd.in_flight;
  const auto gen = st.generation;
  dispatch(self, actions::events(mask), st.cfg.login_timeout, std::nullopt, [self, gen, mask](reply& r) {
    auto& st = self->state;
    if (gen != st.generation || !st.conn) return;
    --st.pushdown.in_flight;
    if (!r.ok()) {
      if (r.error.code == make_error_code(ami_errc::timeout)) {
        // manager.conf broken_events_action=yes answers nothing for a mask of every class;
        // any other silence is a dead peer, which the keepalive finds.
        if (!st.events_timeout_logged) {
          st.events_timeout_logged = true;
          spdlog::warn("ami[{}]: no answer to Events (EventMask: {}) within {} ms; taking it as applied "
                       "(manager.conf broken_events_action=yes answers nothing for an all-classes mask)",
                       st.label, mask, st.cfg.login_timeout.count());
        }
      } else if (r.error.code == make_error_code(ami_errc::rejected)) {
        st.mask_refused = true;
        spdlog::warn("ami[{}]: Asterisk refused Events (EventMask: {}): {}; logging in again with Events: {} and "
                     "filtering events on the client only",
                     st.label, mask, r.error.detail, st.cfg.events);
        st.conn->close({make_error_code(ami_errc::rejected), "Events (EventMask: " + mask + ") refused"});
        return;
      } else {
        return;  // the connection is going away
      }
    }
    answered(self);
  });
}

// Learns whether Asterisk takes name() filters, then plans again.
void probe_version(self_ptr self) {
  auto& st = self->state;
  st.pushdown.probing = true;
  const auto gen = st.generation;
  dispatch(self, actions::custom("CoreSettings"), st.cfg.login_timeout, std::nullopt, [self, gen](reply& r) {
    auto& st = self->state;
    if (gen != st.generation || !st.conn) return;
    auto& pd = st.pushdown;
    pd.probing = false;
    std::string version;
    if (r.ok() && r.response) version = std::string(r.response->get("AsteriskVersion").value_or(""));
    pd.structured = structured_filters_supported(version);
    spdlog::debug("ami[{}]: Asterisk {}: {} event filters", st.label, version.empty() ? "(version unknown)" : version,
                  *pd.structured ? "name()" : "regex");
    pushdown_sync(self);
  });
}

}  // namespace

std::string pushdown_login_mask(self_ptr self) {
  auto& st = self->state;
  if (!pushing(st)) return st.cfg.events;
  if (current_demand(self).what == event_demand::kind::everything) return st.cfg.events;
  return "off";  // nothing wanted, or named events: filters first, then an Events action
}

void pushdown_after_login(self_ptr self) {
  auto& st = self->state;
  st.pushdown.logged_in = true;
  st.pushdown.mask = normalize_mask(st.pushdown.mask);
  if (!pushing(st)) {
    became_up(self);
    return;
  }
  pushdown_sync(self);
}

void pushdown_sync(self_ptr self) {
  auto& st = self->state;
  auto& pd = st.pushdown;
  if (!pushing(st) || !st.conn || !pd.logged_in) return;
  if (pd.in_flight > 0 || pd.probing) {
    pd.dirty = true;  // answered() plans again
    return;
  }
  pd.dirty = false;
  const event_demand d = current_demand(self);
  const std::string want_mask = mask_for(d, st.cfg.events);
  std::vector<const std::pair<const std::string, wanted_name>*> new_names;
  bool match_all = false;
  if (!st.filters_refused && want_mask != "off") {
    if (d.what == event_demand::kind::names && !pd.match_all) {
      for (const auto& entry : d.names)
        if (!pd.filters.count(entry.first)) new_names.push_back(&entry);
    } else if (d.what == event_demand::kind::everything && !pd.filters.empty() && !pd.match_all) {
      match_all = true;
    }
  }
  if (!new_names.empty() && !pd.structured) {
    bool any_documented = false;
    for (const auto* n : new_names) any_documented = any_documented || n->second.documented;
    if (any_documented) {
      probe_version(self);
      return;
    }
    // Only undocumented names: regex filters whatever the version.
  }
  const bool structured = pd.structured.value_or(false);
  for (const auto* n : new_names) send_filter(self, filter_action(n->second, structured), n->first);
  if (match_all) send_filter(self, match_all_filter_action(), {});
  if (want_mask != pd.mask) send_mask(self, want_mask);
  if (!new_names.empty() || match_all || pd.in_flight > 0)
    spdlog::debug("ami[{}]: event pushdown: {} new filter(s){}, Events: {}", st.label, new_names.size(),
                  match_all ? " + match-all" : "", want_mask);
  if (pd.in_flight == 0) settle(self);
}

}  // namespace astra::ami::detail
