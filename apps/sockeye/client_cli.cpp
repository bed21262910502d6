#include "client_cli.hpp"

#include <cstdio>
#include <stdexcept>

namespace sockeye::apps {

int exit_code_for(client_error e) {
    switch (e) {
        case client_error::none:
            return 0;
        case client_error::invalid_url:
            return 2;
        case client_error::connect:
            return 3;
        case client_error::tls:
            return 4;
        case client_error::handshake:
            return 5;
        case client_error::timeout:
            return 6;
    }
    return 1;
}

void trace_to_stderr(std::string_view line) {
    std::string out(line);
    out += '\n';
    std::fwrite(out.data(), 1, out.size(), stderr);  // one write: lines stay whole
}

sha256::sha256() : ctx_(EVP_MD_CTX_new()) {
    if (ctx_ == nullptr || EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr) != 1) {
        throw std::runtime_error("SHA-256 init failed");
    }
}

sha256::~sha256() {
    EVP_MD_CTX_free(ctx_);
}

std::string sha256::hex() {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_DigestFinal_ex(ctx_, md, &n);
    static const char digits[] = "0123456789abcdef";
    std::string out;
    for (unsigned int i = 0; i < n; ++i) {
        out += digits[md[i] >> 4];
        out += digits[md[i] & 0xf];
    }
    return out;
}

}  // namespace sockeye::apps
