// beast_echo: a Boost.Beast WebSocket echo server, a peer for the benchmark suite.
//
// Written the way Beast's own examples do it: one io_context on one thread, one session
// object per connection running accept -> read message -> write message -> read ...,
// with websocket::stream<tcp_stream> and a flat_buffer. Beast answers pings and completes
// the close handshake itself inside async_read.
//
// Beast reads and writes whole messages: a message is buffered in full before it is echoed,
// so a multi-GiB message costs that much memory (twice, transiently, while the flat_buffer
// grows). That is Beast's behaviour, kept as is; read_message_max is raised so such
// messages are accepted at all (Beast's default limit is 16 MiB). auto_fragment is off so a
// message goes back as one frame, like the client sent it. Beast validates UTF-8 in text
// messages (that is part of its cost). No permessage-deflate (Beast's default).
//
// Usage: beast_echo --port N   (0 = pick a free port). Prints
// "listening on http://127.0.0.1:PORT" when ready; exits 0 on SIGTERM/SIGINT.

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

#include <sys/resource.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string_view>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

namespace {

class session : public std::enable_shared_from_this<session> {
public:
    explicit session(tcp::socket socket) : ws_(std::move(socket)) {}

    void run() {
        ws_.read_message_max(std::uint64_t{1} << 40);
        ws_.auto_fragment(false);
        // No idle timeout: the idle benchmark holds connections open with no traffic.
        websocket::stream_base::timeout timeouts{};
        timeouts.handshake_timeout = std::chrono::seconds(30);
        timeouts.idle_timeout = websocket::stream_base::none();
        timeouts.keep_alive_pings = false;
        ws_.set_option(timeouts);
        ws_.async_accept(
            [self = shared_from_this()](beast::error_code ec) { self->on_accept(ec); });
    }

private:
    void on_accept(beast::error_code ec) {
        if (!ec) do_read();
    }

    void do_read() {
        ws_.async_read(buffer_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
            self->on_read(ec);
        });
    }

    void on_read(beast::error_code ec) {
        // websocket::error::closed means the close handshake is done; any error ends the
        // session, and the socket closes when the last handler lets go of it.
        if (ec) return;
        ws_.text(ws_.got_text());
        ws_.async_write(buffer_.data(),
                        [self = shared_from_this()](beast::error_code wec, std::size_t n) {
                            self->on_write(wec, n);
                        });
    }

    void on_write(beast::error_code ec, std::size_t bytes) {
        if (ec) return;
        buffer_.consume(bytes);
        do_read();
    }

    websocket::stream<beast::tcp_stream> ws_;
    beast::flat_buffer buffer_;
};

class listener {
public:
    listener(asio::io_context& ioc, unsigned short port)
        : ioc_(ioc), acceptor_(ioc, tcp::endpoint(asio::ip::address_v4::loopback(), port)) {}

    unsigned short port() const { return acceptor_.local_endpoint().port(); }

    void start() {
        acceptor_.async_accept(ioc_, [this](beast::error_code ec, tcp::socket socket) {
            if (ec == asio::error::operation_aborted) return;  // closed on shutdown
            if (ec) {
                std::fprintf(stderr, "accept: %s\n", ec.message().c_str());
            } else {
                socket.set_option(tcp::no_delay(true), ec);
                std::make_shared<session>(std::move(socket))->run();
            }
            start();
        });
    }

    void stop() {
        beast::error_code ignored;
        acceptor_.close(ignored);
    }

private:
    asio::io_context& ioc_;
    tcp::acceptor acceptor_;
};

void raise_nofile_limit() {
    rlimit lim{};
    if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
        lim.rlim_cur = lim.rlim_max;
        setrlimit(RLIMIT_NOFILE, &lim);
    }
}

int parse_port(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
        std::string_view arg = argv[i];
        if (arg == "--port" && i + 1 < argc) return std::atoi(argv[++i]);
        if (arg.starts_with("--port=")) return std::atoi(argv[i] + 7);
        std::fprintf(stderr, "usage: %s --port N\n", argv[0]);
        std::exit(2);
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    int port = parse_port(argc, argv);
    raise_nofile_limit();

    // One thread: the hint lets Asio skip locking it would need for several threads.
    asio::io_context ioc(1);
    listener server(ioc, static_cast<unsigned short>(port));
    server.start();

    asio::signal_set signals(ioc, SIGINT, SIGTERM);
    signals.async_wait([&](beast::error_code, int) {
        server.stop();
        ioc.stop();
    });

    std::printf("listening on http://127.0.0.1:%u\n", static_cast<unsigned>(server.port()));
    std::fflush(stdout);
    ioc.run();
    return 0;
}
