#include "common/escape.hpp"

#include <gtest/gtest.h>

#include <string>

namespace {

using sockeye::common::escape_for_display;

TEST(Escape, PrintableTextIsUnchanged) {
    EXPECT_EQ(escape_for_display("plain text, 1-2-3 / ~!"), "plain text, 1-2-3 / ~!");
    EXPECT_EQ(escape_for_display("gr\xc3\xbc\xc3\x9f \xe2\x82\xac \xf0\x9f\x98\x80"),
              "gr\xc3\xbc\xc3\x9f \xe2\x82\xac \xf0\x9f\x98\x80");
    EXPECT_EQ(escape_for_display("a\"b\\c"), "a\"b\\c");
    EXPECT_EQ(escape_for_display(""), "");
}

TEST(Escape, ControlsAreSpelledOut) {
    EXPECT_EQ(escape_for_display("a\nb\rc\td"), "a\\nb\\rc\\td");
    EXPECT_EQ(escape_for_display(std::string("\0\x01\x1b[2J\x1f\x7f", 8)),
              "\\x00\\x01\\x1b[2J\\x1f\\x7f");
    const std::string forged = escape_for_display("x\n2026-01-01T00:00:00.000Z error forged");
    EXPECT_EQ(forged.find('\n'), std::string::npos);
}

TEST(Escape, UnicodeControlsAndLineSeparators) {
    EXPECT_EQ(escape_for_display("\xc2\x80|\xc2\x85|\xc2\x9b|\xc2\x9f|\xc2\xa0"),
              "\\u0080|\\u0085|\\u009b|\\u009f|\xc2\xa0");
    EXPECT_EQ(escape_for_display("a\xe2\x80\xa8"
                                 "b\xe2\x80\xa9"),
              "a\\u2028b\\u2029");
}

TEST(Escape, MalformedUtf8BecomesBytes) {
    EXPECT_EQ(escape_for_display("\xff\xfe"), "\\xff\\xfe");
    EXPECT_EQ(escape_for_display("\xc0\xaf"), "\\xc0\\xaf");                    // overlong '/'
    EXPECT_EQ(escape_for_display("\xed\xa0\x80"), "\\xed\\xa0\\x80");           // surrogate
    EXPECT_EQ(escape_for_display("\xf4\x90\x80\x80"), "\\xf4\\x90\\x80\\x80");  // > U+10FFFF
    EXPECT_EQ(escape_for_display("ok\xe2\x82"), "ok\\xe2\\x82");  // truncated at the end
    EXPECT_EQ(escape_for_display("\xe2\x82z"), "\\xe2\\x82z");
}

TEST(Escape, QuotedFieldsEscapeQuoteAndBackslash) {
    EXPECT_EQ(escape_for_display("say \"hi\" \\ bye", true), "say \\\"hi\\\" \\\\ bye");
    // A literal backslash-n and a newline stay distinguishable.
    EXPECT_EQ(escape_for_display("\\n\n", true), "\\\\n\\n");
    // Escaped text is printable: escaping it again without quoting changes nothing, which
    // is what the logger does to a field its caller already escaped.
    const std::string once = escape_for_display("a\"\n\x1b\xc2\x85\xff", true);
    EXPECT_EQ(escape_for_display(once), once);
}

}  // namespace
