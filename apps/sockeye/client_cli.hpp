// Pieces the client commands (connect, send, bench) share.
#pragma once
#include <sockeye/client.hpp>

#include <openssl/evp.h>

#include <span>
#include <string>

namespace sockeye::apps {

// The process exit code for a client failure; documented in each command's --help.
int exit_code_for(client_error e);

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
