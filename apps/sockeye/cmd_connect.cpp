// `sockeye connect URL`: an interactive WebSocket client for the terminal. Lines typed are
// sent as text messages and received messages are printed; on a terminal, /ping, /close
// and /binary are commands. With stdin and stdout piped it is a filter for scripts: one
// message per input line, one line per received message, no commands. Once stdin ends the
// client keeps receiving until the server has been quiet for --linger seconds (or closes),
// then closes with 1000.
#include <sockeye/client.hpp>

#include <unistd.h>
#include <uv.h>

#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "client_cli.hpp"
#include "commands.hpp"
#include "common/escape.hpp"

namespace sockeye::apps {

namespace {

constexpr const char* exit_codes_footer =
    "Exit codes: 0 closed normally (1000, 1001 or no code), 2 usage or bad URL, 3 cannot "
    "resolve or connect, 4 TLS failure, 5 handshake refused (HTTP status, bad accept), 6 "
    "timeout, 8 closed abnormally (any other close code, or 1006 without a close frame). "
    "The close code is printed on stderr.";

// Lines from stdin, read on their own thread (stdin may be a terminal, a pipe or a file,
// and only the thread works for all three) and handed to the loop through a uv_async.
// The queue is bounded so a huge piped file does not pile up in memory.
class line_reader : public std::enable_shared_from_this<line_reader> {
  public:
    explicit line_reader(uv_loop_t* loop) {
        uv_async_init(loop, &async_, on_async);
        async_.data = this;
    }

    void start(std::function<void(std::string&)> on_line, std::function<void()> on_eof) {
        on_line_ = std::move(on_line);
        on_eof_ = std::move(on_eof);
        // The thread keeps the reader alive: it may still be blocked in read() at exit.
        std::thread([self = shared_from_this()] { self->run(); }).detach();
    }

    // Closes the async handle; the thread, possibly blocked in read(), is left behind
    // (the process exits soon after) and stops at its next line.
    void close() {
        std::lock_guard lock(mutex_);
        if (closed_) return;
        closed_ = true;
        uv_close(reinterpret_cast<uv_handle_t*>(&async_), nullptr);
        room_.notify_all();
    }

    // The consumer stops taking lines while the connection has too much unsent output.
    void set_paused(bool p) {
        paused_ = p;
        std::lock_guard lock(mutex_);
        if (!p && !closed_) uv_async_send(&async_);
    }

  private:
    static void on_async(uv_async_t* a) {
        auto* self = static_cast<line_reader*>(a->data);
        self->drain();
    }

    void drain() {
        while (!paused_) {
            std::string line;
            bool eof = false;
            {
                std::lock_guard lock(mutex_);
                if (closed_) return;
                if (lines_.empty()) {
                    eof = eof_ && !eof_delivered_;
                    if (!eof) return;
                    eof_delivered_ = true;
                } else {
                    line = std::move(lines_.front());
                    lines_.pop_front();
                    room_.notify_one();
                }
            }
            if (eof) {
                on_eof_();
                return;
            }
            on_line_(line);
        }
    }

    void run() {
        std::string line;
        while (std::getline(std::cin, line)) {
            if (!line.empty() && line.back() == '\r') line.pop_back();
            std::unique_lock lock(mutex_);
            room_.wait(lock, [this] { return closed_ || lines_.size() < 256; });
            if (closed_) return;
            lines_.push_back(std::move(line));
            uv_async_send(&async_);
        }
        std::lock_guard lock(mutex_);
        if (closed_) return;
        eof_ = true;
        uv_async_send(&async_);
    }

