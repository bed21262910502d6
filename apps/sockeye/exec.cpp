#include "exec.hpp"

#include <signal.h>
#include <strings.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <span>
#include <string_view>
#include <unordered_set>
#include <utility>

#include "utf8_text.hpp"

extern char** environ;

namespace sockeye::apps {

namespace {

constexpr std::size_t read_size = 64 * 1024;
// A stderr line longer than this is logged in pieces of this size.
constexpr std::size_t log_piece = 900;
// Lines mode with no --max-message: the longest stdout line.
constexpr std::size_t default_line_limit = 1 << 20;

struct program;

std::uint64_t to_ms(double seconds) {
    return seconds <= 0 ? 0 : static_cast<std::uint64_t>(seconds * 1000 + 0.5);
}

// Sets NAME=VALUE in `env`, replacing an earlier NAME.
void set_env(std::vector<std::string>& env, std::string_view name, std::string_view value) {
    std::string entry;
    entry.reserve(name.size() + 1 + value.size());
    entry.append(name).append("=").append(value);
    for (auto& e : env) {
        if (e.size() > name.size() && e.compare(0, name.size(), name) == 0 &&
            e[name.size()] == '=') {
            e = std::move(entry);
            return;
        }
    }
    env.push_back(std::move(entry));
}

// "ip:port" or "[v6]:port" → ip, port.
std::pair<std::string, std::string> split_peer(std::string_view peer) {
    const std::size_t colon = peer.rfind(':');
    if (colon == std::string_view::npos) return {std::string(peer), ""};
    std::string_view host = peer.substr(0, colon);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
        host = host.substr(1, host.size() - 2);
    }
    return {std::string(host), std::string(peer.substr(colon + 1))};
}

// The host part of a Host header ("example.com:8080", "[::1]:8080").
std::string host_name(std::string_view host) {
    if (host.starts_with('[')) {
        const std::size_t end = host.find(']');
        return std::string(host.substr(1, end == std::string_view::npos ? host.npos : end - 1));
    }
    return std::string(host.substr(0, host.find(':')));
}

// HTTP_* name for a header, or empty when the name must not pass: only letters, digits and
// '-' are allowed, so "X-Foo" and "X_Foo" cannot both become HTTP_X_FOO, and "Proxy" is
// dropped so that no client can set HTTP_PROXY for the program (httpoxy).
std::string header_env_name(std::string_view name) {
    if (name.empty() || (name.size() == 5 && ::strncasecmp(name.data(), "proxy", 5) == 0)) {
        return {};
    }
    constexpr std::string_view prefix = "HTTP_";
    std::string key(prefix.size() + name.size(), '_');
    std::memcpy(key.data(), prefix.data(), prefix.size());
    for (std::size_t i = 0; i < name.size(); ++i) {
        const auto c = static_cast<unsigned char>(name[i]);
        if (std::isalnum(c)) {
            key[prefix.size() + i] = static_cast<char>(std::toupper(c));
        } else if (c != '-') {
            return {};
        }
    }
    return key;
}

std::string describe_exit(std::int64_t status, int term_signal) {
    if (term_signal != 0) return "killed by signal " + std::to_string(term_signal);
    return "exit status " + std::to_string(status);
}

// What the --exec-max count holds while a program may run: taken at the upgrade, given
// back when the program has been reaped (or when the upgrade never opened).
class slot {
  public:
    slot() = default;
    explicit slot(std::atomic<std::size_t>* count) : count_(count) {}
    slot(slot&& o) noexcept : count_(std::exchange(o.count_, nullptr)) {}
    slot& operator=(slot&& o) noexcept {
        if (this != &o) {
            release();
            count_ = std::exchange(o.count_, nullptr);
        }
        return *this;
    }
    ~slot() { release(); }
    explicit operator bool() const noexcept { return count_ != nullptr; }

