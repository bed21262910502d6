// `sockeye send URL (--file F | --size N)`: streams one message of any size with bounded
// memory: pieces are read (or generated) only while the connection's unsent output is
// below the high-water mark, and hashed on the way out. With --expect-echo the echo is
// hashed as it streams in and the two SHA-256 digests are compared.
#include <sockeye/client.hpp>

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "client_cli.hpp"
#include "commands.hpp"
#include "common/escape.hpp"

namespace sockeye::apps {

namespace {

constexpr const char* exit_codes_footer =
    "Exit codes: 0 sent (and echoed, with --expect-echo) and closed normally, 1 internal "
    "error, 2 usage, bad URL or unreadable file, 3 cannot resolve or connect, 4 TLS failure, "
    "5 handshake refused (HTTP status, bad accept), 6 timeout, 7 echo differs (size or "
    "SHA-256), 8 closed abnormally (a close code other than 1000/1001, or 1006 without a "
    "close frame) before the transfer finished.";

// Incremental SHA-256 through OpenSSL's EVP interface.

// The bytes of --size: a fixed pseudo-random (binary) or alphanumeric (text, valid UTF-8)
// pattern with a prime period, so any piece is two memcpy calls from a table.
class pattern_source {
  public:
    explicit pattern_source(bool text) : table_(2 * period) {
        static const char alnum[] =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        std::uint32_t x = 0x9e3779b9u;
        for (std::size_t i = 0; i < period; ++i) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;  // xorshift32: deterministic and cheap
            table_[i] = text ? static_cast<std::uint8_t>(alnum[x % 62])
                             : static_cast<std::uint8_t>(x >> 24);
        }
        std::copy_n(table_.begin(), period, table_.begin() + period);
    }
    void fill(std::uint64_t offset, std::uint8_t* out, std::size_t n) const {
        while (n > 0) {
            const std::size_t at = static_cast<std::size_t>(offset % period);
            const std::size_t k = std::min(n, period);
            std::memcpy(out, table_.data() + at, k);
            out += k;
            offset += k;
            n -= k;
        }
    }

  private:
    static constexpr std::size_t period = 65521;
    std::vector<std::uint8_t> table_;
};

struct send_state {
    client_options opts;
    std::string file;
    std::uint64_t size = 0;
    bool binary = false;
    std::uint64_t fragment = 1 << 20;
    bool expect_echo = false;
    bool trace = false;
};

std::string human(double bytes) {
    char buf[32];
    if (bytes >= 1 << 30) {
        std::snprintf(buf, sizeof buf, "%.2f GiB", bytes / (1 << 30));
    } else if (bytes >= 1 << 20) {
        std::snprintf(buf, sizeof buf, "%.1f MiB", bytes / (1 << 20));
    } else {
        std::snprintf(buf, sizeof buf, "%.0f B", bytes);
    }
    return buf;
}

class transfer {
  public:
    transfer(send_state& st, int fd, std::uint64_t total)
        : st_(st), fd_(fd), total_(total), pattern_(!st.binary) {
        // One piece is one frame (the session frames each write); capped so memory stays
        // small whatever --fragment says.
        const std::uint64_t piece = std::clamp<std::uint64_t>(st.fragment, 1, 16 << 20);
        piece_.resize(static_cast<std::size_t>(piece));
        // A progress line redrawn in place would garble the trace lines.
        tty_ = isatty(STDERR_FILENO) != 0 && !st.trace;
    }

    int run() {
        handlers h;
        h.on_open = [this](connection& c) { on_open(c); };
        h.on_drain = [this](connection& c) { pump(c); };
        h.on_message_begin = [this](connection& c, message_type type) {
            if (type != (st_.binary ? message_type::binary : message_type::text)) {
                echo_type_ok_ = false;
            }
            (void)c;
        };
        h.on_message_chunk = [this](connection& c, std::span<const std::uint8_t> d, bool fin) {
            on_echo(c, d, fin);
        };
        h.on_close = [this](connection&, std::uint16_t code, std::string_view reason) {
            on_close(code, reason);
        };
        client cl(st_.opts, std::move(h), [this](client_error e, const std::string& message) {
            // The message may quote the server (a reason phrase, a header value).
            std::fprintf(stderr, "sockeye send: %s\n", common::escape_for_display(message).c_str());
            exit_code_ = exit_code_for(e);
            stop_progress();
        });
        loop_ = cl.loop();
        uv_timer_init(loop_, &progress_);
        progress_.data = this;
        timer_open_ = true;
        cl.run();
        stop_progress();
        return exit_code_;
    }