    uv_async_t async_{};
    std::mutex mutex_;
    std::condition_variable room_;
    std::deque<std::string> lines_;
    bool eof_ = false;
    bool eof_delivered_ = false;
    bool closed_ = false;
    bool paused_ = false;  // loop thread only
    std::function<void(std::string&)> on_line_;
    std::function<void()> on_eof_;
};

std::string hex_preview(std::span<const std::uint8_t> data, std::size_t max_bytes) {
    static const char hex[] = "0123456789abcdef";
    std::string out;
    const std::size_t n = std::min(data.size(), max_bytes);
    for (std::size_t i = 0; i < n; ++i) {
        if (i) out += ' ';
        out += hex[data[i] >> 4];
        out += hex[data[i] & 0xf];
    }
    if (data.size() > n) out += " ...";
    return out;
}

struct connect_state {
    client_options opts;
    std::vector<std::string> headers;
    bool interactive = false;
    double linger = 1;  // seconds of quiet from the server after stdin ends, then close
    int exit_code = 0;
    bool stdin_done = false;
    bool trace = false;
};

// Prints one received message on stdout.
void print_message(message_type type, std::span<const std::uint8_t> data, bool tty_out) {
    const char* prefix = tty_out ? "< " : "";
    if (type == message_type::text) {
        std::fputs(prefix, stdout);
        if (tty_out) {
            // On a terminal a message is one line and cannot send escape sequences;
            // piped, the bytes are the output and go through untouched.
            const std::string shown = common::escape_for_display(
                {reinterpret_cast<const char*>(data.data()), data.size()});
            std::fwrite(shown.data(), 1, shown.size(), stdout);
        } else {
            std::fwrite(data.data(), 1, data.size(), stdout);
        }
        std::fputc('\n', stdout);
    } else {
        std::fprintf(stdout, "%s[binary %zu bytes] %s\n", prefix, data.size(),
                     hex_preview(data, 32).c_str());
    }
    std::fflush(stdout);
}

std::span<const std::uint8_t> as_bytes(const std::string& s) {
    return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

// Handles a typed line on a terminal: a command, or text to send.
void handle_line(connection& c, std::string& line, bool interactive) {
    if (!interactive || line.empty() || line.front() != '/') {
        c.send_text(line);
        return;
    }
    const std::size_t space = line.find(' ');
    const std::string cmd = line.substr(0, space);
    std::string arg = space == std::string::npos ? "" : line.substr(space + 1);
    if (cmd == "/ping") {
        if (!c.ping(as_bytes(arg))) std::fprintf(stderr, "! ping payload too long (max 125)\n");
    } else if (cmd == "/close") {
        std::uint16_t code = 1000;
        std::string reason;
        if (!arg.empty()) {
            const std::size_t sp = arg.find(' ');
            try {
                const unsigned long v = std::stoul(arg.substr(0, sp));
                if (v > 65535) throw std::out_of_range("code");
                code = static_cast<std::uint16_t>(v);
            } catch (const std::exception&) {
                std::fprintf(stderr, "! usage: /close [code] [reason]\n");
                return;
            }
            if (sp != std::string::npos) reason = arg.substr(sp + 1);
        }
        if (!c.close(code, reason)) std::fprintf(stderr, "! already closing\n");
    } else if (cmd == "/binary") {
        std::ifstream in(arg, std::ios::binary);
        if (!in) {
            std::fprintf(stderr, "! cannot read %s\n", arg.c_str());
            return;
        }
        const std::vector<std::uint8_t> data((std::istreambuf_iterator<char>(in)),
                                             std::istreambuf_iterator<char>());
        c.send(message_type::binary, data);
        std::fprintf(stderr, "> [binary %zu bytes from %s]\n", data.size(), arg.c_str());
    } else if (cmd == "/help") {
        std::fprintf(stderr,
                     "  /ping [text]           send a ping\n"
                     "  /close [code] [reason] start the closing handshake\n"
                     "  /binary FILE           send a file as one binary message\n"
                     "  //text                 send text starting with '/'\n");
    } else if (line.rfind("//", 0) == 0) {
        c.send_text(std::string_view(line).substr(1));
    } else {
        std::fprintf(stderr, "! unknown command %s (try /help)\n", cmd.c_str());
    }
}

int run_connect(connect_state& st) {
    for (const std::string& h : st.headers) {
        const std::size_t colon = h.find(':');
        if (colon == std::string::npos || colon == 0) {
            std::fprintf(stderr, "sockeye connect: --header wants 'Name: value', not '%s'\n",
                         h.c_str());
            return 2;
        }
        std::string value = h.substr(colon + 1);
        value.erase(0, value.find_first_not_of(" \t"));
        st.opts.headers.emplace_back(h.substr(0, colon), value);
    }
    if (st.trace) st.opts.trace = trace_to_stderr;
    st.interactive = isatty(STDIN_FILENO) != 0;
    const bool tty_out = isatty(STDOUT_FILENO) != 0;

    std::shared_ptr<line_reader> reader;
    // After stdin ends: closes once the server has sent nothing for --linger seconds.
    uv_timer_t linger_timer{};
    bool linger_open = false;
    bool lingering = false;
    auto close_local = [&] {
        if (reader) reader->close();
        if (linger_open) {
            linger_open = false;
            uv_close(reinterpret_cast<uv_handle_t*>(&linger_timer), nullptr);
        }
    };
    // Every piece of a message and every pong from the server starts the quiet period over.
    auto heard = [&] {
        if (!lingering || !linger_open) return;
        uv_timer_start(
            &linger_timer,
            [](uv_timer_t* t) { static_cast<connection*>(t->data)->close(1000, {}); },
            static_cast<std::uint64_t>(st.linger * 1000 + 0.5), 0);
    };

    handlers h;
    h.on_open = [&](connection& c) {
        if (st.interactive) {
            // The subprotocol is one we offered, but the server picked the bytes.
            std::fprintf(stderr, "connected to %s (%s)%s%s; /help for commands\n",
                         st.opts.url.c_str(), c.peer().c_str(),
                         c.subprotocol().empty() ? "" : ", subprotocol ",
                         common::escape_for_display(c.subprotocol()).c_str());
        }
        reader->start(
            [&c, &st, &reader](std::string& line) {
                handle_line(c, line, st.interactive);
                // Stop taking lines while the server is slower than stdin; on_drain resumes.
                if (c.buffered_amount() >= st.opts.high_water_mark) reader->set_paused(true);
            },
            [&c, &st, &linger_timer, &lingering, &heard] {
                st.stdin_done = true;
                if (st.linger <= 0) {
                    c.close(1000, {});
                    return;
                }
                // Replies to the last lines may still be on their way.
                linger_timer.data = &c;
                lingering = true;
                heard();
            });
    };
    // Messages are gathered here rather than by on_message so that each piece received
    // counts as the server being busy, even within one long message.
    message_type msg_type = message_type::text;
    std::string msg;
    h.on_message_begin = [&](connection&, message_type type) {
        msg_type = type;
        msg.clear();
        heard();
    };
    h.on_message_chunk = [&](connection&, std::span<const std::uint8_t> piece, bool fin) {
        heard();
        if (fin && msg.empty()) {
            print_message(msg_type, piece, tty_out);  // a message in one piece: no copy
            return;
        }
        msg.append(reinterpret_cast<const char*>(piece.data()), piece.size());
        if (!fin) return;
        print_message(msg_type, as_bytes(msg), tty_out);
        msg.clear();
        if (msg.capacity() > 64 * 1024) std::string().swap(msg);
    };
    h.on_pong = [&](connection&, std::span<const std::uint8_t> payload) {
        heard();
        std::fprintf(stderr, "< pong (%zu bytes)\n", payload.size());
    };
    h.on_drain = [&](connection&) { reader->set_paused(false); };
    h.on_close = [&](connection&, std::uint16_t code, std::string_view reason) {
        // The server's text on our terminal: escaped, so it is one line and inert.
        const std::string shown = common::escape_for_display(reason);
        std::fprintf(stderr, "closed: %u%s%s\n", code, shown.empty() ? "" : " ", shown.c_str());
        st.exit_code = (code == 1000 || code == 1001 || code == 1005) ? 0 : 8;
        close_local();
    };

    client cl(st.opts, std::move(h), [&](client_error e, const std::string& message) {
        // The message may quote the server (a reason phrase, a header value).
        std::fprintf(stderr, "sockeye connect: %s\n", common::escape_for_display(message).c_str());
        st.exit_code = exit_code_for(e);
        close_local();
    });
    reader = std::make_shared<line_reader>(cl.loop());
    uv_timer_init(cl.loop(), &linger_timer);
    linger_open = true;
    cl.run();
    close_local();
    return st.exit_code;
}

}  // namespace

command_runner add_connect_command(CLI::App& app) {
    auto st = std::make_shared<connect_state>();
    auto* cmd = app.add_subcommand(
        "connect", "Interactive WebSocket client: send typed (or piped) lines, print messages");
    cmd->add_option("url", st->opts.url, "ws:// or wss:// URL (http/https accepted)")->required();
    cmd->add_option("--subprotocol", st->opts.subprotocols, "Offer a subprotocol (repeatable)");
    cmd->add_option("--origin", st->opts.origin, "Origin header to send");
    cmd->add_option("--header", st->headers, "Extra request header 'Name: value' (repeatable)");
    cmd->add_option("--cacert", st->opts.cacert, "Trust the CAs in this PEM file (wss)");
    cmd->add_flag("--http2", st->opts.http2,
                  "WebSocket over HTTP/2 (RFC 8441): wss via TLS ALPN h2, ws via h2c");
    cmd->add_flag("--insecure", st->opts.insecure,
                  "wss: skip certificate and host name verification");
    cmd->add_option("--connect-timeout", st->opts.connect_timeout,
                    "Seconds to get an open connection")
        ->capture_default_str()
        ->check(CLI::NonNegativeNumber);
    // connect prints whole messages, so each one is buffered: unlike serve and send, which
    // stream, it needs a limit by default or one huge message from the server exhausts it.
    st->opts.max_message_size = std::uint64_t{64} << 20;
    cmd->add_option("--max-message", st->opts.max_message_size,
                    "Largest message accepted in bytes, 0 = no limit (above: close 1009)")
        ->capture_default_str();
    cmd->add_option("--max-fragments", st->opts.max_fragments,
                    "Frames per received message, 0 = no limit (above: close 1008)")
        ->capture_default_str();
    cmd->add_option("--linger", st->linger,
                    "After stdin ends, close once the server has sent nothing this many seconds "
                    "(0 = close at once)")
        ->capture_default_str()
        ->check(CLI::NonNegativeNumber);
    cmd->add_flag("--trace", st->trace, trace_help);
    cmd->footer(exit_codes_footer);
    return [st, cmd]() -> int {
        if (!cmd->parsed()) return -1;
        return run_connect(*st);
    };
}

}  // namespace sockeye::apps
