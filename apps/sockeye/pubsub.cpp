#include "pubsub.hpp"

#include <algorithm>
#include <cctype>
#include <optional>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "echo.hpp"
#include "utf8_text.hpp"

namespace sockeye::apps {

namespace {

// What a /topics WebSocket carries as its connection state.
struct subscriber {
    std::vector<std::string> topics;
    // The message being received (at most max_publish: the session closes 1009 beyond).
    message_type type = message_type::binary;
    std::string message;
};

// Compares secrets in time that does not depend on where they differ.
bool same_secret(std::string_view a, std::string_view b) {
    unsigned char diff = a.size() == b.size() ? 0 : 1;
    const std::size_t n = std::max(a.size(), b.size());
    for (std::size_t i = 0; i < n; ++i) {
        const auto x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
        const auto y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
        diff |= static_cast<unsigned char>(x ^ y);
    }
    return diff == 0;
}

std::optional<std::string_view> bearer(const http_request& req) {
    const auto h = req.header("Authorization");
    if (!h) return std::nullopt;
    constexpr std::string_view scheme = "Bearer ";
    if (h->size() < scheme.size()) return std::nullopt;
    for (std::size_t i = 0; i < scheme.size(); ++i) {
        if (std::tolower(static_cast<unsigned char>((*h)[i])) !=
            std::tolower(static_cast<unsigned char>(scheme[i]))) {
            return std::nullopt;
        }
    }
    return h->substr(scheme.size());
}

// 0 when the request may go on, else the status to refuse it with (401 no token, 403 wrong).
// WebSockets from browsers cannot set headers, so `?token=` counts as well.
int check_token(const http_request& req, const std::string& token, bool query_allowed) {
    if (token.empty()) return 0;
    std::optional<std::string_view> given = bearer(req);
    if (!given && query_allowed) given = req.query_param("token");
    if (!given) return 401;
    return same_secret(*given, token) ? 0 : 403;
}

void append_json_string(std::string& out, std::string_view s) {
    out += '"';
    for (const char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += ch;
        } else if (c < 0x20) {
            static const char hex[] = "0123456789abcdef";
            out += "\\u00";
            out += hex[c >> 4];
            out += hex[c & 15];
        } else {
            out += ch;
        }
    }
    out += '"';
}

bool is_text_type(std::string_view content_type) {
    std::string t;
    for (const char c : content_type.substr(0, content_type.find(';'))) {
        if (c != ' ' && c != '\t') t += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    return t.starts_with("text/") || t == "application/json" || t.ends_with("+json");
}

}  // namespace

bool valid_topic(std::string_view name) {
    if (name.empty() || name.size() > 256 || !valid_utf8(name)) return false;
    return std::none_of(name.begin(), name.end(), [](char ch) {
        const auto c = static_cast<unsigned char>(ch);
        return c < 0x20 || c == 0x7F;
    });
}

struct pubsub_app::state {
    pubsub_settings s;
    server* srv = nullptr;
    handlers echo = echo_handlers();
};

pubsub_app::pubsub_app(pubsub_settings s) : st_(std::make_shared<state>()) {
    st_->s = std::move(s);
}

handlers pubsub_app::make_handlers() {
    handlers h;
    auto st = st_;
    h.on_open = [st](connection& c) {
        if (auto* sub = c.state.get<subscriber>()) {
            for (const auto& t : sub->topics) c.subscribe(t);
        }
    };
    // Messages stream in pieces (the echo's way); a subscriber's are gathered and
    // published whole.
    h.on_message_begin = [st](connection& c, message_type type) {
        auto* sub = c.state.get<subscriber>();
        if (!sub) {
            st->echo.on_message_begin(c, type);
            return;
        }
        if (st->s.read_only) {
            c.close(1008, "this server does not take messages from subscribers");
            return;
        }
        sub->type = type;
        sub->message.clear();
    };
    h.on_message_chunk = [st](connection& c, std::span<const std::uint8_t> piece, bool fin) {
        auto* sub = c.state.get<subscriber>();
        if (!sub) {
            st->echo.on_message_chunk(c, piece, fin);
            return;
        }
        if (st->s.read_only) return;
        sub->message.append(reinterpret_cast<const char*>(piece.data()), piece.size());
        if (!fin) return;
        const std::span<const std::uint8_t> data(
            reinterpret_cast<const std::uint8_t*>(sub->message.data()), sub->message.size());
        for (const auto& t : sub->topics) st->srv->publish(t, sub->type, data);
        sub->message.clear();
        if (sub->message.capacity() > 64 * 1024) std::string().swap(sub->message);
    };
    return h;
}

void pubsub_app::attach(server& srv) {
    auto st = st_;
    st->srv = &srv;
    srv.on_upgrade([st](const upgrade_request& req, upgrade_reply reply) {
        constexpr std::string_view prefix = "/topics";
        std::string_view path = req.path;
        const bool topics_path =
            path == prefix || (path.starts_with(prefix) && path[prefix.size()] == '/');
        if (!topics_path) {
            reply.accept();  // the echo
            return;
        }
        if (const int status = check_token(req, st->s.subscribe_token, true)) {
            reply.reject(status, status == 401 ? "a token is required\n" : "wrong token\n",
                         {{"WWW-Authenticate", "Bearer"}});
            return;
        }
        subscriber sub;
        if (path.size() > prefix.size() + 1) sub.topics.emplace_back(path.substr(prefix.size() + 1));
        for (const auto& q : req.query_params) {
            if (q.name != "topic") continue;
            if (std::find(sub.topics.begin(), sub.topics.end(), q.value) == sub.topics.end()) {
                sub.topics.push_back(q.value);
            }
        }
        if (sub.topics.empty()) {
            reply.reject(400, "no topic: use /topics/NAME or /topics?topic=NAME\n");
            return;
        }
        if (sub.topics.size() > st->s.max_topics) {
            reply.reject(400, "too many topics (at most " + std::to_string(st->s.max_topics) +
                                  ")\n");
            return;
        }
        for (const auto& t : sub.topics) {
            if (!valid_topic(t)) {
                reply.reject(400, "bad topic name: 1-256 bytes of UTF-8, no control characters\n");
                return;
            }
        }
        accept_options a;
        a.state = app_state::make<subscriber>(std::move(sub));
        reply.accept(std::move(a));
    });

    route_options publish_options;
    publish_options.max_body = st->s.max_publish;
    srv.route(
        "POST", "/publish/*",
        [st](http_exchange& ex) {
            const http_request& req = ex.request();
            if (const int status = check_token(req, st->s.publish_token, false)) {
                ex.respond(status, status == 401 ? "a token is required\n" : "wrong token\n",
                           {{"WWW-Authenticate", "Bearer"}});
                return;
            }
            const std::string topic(req.param("*").value_or(""));
            if (!valid_topic(topic)) {
                ex.respond(400, "bad topic name: 1-256 bytes of UTF-8, no control characters\n");
                return;
            }
            const bool text = is_text_type(req.header("Content-Type").value_or(""));
            // (Text is checked for UTF-8 when the whole body is here.)
            // The body is at most max_publish (the route's limit answers 413 beyond).
            auto body = std::make_shared<std::string>();
            auto alive = std::make_shared<bool>(true);
            ex.on_abort([alive] { *alive = false; });
            ex.on_body([st, &ex, topic, text, body, alive](std::span<const std::uint8_t> piece,
                                                           bool last) {
                body->append(reinterpret_cast<const char*>(piece.data()), piece.size());
                if (!last) return;
                if (text && !valid_utf8(*body)) {
                    ex.respond(400, "the body is not valid UTF-8\n");
                    return;
                }
                const std::span<const std::uint8_t> data(
                    reinterpret_cast<const std::uint8_t*>(body->data()), body->size());
                const bool ok = st->srv->publish(
                    topic, text ? message_type::text : message_type::binary, data,
                    [&ex, alive](std::size_t delivered) {
                        if (!*alive) return;
                        ex.respond(200, "{\"delivered\":" + std::to_string(delivered) + "}\n", {},
                                   "application/json");
                    });
                if (!ok) ex.respond(503, "the server is shutting down\n");
            });
        },
        publish_options);

    srv.route("GET", "/topics", [st](http_exchange& ex) {
        if (const int status = check_token(ex.request(), st->s.subscribe_token, true)) {
            ex.respond(status, status == 401 ? "a token is required\n" : "wrong token\n",
                       {{"WWW-Authenticate", "Bearer"}});
            return;
        }
        std::string out = "{\"topics\":[";
        bool first = true;
        for (const auto& t : st->srv->topics()) {
            if (!first) out += ',';
            first = false;
            out += "{\"name\":";
            append_json_string(out, t.name);
            out += ",\"subscribers\":" + std::to_string(t.subscribers) + "}";
        }
        out += "]}\n";
        ex.respond(200, out, {{"Cache-Control", "no-store"}}, "application/json");
    });
}

}  // namespace sockeye::apps
