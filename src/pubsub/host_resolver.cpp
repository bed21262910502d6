#include "pubsub/host_resolver.hpp"

#include <cstring>
#include <utility>

namespace sockeye::pubsub {

struct host_resolver::lookup {
    uv_getaddrinfo_t req;
    host_resolver* owner;
};

namespace {

bool from_sockaddr(const sockaddr* sa, std::uint16_t port, resolved_address& out) {
    char name[INET6_ADDRSTRLEN] = {};
    if (sa->sa_family == AF_INET) {
        auto in = *reinterpret_cast<const sockaddr_in*>(sa);
        in.sin_port = htons(port);
        std::memcpy(&out.address, &in, sizeof in);
        uv_ip4_name(&in, name, sizeof name);
    } else if (sa->sa_family == AF_INET6) {
        auto in6 = *reinterpret_cast<const sockaddr_in6*>(sa);
        in6.sin6_port = htons(port);
        std::memcpy(&out.address, &in6, sizeof in6);
        uv_ip6_name(&in6, name, sizeof name);
    } else {
        return false;
    }
    out.ip = name;
    return true;
}

}  // namespace

void host_resolver::start(const std::string& host, std::uint16_t port, done_fn done) {
    cancel();
    resolved_address literal;
    sockaddr_in in{};
    sockaddr_in6 in6{};
    if (uv_ip4_addr(host.c_str(), port, &in) == 0) {
        from_sockaddr(reinterpret_cast<const sockaddr*>(&in), port, literal);
        done(0, literal);
        return;
    }
    if (uv_ip6_addr(host.c_str(), port, &in6) == 0) {
        from_sockaddr(reinterpret_cast<const sockaddr*>(&in6), port, literal);
        done(0, literal);
        return;
    }

    auto* l = new lookup{};
    l->owner = this;
    port_ = port;
    done_ = std::move(done);
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    const int rc = uv_getaddrinfo(
        loop_, &l->req,
        [](uv_getaddrinfo_t* req, int status, addrinfo* result) {
            auto* finished = reinterpret_cast<lookup*>(req);
            if (finished->owner) {
                finished->owner->pending_ = nullptr;
                finished->owner->finish(status, result);
            }
            uv_freeaddrinfo(result);
            delete finished;
        },
        host.c_str(), nullptr, &hints);
    if (rc != 0) {
        delete l;
        auto fn = std::move(done_);
        fn(rc, literal);
        return;
    }
    pending_ = l;
}

void host_resolver::cancel() {
    if (!pending_) return;
    pending_->owner = nullptr;
    // Only a lookup still queued can be cancelled; one already running finishes and is
    // freed by its callback, which no longer has an owner.
    uv_cancel(reinterpret_cast<uv_req_t*>(&pending_->req));
    pending_ = nullptr;
    done_ = nullptr;
}

void host_resolver::finish(int status, const addrinfo* result) {
    auto fn = std::move(done_);
    resolved_address address;
    if (status == 0) {
        status = UV_EAI_NONAME;
        for (const addrinfo* ai = result; ai; ai = ai->ai_next) {
            if (from_sockaddr(ai->ai_addr, port_, address)) {
                status = 0;
                break;
            }
        }
    }
    if (fn) fn(status, address);
}

}  // namespace sockeye::pubsub
