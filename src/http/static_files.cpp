#include "http/static_files.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <memory>
#include <optional>

#include "http/response.hpp"

namespace sockeye::http {

namespace {

constexpr char ascii_lower(char c) noexcept {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool iequals(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
    }
    return true;
}

bool istarts_with(std::string_view s, std::string_view prefix) noexcept {
    return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

int hex_value(char c) noexcept {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

struct mime_entry {
    std::string_view extension;
    std::string_view type;
};

// RFC 9239 makes text/javascript the type for JavaScript; source maps are JSON.
constexpr std::array<mime_entry, 30> mime_table = {{
    {"html", "text/html; charset=utf-8"},
    {"htm", "text/html; charset=utf-8"},
    {"css", "text/css; charset=utf-8"},
    {"js", "text/javascript; charset=utf-8"},
    {"mjs", "text/javascript; charset=utf-8"},
    {"json", "application/json"},
    {"map", "application/json"},
    {"txt", "text/plain; charset=utf-8"},
    {"md", "text/markdown; charset=utf-8"},
    {"csv", "text/csv; charset=utf-8"},
    {"xml", "application/xml"},
    {"svg", "image/svg+xml"},
    {"png", "image/png"},
    {"jpg", "image/jpeg"},
    {"jpeg", "image/jpeg"},
    {"gif", "image/gif"},
    {"ico", "image/x-icon"},
    {"webp", "image/webp"},
    {"avif", "image/avif"},
    {"wasm", "application/wasm"},
    {"woff", "font/woff"},
    {"woff2", "font/woff2"},
    {"ttf", "font/ttf"},
    {"otf", "font/otf"},
    {"pdf", "application/pdf"},
    {"mp3", "audio/mpeg"},
    {"mp4", "video/mp4"},
    {"webm", "video/webm"},
    {"ogg", "audio/ogg"},
    {"zip", "application/zip"},
}};

// realpath() into a std::string; the error is left in errno.
std::optional<std::string> real_path(const std::string& path) {
    std::unique_ptr<char, decltype(&std::free)> p{::realpath(path.c_str(), nullptr), &std::free};
    if (!p) return std::nullopt;
    return std::string{p.get()};
}

int status_for_errno(int err) noexcept {
    // Permission problems are the server's configuration, and 403 says so; everything
    // else (missing, not a directory, symlink loops, too long) is simply not there.
    return err == EACCES || err == EPERM ? 403 : 404;
}

// Set once openat2 turned out not to exist, so that later opens go straight to the walk.
std::atomic<bool> openat2_missing{false};

int open_with_openat2(int dir_fd, const std::string& relative, int flags) {
    open_how how{};
    how.flags = static_cast<std::uint64_t>(flags);
    // RESOLVE_NO_SYMLINKS also refuses magic links (/proc/self/fd/...). RESOLVE_BENEATH
    // refuses "..", absolute paths and anything else that would leave dir_fd.
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS;
    const int fd =
        static_cast<int>(::syscall(SYS_openat2, dir_fd, relative.c_str(), &how, sizeof how));
#if defined(__SANITIZE_THREAD__)
    // ThreadSanitizer tracks descriptors through the libc calls it intercepts; one born
    // from a raw syscall would inherit the history of its number's previous owner (libuv
    // closes sockets with a raw syscall too) and be reported as a race. A dup it sees.
    if (fd >= 0) {
        const int seen = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
        ::syscall(SYS_close, fd);
        return seen;
    }
#endif
    return fd;
}

// Closes `fd` unless it is the caller's, keeping errno.
void close_keeping_errno(int fd, int callers_fd) noexcept {
    if (fd == callers_fd) return;
    const int saved = errno;
    ::close(fd);
    errno = saved;
}

// What openat2 does, one component at a time: each directory is opened relative to the
// previous one with O_NOFOLLOW, so no symlink is followed and nothing outside dir_fd is
// reached, whatever changes meanwhile.
int open_by_walking(int dir_fd, std::string_view relative, int flags) {
    int current = dir_fd;
    for (;;) {
        const std::size_t slash = relative.find('/');
        const std::string name{relative.substr(0, slash)};
        if (name.empty() || name == "." || name == "..") {
            close_keeping_errno(current, dir_fd);
            errno = EXDEV;  // what openat2 says for a path that leaves the directory
            return -1;
        }
        if (slash == std::string_view::npos) {
            const int fd = ::openat(current, name.c_str(), flags | O_NOFOLLOW);
            close_keeping_errno(current, dir_fd);
            return fd;
        }
        // O_PATH: passing through a directory needs search permission only, as in a
        // normal path lookup. O_PATH | O_NOFOLLOW opens a symlink as itself instead of
        // failing, so the type of what was opened decides: a directory, or ELOOP/ENOTDIR.
        const int next = ::openat(current, name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC);
        close_keeping_errno(current, dir_fd);
        if (next < 0) return -1;
        struct stat st {};
        if (::fstat(next, &st) != 0 || !S_ISDIR(st.st_mode)) {
            const int err = S_ISLNK(st.st_mode) ? ELOOP : ENOTDIR;
            ::close(next);
            errno = err;
            return -1;
        }
        current = next;
        relative.remove_prefix(slash + 1);
    }
}

}  // namespace

int open_beneath(int dir_fd, std::string_view relative, int flags, beneath_method how) {
    if (how == beneath_method::automatic && !openat2_missing.load(std::memory_order_relaxed)) {
        const int fd = open_with_openat2(dir_fd, std::string{relative}, flags);
        if (fd >= 0 || (errno != ENOSYS && errno != EPERM)) return fd;
        // ENOSYS: a kernel before 5.6. EPERM: a seccomp filter refusing a syscall it does
        // not know (some container runtimes); openat2 itself never says EPERM for these
        // flags, and if the walk does, it is a real permission problem.
        if (errno == ENOSYS) openat2_missing.store(true, std::memory_order_relaxed);
    }
    return open_by_walking(dir_fd, relative, flags);
}

target_path decode_target_path(std::string_view target) {
    // RFC 9112 §3.2.2: servers must accept the absolute form; only its path matters here.
    for (const std::string_view scheme :
         {std::string_view{"http://"}, std::string_view{"https://"}}) {
        if (istarts_with(target, scheme)) {
            const std::size_t slash = target.find('/', scheme.size());
            target = slash == std::string_view::npos ? std::string_view{"/"} : target.substr(slash);
            break;
        }
    }
    // Authority form (CONNECT) and asterisk form (OPTIONS *) name no file.
    if (target.empty() || target.front() != '/') return {400, {}};
    target = target.substr(0, target.find_first_of("?#"));

    // Decode once. Whatever the result contains is taken literally from here on: a "%2e"
    // that was "%252e" is a name, not a dot.
    std::string decoded;
    decoded.reserve(target.size());
    for (std::size_t i = 0; i < target.size(); ++i) {
        char c = target[i];
        if (c == '%') {
            if (i + 2 >= target.size()) return {400, {}};
            const int hi = hex_value(target[i + 1]);
            const int lo = hex_value(target[i + 2]);
            if (hi < 0 || lo < 0) return {400, {}};
            c = static_cast<char>(hi * 16 + lo);
            i += 2;
        }
        if (c == '\0') return {400, {}};
        // Windows separator; never meaningful in a URL path, often part of an attack.
        if (c == '\\') return {403, {}};
        decoded += c;
    }

    // Rebuild from the segments, which also collapses "//" and drops "." segments.
    target_path out;
    out.path.reserve(decoded.size() + 1);
    std::string_view rest = decoded;
    while (!rest.empty()) {
        const std::size_t slash = rest.find('/');
        const std::string_view segment = rest.substr(0, slash);
        rest = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash + 1);
        if (segment.empty() || segment == ".") continue;
        if (segment == "..") return {403, {}};
        // Dot-files are where secrets live (.git, .env, .htpasswd); .well-known is the
        // one dot-directory the web expects to be public (RFC 8615).
        if (segment.front() == '.' && segment != ".well-known") return {404, {}};
        out.path += '/';
        out.path += segment;
    }
    if (out.path.empty() || decoded.back() == '/') out.path += '/';
    return out;
}

static_root::static_root(std::string_view root, beneath_method how) : how_(how) {
    std::string r{root};
    if (r.empty()) return;
    const std::optional<std::string> real = real_path(r);
    if (!real) return;
    // Opened once, here: every file is opened relative to this descriptor, so whatever
    // happens to the root's path later, nothing outside this directory is served.
    const int fd = ::open(real->c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return;
    root_ = *real;
    root_fd_ = fd;
}

static_root::~static_root() {
    if (root_fd_ >= 0) ::close(root_fd_);
}

static_root::static_root(static_root&& other) noexcept
    : root_(std::move(other.root_)), root_fd_(other.root_fd_), how_(other.how_) {
    other.root_.clear();
    other.root_fd_ = -1;
}

static_root& static_root::operator=(static_root&& other) noexcept {
    if (this != &other) {
        if (root_fd_ >= 0) ::close(root_fd_);
        root_ = std::move(other.root_);
        root_fd_ = other.root_fd_;
        how_ = other.how_;
        other.root_.clear();
        other.root_fd_ = -1;
    }
    return *this;
}

bool static_root::is_under_root(const std::string& real) const noexcept {
    if (root_ == "/") return !real.empty() && real.front() == '/';
    return real.size() > root_.size() && real.compare(0, root_.size(), root_) == 0 &&
           real[root_.size()] == '/';
}

static_file static_root::resolve(std::string_view target,
                                 std::string_view if_modified_since) const {
    return open_checked(check(target), if_modified_since);
}

checked_path static_root::check(std::string_view target) const {
    checked_path c;
    if (!valid()) return c;
    const target_path decoded = decode_target_path(target);
    if (decoded.status != 0) {
        c.status = decoded.status;
        return c;
    }

    std::string candidate = root_ == "/" ? std::string{} : root_;
    candidate += decoded.path;
    if (candidate.back() == '/') candidate += "index.html";
    if (candidate.size() >= PATH_MAX) return c;

    std::optional<std::string> real = real_path(candidate);
    if (!real) {
        c.status = status_for_errno(errno);
        return c;
    }
    // Outside the root (through a symlink): answered exactly like a missing file.
    if (!is_under_root(*real)) return c;

    struct stat st {};
    if (::stat(real->c_str(), &st) != 0) {
        c.status = status_for_errno(errno);
        return c;
    }
    if (S_ISDIR(st.st_mode)) {
        // "/dir" without the slash is served like "/dir/". index.html may itself be a
        // symlink, so it goes through the same realpath check.
        real = real_path(*real + "/index.html");
        if (!real) {
            c.status = status_for_errno(errno);
            return c;
        }
        if (!is_under_root(*real)) return c;
    }
    c.status = 0;
    c.relative = real->substr(root_ == "/" ? 1 : root_.size() + 1);
    return c;
}

static_file static_root::open_checked(const checked_path& checked,
                                      std::string_view if_modified_since) const {
    static_file f;
    if (checked.status != 0 || root_fd_ < 0) {
        f.status = checked.status != 0 ? checked.status : 404;
        return f;
    }
    // Beneath the root, no symlinks: check() resolved them all, so one found now was
    // swapped in since, and leads wherever its maker wants. O_NONBLOCK: opening a FIFO
    // must never block the server.
    const int fd = open_beneath(root_fd_, checked.relative,
                                O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY, how_);
    if (fd < 0) {
        f.status = status_for_errno(errno);
        return f;
    }
    // fstat the open file, not the path: this is the file that will be sent.
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        ::close(fd);
        f.status = 403;
        return f;
    }
    // Regular files ignore O_NONBLOCK, but the caller should get a plain descriptor.
    const int flags = ::fcntl(fd, F_GETFL);
    if (flags >= 0) ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);