  private:
    void release() noexcept {
        if (count_) count_->fetch_sub(1, std::memory_order_relaxed);
        count_ = nullptr;
    }
    std::atomic<std::size_t>* count_ = nullptr;
};

// The connection's state from the upgrade on: the slot and the request's environment
// until on_open starts the program, then the program.
struct exec_ticket {
    exec_ticket(slot s, std::vector<std::string> e) : held(std::move(s)), env(std::move(e)) {}
    slot held;
    std::vector<std::string> env;
    program* p = nullptr;
};

}  // namespace

struct exec_app::state {
    exec_settings s;
    std::size_t high = 1 << 20;
    std::size_t low = 256 << 10;
    std::size_t line_limit = default_line_limit;
    std::string listen_host;
    server* srv = nullptr;
    std::vector<std::string> base_env;
    std::atomic<std::size_t> running{0};
    // Every program not yet freed, on all loops.
    std::mutex mutex;
    std::unordered_set<program*> programs;
    // finish() ran: the loops are stopped, nothing frees itself any more.
    std::atomic<bool> stopped{false};

    slot reserve() {
        const std::size_t max = s.max_programs;
        std::size_t n = running.load(std::memory_order_relaxed);
        do {
            if (max != 0 && n >= max) return {};
        } while (!running.compare_exchange_weak(n, n + 1, std::memory_order_relaxed));
        return slot(&running);
    }
    void log(log_level level, const std::string& text) const {
        if (srv) srv->log(level, text);
    }
};

namespace {

using app_state_ptr = std::shared_ptr<exec_app::state>;

// One running program and its pipes, on the loop of the connection that started it. It
// outlives the connection (stdin closed, then the grace, SIGTERM, SIGKILL) and frees
// itself once the program is reaped and every handle is closed.
struct program {
    program(app_state_ptr s, connection& c, slot held)
        : st(std::move(s)), conn(&c), peer(c.peer()), loop(c.loop()), slot_(std::move(held)) {}

    app_state_ptr st;
    connection* conn;  // null once the connection has ended
    std::string peer;
    uv_loop_t* loop;
    slot slot_;
    uv_process_t proc{};
    uv_pipe_t in{}, out{}, err{};
    uv_timer_t timer{};
    uv_timer_t flush_timer{};  // --exec-flush: ends the message stdout is streaming into
    uv_check_t check{};
    int handles = 0;  // initialised and not yet closed
    int pid = 0;
    bool started = false;
    bool exited = false;
    std::int64_t exit_status = 0;
    int term_signal = 0;
    bool in_open = false, out_open = false, err_open = false, timer_open = false,
         check_open = false, flush_open = false;
    bool in_message = false;        // --exec-flush: a streamed message is open
    std::size_t message_bytes = 0;  // ... holding this many bytes so far
    bool out_stopped = false;       // stdout not read: the client's output is over high water
    bool out_progress = false;      // stdout bytes since the last timer tick (after the exit)
    bool conn_paused = false;       // the client is not read: stdin's queue is over high water
    bool closing = false;           // we closed the connection (or it closed itself)
    enum class stage : std::uint8_t {
        running,
        stdin_closed,
        term_sent,
        kill_sent
    } phase = stage::running;
    std::size_t in_queued = 0;  // bytes handed to uv_write, not yet written
    std::string line;           // lines mode: the stdout line so far
    std::string err_line;       // the stderr line so far

    struct stdin_write {
        uv_write_t req;
        std::vector<char> bytes;
    };

    static program* of(uv_handle_t* h) { return static_cast<program*>(h->data); }
    template <class H>
    uv_handle_t* as_handle(H* h) {
        return reinterpret_cast<uv_handle_t*>(h);
    }
    uv_stream_t* stream(uv_pipe_t* p) { return reinterpret_cast<uv_stream_t*>(p); }

    std::string who() const {
        // Built by appending: GCC 12 warns falsely (-Wrestrict) on "..." + std::string.
        std::string name = "exec ";
        name += peer;
        if (pid) {
            name += " pid ";
            name += std::to_string(pid);
        }
        return name;
    }

