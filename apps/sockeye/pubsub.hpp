// The pub/sub application behind `sockeye serve --pubsub`, written against the public API
// like the echo: WebSockets on /topics/NAME (or /topics?topic=a&topic=b) receive every
// message published to their topics and publish what they send; POST /publish/NAME
// publishes its body and answers {"delivered": N}; GET /topics lists the topics with their
// subscriber counts. WebSockets on other paths keep the echo (the demo page's echo panel).
#pragma once
#include <sockeye/server.hpp>

#include <cstddef>
#include <memory>
#include <string>

namespace sockeye::apps {

struct pubsub_settings {
    bool read_only = false;         // a client message closes the connection with 1008
    std::string publish_token;      // non-empty: POST /publish needs "Authorization: Bearer T"
    std::string subscribe_token;    // non-empty: /topics WebSockets and GET /topics need it
    std::size_t max_publish = 1 << 20;  // bytes per published message (413 / 1009 above)
    std::size_t max_topics = 64;    // topics per WebSocket
};

class pubsub_app {
  public:
    explicit pubsub_app(pubsub_settings s);
    // The handlers to construct the server with; then attach() before listen().
    handlers make_handlers();
    void attach(server& srv);

    struct state;

  private:
    std::shared_ptr<state> st_;
};

// Whether a decoded topic name is acceptable: 1-256 bytes of UTF-8 without control
// characters. (Exposed for tests.)
bool valid_topic(std::string_view name);

}  // namespace sockeye::apps