    f.size = static_cast<std::uint64_t>(st.st_size);
    f.mtime = st.st_mtime;
    f.content_type = content_type_for(checked.relative);

    if (!if_modified_since.empty()) {
        const std::optional<std::time_t> since = parse_http_date(if_modified_since);
        if (since && f.mtime <= *since) {
            ::close(fd);
            f.status = 304;
            return f;
        }
    }
    f.status = 200;
    f.fd = fd;
    return f;
}

static_file resolve(std::string_view root, std::string_view target,
                    std::string_view if_modified_since) {
    return static_root{root}.resolve(target, if_modified_since);
}

std::string_view content_type_for(std::string_view path) noexcept {
    const std::size_t slash = path.rfind('/');
    const std::string_view name = slash == std::string_view::npos ? path : path.substr(slash + 1);
    const std::size_t dot = name.rfind('.');
    if (dot != std::string_view::npos && dot + 1 < name.size()) {
        const std::string_view ext = name.substr(dot + 1);
        for (const mime_entry& e : mime_table) {
            if (iequals(ext, e.extension)) return e.type;
        }
    }
    return "application/octet-stream";
}

std::string head_for(const static_file& f, bool keep_alive) {
    if (f.status != 200 && f.status != 304) return text_response_head(f.status, 0, keep_alive);
    std::string out;
    out.reserve(256);
    append_status_line(out, f.status);
    append_date_header(out, "Date", std::time(nullptr));
    if (f.status == 200) {
        append_header(out, "Content-Type", f.content_type);
        append_header(out, "Content-Length", f.size);
        append_header(out, "X-Content-Type-Options", "nosniff");
    }
    append_date_header(out, "Last-Modified", f.mtime);
    append_connection(out, keep_alive);
    end_head(out);
    return out;
}

bool static_method_allowed(std::string_view method) noexcept {
    // Methods are case-sensitive (RFC 9110 §9.1).
    return method == "GET" || method == "HEAD";
}

std::string static_method_not_allowed(bool keep_alive) {
    return method_not_allowed_response(static_allowed_methods, keep_alive);
}

}  // namespace sockeye::http