    // ---------------------------------------------------------------- start

    bool start(const std::vector<std::string>& argv, const std::vector<std::string>& env) {
        for (uv_pipe_t* p : {&in, &out, &err}) {
            uv_pipe_init(loop, p, 0);
            p->data = this;
            ++handles;
        }
        in_open = out_open = err_open = true;
        uv_timer_init(loop, &timer);
        timer.data = this;
        uv_check_init(loop, &check);
        check.data = this;
        handles += 2;
        timer_open = check_open = true;
        if (fragmenting()) {
            uv_timer_init(loop, &flush_timer);
            flush_timer.data = this;
            ++handles;
            flush_open = true;
        }

        std::vector<char*> args;
        for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
        args.push_back(nullptr);
        std::vector<char*> envp;
        for (const auto& e : env) envp.push_back(const_cast<char*>(e.c_str()));
        envp.push_back(nullptr);

        uv_stdio_container_t stdio[3];
        stdio[0].flags = static_cast<uv_stdio_flags>(UV_CREATE_PIPE | UV_READABLE_PIPE);
        stdio[0].data.stream = stream(&in);
        stdio[1].flags = static_cast<uv_stdio_flags>(UV_CREATE_PIPE | UV_WRITABLE_PIPE);
        stdio[1].data.stream = stream(&out);
        stdio[2].flags = static_cast<uv_stdio_flags>(UV_CREATE_PIPE | UV_WRITABLE_PIPE);
        stdio[2].data.stream = stream(&err);
        uv_process_options_t o{};
        o.exit_cb = on_exit;
        o.file = args[0];
        o.args = args.data();
        o.env = envp.data();
        o.cwd = st->s.dir.empty() ? nullptr : st->s.dir.c_str();
        // Its own session and process group: a terminal's Ctrl-C reaches the server only
        // (which then ends programs in order), and signals reach the program's children.
        o.flags = UV_PROCESS_DETACHED;
        o.stdio_count = 3;
        o.stdio = stdio;
        proc.data = this;
        const int r = uv_spawn(loop, &proc, &o);
        ++handles;  // initialised even when the spawn fails: it must be closed
        if (r != 0) {
            st->log(log_level::warn, who() + ": cannot run " + argv[0] + ": " + uv_strerror(r));
            exited = true;
            uv_close(as_handle(&proc), on_closed);
            close_all();
            close_connection(1011, "cannot start the program");
            return false;
        }
        started = true;
        pid = proc.pid;
        st->log(log_level::debug, who() + ": started " + argv[0]);
        uv_read_start(stream(&out), on_alloc, on_stdout);
        uv_read_start(stream(&err), on_alloc, on_stderr);
        return true;
    }

    // ---------------------------------------------------------------- stdin

    void write_in(std::span<const std::uint8_t> data) {
        if (!in_open || data.empty()) return;
        if (in_queued == 0) {
            uv_buf_t b =
                uv_buf_init(reinterpret_cast<char*>(const_cast<std::uint8_t*>(data.data())),
                            static_cast<unsigned>(data.size()));
            const int n = uv_try_write(stream(&in), &b, 1);
            if (n >= 0) {
                data = data.subspan(static_cast<std::size_t>(n));
            } else if (n != UV_EAGAIN) {
                stdin_failed(n);
                return;
            }
            if (data.empty()) return;
        }
        auto* w = new stdin_write;
        w->bytes.resize(data.size());
        std::memcpy(w->bytes.data(), data.data(), data.size());
        w->req.data = this;
        const uv_buf_t b = uv_buf_init(w->bytes.data(), static_cast<unsigned>(w->bytes.size()));
        const int r = uv_write(&w->req, stream(&in), &b, 1, on_written);
        if (r != 0) {
            delete w;
            stdin_failed(r);
            return;
        }
        in_queued += data.size();
    }

