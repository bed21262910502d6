// A real redis-server for tests: started on a free loopback port with persistence off,
// killed (or stopped) at the end, and restartable on the same port to test reconnects.
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace sockeye::test {

class redis_server {
  public:
    // Empty password: no requirepass.
    explicit redis_server(std::string password = {});
    ~redis_server();
    redis_server(const redis_server&) = delete;
    redis_server& operator=(const redis_server&) = delete;

    static bool available();  // redis-server is installed

    // Starts it (on the same port as before, if it ran already) and waits until it answers
    // PING; false if it does not within 5 s.
    bool start();
    void kill_hard();  // SIGKILL, as a crash would
    std::uint16_t port() const noexcept { return port_; }

    // A synchronous command on a fresh connection, for checks: the reply's integer, or -1.
    long long command_integer(std::initializer_list<std::string_view> argv) const;

  private:
    void reap();

    std::string password_;
    std::string dir_;
    std::uint16_t port_ = 0;
    pid_t pid_ = -1;
};

}  // namespace sockeye::test
