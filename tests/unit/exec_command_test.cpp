// Splitting `sockeye serve --exec` lines into argv (apps/sockeye/exec_command).
#include <gtest/gtest.h>

#include "exec_command.hpp"

#include <string>
#include <vector>

namespace sockeye::apps {
namespace {

std::vector<std::string> words(std::string_view line) {
    const split_command_result r = split_command(line);
    EXPECT_TRUE(r.error.empty()) << line << ": " << r.error;
    return r.argv;
}

std::string error_of(std::string_view line) {
    const split_command_result r = split_command(line);
    EXPECT_TRUE(r.argv.empty()) << line;
    return r.error;
}

using v = std::vector<std::string>;

TEST(ExecCommand, WordsSplitOnBlanks) {
    EXPECT_EQ(words("cat"), v{"cat"});
    EXPECT_EQ(words("  python3  -u\tfilter.py \n"), (v{"python3", "-u", "filter.py"}));
}

TEST(ExecCommand, SingleQuotesKeepEverything) {
    EXPECT_EQ(words("sh -c 'echo hi; exit 3'"), (v{"sh", "-c", "echo hi; exit 3"}));
    EXPECT_EQ(words(R"(printf '%s\n' "$HOME")"), (v{"printf", R"(%s\n)", "$HOME"}));
}

TEST(ExecCommand, DoubleQuotesEscapeOnlyFourCharacters) {
    EXPECT_EQ(words(R"(echo "a \"b\" \\ \$x \` \n")"), (v{"echo", R"(a "b" \ $x ` \n)"}));
}

TEST(ExecCommand, BackslashOutsideQuotesTakesTheNextCharacter) {
    EXPECT_EQ(words(R"(echo a\ b \' \")"), (v{"echo", "a b", "'", "\""}));
}

TEST(ExecCommand, AdjacentPartsJoinAndEmptyQuotesAreWords) {
    EXPECT_EQ(words(R"(x a'b'"c"d)"), (v{"x", "abcd"}));
    EXPECT_EQ(words("x '' \"\""), (v{"x", "", ""}));
}

TEST(ExecCommand, ShellCharactersAreOrdinary) {
    EXPECT_EQ(words("cat | tr a b; rm *"), (v{"cat", "|", "tr", "a", "b;", "rm", "*"}));
}

TEST(ExecCommand, Errors) {
    EXPECT_NE(error_of("echo 'abc").find("single quote"), std::string::npos);
    EXPECT_NE(error_of("echo \"abc").find("double quote"), std::string::npos);
    EXPECT_NE(error_of("echo \"abc\\\"").find("double quote"), std::string::npos);
    EXPECT_NE(error_of("echo abc\\").find("backslash"), std::string::npos);
    EXPECT_NE(error_of("").find("no program"), std::string::npos);
    EXPECT_NE(error_of("  \t ").find("no program"), std::string::npos);
}

}  // namespace
}  // namespace sockeye::apps