    static void on_written(uv_write_t* req, int status) {
        auto* w = reinterpret_cast<stdin_write*>(req);
        auto* p = static_cast<program*>(req->data);
        p->in_queued -= w->bytes.size();
        delete w;
        if (status < 0 && status != UV_ECANCELED) {
            p->stdin_failed(status);
            return;
        }
        if (p->conn_paused && p->in_queued <= p->st->low) p->resume_client();
    }

    // The program does not take input any more (it closed stdin, or exited).
    void stdin_failed(int status) {
        if (status != UV_EPIPE) {
            st->log(log_level::debug, who() + ": stdin: " + uv_strerror(status));
        }
        close_in();
        resume_client();  // what the client sends now is dropped, but its frames are read
    }

    void close_in() {
        if (!in_open) return;
        in_open = false;
        uv_close(as_handle(&in), on_closed);
    }

    void pause_client() {
        if (conn_paused || !conn) return;
        conn_paused = true;
        conn->pause();
    }

    void resume_client() {
        if (!conn_paused) return;
        conn_paused = false;
        if (conn) conn->resume();
    }

    // From the connection: a piece of a received message.
    void received(std::span<const std::uint8_t> piece, bool fin) {
        if (!in_open) return;
        write_in(piece);
        if (fin && st->s.mode == exec_mode::lines) {
            static const std::uint8_t nl = '\n';
            write_in({&nl, 1});
        }
        if (in_queued > st->high) pause_client();
    }

    // ---------------------------------------------------------------- stdout

    static void on_alloc(uv_handle_t*, std::size_t, uv_buf_t* buf) {
        // One buffer per loop thread: each read is consumed before the next one is made.
        thread_local std::vector<char> buffer(read_size);
        *buf = uv_buf_init(buffer.data(), static_cast<unsigned>(buffer.size()));
    }

    static void on_stdout(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
        auto* p = of(reinterpret_cast<uv_handle_t*>(s));
        if (n > 0) {
            p->output(
                {reinterpret_cast<const std::uint8_t*>(buf->base), static_cast<std::size_t>(n)});
        } else if (n < 0) {
            p->stdout_ended();
        }
    }

    bool can_send() const { return conn != nullptr && !closing; }

    void output(std::span<const std::uint8_t> data) {
        out_progress = true;
        if (!can_send()) return;  // the connection is gone or going: drained and dropped
        if (fragmenting()) {
            stream_out(data);
        } else if (st->s.mode == exec_mode::binary) {
            conn->send(message_type::binary, data);
        } else {
            split_lines(data);
        }
        if (can_send() && conn->buffered_amount() > st->high) stop_stdout();
    }

    bool fragmenting() const {
        return st->s.mode == exec_mode::binary && (st->s.flush > 0 || st->s.flush_size > 0);
    }

    // Each read is a fragment of the open message; the message ends at flush_size bytes
    // exactly (a read may end one and begin the next) or when the flush timer fires.
    void stream_out(std::span<const std::uint8_t> data) {
        while (!data.empty() && can_send()) {
            if (!in_message) {
                if (!conn->begin_message(message_type::binary)) return;
                in_message = true;
                message_bytes = 0;
                if (st->s.flush > 0)
                    uv_timer_start(&flush_timer, on_flush,
                                   std::max<std::uint64_t>(to_ms(st->s.flush), 1), 0);
            }
            std::size_t take = data.size();
            const std::size_t cap = st->s.flush_size;
            if (cap != 0) take = std::min(take, cap - message_bytes);
            message_bytes += take;
            const bool fin = cap != 0 && message_bytes == cap;
            conn->write_message(data.first(take), fin);
            if (fin) {
                in_message = false;
                uv_timer_stop(&flush_timer);
            }
            data = data.subspan(take);
        }
    }

    static void on_flush(uv_timer_t* t) { of(reinterpret_cast<uv_handle_t*>(t))->end_message(); }

