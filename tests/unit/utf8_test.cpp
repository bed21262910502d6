// UTF-8 validation: fixed vectors in the spirit of Markus Kuhn's stress test, every split of
// every vector, the exact fail-fast position, and random valid/mutated text compared against
// an independent reference written here.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "protocol/utf8.hpp"
#include "protocol/utf8_impl.hpp"

namespace {

using bytes = std::vector<std::uint8_t>;
using sockeye::protocol::is_valid_utf8;
using sockeye::protocol::utf8_validator;
namespace detail = sockeye::protocol::detail;

// ---- The builds under test -----------------------------------------------------------------

using run_fn = std::uint8_t (*)(std::uint8_t, const std::uint8_t*, std::size_t) noexcept;

// A way of running the checker: the public utf8_validator (run == nullptr) or one of the
// internal builds driven directly, which may not be the one the dispatcher picks here.
struct checker_path {
    std::string name;
    run_fn run;
};

std::vector<checker_path> checker_paths() {
    std::vector<checker_path> paths{{"public", nullptr}, {"generic", &detail::utf8_run_generic}};
#if SOCKEYE_UTF8_X86
    if (detail::cpu_has_bmi2()) paths.push_back({"bmi2", &detail::utf8_run_bmi2});
#endif
    return paths;
}

// utf8_validator's interface over any path.
class checker {
  public:
    explicit checker(const checker_path& path) : run_(path.run) {}

    bool feed(const std::uint8_t* data, std::size_t len) {
        if (run_ == nullptr) return real_.feed(data, len);
        if (state_ == detail::utf8_failed) return false;
        state_ = run_(state_, data, len);
        return state_ != detail::utf8_failed;
    }
    bool at_boundary() const {
        return run_ == nullptr ? real_.at_boundary() : state_ == detail::utf8_boundary;
    }
    bool failed() const { return run_ == nullptr ? real_.failed() : state_ == detail::utf8_failed; }

