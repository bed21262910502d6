// Runs a hiredis async context on a libuv loop, through the event hooks of async.h (the
// interface hiredis' adapters implement).
//
// Not hiredis' own adapters/libuv.h: in 0.14 its poll callback returns early on a non-zero
// status, and libuv reports POLLERR as UV_EBADF after stopping the poll handle. A refused
// connect (Redis down: the normal case during an outage) is POLLERR, so with that adapter
// hiredis never learns of it and the context hangs forever. Here an error status hands the
// socket to hiredis, which reads the real error and disconnects.
#pragma once
#include <uv.h>

struct redisAsyncContext;

namespace sockeye::pubsub {

// False if the loop cannot watch the context's socket; the context is then untouched
// and the caller frees it. Once attached, redisAsyncFree (or a disconnect) closes the
// poll handle, which frees itself on a later loop iteration.
bool attach_to_loop(redisAsyncContext* ac, uv_loop_t* loop);

}  // namespace sockeye::pubsub