    // Ends the open message with an empty final fragment (RFC 6455 5.4 allows it).
    void end_message() {
        if (!in_message) return;
        in_message = false;
        if (flush_open) uv_timer_stop(&flush_timer);
        if (can_send()) conn->write_message({}, true);
    }

    void split_lines(std::span<const std::uint8_t> data) {
        std::string_view rest(reinterpret_cast<const char*>(data.data()), data.size());
        while (can_send()) {
            const std::size_t nl = rest.find('\n');
            const std::string_view part = rest.substr(0, nl);
            if (line.size() + part.size() > st->line_limit) {
                line.clear();
                close_connection(1009,
                                 "line longer than " + std::to_string(st->line_limit) + " bytes");
                return;
            }
            if (nl == std::string_view::npos) {
                line.append(part);
                return;
            }
            if (line.empty()) {
                send_line(part);
            } else {
                line.append(part);
                send_line(line);
                line.clear();
            }
            rest.remove_prefix(nl + 1);
        }
    }

    void send_line(std::string_view text) {
        const std::span<const std::uint8_t> bytes(
            reinterpret_cast<const std::uint8_t*>(text.data()), text.size());
        conn->send(valid_utf8(text) ? message_type::text : message_type::binary, bytes);
    }

    void stop_stdout() {
        if (out_stopped || !out_open) return;
        out_stopped = true;
        uv_read_stop(stream(&out));
        // Checked after every round of I/O (the writes to the client end in one): the
        // client's on_drain comes only after its output passed the server's high water at
        // a flush, which a fast flush may never see.
        uv_check_start(&check, [](uv_check_t* c) {
            auto* p = of(reinterpret_cast<uv_handle_t*>(c));
            if (!p->can_send() || p->conn->buffered_amount() <= p->st->low) p->resume_stdout();
        });
    }

    void resume_stdout() {
        if (!out_stopped) return;
        out_stopped = false;
        uv_check_stop(&check);
        if (out_open) uv_read_start(stream(&out), on_alloc, on_stdout);
    }

    void stdout_ended() {
        if (!out_open) return;
        end_message();
        if (can_send() && !line.empty()) send_line(line);
        line.clear();
        out_open = false;
        out_stopped = false;
        uv_check_stop(&check);
        uv_close(as_handle(&out), on_closed);
        if (exited) finish_connection();
    }

    // ---------------------------------------------------------------- stderr

    static void on_stderr(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
        auto* p = of(reinterpret_cast<uv_handle_t*>(s));
        if (n > 0) {
            p->errors({buf->base, static_cast<std::size_t>(n)});
        } else if (n < 0) {
            if (!p->err_line.empty()) p->log_stderr(p->err_line);
            p->err_line.clear();
            p->close_err();
        }
    }

    void errors(std::string_view data) {
        while (!data.empty()) {
            const std::size_t nl = data.find('\n');
            const std::string_view part = data.substr(0, nl);
            if (nl == std::string_view::npos) {
                err_line.append(part);
                while (err_line.size() >= log_piece) {
                    log_stderr(std::string_view(err_line).substr(0, log_piece));
                    err_line.erase(0, log_piece);
                }
                return;
            }
            if (err_line.empty()) {
                log_stderr(part);
            } else {
                err_line.append(part);
                log_stderr(err_line);
                err_line.clear();
            }
            data.remove_prefix(nl + 1);
        }
    }

    void log_stderr(std::string_view text) {
        std::string record = who() + ": ";
        record.append(text);
        st->log(log_level::info, record);
    }

    void close_err() {
        if (!err_open) return;
        err_open = false;
        uv_close(as_handle(&err), on_closed);
    }

    // ---------------------------------------------------------------- the end

    void kill_group(int sig) {
        if (pid <= 0) return;
        if (::kill(-pid, sig) != 0 && !exited) ::kill(pid, sig);
    }

