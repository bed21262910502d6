// Safe static file serving from a root directory: request target -> open file descriptor.
//
// A target is turned into a file in two guarded steps:
//   1. The path part (query and fragment dropped) is percent-decoded exactly once and
//      checked as text. Malformed escapes and NUL are 400; a backslash or a ".." segment
//      is 403 (whether it arrived literally or as %2e%2e, %2E%2e, ..%2f, ...). A
//      double-encoded "%252e%252e" decodes to the literal name "%2e%2e", which is just an
//      unusual file name and normally 404. Segments starting with '.' (".git", ".env")
//      are 404, except ".well-known"; "." and empty segments are dropped.
//   2. The file system has the last word: realpath() of the candidate must lie under
//      realpath(root), so a symlink that leads outside is 404 (its target is not
//      revealed) while symlinks within the root work. Directories map to index.html.
//   3. What step 2 resolved (a path with no symlinks left) is opened beneath the root's
//      directory descriptor, held open since startup, refusing every symlink on the way
//      (openat2 with RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS, or a walk component by
//      component with O_NOFOLLOW where the kernel lacks openat2). Step 2 works on names,
//      so a directory swapped for a symlink after it would otherwise lead the open out
//      of the root; here such a swap just fails (404).
//      Only regular files are served (a FIFO, device or socket is 403); permission
//      errors are 403; everything else is 404.
#pragma once
#include <cstdint>
#include <ctime>
#include <string>
#include <string_view>

namespace sockeye::http {

struct static_file {
    int status = 404;        // 200, 304, 400, 403 or 404
    int fd = -1;             // open (O_RDONLY | O_CLOEXEC) only with 200; the caller closes it
    std::uint64_t size = 0;  // 200 and 304
    std::time_t mtime = 0;   // 200 and 304: the Last-Modified time
    std::string_view content_type;  // 200 and 304: from the extension, static storage
};

// The decoded, checked path of a target (step 1 above). `path` starts with '/', has no
// empty, "." or ".." segments, and ends with '/' if the target did.
struct target_path {
    int status = 0;  // 0 when usable, else 400, 403 or 404
    std::string path;
};
target_path decode_target_path(std::string_view target);

// How open_beneath() opens: `automatic` uses openat2 and walks where the kernel says
// ENOSYS (before Linux 5.6) or a seccomp filter refuses it (EPERM); `walk` always walks,
// so that tests can exercise that path on any kernel.
enum class beneath_method : std::uint8_t { automatic, walk };

// Opens `relative` ("a/b/file": no leading '/', no "", "." or ".." segment) beneath the
// directory `dir_fd` with `flags`, following no symlink in any component, so the file
// opened is inside that directory whatever was renamed or swapped since the path was
// checked. Returns the descriptor, or -1 with errno (ELOOP for a symlink, EXDEV for a
// path that would leave the directory, and whatever open reports otherwise).
int open_beneath(int dir_fd, std::string_view relative, int flags,
                 beneath_method how = beneath_method::automatic);

// What static_root::check() found: a path relative to the root, free of symlinks when it
// was checked.
struct checked_path {
    int status = 404;  // 0 when there is something to open, else 400, 403 or 404
    std::string relative;
};

class static_root {
  public:
    // Resolves `root` once and keeps it open; every file served must stay under it.
    explicit static_root(std::string_view root, beneath_method how = beneath_method::automatic);
    ~static_root();
    static_root(static_root&& other) noexcept;
    static_root& operator=(static_root&& other) noexcept;
    static_root(const static_root&) = delete;
    static_root& operator=(const static_root&) = delete;

    // False when the root does not exist or is not a directory: every resolve() is 404.
    bool valid() const noexcept { return !root_.empty(); }
    const std::string& path() const noexcept { return root_; }

    // `if_modified_since` is the raw header value (empty when absent). When it is a valid
    // HTTP-date no earlier than the file's mtime the answer is 304 with no fd
    // (RFC 9110 §13.1.3); the server passes it for GET and HEAD only.
    static_file resolve(std::string_view target, std::string_view if_modified_since = {}) const;

    // resolve() in its two halves, apart so that tests can change the file system between
    // them: check() is steps 1 and 2 (by name), open_checked() is step 3 and what follows.
    checked_path check(std::string_view target) const;
    static_file open_checked(const checked_path& checked,
                             std::string_view if_modified_since = {}) const;

  private:
    bool is_under_root(const std::string& real) const noexcept;

    std::string root_;  // realpath of the root, without a trailing '/' unless it is "/"
    int root_fd_ = -1;  // the root directory (O_PATH), what every open starts from
    beneath_method how_ = beneath_method::automatic;
};

// One-shot convenience: static_root(root).resolve(target, if_modified_since).
static_file resolve(std::string_view root, std::string_view target,
                    std::string_view if_modified_since = {});

// "text/html; charset=utf-8" for "x.html"; text types carry charset=utf-8. Unknown or no
// extension: "application/octet-stream". The extension is matched case-insensitively.
std::string_view content_type_for(std::string_view path) noexcept;

// The response head for a resolved file, for 200 (Content-Type, Content-Length,
// Last-Modified) and 304 (Last-Modified, no body). Both carry Date and Connection. Other
// statuses get an empty text/plain head; use text_response() for those instead.
std::string head_for(const static_file& f, bool keep_alive);

// Static files answer GET and HEAD; anything else gets static_method_not_allowed().
constexpr std::string_view static_allowed_methods = "GET, HEAD";
bool static_method_allowed(std::string_view method) noexcept;
std::string static_method_not_allowed(bool keep_alive);

}  // namespace sockeye::http
