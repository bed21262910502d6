// An immutable byte buffer shared by reference count, across threads: a published message
// framed once and queued to every subscriber on every loop. One allocation holds the count,
// the size and the bytes. The bytes are written once by whoever creates the buffer, before
// it is shared, and only read after; the count is the only thing that changes.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <new>
#include <span>
#include <utility>

namespace sockeye::net {

class shared_bytes {
  public:
    // A buffer of `size` bytes (to be filled by the caller), held once by the returned ref.
    static shared_bytes* create(std::size_t size) {
        void* p = ::operator new(sizeof(shared_bytes) + size);
        return new (p) shared_bytes(size);
    }
    void retain() noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }
    void release() noexcept {
        if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
            this->~shared_bytes();
            ::operator delete(this);
        }
    }
    std::uint8_t* data() noexcept { return reinterpret_cast<std::uint8_t*>(this + 1); }
    const std::uint8_t* data() const noexcept {
        return reinterpret_cast<const std::uint8_t*>(this + 1);
    }
    std::size_t size() const noexcept { return size_; }
    std::span<const std::uint8_t> bytes() const noexcept { return {data(), size_}; }
    std::uint32_t use_count() const noexcept { return refs_.load(std::memory_order_relaxed); }

  private:
    explicit shared_bytes(std::size_t size) noexcept : size_(size) {}
    ~shared_bytes() = default;
    std::atomic<std::uint32_t> refs_{1};
    std::size_t size_;
};

// An owning reference to a shared_bytes (null when empty).
class shared_ref {
  public:
    shared_ref() = default;
    // Adopts one reference the caller holds (as create() returns).
    static shared_ref adopt(shared_bytes* b) noexcept {
        shared_ref r;
        r.p_ = b;
        return r;
    }
    shared_ref(const shared_ref& o) noexcept : p_(o.p_) {
        if (p_) p_->retain();
    }
    shared_ref(shared_ref&& o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
    shared_ref& operator=(shared_ref o) noexcept {
        std::swap(p_, o.p_);
        return *this;
    }
    ~shared_ref() { reset(); }
    void reset() noexcept {
        if (p_) std::exchange(p_, nullptr)->release();
    }
    shared_bytes* get() const noexcept { return p_; }
    shared_bytes* operator->() const noexcept { return p_; }
    explicit operator bool() const noexcept { return p_ != nullptr; }

  private:
    shared_bytes* p_ = nullptr;
};

}  // namespace sockeye::net