    static void on_exit(uv_process_t* proc, std::int64_t status, int term_signal) {
        auto* p = of(reinterpret_cast<uv_handle_t*>(proc));
        p->exited = true;
        p->exit_status = status;
        p->term_signal = term_signal;
        p->st->log(log_level::info, p->who() + ": " + describe_exit(status, term_signal));
        uv_close(reinterpret_cast<uv_handle_t*>(proc), on_closed);
        p->close_in();
        uv_timer_stop(&p->timer);
        if (!p->conn) {
            p->close_all();
            return;
        }
        if (!p->out_open) {
            p->finish_connection();
            return;
        }
        // Its output is still coming (or sits in the pipe). Wait for the end of it as long
        // as it moves or the client holds it up; a descendant that keeps stdout open and
        // silent for a grace period is killed.
        p->out_progress = false;
        p->arm_timer();
    }

    void arm_timer() {
        if (!timer_open) return;
        uv_timer_start(&timer, on_timer, std::max<std::uint64_t>(to_ms(st->s.grace), 1), 0);
    }

    static void on_timer(uv_timer_t* t) {
        auto* p = of(reinterpret_cast<uv_handle_t*>(t));
        if (p->exited) {
            if (p->out_stopped || p->out_progress) {
                p->out_progress = false;
                p->arm_timer();
                return;
            }
            p->kill_group(SIGKILL);
            p->finish_connection();
            return;
        }
        if (p->phase == stage::stdin_closed) {
            p->st->log(log_level::info, p->who() + ": still running, sending SIGTERM");
            p->kill_group(SIGTERM);
            p->phase = stage::term_sent;
            p->arm_timer();
        } else if (p->phase == stage::term_sent) {
            p->st->log(log_level::warn, p->who() + ": ignored SIGTERM, sending SIGKILL");
            p->kill_group(SIGKILL);
            p->phase = stage::kill_sent;
        }
    }

    // The program is over and its output sent: close the connection with its status.
    void finish_connection() {
        if (can_send() && !line.empty()) send_line(line);
        line.clear();
        if (out_open) {
            out_open = false;
            out_stopped = false;
            uv_check_stop(&check);
            uv_close(as_handle(&out), on_closed);
        }
        close_err();
        if (can_send()) {
            if (started && exit_status == 0 && term_signal == 0) {
                close_connection(1000, {});
            } else if (started) {
                close_connection(1011, describe_exit(exit_status, term_signal));
            } else {
                close_connection(1011, "cannot start the program");
            }
        }
    }

    void close_connection(std::uint16_t code, const std::string& reason) {
        end_message();
        if (!can_send()) return;
        closing = true;
        conn->close(code, reason);
        resume_client();
    }

    // From the connection's on_close: it is gone.
    void connection_ended() {
        conn = nullptr;
        end_message();
        closing = true;
        conn_paused = false;
        if (exited) {
            close_all();
            return;
        }
        close_in();
        resume_stdout();  // drained and dropped from now on, so the program is never stuck
        phase = stage::stdin_closed;
        arm_timer();
    }

    // Everything is over: close what is still open.
    void close_all() {
        close_in();
        if (out_open) {
            out_open = false;
            uv_close(as_handle(&out), on_closed);
        }
        close_err();
        if (timer_open) {
            timer_open = false;
            uv_close(as_handle(&timer), on_closed);
        }
        if (check_open) {
            check_open = false;
            uv_close(as_handle(&check), on_closed);
        }
        if (flush_open) {
            flush_open = false;
            uv_close(as_handle(&flush_timer), on_closed);
        }
    }

    static void on_closed(uv_handle_t* h) {
        auto* p = of(h);
        if (--p->handles == 0) p->maybe_free();
    }

    void maybe_free() {
        if (handles != 0 || conn != nullptr || st->stopped.load()) return;
        {
            std::lock_guard lock(st->mutex);
            st->programs.erase(this);
        }
        delete this;
    }
};

program* program_of(connection& c) {
    auto* t = c.state.get<exec_ticket>();
    return t ? t->p : nullptr;
}

}  // namespace

