// A small chat server on the Sockeye library: every text message a client sends is
// relayed to every connected client, prefixed with the sender's address. Binary messages
// are refused with close 1003. Run: build/examples/chat_server [port], then open two
// browser tabs on the demo page (http://127.0.0.1:PORT/) and send text.
#include <sockeye/server.hpp>

#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>

int main(int argc, char** argv) {
    sockeye::server_options options;
    options.port = argc > 1 ? static_cast<std::uint16_t>(std::atoi(argv[1])) : 8090;
    options.web_root = SOCKEYE_WEB_ROOT;
    options.max_message_size = 64 * 1024;  // whole messages are buffered: keep them small

    std::set<sockeye::connection*> members;
    sockeye::handlers h;
    h.on_open = [&](sockeye::connection& c) {
        members.insert(&c);
        c.send_text("welcome, " + c.peer());
    };
    h.on_message = [&](sockeye::connection& from, sockeye::message_type type,
                       std::span<const std::uint8_t> data) {
        if (type != sockeye::message_type::text) {
            from.close(1003, "text only");
            return;
        }
        const std::string line =
            from.peer() + ": " + std::string(reinterpret_cast<const char*>(data.data()), data.size());
        for (sockeye::connection* m : members) {
            // A member that cannot keep up is skipped rather than buffered without bound.
            if (m->buffered_amount() < (1u << 20)) m->send_text(line);
        }
    };
    h.on_close = [&](sockeye::connection& c, std::uint16_t, std::string_view) { members.erase(&c); };

    try {
        sockeye::server srv(options, h);
        srv.handle_signals();
        srv.listen();
        std::printf("chat on ws://127.0.0.1:%u/\n", srv.port());
        std::fflush(stdout);
        return srv.run();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "chat_server: %s\n", e.what());
        return 1;
    }
}
