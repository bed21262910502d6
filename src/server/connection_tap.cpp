#include "connection_tap.hpp"

#include "protocol/trace_json.hpp"

namespace sockeye::server_detail {

namespace pj = protocol::trace_json;

connection_tap::publisher::publisher(inspector_hub& hub, std::string tag) noexcept
    : hub_(hub), tag_(std::move(tag)), id_(hub.next_connection()) {}

template <class Record>
void connection_tap::publisher::publish(const Record& r) {
    if (!hub_.active()) return;
    std::string json;
    json.reserve(256);
    pj::append(json, id_, hub_.now_ms(), r);
    hub_.publish(tag_, json);
}

void connection_tap::publisher::on_error(protocol::error e) {
    if (!hub_.active()) return;
    std::string json;
    pj::append_error(json, id_, hub_.now_ms(), e);
    hub_.publish(tag_, json);
}

template <class Fields>
void connection_tap::publisher::event(std::string_view kind, Fields add) {
    if (!hub_.active()) return;
    std::string json;
    pj::begin(json, kind, id_, hub_.now_ms());
    add(json, tag_);
    json += '}';
    hub_.publish(tag_, json);
}

connection_tap::connection_tap(inspector_hub& hub, std::string tag)
    : events_(hub, std::move(tag)) {}

void connection_tap::opened(std::string_view peer, std::string_view path, std::string_view http,
                            bool deflate) {
    events_.event("open", [&](std::string& json, const std::string& tag) {
        json += ",\"tag\":";
        pj::append_string(json, tag);
        json += ",\"peer\":";
        pj::append_string(json, peer);
        json += ",\"path\":";
        pj::append_string(json, path);
        json += ",\"http\":";
        pj::append_string(json, http);
        json += deflate ? ",\"deflate\":true" : ",\"deflate\":false";
    });
}

void connection_tap::ended(std::uint16_t code, std::string_view reason) {
    events_.event("end", [&](std::string& json, const std::string&) {
        json += ",\"code\":" + std::to_string(code) + ",\"reason\":";
        pj::append_string(json, reason);
    });
}

void connection_tap::flushed(std::uint64_t buffered) { recorder_.note_unsent(buffered); }

void connection_tap::queued_framed(std::span<const std::uint8_t> frames) {
    // Server frames are unmasked: the parser reads them without writing to them.
    framed_.feed(const_cast<std::uint8_t*>(frames.data()), frames.size(), *this);
}

bool connection_tap::on_frame_header(const protocol::frame_header& h,
                                     std::span<const std::uint8_t> raw) {
    recorder_.on_frame(protocol::direction::out, h, raw, false);
    return true;
}

bool connection_tap::on_frame_payload(std::span<std::uint8_t> data, bool frame_end) {
    recorder_.on_payload(protocol::direction::out, data, frame_end);
    return true;
}

}  // namespace sockeye::server_detail