  private:
    run_fn run_;
    utf8_validator real_;
    std::uint8_t state_ = detail::utf8_boundary;
};

bool valid_on(const checker_path& path, const std::vector<std::uint8_t>& s) {
    checker c(path);
    return c.feed(s.data(), s.size()) && c.at_boundary();
}

// ---- Reference --------------------------------------------------------------------------
//
// Deliberately not a state machine: it decodes sequence by sequence and, after each byte of a
// sequence, asks whether the code points that the bytes so far could still encode (an
// interval: the missing bits all 0 up to all 1) contain any valid one for that length.
// The first byte for which the answer is no is where a fail-fast validator must stop.

struct reference_result {
    std::optional<std::size_t> fail_at;  // index of the first byte that cannot be valid
    bool boundary = true;                // input ends between code points
    bool valid() const { return !fail_at && boundary; }
};

bool interval_has_valid_code_point(std::uint32_t lo, std::uint32_t hi, int length) {
    static constexpr std::uint32_t min_for_length[] = {0, 0, 0x80, 0x800, 0x10000};
    static constexpr std::uint32_t max_for_length[] = {0, 0x7F, 0x7FF, 0xFFFF, 0x10FFFF};
    lo = std::max(lo, min_for_length[length]);
    hi = std::min(hi, max_for_length[length]);
    if (lo > hi) return false;
    const bool all_surrogates = lo >= 0xD800 && hi <= 0xDFFF;
    return !all_surrogates;
}

reference_result reference_check(const bytes& s) {
    reference_result r;
    std::size_t i = 0;
    while (i < s.size()) {
        const std::uint8_t lead = s[i];
        int length;
        std::uint32_t cp;
        if (lead < 0x80) {
            ++i;
            continue;
        } else if ((lead & 0xE0) == 0xC0) {
            length = 2;
            cp = lead & 0x1Fu;
        } else if ((lead & 0xF0) == 0xE0) {
            length = 3;
            cp = lead & 0x0Fu;
        } else if ((lead & 0xF8) == 0xF0) {
            length = 4;
            cp = lead & 0x07u;
        } else {
            r.fail_at = i;  // a continuation byte, or F8-FF which no length allows
            return r;
        }
        for (int seen = 1;; ++seen) {
            const int missing_bits = 6 * (length - seen);
            const std::uint32_t lo = cp << missing_bits;
            const std::uint32_t hi = lo | ((1u << missing_bits) - 1);
            if (!interval_has_valid_code_point(lo, hi, length)) {
                r.fail_at = i + static_cast<std::size_t>(seen) - 1;
                return r;
            }
            if (seen == length) break;
            const std::size_t at = i + static_cast<std::size_t>(seen);
            if (at == s.size()) {
                r.boundary = false;
                return r;
            }
            if ((s[at] & 0xC0) != 0x80) {
                r.fail_at = at;
                return r;
            }
            cp = (cp << 6) | (s[at] & 0x3Fu);
        }
        i += static_cast<std::size_t>(length);
    }
    return r;
}

// ---- Helpers ---------------------------------------------------------------------------

bytes from_hex(std::initializer_list<int> list) {
    bytes b;
    for (int v : list) b.push_back(static_cast<std::uint8_t>(v));
    return b;
}

bytes from_string(const std::string& s) {
    return bytes(s.begin(), s.end());
}

void append_utf8(bytes& out, std::uint32_t cp) {
    if (cp < 0x80) {
        out.push_back(static_cast<std::uint8_t>(cp));
    } else if (cp < 0x800) {
        out.push_back(static_cast<std::uint8_t>(0xC0 | (cp >> 6)));
        out.push_back(static_cast<std::uint8_t>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        out.push_back(static_cast<std::uint8_t>(0xE0 | (cp >> 12)));
        out.push_back(static_cast<std::uint8_t>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<std::uint8_t>(0x80 | (cp & 0x3F)));
    } else {
        out.push_back(static_cast<std::uint8_t>(0xF0 | (cp >> 18)));
        out.push_back(static_cast<std::uint8_t>(0x80 | ((cp >> 12) & 0x3F)));
        out.push_back(static_cast<std::uint8_t>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<std::uint8_t>(0x80 | (cp & 0x3F)));
    }
}

bytes encode(std::initializer_list<std::uint32_t> cps) {
    bytes b;
    for (auto cp : cps) append_utf8(b, cp);
    return b;
}

std::string hex(const bytes& b) {
    static const char digits[] = "0123456789abcdef";
    std::string s;
    for (std::size_t i = 0; i < b.size() && i < 64; ++i) {
        if (i) s += ' ';
        s += digits[b[i] >> 4];
        s += digits[b[i] & 15];
    }
    if (b.size() > 64) s += " ...";
    return s;
}

// Full verdict of a validator fed the given chunks in order.
bool verdict_chunked(const checker_path& path, const bytes& s,
                     const std::vector<std::size_t>& cuts) {
    checker v(path);
    std::size_t pos = 0;
    bool ok = true;
    for (std::size_t cut : cuts) {
        ok = v.feed(s.data() + pos, cut - pos) && ok;
        pos = cut;
    }
    ok = v.feed(s.data() + pos, s.size() - pos) && ok;
    return ok && v.at_boundary();
}

// Index of the byte whose single-byte feed first returns false, if any.
std::optional<std::size_t> fail_position_bytewise(const checker_path& path, const bytes& s) {
    checker v(path);
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (!v.feed(&s[i], 1)) return i;
    }
    return std::nullopt;
}

// ---- Fixed vectors -------------------------------------------------------------------------

struct vector_case {
    const char* name;
    bytes data;
    bool valid;
    // For invalid input: the index of the first byte that must make feed() fail, or
    // npos when the input is only truncated (feed never fails, at_boundary() is false).
    std::size_t fail_at = npos;
    static constexpr std::size_t npos = static_cast<std::size_t>(-1);
};

std::vector<vector_case> valid_cases() {
    return {
        {"empty", {}, true},
        {"ascii", from_string("Hello, world!"), true},
        {"nul", from_hex({0x00}), true},
        {"U+007F", encode({0x7F}), true},
        {"U+0080", encode({0x80}), true},
        {"U+07FF", encode({0x7FF}), true},
        {"U+0800", encode({0x800}), true},
        {"U+D7FF", encode({0xD7FF}), true},
        {"U+E000", encode({0xE000}), true},
        {"U+FFFD", encode({0xFFFD}), true},
        {"U+FFFE", encode({0xFFFE}), true},  // noncharacters are still valid UTF-8
        {"U+FFFF", encode({0xFFFF}), true},
        {"U+10000", encode({0x10000}), true},
        {"U+FFFFF", encode({0xFFFFF}), true},
        {"U+100000", encode({0x100000}), true},
        {"U+10FFFF", encode({0x10FFFF}), true},
        {"greek kosme",
         from_hex({0xCE, 0xBA, 0xE1, 0xBD, 0xB9, 0xCF, 0x83, 0xCE, 0xBC, 0xCE, 0xB5}), true},
        {"mixed", from_string("a\xC3\xA9z \xE4\xB8\xAD \xF0\x9F\x98\x80!"), true},
        {"all boundaries",
         encode({0x7F, 0x80, 0x7FF, 0x800, 0xD7FF, 0xE000, 0xFFFF, 0x10000, 0x10FFFF}), true},
        {"E0 A0 80", from_hex({0xE0, 0xA0, 0x80}), true},
        {"ED 9F BF", from_hex({0xED, 0x9F, 0xBF}), true},
        {"EE 80 80", from_hex({0xEE, 0x80, 0x80}), true},
        {"F0 90 80 80", from_hex({0xF0, 0x90, 0x80, 0x80}), true},
        {"F4 8F BF BF", from_hex({0xF4, 0x8F, 0xBF, 0xBF}), true},
        {"F3 BF BF BF", from_hex({0xF3, 0xBF, 0xBF, 0xBF}), true},
    };
}

std::vector<vector_case> invalid_cases() {
    constexpr auto trunc = vector_case::npos;
    return {
        // Bytes that never occur in UTF-8.
        {"C0", from_hex({0xC0}), false, 0},
        {"C1", from_hex({0xC1}), false, 0},
        {"F5", from_hex({0xF5}), false, 0},
        {"F7", from_hex({0xF7}), false, 0},
        {"F8", from_hex({0xF8}), false, 0},
        {"FC", from_hex({0xFC}), false, 0},
        {"FE", from_hex({0xFE}), false, 0},
        {"FF", from_hex({0xFF}), false, 0},
        {"FE FE FF FF", from_hex({0xFE, 0xFE, 0xFF, 0xFF}), false, 0},
        {"ascii then FF", from_hex({'a', 'b', 'c', 0xFF}), false, 3},
        // Lone continuation bytes.
        {"80", from_hex({0x80}), false, 0},
        {"BF", from_hex({0xBF}), false, 0},
        {"a 80", from_hex({'a', 0x80}), false, 1},
        {"2-byte + extra tail", from_hex({0xC3, 0xA9, 0x80}), false, 2},
        {"3-byte + extra tail", from_hex({0xE2, 0x82, 0xAC, 0xBF}), false, 3},
        {"4-byte + extra tail", from_hex({0xF0, 0x9F, 0x98, 0x80, 0x80}), false, 4},
        // Overlong forms.
        {"overlong / C0 AF", from_hex({0xC0, 0xAF}), false, 0},
        {"overlong NUL C0 80", from_hex({0xC0, 0x80}), false, 0},
        {"overlong C1 BF", from_hex({0xC1, 0xBF}), false, 0},
        {"overlong E0 80 AF", from_hex({0xE0, 0x80, 0xAF}), false, 1},
        {"overlong E0 9F BF", from_hex({0xE0, 0x9F, 0xBF}), false, 1},
        {"overlong F0 80 80 AF", from_hex({0xF0, 0x80, 0x80, 0xAF}), false, 1},
        {"overlong F0 8F BF BF", from_hex({0xF0, 0x8F, 0xBF, 0xBF}), false, 1},
        {"overlong F8 80 80 80 AF", from_hex({0xF8, 0x80, 0x80, 0x80, 0xAF}), false, 0},
        // UTF-16 surrogates.
        {"U+D800", from_hex({0xED, 0xA0, 0x80}), false, 1},
        {"U+DB7F", from_hex({0xED, 0xAD, 0xBF}), false, 1},
        {"U+DC00", from_hex({0xED, 0xB0, 0x80}), false, 1},
        {"U+DFFF", from_hex({0xED, 0xBF, 0xBF}), false, 1},
        {"surrogate pair", from_hex({0xED, 0xA0, 0x80, 0xED, 0xB0, 0x80}), false, 1},
        {"text then surrogate", from_hex({'o', 'k', 0xED, 0xA0, 0x80}), false, 3},
        // Beyond U+10FFFF.
        {"U+110000", from_hex({0xF4, 0x90, 0x80, 0x80}), false, 1},
        {"F4 BF BF BF", from_hex({0xF4, 0xBF, 0xBF, 0xBF}), false, 1},
        {"F5 80 80 80", from_hex({0xF5, 0x80, 0x80, 0x80}), false, 0},
        {"F7 BF BF BF", from_hex({0xF7, 0xBF, 0xBF, 0xBF}), false, 0},
        // Sequences cut short by a non-continuation byte.
        {"C3 then ascii", from_hex({0xC3, 'a'}), false, 1},
        {"E2 82 then ascii", from_hex({0xE2, 0x82, 'a'}), false, 2},
        {"F0 9F 98 then ascii", from_hex({0xF0, 0x9F, 0x98, 'a'}), false, 3},
        {"E2 then lead", from_hex({0xE2, 0xC3, 0xA9}), false, 1},
        {"C3 C3", from_hex({0xC3, 0xC3}), false, 1},
        {"F0 9F then F0", from_hex({0xF0, 0x9F, 0xF0}), false, 2},
        // Truncated at the end: never fails, but does not end on a boundary.
        {"C3", from_hex({0xC3}), false, trunc},
        {"E2", from_hex({0xE2}), false, trunc},
        {"E2 82", from_hex({0xE2, 0x82}), false, trunc},
        {"E0", from_hex({0xE0}), false, trunc},
        {"E0 A0", from_hex({0xE0, 0xA0}), false, trunc},
        {"ED", from_hex({0xED}), false, trunc},
        {"ED 9F", from_hex({0xED, 0x9F}), false, trunc},
        {"F0", from_hex({0xF0}), false, trunc},
        {"F0 90", from_hex({0xF0, 0x90}), false, trunc},
        {"F0 9F 98", from_hex({0xF0, 0x9F, 0x98}), false, trunc},
        {"F4", from_hex({0xF4}), false, trunc},
        {"F4 8F BF", from_hex({0xF4, 0x8F, 0xBF}), false, trunc},
        {"text then F3", from_hex({'a', 'b', 0xF3}), false, trunc},
    };
}

std::vector<vector_case> all_cases() {
    auto all = valid_cases();
    auto bad = invalid_cases();
    all.insert(all.end(), bad.begin(), bad.end());
    return all;
}

TEST(Utf8, ReferenceAgreesWithFixedVectors) {
    // The test's own reference must agree with the hand-written expectations before it is
    // trusted for the random tests.
    for (const auto& c : all_cases()) {
        SCOPED_TRACE(std::string(c.name) + ": " + hex(c.data));
        const auto ref = reference_check(c.data);
        EXPECT_EQ(ref.valid(), c.valid);
        if (!c.valid) {
            EXPECT_EQ(ref.fail_at.value_or(vector_case::npos), c.fail_at);
        }
    }
}

TEST(Utf8, FixedVectorsWholeBuffer) {
    for (const auto& c : all_cases()) {
        SCOPED_TRACE(std::string(c.name) + ": " + hex(c.data));
        EXPECT_EQ(is_valid_utf8(c.data.data(), c.data.size()), c.valid);
        for (const auto& path : checker_paths()) {
            SCOPED_TRACE(path.name);
            checker v(path);
            const bool fed = v.feed(c.data.data(), c.data.size());
            EXPECT_EQ(fed, c.valid || c.fail_at == vector_case::npos);
            EXPECT_EQ(fed && v.at_boundary(), c.valid);
            EXPECT_EQ(v.failed(), !fed);
        }
    }
}

TEST(Utf8, FixedVectorsEverySplitPoint) {
    for (const auto& path : checker_paths()) {
        SCOPED_TRACE(path.name);
        for (const auto& c : all_cases()) {
            SCOPED_TRACE(std::string(c.name) + ": " + hex(c.data));
            for (std::size_t a = 0; a <= c.data.size(); ++a) {
                EXPECT_EQ(verdict_chunked(path, c.data, {a}), c.valid) << "split at " << a;
                for (std::size_t b = a; b <= c.data.size(); ++b) {
                    EXPECT_EQ(verdict_chunked(path, c.data, {a, b}), c.valid)
                        << "split at " << a << "," << b;
                }
            }
            std::vector<std::size_t> every;
            for (std::size_t i = 1; i < c.data.size(); ++i) every.push_back(i);
            EXPECT_EQ(verdict_chunked(path, c.data, every), c.valid) << "byte by byte";
        }
    }
}

TEST(Utf8, FailFastPositionByteByByte) {
    for (const auto& path : checker_paths()) {
        SCOPED_TRACE(path.name);
        for (const auto& c : invalid_cases()) {
            SCOPED_TRACE(std::string(c.name) + ": " + hex(c.data));
            const auto pos = fail_position_bytewise(path, c.data);
            if (c.fail_at == vector_case::npos) {
                EXPECT_FALSE(pos.has_value());
            } else {
                ASSERT_TRUE(pos.has_value());
                EXPECT_EQ(*pos, c.fail_at);
            }
        }
        for (const auto& c : valid_cases()) {
            SCOPED_TRACE(c.name);
            EXPECT_FALSE(fail_position_bytewise(path, c.data).has_value());
        }
    }
}

TEST(Utf8, FailFastSpecificBytes) {
    // The cases from the spec of this API spelt out: the failure comes with the byte that
    // breaks the prefix, not at the end of the sequence.
    utf8_validator v;
    const std::uint8_t ed = 0xED, a0 = 0xA0, f4 = 0xF4, x90 = 0x90, e0 = 0xE0, x9f = 0x9F;
    const std::uint8_t f0 = 0xF0, x8f = 0x8F;
    EXPECT_TRUE(v.feed(&ed, 1));
    EXPECT_FALSE(v.at_boundary());
    EXPECT_FALSE(v.feed(&a0, 1));
    v.reset();
    EXPECT_TRUE(v.feed(&f4, 1));
    EXPECT_FALSE(v.feed(&x90, 1));
    v.reset();
    EXPECT_TRUE(v.feed(&e0, 1));
    EXPECT_FALSE(v.feed(&x9f, 1));
    v.reset();
    EXPECT_TRUE(v.feed(&f0, 1));
    EXPECT_FALSE(v.feed(&x8f, 1));
    for (int b : {0xC0, 0xC1, 0xF5, 0xF6, 0xF7, 0xF8, 0xF9, 0xFA, 0xFB, 0xFC, 0xFD, 0xFE, 0xFF}) {
        const auto byte = static_cast<std::uint8_t>(b);
        utf8_validator w;
        EXPECT_FALSE(w.feed(&byte, 1)) << b;
    }
}

TEST(Utf8, ExhaustiveShortInputsAgainstReference) {
    // Every 1- and 2-byte input, plus 3-byte inputs with a 3/4-byte lead and a third byte
    // around the continuation range: covers every transition of the checker.
    for (const auto& path : checker_paths()) {
        SCOPED_TRACE(path.name);
        for (int a = 0; a < 256; ++a) {
            const bytes one{static_cast<std::uint8_t>(a)};
            EXPECT_EQ(valid_on(path, one), reference_check(one).valid()) << a;
            EXPECT_EQ(fail_position_bytewise(path, one), reference_check(one).fail_at) << a;
            for (int b = 0; b < 256; ++b) {
                const bytes two{static_cast<std::uint8_t>(a), static_cast<std::uint8_t>(b)};
                const auto ref = reference_check(two);
                ASSERT_EQ(valid_on(path, two), ref.valid()) << hex(two);
                ASSERT_EQ(fail_position_bytewise(path, two), ref.fail_at) << hex(two);
                if (a < 0xE0 || a > 0xF4) continue;
                for (int c = 0x70; c < 0xD0; ++c) {
                    bytes three(two);
                    three.push_back(static_cast<std::uint8_t>(c));
                    const auto r3 = reference_check(three);
                    ASSERT_EQ(valid_on(path, three), r3.valid()) << hex(three);
                    ASSERT_EQ(fail_position_bytewise(path, three), r3.fail_at) << hex(three);
                }
            }
        }
    }
}

TEST(Utf8, EveryCodePointRoundTrips) {
    for (const auto& path : checker_paths()) {
        SCOPED_TRACE(path.name);
        for (std::uint32_t cp = 0; cp <= 0x10FFFF; ++cp) {
            bytes b;
            append_utf8(b, cp);
            const bool surrogate = cp >= 0xD800 && cp <= 0xDFFF;
            ASSERT_EQ(valid_on(path, b), !surrogate) << std::hex << cp;
        }
    }
}

TEST(Utf8, StateAfterFailureIsSticky) {
    utf8_validator v;
    const std::uint8_t bad = 0xFF;
    const std::uint8_t good = 'a';
    EXPECT_FALSE(v.failed());
    EXPECT_FALSE(v.feed(&bad, 1));
    EXPECT_TRUE(v.failed());
    EXPECT_FALSE(v.feed(&good, 1));
    EXPECT_FALSE(v.feed(nullptr, 0));
    EXPECT_TRUE(v.failed());
    v.reset();
    EXPECT_FALSE(v.failed());
    EXPECT_TRUE(v.at_boundary());
    EXPECT_TRUE(v.feed(&good, 1));
    EXPECT_TRUE(v.at_boundary());
}

TEST(Utf8, ResetInTheMiddleOfASequence) {
    utf8_validator v;
    const std::uint8_t lead = 0xF0;
    const std::uint8_t tail = 0x80;
    EXPECT_TRUE(v.feed(&lead, 1));
    v.reset();
    EXPECT_TRUE(v.at_boundary());
    EXPECT_FALSE(v.feed(&tail, 1));  // a continuation byte at a boundary is stray
}

TEST(Utf8, EmptyFeedKeepsState) {
    for (const auto& path : checker_paths()) {
        SCOPED_TRACE(path.name);
        checker v(path);
        EXPECT_TRUE(v.feed(nullptr, 0));
        EXPECT_TRUE(v.at_boundary());
        const std::uint8_t lead = 0xE2;
        EXPECT_TRUE(v.feed(&lead, 1));
        EXPECT_TRUE(v.feed(nullptr, 0));
        EXPECT_FALSE(v.at_boundary());
        EXPECT_FALSE(v.failed());
    }
    EXPECT_TRUE(is_valid_utf8(nullptr, 0));
}

TEST(Utf8, ValidatorIsSmall) {
    EXPECT_LE(sizeof(utf8_validator), 8u);
}

// ---- Long inputs: the block and ASCII fast paths ----------------------------------------

TEST(Utf8, BadByteAtEveryPositionOfLongAscii) {
    // A bad byte at every offset of ASCII text, so every lane of the wide ASCII check and
    // every position within a DFA block must catch it, in the chunk that holds it.
    const std::size_t n = 300;
    for (const auto& path : checker_paths()) {
        SCOPED_TRACE(path.name);
        for (int bad : {0x80, 0xC0, 0xFF}) {
            for (std::size_t pos = 0; pos < n; ++pos) {
                bytes s(n, 'x');
                s[pos] = static_cast<std::uint8_t>(bad);
                ASSERT_FALSE(valid_on(path, s)) << pos;
                checker v(path);
                const std::size_t cut = 150;
                ASSERT_EQ(v.feed(s.data(), cut), pos >= cut) << pos;
                ASSERT_FALSE(v.feed(s.data() + cut, n - cut)) << pos;
            }
        }
    }
}

TEST(Utf8, MultibyteAtEveryOffsetOfLongAscii) {
    const std::vector<bytes> seqs = {encode({0xE9}), encode({0x20AC}), encode({0x1F600}),
                                     encode({0x10FFFF})};
    for (const auto& path : checker_paths()) {
        SCOPED_TRACE(path.name);
        for (const auto& seq : seqs) {
            for (std::size_t pos = 0; pos < 200; ++pos) {
                bytes s(pos, 'a');
                s.insert(s.end(), seq.begin(), seq.end());
                s.insert(s.end(), 150, 'b');
                ASSERT_TRUE(valid_on(path, s)) << pos;
                // Cut right after the lead byte: incomplete at the end, not failed.
                checker v(path);
                ASSERT_TRUE(v.feed(s.data(), pos + 1));
                ASSERT_FALSE(v.at_boundary());
                // Lead byte dropped: its tails become stray continuation bytes.
                bytes t(s);
                t.erase(t.begin() + static_cast<std::ptrdiff_t>(pos));
                ASSERT_EQ(fail_position_bytewise(path, t), std::optional<std::size_t>(pos));
                ASSERT_FALSE(valid_on(path, t));
            }
        }
    }
}

TEST(Utf8, ContinuationRunsInLongMultibyteText) {
    // Runs of 1-8 continuation bytes dropped at every offset of long multibyte text: the
    // checker splits its work where runs of continuation bytes are looked for, so runs that
    // are too long (4+) and runs that cross the split must all be caught.
    bytes base;
    for (int i = 0; i < 60; ++i) append_utf8(base, 0x4E00 + static_cast<std::uint32_t>(i));
    for (const auto& path : checker_paths()) {
        SCOPED_TRACE(path.name);
        for (std::size_t run = 1; run <= 8; ++run) {
            for (std::size_t pos = 0; pos < 120; ++pos) {
                bytes s(base);
                s.insert(s.begin() + static_cast<std::ptrdiff_t>(pos), run, 0x80);
                const auto ref = reference_check(s);
                ASSERT_FALSE(ref.valid());
                ASSERT_FALSE(valid_on(path, s)) << run << " at " << pos;
                ASSERT_EQ(fail_position_bytewise(path, s), ref.fail_at) << run << " at " << pos;
            }
        }
    }
}

std::uint32_t random_code_point(std::mt19937& rng) {
    // Weighted towards every encoded length, with each length's boundary values likely.
    std::uniform_int_distribution<int> kind(0, 9);
    auto in = [&](std::uint32_t lo, std::uint32_t hi) {
        return std::uniform_int_distribution<std::uint32_t>(lo, hi)(rng);
    };
    switch (kind(rng)) {
        case 0:
        case 1:
        case 2:
            return in(0x20, 0x7E);
        case 3:
            return in(0, 0x7F);
        case 4:
            return in(0x80, 0x7FF);
        case 5:
            return in(0x800, 0xD7FF);
        case 6:
            return in(0xE000, 0xFFFF);
        case 7:
            return in(0x10000, 0x10FFFF);
        case 8: {
            static constexpr std::uint32_t edges[] = {0x7F,   0x80,   0x7FF,   0x800,    0xD7FF,
                                                      0xE000, 0xFFFF, 0x10000, 0x10FFFF, 0xFFFD};
            return edges[in(0, 9)];
        }
        default:
            return in(0x4E00, 0x9FFF);  // CJK: long runs of 3-byte sequences
    }
}

bytes random_text(std::mt19937& rng, std::size_t code_points) {
    bytes s;
    std::uniform_int_distribution<int> run_kind(0, 3);
    std::uniform_int_distribution<std::size_t> run_len(1, 100);
    while (code_points > 0) {
        // Alternate ASCII runs (long enough for the SIMD skip) with mixed runs.
        const std::size_t n = std::min(run_len(rng), code_points);
        const bool ascii_run = run_kind(rng) == 0;
        for (std::size_t i = 0; i < n; ++i) {
            append_utf8(s, ascii_run ? std::uniform_int_distribution<std::uint32_t>(0x20, 0x7E)(rng)
                                     : random_code_point(rng));
        }
        code_points -= n;
    }
    return s;
}

std::vector<std::size_t> random_cuts(std::mt19937& rng, std::size_t size) {
    std::vector<std::size_t> cuts;
    std::uniform_int_distribution<std::size_t> step(0, 90);
    for (std::size_t pos = step(rng); pos < size; pos += step(rng)) cuts.push_back(pos);
    return cuts;
}

TEST(Utf8, RandomValidText) {
    for (const auto& path : checker_paths()) {
        SCOPED_TRACE(path.name);
        std::mt19937 rng(12345);
        for (int round = 0; round < 300; ++round) {
            const std::size_t cps = std::uniform_int_distribution<std::size_t>(0, 2000)(rng);
            const bytes s = random_text(rng, cps);
            ASSERT_TRUE(reference_check(s).valid());
            ASSERT_TRUE(valid_on(path, s)) << "round " << round;
            ASSERT_TRUE(verdict_chunked(path, s, random_cuts(rng, s.size()))) << "round " << round;
            // Any prefix is free of errors; it is complete exactly when the reference says so.
            const std::size_t prefix = std::uniform_int_distribution<std::size_t>(0, s.size())(rng);
            checker v(path);
            ASSERT_TRUE(v.feed(s.data(), prefix));
            bytes head(s.begin(), s.begin() + static_cast<std::ptrdiff_t>(prefix));
            ASSERT_EQ(v.at_boundary(), reference_check(head).boundary);
        }
    }
}

TEST(Utf8, RandomMutationsAgainstReference) {
    static constexpr std::uint8_t interesting[] = {0x00, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0,
                                                   0xBF, 0xC0, 0xC1, 0xC2, 0xDF, 0xE0, 0xED,
                                                   0xEF, 0xF0, 0xF4, 0xF5, 0xFE, 0xFF};
    for (const auto& path : checker_paths()) {
        SCOPED_TRACE(path.name);
        std::mt19937 rng(777);
        std::size_t invalid_seen = 0;
        for (int round = 0; round < 2000; ++round) {
            const std::size_t cps = std::uniform_int_distribution<std::size_t>(1, 400)(rng);
            bytes s = random_text(rng, cps);
            const int mutations = std::uniform_int_distribution<int>(1, 3)(rng);
            for (int m = 0; m < mutations; ++m) {
                const std::size_t at =
                    std::uniform_int_distribution<std::size_t>(0, s.size() - 1)(rng);
                switch (std::uniform_int_distribution<int>(0, 3)(rng)) {
                    case 0:
                        s[at] = static_cast<std::uint8_t>(
                            std::uniform_int_distribution<int>(0, 255)(rng));
                        break;
                    case 1:
                        s[at] = interesting[std::uniform_int_distribution<std::size_t>(
                            0, std::size(interesting) - 1)(rng)];
                        break;
                    case 2:
                        s.erase(s.begin() + static_cast<std::ptrdiff_t>(at));
                        break;
                    default:
                        s.resize(at);
                        break;  // truncation
                }
                if (s.empty()) s.push_back('a');
            }
            const auto ref = reference_check(s);
            if (!ref.valid()) ++invalid_seen;
            SCOPED_TRACE("round " + std::to_string(round) + ": " + hex(s));

            ASSERT_EQ(valid_on(path, s), ref.valid());
            ASSERT_EQ(fail_position_bytewise(path, s), ref.fail_at);

            // Random chunking: the first chunk whose feed returns false is the one holding
            // the reference's failing byte, and none before it fails.
            const auto cuts = random_cuts(rng, s.size());
            checker v(path);
            std::size_t pos = 0;
            bool chunk_failed = false;
            for (std::size_t i = 0; i <= cuts.size(); ++i) {
                const std::size_t end = i < cuts.size() ? cuts[i] : s.size();
                if (!v.feed(s.data() + pos, end - pos) && !chunk_failed) {
                    chunk_failed = true;
                    ASSERT_TRUE(ref.fail_at.has_value());
                    ASSERT_GE(*ref.fail_at, pos);
                    ASSERT_LT(*ref.fail_at, end);
                }
                pos = end;
            }
            ASSERT_EQ(chunk_failed, ref.fail_at.has_value());
            ASSERT_EQ(!v.failed() && v.at_boundary(), ref.valid());
        }
        // The mutations must actually produce a good share of invalid inputs.
        EXPECT_GT(invalid_seen, 500u);
    }
}

TEST(Utf8, PublicFunctionMatchesReferenceOnRandomInput) {
    // is_valid_utf8 itself (the other tests mostly go through the checker paths).
    std::mt19937 rng(99);
    for (int round = 0; round < 500; ++round) {
        bytes s = random_text(rng, std::uniform_int_distribution<std::size_t>(0, 300)(rng));
        if (!s.empty() && round % 2 == 0) {
            s[std::uniform_int_distribution<std::size_t>(0, s.size() - 1)(rng)] =
                static_cast<std::uint8_t>(std::uniform_int_distribution<int>(0x80, 0xFF)(rng));
        }
        ASSERT_EQ(is_valid_utf8(s.data(), s.size()), reference_check(s).valid()) << hex(s);
    }
}

}  // namespace
