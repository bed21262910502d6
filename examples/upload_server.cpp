// Uploads of any size through constant memory, two ways into the same directory:
//   - HTTP: `POST /upload/NAME` streams the request body to DIR/NAME and answers
//     {"bytes": N, "sha256": "..."};
//   - WebSocket on /upload: every binary message is streamed to a new file in DIR and
//     answered with a text message holding the same JSON.
// Nothing is held in memory but the piece at hand: a 10 GB upload costs what a 10 kB one
// does. Files are written synchronously, which suits a local disk; a server writing to
// slow storage would hand pieces to a worker and pause_body() / pause() meanwhile.
//
// Run: build/examples/upload_server DIR [port [cert.pem key.pem]] (with a certificate:
// https and wss on the same port), then
//   curl -T big.iso http://127.0.0.1:PORT/upload/big.iso
//   sockeye send --file big.iso ws://127.0.0.1:PORT/upload
#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <sockeye/server.hpp>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

namespace {

// A file being written and hashed as its pieces arrive.
class sink {
  public:
    explicit sink(const std::string& path)
        : fd_(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644)),
          md_(EVP_MD_CTX_new()) {
        if (md_) EVP_DigestInit_ex(md_, EVP_sha256(), nullptr);
    }
    ~sink() {
        if (fd_ >= 0) ::close(fd_);
        EVP_MD_CTX_free(md_);
    }
    sink(const sink&) = delete;
    sink& operator=(const sink&) = delete;

    bool ok() const { return fd_ >= 0 && md_ != nullptr && !failed_; }
    void add(std::span<const std::uint8_t> piece) {
        EVP_DigestUpdate(md_, piece.data(), piece.size());
        bytes_ += piece.size();
        while (!piece.empty() && !failed_) {
            const ssize_t n = ::write(fd_, piece.data(), piece.size());
            if (n <= 0) {
                failed_ = true;
                break;
            }
            piece = piece.subspan(static_cast<std::size_t>(n));
        }
    }
    // {"bytes": N, "sha256": "hex"}
    std::string finish() {
        unsigned char digest[EVP_MAX_MD_SIZE];
        unsigned int len = 0;
        EVP_DigestFinal_ex(md_, digest, &len);
        std::string hex;
        static const char* digits = "0123456789abcdef";
        for (unsigned i = 0; i < len; ++i) {
            hex += digits[digest[i] >> 4];
            hex += digits[digest[i] & 15];
        }
        return "{\"bytes\": " + std::to_string(bytes_) + ", \"sha256\": \"" + hex + "\"}";
    }

  private:
    int fd_;
    EVP_MD_CTX* md_;
    std::uint64_t bytes_ = 0;
    bool failed_ = false;
};

// A file name from the URL, kept inside DIR: no separators, no dot-files.
bool safe_name(std::string_view name) {
    return !name.empty() && name.size() <= 200 && name.front() != '.' &&
           name.find('/') == std::string_view::npos && name.find('\0') == std::string_view::npos;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: upload_server DIR [port [cert.pem key.pem]]\n");
        return 2;
    }
    const std::string dir = argv[1];
    sockeye::server_options options;
    options.port = argc > 2 ? static_cast<std::uint16_t>(std::atoi(argv[2])) : 8092;
    options.ws_path = "/upload";
    if (argc > 4) {
        options.tls_cert = argv[3];
        options.tls_key = argv[4];
    }

    std::uint64_t ws_files = 0;
    sockeye::handlers h;
    // WebSocket messages are streamed: each piece goes to the file as it arrives.
    h.on_message_begin = [&](sockeye::connection& c, sockeye::message_type) {
        c.state = sockeye::app_state::make<sink>(dir + "/ws-" + std::to_string(++ws_files));
        if (!c.state.get<sink>()->ok()) c.close(1011, "cannot create the file");
    };
    h.on_message_chunk = [](sockeye::connection& c, std::span<const std::uint8_t> piece, bool fin) {
        sink* s = c.state.get<sink>();
        if (!s) return;
        s->add(piece);
        if (!s->ok()) {
            c.close(1011, "cannot write the file");
        } else if (fin) {
            c.send_text(s->finish());
            c.state.reset();
        }
    };

    try {
        sockeye::server srv(options, h);
        sockeye::route_options big;
        big.max_body = 0;  // no limit: the body never sits in memory
        srv.route(
            "POST", "/upload/:name",
            [&dir](sockeye::http_exchange& ex) {
                const std::string name(*ex.request().param("name"));
                if (!safe_name(name)) {
                    ex.respond(400, "bad file name\n");
                    return;
                }
                ex.state = sockeye::app_state::make<sink>(dir + "/" + name);
                if (!ex.state.get<sink>()->ok()) {
                    ex.respond(500, "cannot create the file\n");
                    return;
                }
                ex.on_body([&ex](std::span<const std::uint8_t> piece, bool last) {
                    sink* s = ex.state.get<sink>();
                    s->add(piece);
                    if (!s->ok()) {
                        ex.respond(500, "cannot write the file\n");
                    } else if (last) {
                        ex.respond(200, s->finish() + "\n", {}, "application/json");
                    }
                });
            },
            big);
        srv.handle_signals();
        srv.listen();
        std::printf("listening on %s://127.0.0.1:%u/\n", srv.tls_enabled() ? "https" : "http",
                    srv.port());
        std::fflush(stdout);
        return srv.run();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "upload_server: %s\n", e.what());
        return 1;
    }
}
