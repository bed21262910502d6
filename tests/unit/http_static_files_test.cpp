#include "http/static_files.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "http/response.hpp"

namespace {

namespace fs = std::filesystem;
using sockeye::http::beneath_method;
using sockeye::http::checked_path;
using sockeye::http::open_beneath;
using sockeye::http::static_file;
using sockeye::http::static_root;

std::string read_fd(int fd) {
    std::string out;
    char buf[256];
    ssize_t n = 0;
    while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
    return out;
}

void write_file(const fs::path& p, const std::string& content) {
    std::ofstream f{p, std::ios::binary};
    f << content;
}

// A scratch tree:
//   <base>/outside.txt            secret, outside the root
//   <base>/outside_dir/x.txt      secret directory, outside the root
//   <base>/www/index.html         root index
//   <base>/www/style.css, app.js, data.json, logo.png, noext, UPPER.HTML, %2e%2e
//   <base>/www/sub/index.html
//   <base>/www/sub/empty/         directory without index.html
//   <base>/www/.git/config        hidden
//   <base>/www/.well-known/x.txt
//   <base>/www/escape.txt  -> ../outside.txt        (symlink out: never served)
//   <base>/www/escape_dir  -> ../outside_dir        (symlink out: never served)
//   <base>/www/alias.txt   -> sub/index.html        (symlink in: served)
//   <base>/www/fifo                                 (not a regular file)
class HttpStaticFiles : public ::testing::Test {
  protected:
    void SetUp() override {
        char tmpl[] = "/tmp/sockeye_static_XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        base_ = tmpl;
        root_ = base_ / "www";
        fs::create_directories(root_ / "sub" / "empty");
        fs::create_directories(root_ / ".git");
        fs::create_directories(root_ / ".well-known");
        fs::create_directories(base_ / "outside_dir");
        write_file(base_ / "outside.txt", "SECRET");
        write_file(base_ / "outside_dir" / "x.txt", "SECRET");
        write_file(root_ / "index.html", "<h1>root</h1>");
        write_file(root_ / "style.css", "body{}");
        write_file(root_ / "app.js", "1;");
        write_file(root_ / "data.json", "{}");
        write_file(root_ / "logo.png", "\x89PNG");
        write_file(root_ / "noext", "raw");
        write_file(root_ / "UPPER.HTML", "upper");
        write_file(root_ / "%2e%2e", "literal");
        write_file(root_ / "sub" / "index.html", "<h1>sub</h1>");
        write_file(root_ / ".git" / "config", "SECRET");
        write_file(root_ / ".well-known" / "x.txt", "known");
        fs::create_symlink("../outside.txt", root_ / "escape.txt");
        fs::create_symlink("../outside_dir", root_ / "escape_dir");
        fs::create_symlink("sub/index.html", root_ / "alias.txt");
        ASSERT_EQ(::mkfifo((root_ / "fifo").c_str(), 0600), 0);
    }

    void TearDown() override { fs::remove_all(base_); }

    static_file get(std::string_view target, std::string_view ims = {}) {
        return static_root{root_.string(), how_}.resolve(target, ims);
    }

    // Resolves and returns the served content, or "<status>" when nothing is served.
    std::string serve(std::string_view target) {
        static_file f = get(target);
        if (f.status != 200) {
            EXPECT_EQ(f.fd, -1);
            return "<" + std::to_string(f.status) + ">";
        }
        EXPECT_GE(f.fd, 0);
        std::string content = read_fd(f.fd);
        ::close(f.fd);
        EXPECT_EQ(content.size(), f.size);
        EXPECT_EQ(content.find("SECRET"), std::string::npos) << target;
        return content;
    }