std::vector<std::string> exec_base_environment(const std::vector<std::string>& extra) {
    std::vector<std::string> env;
    static constexpr std::string_view kept[] = {"PATH", "HOME", "LANG", "LANGUAGE", "TZ", "TMPDIR"};
    for (char** e = environ; e && *e; ++e) {
        const std::string_view entry(*e);
        const std::size_t eq = entry.find('=');
        if (eq == std::string_view::npos) continue;
        const std::string_view name = entry.substr(0, eq);
        if (std::find(std::begin(kept), std::end(kept), name) != std::end(kept) ||
            name.starts_with("LC_")) {
            set_env(env, name, entry.substr(eq + 1));
        }
    }
    if (std::none_of(env.begin(), env.end(),
                     [](const std::string& e) { return e.starts_with("PATH="); })) {
        set_env(env, "PATH", "/usr/local/bin:/usr/bin:/bin");
    }
    for (const auto& x : extra) {
        const std::size_t eq = x.find('=');
        if (eq != std::string::npos) {
            set_env(env, std::string_view(x).substr(0, eq), std::string_view(x).substr(eq + 1));
        } else if (const char* v = std::getenv(x.c_str())) {
            set_env(env, x, v);
        }
    }
    return env;
}

exec_app::exec_app(exec_settings s, const server_options& o) : st_(std::make_shared<state>()) {
    st_->s = std::move(s);
    st_->high = o.high_water_mark;
    st_->low = std::min(o.low_water_mark, o.high_water_mark);
    st_->line_limit = o.max_message_size != 0 ? o.max_message_size : default_line_limit;
    st_->listen_host = o.host;
    st_->base_env = exec_base_environment(st_->s.env);
}

exec_app::~exec_app() {
    // The server (and its loops, which closed every handle) is gone: what is left is
    // plain memory.
    st_->stopped.store(true);
    std::unordered_set<program*> left;
    {
        std::lock_guard lock(st_->mutex);
        left.swap(st_->programs);
    }
    for (program* p : left) delete p;
}

handlers exec_app::make_handlers() {
    handlers h;
    auto st = st_;
    h.on_open = [st](connection& c) {
        auto* t = c.state.get<exec_ticket>();
        if (!t || !c.loop()) {
            c.close(1011, "no program for this connection");
            return;
        }
        std::vector<std::string> env = st->base_env;
        for (const auto& e : t->env) {
            const std::size_t eq = e.find('=');
            set_env(env, std::string_view(e).substr(0, eq), std::string_view(e).substr(eq + 1));
        }
        set_env(env, "SERVER_PROTOCOL", "HTTP/" + std::string(c.http_version()));
        auto* p = new program(st, c, std::move(t->held));
        {
            std::lock_guard lock(st->mutex);
            st->programs.insert(p);
        }
        t->p = p;
        t->env.clear();
        p->start(st->s.argv, env);
    };
    h.on_message_begin = [](connection&, message_type) {};
    h.on_message_chunk = [](connection& c, std::span<const std::uint8_t> piece, bool fin) {
        if (program* p = program_of(c)) p->received(piece, fin);
    };
    h.on_drain = [](connection& c) {
        if (program* p = program_of(c)) p->resume_stdout();
    };
    h.on_close = [](connection& c, std::uint16_t, std::string_view) {
        auto* t = c.state.get<exec_ticket>();
        if (!t || !t->p) return;
        program* p = std::exchange(t->p, nullptr);
        p->connection_ended();
        if (p->handles == 0) p->maybe_free();
    };
    return h;
}

