// Pieces the client commands (connect, send, bench) share.
#pragma once
#include <sockeye/client.hpp>

#include <openssl/evp.h>

#include <span>
#include <string>
#include <string_view>

namespace sockeye::apps {

// The process exit code for a client failure; documented in each command's --help.
int exit_code_for(client_error e);

// --trace: the client's trace lines (client_options::trace), one per write on stderr.
void trace_to_stderr(std::string_view line);
constexpr const char* trace_help =
    "Print every frame sent and received (header fields and bytes, first payload bytes), "
    "the reads and writes, messages, control frames and protocol errors on stderr";

// Incremental SHA-256 through OpenSSL, for checking echoes as they stream.
class sha256 {
  public:
    sha256();
    ~sha256();
    sha256(const sha256&) = delete;
    sha256& operator=(const sha256&) = delete;
    void update(std::span<const std::uint8_t> d) { EVP_DigestUpdate(ctx_, d.data(), d.size()); }
    // Lower-case hex; the object is spent afterwards.
    std::string hex();

  private:
    EVP_MD_CTX* ctx_;
};

}  // namespace sockeye::apps
