#include "extensions.hpp"

#include "http_tokens.hpp"

#include <algorithm>
#include <cstddef>
#include <string>
#include <utility>

namespace sockeye::protocol {

namespace {

// ---- the grammar of RFC 6455 §9.1 over RFC 2616's token, quoted-string and #rule ----

// tchar and token: protocol/http_tokens.hpp (RFC 7230 §3.2.6, unchanged from RFC 2616).

// Walks one header value. RFC 2616's "implied *LWS" allows spaces and tabs between any two
// tokens or separators; obs-fold line breaks never reach us (the HTTP parser unfolds).
class list_reader {
  public:
    explicit list_reader(std::string_view text) noexcept : text_(text) {}

    bool at_end() const noexcept { return pos_ == text_.size(); }
    char peek() const noexcept { return at_end() ? '\0' : text_[pos_]; }
    void advance() noexcept { ++pos_; }

    // Consumes `c` (after optional whitespace) if it comes next.
    bool accept(char c) noexcept {
        skip_ows();
        if (at_end() || text_[pos_] != c) return false;
        advance();
        return true;
    }

    void skip_ows() noexcept {
        while (!at_end() && (text_[pos_] == ' ' || text_[pos_] == '\t')) ++pos_;
    }

    // The longest run of tchars at the cursor, after optional whitespace; empty if none.
    std::string_view token() noexcept {
        skip_ows();
        const std::size_t start = pos_;
        while (!at_end() && is_tchar(text_[pos_])) ++pos_;
        return text_.substr(start, pos_ - start);
    }

    // quoted-string = DQUOTE *( qdtext | quoted-pair ) DQUOTE, with the cursor on the
    // opening quote; appends the unescaped content. False if the closing quote is missing.
    bool quoted_string(std::string& out) {
        advance();  // the opening DQUOTE
        while (!at_end()) {
            const char c = text_[pos_++];
            if (c == '"') return true;
            if (c == '\\') {  // quoted-pair = "\" CHAR: the next character stands for itself
                if (at_end()) return false;
                out.push_back(text_[pos_++]);
            } else {
                out.push_back(c);
            }
        }
        return false;
    }