  private:
    void on_open(connection& c) {
        start_ = uv_hrtime();
        uv_timer_start(&progress_, on_progress, tty_ ? 200 : 1000, tty_ ? 200 : 1000);
        c.begin_message(st_.binary ? message_type::binary : message_type::text);
        pump(c);
    }

    // Produces pieces until the output reaches the high-water mark; on_drain calls again.
    void pump(connection& c) {
        while (!sent_all_ && c.buffered_amount() < st_.opts.high_water_mark) {
            const std::size_t n =
                static_cast<std::size_t>(std::min<std::uint64_t>(piece_.size(), total_ - sent_));
            if (fd_ >= 0) {
                std::size_t got = 0;
                while (got < n) {
                    const ssize_t r = ::read(fd_, piece_.data() + got, n - got);
                    if (r <= 0) {
                        std::fprintf(stderr, "\nsockeye send: %s shrank or failed while reading\n",
                                     st_.file.c_str());
                        exit_code_ = 2;
                        c.close(1001, "sender failed");
                        return;
                    }
                    got += static_cast<std::size_t>(r);
                }
            } else {
                pattern_.fill(sent_, piece_.data(), n);
            }
            const std::span<const std::uint8_t> piece{piece_.data(), n};
            sent_hash_.update(piece);
            sent_ += n;
            sent_all_ = sent_ == total_;
            if (!c.write_message(piece, sent_all_)) return;  // closing
        }
        if (sent_all_ && !finished_sending_) {
            finished_sending_ = true;
            sent_digest_ = sent_hash_.hex();
            if (!st_.expect_echo) {
                sent_done_at_ = uv_hrtime();
                c.close(1000, {});
            }
        }
    }

    void on_echo(connection& c, std::span<const std::uint8_t> d, bool fin) {
        echo_hash_.update(d);
        echoed_ += d.size();
        if (!fin) return;
        echo_complete_ = true;
        sent_done_at_ = uv_hrtime();
        c.close(1000, {});
    }

    void on_close(std::uint16_t code, std::string_view reason) {
        stop_progress();
        const double secs =
            static_cast<double>((sent_done_at_ ? sent_done_at_ : uv_hrtime()) - start_) / 1e9;
        const bool normal = code == 1000 || code == 1001;
        const bool complete = sent_all_ && (!st_.expect_echo || echo_complete_);
        if (!complete || (!normal && !echo_complete_)) {
            // The reason is the server's text: escaped, it cannot drive the terminal.
            const std::string shown = common::escape_for_display(reason);
            std::fprintf(stderr,
                         "sockeye send: connection closed with %u%s%.*s after sending %llu of "
                         "%llu bytes\n",
                         code, shown.empty() ? "" : " ", static_cast<int>(shown.size()),
                         shown.data(), static_cast<unsigned long long>(sent_),
                         static_cast<unsigned long long>(total_));
            if (exit_code_ == 0) exit_code_ = 8;
            return;
        }
        const double mbps = secs > 0 ? static_cast<double>(total_) / 1e6 / secs : 0;
        std::string line = "sent " + std::to_string(total_) + " bytes in ";
        char buf[64];
        std::snprintf(buf, sizeof buf, "%.2f s (%.0f MB/s)", secs, mbps);
        line += buf;
        if (st_.expect_echo) {
            const std::string echo_digest = echo_hash_.hex();
            if (echoed_ != total_ || echo_digest != sent_digest_ || !echo_type_ok_) {
                std::printf(
                    "%s; echo MISMATCH: sent %llu bytes SHA-256 %s, got %llu bytes "
                    "SHA-256 %s%s\n",
                    line.c_str(), static_cast<unsigned long long>(total_), sent_digest_.c_str(),
                    static_cast<unsigned long long>(echoed_), echo_digest.c_str(),
                    echo_type_ok_ ? "" : " (message type differs)");
                exit_code_ = 7;
                return;
            }
            line += "; echo SHA-256 matches";
        }
        std::printf("%s\n", line.c_str());
        if (!normal) exit_code_ = 8;
    }

    static void on_progress(uv_timer_t* t) {
        auto* self = static_cast<transfer*>(t->data);
        self->print_progress();
    }

