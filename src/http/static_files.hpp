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

class static_root {
  public:
    // Resolves `root` once; every file served must stay under the result.
    explicit static_root(std::string_view root);

    // False when the root does not exist or is not a directory: every resolve() is 404.
    bool valid() const noexcept { return !root_.empty(); }
    const std::string& path() const noexcept { return root_; }

    // `if_modified_since` is the raw header value (empty when absent). When it is a valid
    // HTTP-date no earlier than the file's mtime the answer is 304 with no fd
    // (RFC 9110 §13.1.3); the server passes it for GET and HEAD only.
    static_file resolve(std::string_view target, std::string_view if_modified_since = {}) const;

  private:
    bool is_under_root(const std::string& real) const noexcept;

    std::string root_;  // realpath of the root, without a trailing '/' unless it is "/"
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
