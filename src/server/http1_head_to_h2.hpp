// An HTTP/1.1 response head as an HTTP/2 header list: what the HTTP/1.1 code builds for
// an answer (status line, headers, maybe a body) turned into the :status and the fields
// of an h2 HEADERS frame, so both versions send the same answers.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/handshake.hpp"

namespace sockeye::server_detail {

// RFC 9113 §8.2.2: connection-specific fields (Connection, Keep-Alive, Proxy-Connection,
// Transfer-Encoding, Upgrade) have no place in HTTP/2. Case-insensitive.
bool connection_specific(std::string_view name) noexcept;

// A field name as HTTP/2 sends it: in lower case (RFC 9113 §8.2.1).
std::string h2_field_name(std::string_view name);

// Splits `text` (an HTTP/1.1 response) into its status and headers, names in lower case,
// connection-specific fields dropped, appended to `headers`. Returns where the body
// starts. A text without a complete head gives status 500 and returns text.size().
std::size_t split_http1_head(std::string_view text, int& status,
                             std::vector<protocol::owned_header>& headers);

}  // namespace sockeye::server_detail
