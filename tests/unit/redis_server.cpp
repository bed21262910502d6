#include "redis_server.hpp"

#include <hiredis/hiredis.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <thread>
#include <vector>

extern char** environ;

namespace sockeye::test {
namespace {

std::uint16_t free_loopback_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    socklen_t len = sizeof addr;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    ::close(fd);
    return ntohs(addr.sin_port);
}

redisContext* connect_sync(std::uint16_t port, const std::string& password) {
    const timeval timeout{1, 0};
    redisContext* c = redisConnectWithTimeout("127.0.0.1", port, timeout);
    if (!c || c->err) {
        if (c) redisFree(c);
        return nullptr;
    }
    redisSetTimeout(c, timeout);
    if (!password.empty()) {
        auto* r = static_cast<redisReply*>(redisCommand(c, "AUTH %s", password.c_str()));
        if (r) freeReplyObject(r);
    }
    return c;
}

}  // namespace

redis_server::redis_server(std::string password) : password_(std::move(password)) {
    char pattern[] = "/tmp/sockeye-redis.XXXXXX";
    if (::mkdtemp(pattern)) dir_ = pattern;
}

redis_server::~redis_server() {
    if (pid_ > 0) {
        ::kill(pid_, SIGKILL);
        reap();
    }
    if (!dir_.empty()) {
        std::error_code ignored;
        std::filesystem::remove_all(dir_, ignored);
    }
}

bool redis_server::available() {
    return std::system("command -v redis-server >/dev/null") == 0;
}

bool redis_server::start() {
    if (pid_ > 0) return true;
    if (port_ == 0) port_ = free_loopback_port();
    const std::string port = std::to_string(port_);
    std::vector<std::string> args{
        "redis-server", "--port", port,    "--bind", "127.0.0.1",   "--save", "",
        "--appendonly", "no",     "--dir", dir_,     "--daemonize", "no"};
    if (!password_.empty()) {
        args.push_back("--requirepass");
        args.push_back(password_);
    }
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    const int rc = posix_spawnp(&pid_, "redis-server", &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
        pid_ = -1;
        return false;
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (std::chrono::steady_clock::now() < deadline) {
        if (redisContext* c = connect_sync(port_, password_)) {
            auto* r = static_cast<redisReply*>(redisCommand(c, "PING"));
            const bool up = r && r->type == REDIS_REPLY_STATUS;
            if (r) freeReplyObject(r);
            redisFree(c);
            if (up) return true;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
}

void redis_server::kill_hard() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    reap();
}

void redis_server::reap() {
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
}

long long redis_server::command_integer(std::initializer_list<std::string_view> argv) const {
    redisContext* c = connect_sync(port_, password_);
    if (!c) return -1;
    std::vector<const char*> args;
    std::vector<std::size_t> lens;
    for (auto a : argv) {
        args.push_back(a.data());
        lens.push_back(a.size());
    }
    auto* r = static_cast<redisReply*>(
        redisCommandArgv(c, static_cast<int>(args.size()), args.data(), lens.data()));
    long long value = -1;
    if (r && r->type == REDIS_REPLY_INTEGER) value = r->integer;
    // PUBSUB NUMSUB answers [channel, count]: the count is what the caller wants.
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
        r->element[1]->type == REDIS_REPLY_INTEGER)
        value = r->element[1]->integer;
    if (r) freeReplyObject(r);
    redisFree(c);
    return value;
}

}  // namespace sockeye::test
