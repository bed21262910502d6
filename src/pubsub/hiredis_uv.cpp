#include "pubsub/hiredis_uv.hpp"

#include <hiredis/async.h>

namespace sockeye::pubsub {
namespace {

struct watcher {
    uv_poll_t poll{};
    redisAsyncContext* ac = nullptr;  // null once hiredis let go of us (cleanup)
    int events = 0;
};

void on_poll(uv_poll_t* handle, int status, int events);

void update(watcher* w) {
    if (w->events != 0)
        uv_poll_start(&w->poll, w->events, on_poll);
    else
        uv_poll_stop(&w->poll);
}

void on_poll(uv_poll_t* handle, int status, int events) {
    auto* w = static_cast<watcher*>(handle->data);
    if (!w->ac) return;
    if (status < 0) {
        // An unfinished connect learns its error from the write path, an open connection
        // from the read path; either ends in a disconnect that reports it.
        if (!(w->ac->c.flags & REDIS_CONNECTED))
            redisAsyncHandleWrite(w->ac);
        else
            redisAsyncHandleRead(w->ac);
        // libuv stopped the handle; still attached means hiredis wants more events.
        if (w->ac) update(w);
        return;
    }
    // Each call may free the context, which clears w->ac through cleanup.
    if (events & UV_READABLE) redisAsyncHandleRead(w->ac);
    if (w->ac && (events & UV_WRITABLE)) redisAsyncHandleWrite(w->ac);
}

void add_read(void* data) {
    auto* w = static_cast<watcher*>(data);
    w->events |= UV_READABLE;
    update(w);
}

void del_read(void* data) {
    auto* w = static_cast<watcher*>(data);
    w->events &= ~UV_READABLE;
    update(w);
}

void add_write(void* data) {
    auto* w = static_cast<watcher*>(data);
    w->events |= UV_WRITABLE;
    update(w);
}

void del_write(void* data) {
    auto* w = static_cast<watcher*>(data);
    w->events &= ~UV_WRITABLE;
    update(w);
}

void cleanup(void* data) {
    auto* w = static_cast<watcher*>(data);
    w->ac = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(&w->poll),
             [](uv_handle_t* handle) { delete static_cast<watcher*>(handle->data); });
}

}  // namespace

bool attach_to_loop(redisAsyncContext* ac, uv_loop_t* loop) {
    if (ac->ev.data != nullptr) return false;
    auto* w = new watcher;
    if (uv_poll_init(loop, &w->poll, ac->c.fd) != 0) {
        delete w;
        return false;
    }
    w->poll.data = w;
    w->ac = ac;
    ac->ev.data = w;
    ac->ev.addRead = add_read;
    ac->ev.delRead = del_read;
    ac->ev.addWrite = add_write;
    ac->ev.delWrite = del_write;
    ac->ev.cleanup = cleanup;
    return true;
}

}  // namespace sockeye::pubsub
