#pragma once
// Internal helpers of the generated to_request() / build_from_params() functions.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "generated/ari/operations.hpp"
#include "protocols/ari/errors.hpp"

namespace astra::ari::detail {

using maybe_failure = std::optional<failure>;

failure missing_param(std::string_view op, std::string_view name);
failure unknown_param(std::string_view op, std::string_view name);
// `value` must be one of `allowed`.
maybe_failure check_allowed(std::string_view op, std::string_view name, std::string_view value,
                            std::span<const std::string_view> allowed);
maybe_failure check_range(std::string_view op, std::string_view name, std::int64_t value,
                          std::optional<std::int64_t> min, std::optional<std::int64_t> max);
// allowMultiple items are sent comma-joined: an item must be non-empty and contain no ','.
maybe_failure check_list_items(std::string_view op, std::string_view name, const std::vector<std::string>& items);
// A body parameter must hold exactly one well-formed JSON value.
maybe_failure check_json(std::string_view op, std::string_view name, const raw_json& value);

std::string join_list(const std::vector<std::string>& items);
std::vector<std::string> split_list(std::string_view text);
// {"<name>":<value>}
std::string wrap_body(std::string_view name, const raw_json& value);

maybe_failure parse_int(std::string_view op, std::string_view name, std::string_view text, std::optional<std::int64_t>& out);
maybe_failure parse_bool(std::string_view op, std::string_view name, std::string_view text, std::optional<bool>& out);

// The failure for a non-2xx reply (see decode_response_body).
failure status_failure(operation_id id, int status, std::string_view body, std::string_view reason_phrase);

}  // namespace astra::ari::detail
