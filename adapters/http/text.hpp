// What a request may have recorded as text in an event's metadata.
#pragma once

#include <cstddef>
#include <string_view>

namespace order::http {

// 1 to `max_length` bytes of well-formed UTF-8 without control characters: what may be stored in
// an event's metadata (jsonb refuses malformed UTF-8) and shown in an audit trail. The rule for
// X-Actor, Idempotency-Key and a token's subject alike.
bool is_printable(std::string_view value, std::size_t max_length);

}  // namespace order::http