  private:
    std::string_view text_;
    std::size_t pos_ = 0;
};

// extension-param = token [ "=" ( token | quoted-string ) ], the cursor after its ";".
// Returns an error message, or nullptr on success.
const char* read_param(list_reader& in, extension_param& param) {
    const auto name = in.token();
    if (name.empty()) return "expected an extension parameter name after ';'";
    param.name = std::string{name};
    if (!in.accept('=')) return nullptr;

    in.skip_ows();
    if (in.peek() == '"') {
        std::string value;
        if (!in.quoted_string(value)) return "unterminated quoted-string";
        // §9.1: "the value after quoted-string unescaping MUST conform to the 'token' ABNF".
        if (!is_token(value)) return "quoted parameter value is not a token after unescaping";
        param.value = std::move(value);
        return nullptr;
    }
    const auto value = in.token();
    if (value.empty()) return "expected a parameter value after '='";
    param.value = std::string{value};
    return nullptr;
}

// extension = extension-token *( ";" extension-param ).
const char* read_extension(list_reader& in, extension_offer& ext) {
    const auto name = in.token();
    if (name.empty()) return "expected an extension name";
    ext.name = std::string{name};
    while (in.accept(';')) {
        extension_param param;
        if (const char* error = read_param(in, param)) return error;
        ext.params.push_back(std::move(param));
    }
    return nullptr;
}

// One header value: 1#extension. Empty elements are skipped, as RFC 2616 §2.1's #rule
// ("null elements are allowed") and RFC 7230 §7 ask of recipients.
const char* read_value(std::string_view value, std::vector<extension_offer>& out) {
    list_reader in{value};
    while (true) {
        in.skip_ows();
        if (in.at_end()) return nullptr;
        if (in.accept(',')) continue;
        extension_offer ext;
        if (const char* error = read_extension(in, ext)) return error;
        out.push_back(std::move(ext));
        in.skip_ows();
        if (in.at_end()) return nullptr;
        if (!in.accept(',')) return "unexpected character in Sec-WebSocket-Extensions";
    }
}

// ---- permessage-deflate parameters (RFC 7692 §7.1) ----

constexpr std::string_view server_no_context_takeover = "server_no_context_takeover";
constexpr std::string_view client_no_context_takeover = "client_no_context_takeover";
constexpr std::string_view server_max_window_bits = "server_max_window_bits";
constexpr std::string_view client_max_window_bits = "client_max_window_bits";

constexpr int min_window_bits = 8;  // §7.1.2.1: "between 8 to 15, inclusive"
constexpr int max_window_bits = 15;
constexpr int min_zlib_window_bits = 9;  // zlib's deflateInit2 rejects raw DEFLATE at 8

// §7.1.2.1/§7.1.2.2: "a decimal integer value without leading zeroes between 8 to 15".
// Exactly "8".."15": "08", "+9", "9 " and "16" are all invalid values.
std::optional<int> parse_window_bits(std::string_view s) noexcept {
    if (s.empty() || s.size() > 2 || s[0] == '0') return std::nullopt;
    int bits = 0;
    for (const char c : s) {
        if (c < '0' || c > '9') return std::nullopt;
        bits = bits * 10 + (c - '0');
    }
    if (bits < min_window_bits || bits > max_window_bits) return std::nullopt;
    return bits;
}

// Window sizes we originate (see deflate_config).
int clamp_own_window(int bits) noexcept {
    return std::clamp(bits, min_zlib_window_bits, max_window_bits);
}

// The permessage-deflate parameters of one offer or response after the checks common to
// both (§7.1): each known at most once, no unknown ones, no value on the no_context_takeover
// flags, and valid window sizes where given. A window parameter without a value is
// `present` with `bits` unset; whether that is allowed depends on the direction.
struct window_param {
    bool present = false;
    std::optional<int> bits;
};

struct deflate_terms {
    bool server_no_context_takeover = false;
    bool client_no_context_takeover = false;
    window_param server_window;
    window_param client_window;
};

struct terms_result {
    const char* error = nullptr;
    deflate_terms terms;
};

const char* read_flag(const extension_param& p, bool& flag) {
    if (flag) return "duplicate permessage-deflate parameter";
    // §7.1.1.1, §7.1.1.2: "This extension parameter has no value."
    if (p.value) return "no_context_takeover parameter with a value";
    flag = true;
    return nullptr;
}

const char* read_window(const extension_param& p, window_param& window) {
    if (window.present) return "duplicate permessage-deflate parameter";
    window.present = true;
    if (!p.value) return nullptr;
    window.bits = parse_window_bits(*p.value);
    if (!window.bits) return "max_window_bits value is not an integer 8..15";
    return nullptr;
}

terms_result read_terms(const extension_offer& ext) {
    terms_result r;
    for (const auto& p : ext.params) {
        const char* error = nullptr;
        if (p.name == server_no_context_takeover)
            error = read_flag(p, r.terms.server_no_context_takeover);
        else if (p.name == client_no_context_takeover)
            error = read_flag(p, r.terms.client_no_context_takeover);
        else if (p.name == server_max_window_bits)
            error = read_window(p, r.terms.server_window);
        else if (p.name == client_max_window_bits)
            error = read_window(p, r.terms.client_window);
        else
            error = "unknown permessage-deflate parameter";
        if (error) {
            r.error = error;
            return r;
        }
    }
    return r;
}

void append_param(std::string& out, std::string_view name) {
    out.append("; ").append(name);
}

void append_param(std::string& out, std::string_view name, int value) {
    append_param(out, name);
    out.append("=").append(std::to_string(value));
}

// ---- server: deciding on one offer ----

// The server's answer to an offer that passed read_terms, or nullopt to decline it.
std::optional<deflate_agreement> answer_offer(const deflate_terms& offer,
                                              const deflate_config& config) {
    deflate_params p;
    std::string response{permessage_deflate_name};

    // §7.1.1.1: the server accepts a client's server_no_context_takeover by echoing it,
    // and "MAY include" it unasked, so our own wish needs no offer.
    p.server_no_context_takeover =
        offer.server_no_context_takeover || config.server_no_context_takeover;
    // §7.1.1.2: the server "MAY include" client_no_context_takeover in any response. When
    // the client hinted it (offered it), echoing binds the client to it, which lets our
    // inflater drop its window between messages instead of keeping 32 KiB for nothing.
    p.client_no_context_takeover =
        offer.client_no_context_takeover || config.client_no_context_takeover;

    // §7.1.2.1: an offered server_max_window_bits needs a value, and the server accepts it
    // by answering "with the same or smaller value". A value of 8 leaves only 8, which
    // zlib can't compress with, so such an offer is one we "don't support": decline it.
    // The server "MAY include" the parameter unasked, so a smaller configured window is
    // announced even when the client didn't offer the parameter.
    int server_bits = clamp_own_window(config.server_max_window_bits);
    if (offer.server_window.present) {
        if (!offer.server_window.bits || *offer.server_window.bits < min_zlib_window_bits)
            return std::nullopt;
        server_bits = std::min(server_bits, *offer.server_window.bits);
    }
    p.server_max_window_bits = server_bits;

    // §7.1.2.2: without client_max_window_bits in the offer the response must not have it,
    // so the client may use the full window. With it, the server may limit the client;
    // an offered value is only the client's own promise ("hint"), which the server "may
    // either ignore" or answer with "a value equal to or smaller". We answer min(hint,
    // config), but never below 9: a client that really keeps its hint of 8 stays within
    // 9, while a zlib client told 8 would have to fail the connection (§7.1).
    int client_bits = max_window_bits;
    if (offer.client_window.present) {
        client_bits = clamp_own_window(config.client_max_window_bits);
        if (offer.client_window.bits)
            client_bits =
                std::min(client_bits, std::max(*offer.client_window.bits, min_zlib_window_bits));
    }
    p.client_max_window_bits = client_bits;

    if (p.server_no_context_takeover) append_param(response, server_no_context_takeover);
    if (p.client_no_context_takeover) append_param(response, client_no_context_takeover);
    // Offered: must be echoed to accept it. Not offered: only worth saying when smaller.
    if (offer.server_window.present || server_bits < max_window_bits)
        append_param(response, server_max_window_bits, server_bits);
    // Absence already means 15 (§7.1.2.2), so only a real limit is sent.
    if (client_bits < max_window_bits) append_param(response, client_max_window_bits, client_bits);

    return deflate_agreement{p, std::move(response)};
}

// ---- client: checking the server's answer ----

deflate_response_result response_error(std::string message) {
    deflate_response_result r;
    r.error = std::move(message);
    return r;
}

// The one extension the response may name (RFC 6455 §4.1 client requirement 5: nothing
// we did not offer; RFC 7692 §5: the server accepts at most one of our offers).
const char* single_deflate_response(const std::vector<extension_offer>& exts,
                                    const deflate_config& offered) {
    for (const auto& ext : exts)
        if (!offered.enabled || ext.name != permessage_deflate_name)
            return "server selected an extension that was not offered";
    if (exts.size() > 1) return "server accepted permessage-deflate more than once";
    return nullptr;
}

// §7.1: the client fails the connection on a response whose parameters are invalid or
// describe a configuration it doesn't support.
const char* check_response_terms(const deflate_terms& t, const deflate_config& offered) {
    const int offered_server_bits = clamp_own_window(offered.server_max_window_bits);
    const bool offered_server_window = offered_server_bits < max_window_bits;

    // §7.1.1.1: the server accepts our server_no_context_takeover by including it; a
    // response without it accepted an offer we didn't make.
    if (offered.server_no_context_takeover && !t.server_no_context_takeover)
        return "server ignored server_no_context_takeover";

    // §7.1.2.1: the response's value is required, and "the same or smaller" than offered.
    if (t.server_window.present && !t.server_window.bits)
        return "server_max_window_bits without a value";
    if (offered_server_window) {
        if (!t.server_window.present) return "server ignored server_max_window_bits";
        if (*t.server_window.bits > offered_server_bits)
            return "server_max_window_bits larger than offered";
    }

    // §7.1.2.2: in a response client_max_window_bits must have a value. We always offer
    // the parameter, so it is allowed; a value above our hint is allowed too (the server
    // may ignore hints) and we simply keep our smaller window. 8 we cannot compress with.
    if (t.client_window.present) {
        if (!t.client_window.bits) return "client_max_window_bits without a value";
        if (*t.client_window.bits < min_zlib_window_bits)
            return "client_max_window_bits=8 is not supported";
    }
    return nullptr;
}

deflate_params response_params(const deflate_terms& t, const deflate_config& offered) {
    deflate_params p;
    p.server_no_context_takeover = t.server_no_context_takeover;
    // Offering client_no_context_takeover is a promise (§7.1.1.2), kept either way.
    p.client_no_context_takeover =
        t.client_no_context_takeover || offered.client_no_context_takeover;
    p.server_max_window_bits = t.server_window.bits.value_or(max_window_bits);
    // Our offered value is a promise too: never use more than it, whatever the answer.
    p.client_max_window_bits = std::min(t.client_window.bits.value_or(max_window_bits),
                                        clamp_own_window(offered.client_max_window_bits));
    return p;
}

}  // namespace

extension_parse_result parse_extensions(std::span<const std::string_view> header_values) {
    extension_parse_result r;
    for (const auto value : header_values) {
        if (const char* error = read_value(value, r.offers)) {
            r.error = error;
            r.offers.clear();
            return r;
        }
    }
    r.ok = true;
    return r;
}

int deflate_params::deflate_window_bits(role local) const noexcept {
    return local == role::server ? server_max_window_bits : client_max_window_bits;
}

int deflate_params::inflate_window_bits(role) const noexcept {
    return max_window_bits;
}

bool deflate_params::local_no_context_takeover(role local) const noexcept {
    return local == role::server ? server_no_context_takeover : client_no_context_takeover;
}

bool deflate_params::peer_no_context_takeover(role local) const noexcept {
    return local == role::server ? client_no_context_takeover : server_no_context_takeover;
}

std::optional<deflate_agreement> negotiate_deflate(std::span<const extension_offer> offers,
                                                   const deflate_config& config) {
    if (!config.enabled) return std::nullopt;
    for (const auto& offer : offers) {
        if (offer.name != permessage_deflate_name) continue;
        // §7.1: an offer with an unknown, duplicate or invalid parameter is declined, and
        // the next one (the client's fallback, §5) gets its chance.
        const auto terms = read_terms(offer);
        if (terms.error) continue;
        if (auto agreement = answer_offer(terms.terms, config)) return agreement;
    }
    return std::nullopt;
}

std::string make_deflate_offer(const deflate_config& config) {
    if (!config.enabled) return {};
    std::string offer{permessage_deflate_name};
    if (config.server_no_context_takeover) append_param(offer, server_no_context_takeover);
    if (config.client_no_context_takeover) append_param(offer, client_no_context_takeover);
    const int server_bits = clamp_own_window(config.server_max_window_bits);
    if (server_bits < max_window_bits) append_param(offer, server_max_window_bits, server_bits);
    // Always offered (§7.1.2.2): it tells the server we accept a limit on our window, which
    // may spare it memory; a value is a promise to stay within it anyway.
    const int client_bits = clamp_own_window(config.client_max_window_bits);
    if (client_bits < max_window_bits)
        append_param(offer, client_max_window_bits, client_bits);
    else
        append_param(offer, client_max_window_bits);
    return offer;
}

deflate_response_result accept_deflate_response(std::span<const std::string_view> header_values,
                                                const deflate_config& offered) {
    const auto parsed = parse_extensions(header_values);
    if (!parsed.ok) return response_error("malformed Sec-WebSocket-Extensions: " + parsed.error);
    if (parsed.offers.empty()) return deflate_response_result{true, {}, std::nullopt};
    if (const char* error = single_deflate_response(parsed.offers, offered))
        return response_error(error);

    const auto terms = read_terms(parsed.offers.front());
    if (terms.error) return response_error(terms.error);
    if (const char* error = check_response_terms(terms.terms, offered))
        return response_error(error);
    return deflate_response_result{true, {}, response_params(terms.terms, offered)};
}

deflate_settings settings_for(const deflate_params& p, role local, int mem_level,
                              std::size_t threshold) {
    deflate_settings s;
    s.local_no_context_takeover = p.local_no_context_takeover(local);
    s.peer_no_context_takeover = p.peer_no_context_takeover(local);
    s.local_window_bits = p.deflate_window_bits(local);
    s.peer_window_bits = p.inflate_window_bits(local);
    s.mem_level = mem_level;
    s.threshold = threshold;
    return s;
}

}  // namespace sockeye::protocol
