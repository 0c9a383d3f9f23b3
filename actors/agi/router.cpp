#include "actors/agi/router.hpp"

#include <stdexcept>

namespace astra::agi {

namespace {

std::vector<std::string_view> split_segments(std::string_view normalised) {
  std::vector<std::string_view> segments;
  std::size_t pos = 1;  // skip leading '/'
  while (pos < normalised.size()) {
    auto next = normalised.find('/', pos);
    if (next == std::string_view::npos) next = normalised.size();
    segments.push_back(normalised.substr(pos, next - pos));
    pos = next + 1;
  }
  return segments;
}

}  // namespace

struct router::compiled {
  struct segment {
    enum kind_t { literal, named, tail } kind;
    std::string text;  // literal text or capture name
  };
  std::vector<segment> segments;
  const route* target = nullptr;

  bool match(const std::vector<std::string_view>& path, route_params& out) const {
    std::size_t i = 0;
    for (; i < segments.size(); ++i) {
      const auto& seg = segments[i];
      if (seg.kind == segment::tail) {
        std::string rest;
        for (std::size_t j = i; j < path.size(); ++j) {
          if (j > i) rest += '/';
          rest.append(path[j]);
        }
        out.emplace_back(seg.text, std::move(rest));
        return true;
      }
      if (i >= path.size()) return false;
      if (seg.kind == segment::literal) {
        if (path[i] != seg.text) return false;
      } else {
        if (path[i].empty()) return false;
        out.emplace_back(seg.text, std::string(path[i]));
      }
    }
    return i == path.size();
  }
};

router::router() = default;
router::~router() = default;
router::router(router&&) noexcept = default;
router& router::operator=(router&&) noexcept = default;

std::string router::normalise(std::string_view path) {
  std::string out;
  out.reserve(path.size() + 1);
  for (char c : path) {
    if (c == '/' && !out.empty() && out.back() == '/') continue;
    if (out.empty() && c != '/') out.push_back('/');
    out.push_back(c);
  }
  if (out.empty()) out = "/";
  if (out.size() > 1 && out.back() == '/') out.pop_back();
  return out;
}

router& router::add(std::string_view pattern, handler body, route_options options) {
  if (!body) throw std::invalid_argument("agi route '" + std::string(pattern) + "': empty handler");
  route r;
  r.body = std::move(body);
  r.options = std::move(options);
  return add_route(pattern, std::move(r));
}

router& router::add(std::string_view pattern, result_handler body, route_options options) {
  if (!body) throw std::invalid_argument("agi route '" + std::string(pattern) + "': empty handler");
  route r;
  r.result_body = std::move(body);
  r.options = std::move(options);
  return add_route(pattern, std::move(r));
}

router& router::add_route(std::string_view pattern, route r) {
  r.pattern = normalise(pattern);
  const auto segments = split_segments(r.pattern);
  auto c = std::make_unique<compiled>();
  bool literal_only = true;
  for (std::size_t i = 0; i < segments.size(); ++i) {
    auto seg = segments[i];
    if (!seg.empty() && (seg[0] == ':' || seg[0] == '*')) {
      if (seg.size() == 1)
        throw std::invalid_argument("agi route '" + r.pattern + "': unnamed segment");
      if (seg[0] == '*' && i + 1 != segments.size())
        throw std::invalid_argument("agi route '" + r.pattern + "': '*' only as the last segment");
      literal_only = false;
      c->segments.push_back({seg[0] == ':' ? compiled::segment::named : compiled::segment::tail, std::string(seg.substr(1))});
    } else {
      c->segments.push_back({compiled::segment::literal, std::string(seg)});
    }
  }
  if (exact_.count(r.pattern)) throw std::invalid_argument("agi route '" + r.pattern + "' added twice");
  for (const auto& p : patterns_)
    if (p->target->pattern == r.pattern) throw std::invalid_argument("agi route '" + r.pattern + "' added twice");
  routes_.push_back(std::make_unique<route>(std::move(r)));
  const route* target = routes_.back().get();
  if (literal_only) {
    exact_.emplace(target->pattern, target);
  } else {
    c->target = target;
    patterns_.push_back(std::move(c));
  }
  return *this;
}

std::optional<route_match> router::match(std::string_view path) const {
  auto normalised = normalise(path);
  if (auto it = exact_.find(normalised); it != exact_.end()) return route_match{it->second, {}};
  if (patterns_.empty()) return std::nullopt;
  const auto segments = split_segments(normalised);
  for (const auto& p : patterns_) {
    route_params params;
    if (p->match(segments, params)) return route_match{p->target, std::move(params)};
  }
  return std::nullopt;
}

std::size_t router::size() const noexcept { return routes_.size(); }

}  // namespace astra::agi
