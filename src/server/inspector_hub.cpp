#include "inspector_hub.hpp"

#include <arpa/inet.h>

#include <algorithm>

#include "protocol/trace_json.hpp"

namespace sockeye::server_detail {

double inspector_hub::now_ms() const noexcept {
    const auto d = std::chrono::steady_clock::now() - start_;
    return std::chrono::duration<double, std::milli>(d).count();
}

std::shared_ptr<const inspector_hub::list> inspector_hub::snapshot() const {
    std::lock_guard<std::mutex> lock(mu_);
    return inspectors_;
}

void inspector_hub::add(connection_handle h, std::string tag) {
    auto entry = std::make_shared<inspector>();
    entry->handle = std::move(h);
    entry->tag = std::move(tag);
    std::lock_guard<std::mutex> lock(mu_);
    auto next = std::make_shared<list>(*inspectors_);
    next->push_back(std::move(entry));
    inspectors_ = std::move(next);
    count_.store(static_cast<int>(inspectors_->size()), std::memory_order_relaxed);
}

void inspector_hub::remove(const connection_handle& h) {
    std::lock_guard<std::mutex> lock(mu_);
    auto next = std::make_shared<list>(*inspectors_);
    next->erase(std::remove_if(next->begin(), next->end(),
                               [&](const auto& e) { return e->handle == h; }),
                next->end());
    inspectors_ = std::move(next);
    count_.store(static_cast<int>(inspectors_->size()), std::memory_order_relaxed);
}

void inspector_hub::publish(std::string_view tag, std::string_view json) {
    const auto all = snapshot();
    for (const auto& e : *all) {
        if (!e->tag.empty() && e->tag != tag) continue;
        if (e->handle.buffered_amount() + json.size() > max_backlog) {
            e->dropped.fetch_add(1, std::memory_order_relaxed);
            dropped_total_.fetch_add(1, std::memory_order_relaxed);
            continue;
        }
        if (const auto missed = e->dropped.exchange(0, std::memory_order_relaxed)) {
            std::string note;
            protocol::trace_json::begin(note, "dropped", 0, now_ms());
            note += ",\"count\":" + std::to_string(missed) + "}";
            e->handle.send_text(note);
        }
        e->handle.send_text(json);
    }
}

bool is_loopback_peer(std::string_view peer) noexcept {
    // "a.b.c.d:port" or "[v6]:port".
    std::string host(peer);
    if (!host.empty() && host.front() == '[') {
        const auto end = host.find(']');
        if (end == std::string::npos) return false;
        host = host.substr(1, end - 1);
    } else if (const auto colon = host.rfind(':'); colon != std::string::npos) {
        host.resize(colon);
    }
    in_addr a4{};
    if (inet_pton(AF_INET, host.c_str(), &a4) == 1) return (ntohl(a4.s_addr) >> 24) == 127;
    in6_addr a6{};
    if (inet_pton(AF_INET6, host.c_str(), &a6) == 1) {
        if (IN6_IS_ADDR_LOOPBACK(&a6)) return true;
        // ::ffff:127.x.x.x
        return IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127;
    }
    return false;
}

}  // namespace sockeye::server_detail