void exec_app::attach(server& srv) {
    auto st = st_;
    st->srv = &srv;
    srv.on_upgrade([st](const upgrade_request& req, upgrade_reply reply) {
        // The decoded path becomes PATH_INFO: an environment string cannot hold a NUL.
        if (req.path.find('\0') != std::string::npos) {
            reply.reject(400, "the path holds a NUL byte\n");
            return;
        }
        slot held = st->reserve();
        if (!held) {
            reply.reject(503, "too many programs running, try again later\n",
                         {{"Retry-After", "1"}});
            return;
        }
        std::vector<std::string> env;
        const auto [addr, port] = split_peer(req.peer);
        set_env(env, "REMOTE_ADDR", addr);
        set_env(env, "REMOTE_PORT", port);
        set_env(env, "REQUEST_METHOD", req.method);
        set_env(env, "REQUEST_URI", req.target);
        set_env(env, "PATH_INFO", req.path);
        set_env(env, "QUERY_STRING", req.query);
        std::string name;
        if (const auto host = req.header("Host")) name = host_name(*host);
        if (name.empty()) name = req.server_name;
        if (name.empty()) name = st->listen_host;
        set_env(env, "SERVER_NAME", name);
        set_env(env, "SERVER_PORT", std::to_string(st->srv->port()));
        set_env(env, "SERVER_SOFTWARE", std::string("sockeye/") + SOCKEYE_VERSION);
        set_env(env, "GATEWAY_INTERFACE", "CGI/1.1");
        if (req.tls) set_env(env, "HTTPS", "on");
        // HTTP_*: in arrival order, repeats joined with ", " as CGI does.
        std::vector<std::pair<std::string, std::string>> headers;
        for (const auto& h : req.headers) {
            std::string key = header_env_name(h.name);
            if (key.empty()) continue;
            auto same = std::find_if(headers.begin(), headers.end(),
                                     [&](const auto& e) { return e.first == key; });
            if (same == headers.end()) {
                headers.emplace_back(std::move(key), h.value);
            } else {
                same->second.append(", ").append(h.value);
            }
        }
        for (const auto& [key, value] : headers) set_env(env, key, value);
        accept_options a;
        a.state = app_state::make<exec_ticket>(std::move(held), std::move(env));
        reply.accept(std::move(a));
    });
}

void exec_app::finish() {
    st_->stopped.store(true);
    std::vector<program*> alive;
    {
        std::lock_guard lock(st_->mutex);
        for (program* p : st_->programs) {
            if (p->started && !p->exited) alive.push_back(p);
        }
    }
    if (alive.empty()) return;
    // Connections the shutdown gave up on never ended: their programs get EOF now. (The
    // loop is not running; the handle's close completes when the server is destroyed.)
    for (program* p : alive) p->close_in();
    // Reaps what has exited; true when none is left.
    auto reap = [&alive]() {
        std::erase_if(alive, [](program* p) {
            int status = 0;
            const pid_t r = ::waitpid(p->pid, &status, WNOHANG);
            if (r == 0) return false;
            p->exited = true;
            return true;
        });
        return alive.empty();
    };
    auto wait_for = [&](double seconds) {
        timespec start{};
        clock_gettime(CLOCK_MONOTONIC, &start);
        for (;;) {
            if (reap()) return true;
            timespec now{};
            clock_gettime(CLOCK_MONOTONIC, &now);
            const double waited = static_cast<double>(now.tv_sec - start.tv_sec) +
                                  static_cast<double>(now.tv_nsec - start.tv_nsec) / 1e9;
            if (waited >= seconds) return false;
            const timespec step{0, 10 * 1000 * 1000};
            nanosleep(&step, nullptr);
        }
    };
    if (wait_for(st_->s.grace)) return;
    for (program* p : alive) {
        st_->log(log_level::info, p->who() + ": still running at shutdown, sending SIGTERM");
        p->kill_group(SIGTERM);
    }
    if (wait_for(st_->s.grace)) return;
    for (program* p : alive) {
        st_->log(log_level::warn, p->who() + ": ignored SIGTERM, sending SIGKILL");
        p->kill_group(SIGKILL);
    }
    wait_for(5);
}

}  // namespace sockeye::apps