    fs::path base_;
    fs::path root_;
    beneath_method how_ = beneath_method::automatic;
};

TEST_F(HttpStaticFiles, ServesFilesAndIndexes) {
    EXPECT_EQ(serve("/"), "<h1>root</h1>");
    EXPECT_EQ(serve("/index.html"), "<h1>root</h1>");
    EXPECT_EQ(serve("/style.css"), "body{}");
    EXPECT_EQ(serve("/sub/"), "<h1>sub</h1>");
    EXPECT_EQ(serve("/sub"), "<h1>sub</h1>");
    EXPECT_EQ(serve("/sub/index.html?v=3#frag"), "<h1>sub</h1>");
    EXPECT_EQ(serve("//sub//index.html"), "<h1>sub</h1>");
    EXPECT_EQ(serve("/./sub/./index.html"), "<h1>sub</h1>");
    EXPECT_EQ(serve("/%73ub/index%2Ehtml"), "<h1>sub</h1>");
    EXPECT_EQ(serve("http://example.com/style.css"), "body{}");
    EXPECT_EQ(serve("http://example.com"), "<h1>root</h1>");
    EXPECT_EQ(serve("/.well-known/x.txt"), "known");
}

TEST_F(HttpStaticFiles, MissingThingsAre404) {
    EXPECT_EQ(serve("/nope.html"), "<404>");
    EXPECT_EQ(serve("/sub/empty/"), "<404>");
    EXPECT_EQ(serve("/style.css/"), "<404>");
    EXPECT_EQ(serve("/style.css/x"), "<404>");
}

TEST_F(HttpStaticFiles, SymlinkInsideRootIsServed) {
    EXPECT_EQ(serve("/alias.txt"), "<h1>sub</h1>");
}

TEST_F(HttpStaticFiles, SymlinkOutsideRootIsNeverServed) {
    EXPECT_EQ(serve("/escape.txt"), "<404>");
    EXPECT_EQ(serve("/escape_dir/x.txt"), "<404>");
    EXPECT_EQ(serve("/escape_dir/"), "<404>");
}

TEST_F(HttpStaticFiles, TraversalAttemptsNeverLeaveTheRoot) {
    for (const std::string_view target : {"/../etc/passwd",
                                          "/../outside.txt",
                                          "/%2e%2e/outside.txt",
                                          "/%2e%2e/",
                                          "/..%2f",
                                          "/..%2foutside.txt",
                                          "/%2E%2E%2Fetc",
                                          "/%2E%2e/outside.txt",
                                          "/a/../../x",
                                          "/sub/../../outside.txt",
                                          "/sub/%2e%2e/%2e%2e/outside.txt",
                                          "/..",
                                          "/..\\outside.txt",
                                          "/%5c..%5coutside.txt",
                                          "/%00",
                                          "/index.html%00.png",
                                          "/..%00/",
                                          "/%",
                                          "/%2",
                                          "/%zz",
                                          "*",
                                          "example.com:443",
                                          ""}) {
        const static_file f = get(target);
        EXPECT_NE(f.status, 200) << target;
        EXPECT_EQ(f.fd, -1) << target;
    }
    EXPECT_EQ(get("/../etc/passwd").status, 403);
    EXPECT_EQ(get("/%2e%2e/").status, 403);
    EXPECT_EQ(get("/..%2f").status, 403);
    EXPECT_EQ(get("/%2E%2E%2Fetc").status, 403);
    EXPECT_EQ(get("/a/../../x").status, 403);
    EXPECT_EQ(get("/..\\outside.txt").status, 403);
    EXPECT_EQ(get("/%00").status, 400);
    EXPECT_EQ(get("/%zz").status, 400);
    EXPECT_EQ(get("*").status, 400);
}

TEST_F(HttpStaticFiles, DoubleEncodingDecodesOnce) {
    // "%252e%252e" is the literal name "%2e%2e", not a parent reference.
    EXPECT_EQ(serve("/%252e%252e"), "literal");
    EXPECT_EQ(serve("/%252e%252e/outside.txt"), "<404>");
}

TEST_F(HttpStaticFiles, DotFilesAreHidden) {
    EXPECT_EQ(serve("/.git/config"), "<404>");
    EXPECT_EQ(serve("/%2egit/config"), "<404>");
}

TEST_F(HttpStaticFiles, NonRegularFilesAre403) {
    EXPECT_EQ(serve("/fifo"), "<403>");
}

TEST_F(HttpStaticFiles, InvalidRootServesNothing) {
    static_root missing{(base_ / "does-not-exist").string()};
    EXPECT_FALSE(missing.valid());
    EXPECT_EQ(missing.resolve("/").status, 404);
    static_root file_root{(root_ / "style.css").string()};
    EXPECT_FALSE(file_root.valid());
    static_root via_free_function{root_.string()};
    EXPECT_TRUE(via_free_function.valid());
    static_file f = sockeye::http::resolve(root_.string(), "/style.css");
    ASSERT_EQ(f.status, 200);
    ::close(f.fd);
}

TEST_F(HttpStaticFiles, RootGivenThroughSymlinkWorks) {
    fs::create_symlink(root_, base_ / "link_to_www");
    static_root r{(base_ / "link_to_www").string()};
    ASSERT_TRUE(r.valid());
    EXPECT_EQ(r.path(), fs::canonical(root_).string());
    static_file f = r.resolve("/style.css");
    ASSERT_EQ(f.status, 200);
    ::close(f.fd);
    EXPECT_EQ(r.resolve("/escape.txt").status, 404);
}

TEST_F(HttpStaticFiles, DescriptorIsCloseOnExecAndBlocking) {
    static_file f = get("/style.css");
    ASSERT_EQ(f.status, 200);
    EXPECT_TRUE(::fcntl(f.fd, F_GETFD) & FD_CLOEXEC);
    EXPECT_FALSE(::fcntl(f.fd, F_GETFL) & O_NONBLOCK);
    ::close(f.fd);
}

TEST_F(HttpStaticFiles, MimeTypes) {
    using sockeye::http::content_type_for;
    EXPECT_EQ(get("/").content_type, "text/html; charset=utf-8");
    EXPECT_EQ(content_type_for("/a/b.css"), "text/css; charset=utf-8");
    EXPECT_EQ(content_type_for("app.js"), "text/javascript; charset=utf-8");
    EXPECT_EQ(content_type_for("mod.mjs"), "text/javascript; charset=utf-8");
    EXPECT_EQ(content_type_for("d.json"), "application/json");
    EXPECT_EQ(content_type_for("d.js.map"), "application/json");
    EXPECT_EQ(content_type_for("i.svg"), "image/svg+xml");
    EXPECT_EQ(content_type_for("i.png"), "image/png");
    EXPECT_EQ(content_type_for("i.jpg"), "image/jpeg");
    EXPECT_EQ(content_type_for("i.JPEG"), "image/jpeg");
    EXPECT_EQ(content_type_for("i.gif"), "image/gif");
    EXPECT_EQ(content_type_for("favicon.ico"), "image/x-icon");
    EXPECT_EQ(content_type_for("i.webp"), "image/webp");
    EXPECT_EQ(content_type_for("t.txt"), "text/plain; charset=utf-8");
    EXPECT_EQ(content_type_for("m.wasm"), "application/wasm");
    EXPECT_EQ(content_type_for("f.woff2"), "font/woff2");
    EXPECT_EQ(content_type_for("noext"), "application/octet-stream");
    EXPECT_EQ(content_type_for("dir.d/noext"), "application/octet-stream");
    EXPECT_EQ(content_type_for("trailingdot."), "application/octet-stream");
    EXPECT_EQ(content_type_for("x.unknown"), "application/octet-stream");

    static_file f = get("/UPPER.HTML");
    ASSERT_EQ(f.status, 200);
    EXPECT_EQ(f.content_type, "text/html; charset=utf-8");
    ::close(f.fd);
    f = get("/noext");
    ASSERT_EQ(f.status, 200);
    EXPECT_EQ(f.content_type, "application/octet-stream");
    ::close(f.fd);
}

TEST_F(HttpStaticFiles, LastModifiedAndIfModifiedSince) {
    // Pin the mtime so the expected header text is known.
    const std::time_t mtime = 784111777;  // Sun, 06 Nov 1994 08:49:37 GMT
    const timeval times[2] = {{mtime, 0}, {mtime, 0}};
    ASSERT_EQ(::utimes((root_ / "style.css").c_str(), times), 0);

    static_file f = get("/style.css");
    ASSERT_EQ(f.status, 200);
    EXPECT_EQ(f.mtime, mtime);
    const std::string head = sockeye::http::head_for(f, true);
    ::close(f.fd);
    EXPECT_EQ(head.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << head;
    EXPECT_NE(head.find("\r\nContent-Type: text/css; charset=utf-8\r\n"), std::string::npos);
    EXPECT_NE(head.find("\r\nContent-Length: 6\r\n"), std::string::npos);
    EXPECT_NE(head.find("\r\nLast-Modified: Sun, 06 Nov 1994 08:49:37 GMT\r\n"), std::string::npos);
    EXPECT_NE(head.find("\r\nDate: "), std::string::npos);
    EXPECT_NE(head.find("\r\nConnection: keep-alive\r\n"), std::string::npos);
    EXPECT_EQ(head.substr(head.size() - 4), "\r\n\r\n");

    // Same second, or later: not modified.
    f = get("/style.css", "Sun, 06 Nov 1994 08:49:37 GMT");
    EXPECT_EQ(f.status, 304);
    EXPECT_EQ(f.fd, -1);
    EXPECT_EQ(f.mtime, mtime);
    const std::string head304 = sockeye::http::head_for(f, false);
    EXPECT_EQ(head304.rfind("HTTP/1.1 304 Not Modified\r\n", 0), 0u);
    EXPECT_NE(head304.find("\r\nLast-Modified: Sun, 06 Nov 1994 08:49:37 GMT\r\n"),
              std::string::npos);
    EXPECT_EQ(head304.find("Content-Length"), std::string::npos);
    EXPECT_NE(head304.find("\r\nConnection: close\r\n"), std::string::npos);

    EXPECT_EQ(get("/style.css", "Sunday, 06-Nov-94 08:49:38 GMT").status, 304);
    EXPECT_EQ(get("/style.css", "Sun Nov  6 08:49:37 1994").status, 304);

    // Earlier date, garbage or empty: a normal 200.
    for (const std::string_view ims :
         {"Sun, 06 Nov 1994 08:49:36 GMT", "yesterday", "Sun, 06 Nov 1994 08:49:37 UTC", ""}) {
        f = get("/style.css", ims);
        EXPECT_EQ(f.status, 200) << ims;
        ::close(f.fd);
    }
}

TEST(HttpStaticMethods, GetAndHeadOnly) {
    using sockeye::http::static_method_allowed;
    EXPECT_TRUE(static_method_allowed("GET"));
    EXPECT_TRUE(static_method_allowed("HEAD"));
    EXPECT_FALSE(static_method_allowed("POST"));
    EXPECT_FALSE(static_method_allowed("get"));
    EXPECT_FALSE(static_method_allowed("OPTIONS"));
    const std::string r = sockeye::http::static_method_not_allowed(true);
    EXPECT_EQ(r.rfind("HTTP/1.1 405 Method Not Allowed\r\n", 0), 0u);
    EXPECT_NE(r.find("\r\nAllow: GET, HEAD\r\n"), std::string::npos);
}

TEST(HttpDecodeTargetPath, Normalizes) {
    using sockeye::http::decode_target_path;
    EXPECT_EQ(decode_target_path("/a//b/./c/").path, "/a/b/c/");
    EXPECT_EQ(decode_target_path("/a%20b").path, "/a b");
    EXPECT_EQ(decode_target_path("/").path, "/");
    EXPECT_EQ(decode_target_path("/?q=/../").path, "/");
    EXPECT_EQ(decode_target_path("HTTPS://h:1/x?y").path, "/x");
    EXPECT_EQ(decode_target_path("/a/..").status, 403);
    EXPECT_EQ(decode_target_path("/a/%2e%2E").status, 403);
    EXPECT_EQ(decode_target_path("/.env").status, 404);
    EXPECT_EQ(decode_target_path("/%252e%252e").path, "/%2e%2e");
    EXPECT_EQ(decode_target_path("/...").status, 404);  // a dot-name, not a parent
}

// The kernel's openat2 and the component walk must agree on everything served.
TEST_F(HttpStaticFiles, WalkFallbackServesExactlyLikeOpenat2) {
    for (const std::string_view target :
         {"/", "/style.css", "/sub/", "/sub", "/alias.txt", "/escape.txt", "/escape_dir/x.txt",
          "/fifo", "/nope.html", "/sub/empty/", "/style.css/x", "/.well-known/x.txt"}) {
        how_ = beneath_method::automatic;
        const std::string by_openat2 = serve(target);
        how_ = beneath_method::walk;
        EXPECT_EQ(serve(target), by_openat2) << target;
    }
}

// The check-then-open race, made deterministic: a directory that check() resolved is
// swapped for a symlink out of the root before the open. Opening by name (with O_NOFOLLOW,
// which guards only the last component) would follow it and serve the secret.
TEST_F(HttpStaticFiles, DirectorySwappedForSymlinkAfterTheCheckIsNotFollowed) {
    for (const beneath_method how : {beneath_method::automatic, beneath_method::walk}) {
        fs::create_directories(root_ / "swap");
        write_file(root_ / "swap" / "x.txt", "inside");
        const static_root r{root_.string(), how};
        const checked_path c = r.check("/swap/x.txt");
        ASSERT_EQ(c.status, 0);
        EXPECT_EQ(c.relative, "swap/x.txt");

        fs::rename(root_ / "swap", root_ / "swapped");
        fs::create_symlink("../outside_dir", root_ / "swap");
        write_file(base_ / "outside_dir" / "x.txt", "SECRET");
        const static_file f = r.open_checked(c);
        if (f.fd >= 0) {
            ADD_FAILURE() << "served " << read_fd(f.fd) << " through a swapped-in symlink";
            ::close(f.fd);
        }
        EXPECT_EQ(f.status, 404);
        fs::remove(root_ / "swap");
        fs::remove_all(root_ / "swapped");
    }
}

// open_beneath() itself, for both ways of opening.
TEST_F(HttpStaticFiles, OpenBeneathRefusesEverySymlinkAndEveryWayOut) {
    fs::create_symlink(base_ / "outside_dir", root_ / "abs_dir");  // absolute, outside
    fs::create_symlink("sub", root_ / "sub_link");                 // relative, inside
    const int root_fd = ::open(root_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    ASSERT_GE(root_fd, 0);
    for (const beneath_method how : {beneath_method::automatic, beneath_method::walk}) {
        SCOPED_TRACE(how == beneath_method::walk ? "walk" : "openat2");
        const int fd = open_beneath(root_fd, "sub/index.html", O_RDONLY | O_CLOEXEC, how);
        ASSERT_GE(fd, 0);
        EXPECT_EQ(read_fd(fd), "<h1>sub</h1>");
        ::close(fd);

        auto refused = [&](std::string_view path, int expected_errno) {
            errno = 0;
            const int bad = open_beneath(root_fd, path, O_RDONLY | O_CLOEXEC, how);
            if (bad >= 0) {
                ADD_FAILURE() << path << " opened: " << read_fd(bad);
                ::close(bad);
                return;
            }
            EXPECT_EQ(errno, expected_errno) << path;
        };
        refused("escape_dir/x.txt", ELOOP);  // symlinked directory leading out
        refused("abs_dir/x.txt", ELOOP);
        refused("sub_link/index.html", ELOOP);  // even one that stays inside
        refused("escape.txt", ELOOP);           // symlink as the last component
        refused("alias.txt", ELOOP);
        refused("../outside.txt", EXDEV);
        refused(base_.string() + "/outside.txt", EXDEV);  // absolute path
        refused("nope/x.txt", ENOENT);
        refused("style.css/x", ENOTDIR);
    }
    ::close(root_fd);
}

}  // namespace