    void print_progress() {
        const double secs = static_cast<double>(uv_hrtime() - start_) / 1e9;
        const std::uint64_t goal = st_.expect_echo ? 2 * total_ : total_;
        const std::uint64_t done = sent_ + (st_.expect_echo ? echoed_ : 0);
        const double pct =
            goal ? 100.0 * static_cast<double>(done) / static_cast<double>(goal) : 100.0;
        const double mbps = secs > 0 ? static_cast<double>(sent_) / 1e6 / secs : 0;
        std::string echo;
        if (st_.expect_echo) echo = ", echoed " + human(static_cast<double>(echoed_));
        std::fprintf(stderr, "%ssent %s of %s%s (%.0f%%), %.0f MB/s%s", tty_ ? "\r" : "",
                     human(static_cast<double>(sent_)).c_str(),
                     human(static_cast<double>(total_)).c_str(), echo.c_str(), pct, mbps,
                     tty_ ? "   " : "\n");
        progress_shown_ = true;
    }

    void stop_progress() {
        if (!timer_open_) return;
        timer_open_ = false;
        uv_close(reinterpret_cast<uv_handle_t*>(&progress_), nullptr);
        if (tty_ && progress_shown_) std::fputc('\n', stderr);
    }

    send_state& st_;
    int fd_;
    std::uint64_t total_;
    pattern_source pattern_;
    std::vector<std::uint8_t> piece_;
    sha256 sent_hash_;
    sha256 echo_hash_;
    std::string sent_digest_;
    std::uint64_t sent_ = 0;
    std::uint64_t echoed_ = 0;
    bool sent_all_ = false;
    bool finished_sending_ = false;
    bool echo_complete_ = false;
    bool echo_type_ok_ = true;
    std::uint64_t start_ = 0;
    std::uint64_t sent_done_at_ = 0;
    int exit_code_ = 0;
    bool tty_ = false;
    bool progress_shown_ = false;
    uv_loop_t* loop_ = nullptr;
    uv_timer_t progress_{};
    bool timer_open_ = false;
};

int run_send(send_state& st) {
    int fd = -1;
    std::uint64_t total = st.size;
    if (!st.file.empty()) {
        fd = ::open(st.file.c_str(), O_RDONLY | O_CLOEXEC);
        struct stat sb {};
        if (fd < 0 || ::fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
            std::fprintf(stderr, "sockeye send: cannot read %s: %s\n", st.file.c_str(),
                         fd < 0 ? std::strerror(errno) : "not a regular file");
            if (fd >= 0) ::close(fd);
            return 2;
        }
        total = static_cast<std::uint64_t>(sb.st_size);
    }
    int rc = 1;
    try {
        transfer t(st, fd, total);
        rc = t.run();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "sockeye send: %s\n", e.what());
    }
    if (fd >= 0) ::close(fd);
    return rc;
}

}  // namespace

command_runner add_send_command(CLI::App& app) {
    auto st = std::make_shared<send_state>();
    auto* cmd = app.add_subcommand(
        "send", "Stream a file or N generated bytes as one message; optionally check the echo");
    cmd->add_option("url", st->opts.url, "ws:// or wss:// URL (http/https accepted)")->required();
    auto* file = cmd->add_option("--file", st->file, "Send this file's contents");
    auto* size = cmd->add_option("--size", st->size,
                                 "Send this many generated bytes (a deterministic pattern)");
    file->excludes(size);
    size->excludes(file);
    cmd->add_flag("--binary", st->binary, "Send a binary message (default: text)");
    cmd->add_option("--fragment", st->fragment,
                    "Bytes per frame: the message goes out in frames of this size (max 16 MiB)")
        ->capture_default_str()
        ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{16} << 20));
    cmd->add_flag("--expect-echo", st->expect_echo,
                  "Read the echo back and compare its SHA-256 with what was sent");
    cmd->add_option("--subprotocol", st->opts.subprotocols, "Offer a subprotocol (repeatable)");
    cmd->add_option("--origin", st->opts.origin, "Origin header to send");
    cmd->add_option("--cacert", st->opts.cacert, "Trust the CAs in this PEM file (wss)");
    cmd->add_flag("--http2", st->opts.http2,
                  "WebSocket over HTTP/2 (RFC 8441): wss via TLS ALPN h2, ws via h2c");
    cmd->add_flag("--insecure", st->opts.insecure,
                  "wss: skip certificate and host name verification");
    cmd->add_option("--connect-timeout", st->opts.connect_timeout,
                    "Seconds to get an open connection")
        ->capture_default_str()
        ->check(CLI::NonNegativeNumber);
    cmd->add_flag("--trace", st->trace, trace_help);
    cmd->footer(exit_codes_footer);
    return [st, cmd, file, size]() -> int {
        if (!cmd->parsed()) return -1;
        if (file->count() == 0 && size->count() == 0) {
            std::fprintf(stderr, "sockeye send: give --file FILE or --size BYTES\n");
            return 2;
        }
        if (st->trace) st->opts.trace = trace_to_stderr;
        return run_send(*st);
    };
}

}  // namespace sockeye::apps
