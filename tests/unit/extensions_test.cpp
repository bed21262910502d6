// Sec-WebSocket-Extensions parsing (RFC 6455 §9.1) and permessage-deflate negotiation
// (RFC 7692 §5, §7.1), both roles.
#include "protocol/extensions.hpp"

#include <gtest/gtest.h>

#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sockeye::protocol {
namespace {

extension_parse_result parse(std::initializer_list<std::string_view> values) {
    return parse_extensions(std::span<const std::string_view>{values.begin(), values.size()});
}

extension_param flag(std::string name) {
    return {std::move(name), std::nullopt};
}
extension_param param(std::string name, std::string value) {
    return {std::move(name), std::move(value)};
}

// ---- parser ----

TEST(ExtensionParse, NoValuesIsAnEmptyList) {
    const auto r = parse({});
    ASSERT_TRUE(r.ok);
    EXPECT_TRUE(r.offers.empty());
}

TEST(ExtensionParse, SingleToken) {
    const auto r = parse({"permessage-deflate"});
    ASSERT_TRUE(r.ok) << r.error;
    ASSERT_EQ(r.offers.size(), 1u);
    EXPECT_EQ(r.offers[0], (extension_offer{"permessage-deflate", {}}));
}

TEST(ExtensionParse, AllTokenCharacters) {
    const auto r = parse({"!#$%&'*+-.^_`|~09azAZ; a!#$%&'*+-.^_`|~=09azAZ!#$%&'*+-.^_`|~"});
    ASSERT_TRUE(r.ok) << r.error;
    ASSERT_EQ(r.offers.size(), 1u);
    EXPECT_EQ(r.offers[0].name, "!#$%&'*+-.^_`|~09azAZ");
    EXPECT_EQ(r.offers[0].params,
              (std::vector{param("a!#$%&'*+-.^_`|~", "09azAZ!#$%&'*+-.^_`|~")}));
}

TEST(ExtensionParse, ParamsWithAndWithoutValues) {
    const auto r = parse({"foo; a; b=1; c=x-y"});
    ASSERT_TRUE(r.ok) << r.error;
    ASSERT_EQ(r.offers.size(), 1u);
    EXPECT_EQ(r.offers[0].params, (std::vector{flag("a"), param("b", "1"), param("c", "x-y")}));
}

TEST(ExtensionParse, ParamOrderAndDuplicatesArePreserved) {
    // Duplicates are a semantic matter for the extension (RFC 7692 §7.1), not syntax.
    const auto r = parse({"foo; b; a=2; b"});
    ASSERT_TRUE(r.ok) << r.error;
    EXPECT_EQ(r.offers[0].params, (std::vector{flag("b"), param("a", "2"), flag("b")}));
}

TEST(ExtensionParse, QuotedStringIsUnescaped) {
    // quoted-pair: a backslash stands for the character after it (RFC 2616 §2.2).
    const auto r = parse({R"(foo; a="10"; b="\a\b\c"; c="x\-y", bar; d="tok")"});
    ASSERT_TRUE(r.ok) << r.error;
    ASSERT_EQ(r.offers.size(), 2u);
    EXPECT_EQ(r.offers[0].params,
              (std::vector{param("a", "10"), param("b", "abc"), param("c", "x-y")}));
    EXPECT_EQ(r.offers[1].params, (std::vector{param("d", "tok")}));
}

TEST(ExtensionParse, QuotedStringMayHoldSeparatorsOnlyIfTheyLeaveATokenAfterUnescaping) {
    // Separators inside quotes would otherwise end the element; they must still fail the
    // token check afterwards (RFC 6455 §9.1).
    EXPECT_FALSE(parse({R"(foo; a="x,y")"}).ok);
    EXPECT_FALSE(parse({R"(foo; a="x;y")"}).ok);
    EXPECT_FALSE(parse({R"(foo; a="x y")"}).ok);
    EXPECT_FALSE(parse({R"(foo; a="x\"y")"}).ok);
    EXPECT_FALSE(parse({R"(foo; a="")"}).ok);
    EXPECT_FALSE(parse({R"(foo; a="\\")"}).ok);
    EXPECT_FALSE(parse({"foo; a=\"\x80\""}).ok);
}

TEST(ExtensionParse, WhitespaceAroundEverySeparator) {
    const auto r = parse({" \tfoo \t; a \t= \t1 ;\tb= \"2\" ; c \t, \tbar\t; d\t "});
    ASSERT_TRUE(r.ok) << r.error;
    ASSERT_EQ(r.offers.size(), 2u);
    EXPECT_EQ(r.offers[0], (extension_offer{"foo", {param("a", "1"), param("b", "2"), flag("c")}}));
    EXPECT_EQ(r.offers[1], (extension_offer{"bar", {flag("d")}}));
}

TEST(ExtensionParse, CommaListInOneValue) {
    const auto r = parse({"a; x=1, b, c; y"});
    ASSERT_TRUE(r.ok) << r.error;
    ASSERT_EQ(r.offers.size(), 3u);
    EXPECT_EQ(r.offers[0], (extension_offer{"a", {param("x", "1")}}));
    EXPECT_EQ(r.offers[1], (extension_offer{"b", {}}));
    EXPECT_EQ(r.offers[2], (extension_offer{"c", {flag("y")}}));
}

TEST(ExtensionParse, SeveralHeaderLinesKeepTheirOrder) {
    const auto r = parse({"a; x", "b, c", "d"});
    ASSERT_TRUE(r.ok) << r.error;
    ASSERT_EQ(r.offers.size(), 4u);
    EXPECT_EQ(r.offers[0].name, "a");
    EXPECT_EQ(r.offers[1].name, "b");
    EXPECT_EQ(r.offers[2].name, "c");
    EXPECT_EQ(r.offers[3].name, "d");
}

TEST(ExtensionParse, EmptyElementsAreSkipped) {
    // RFC 2616 §2.1 #rule: "null elements are allowed"; RFC 7230 §7 asks recipients to
    // accept them.
    for (const std::string_view v : {"a,,b", ",a,b", "a,b,", " , a , , b , ", ",,,a,,,b,,,"}) {
        const auto r = parse({v});
        ASSERT_TRUE(r.ok) << v << ": " << r.error;
        ASSERT_EQ(r.offers.size(), 2u) << v;
        EXPECT_EQ(r.offers[0].name, "a");
        EXPECT_EQ(r.offers[1].name, "b");
    }
}

TEST(ExtensionParse, BlankValuesHoldNoElements) {
    const auto r = parse({"", " ", ",", " , ,\t"});
    ASSERT_TRUE(r.ok) << r.error;
    EXPECT_TRUE(r.offers.empty());
}

TEST(ExtensionParse, CaseIsKept) {
    const auto r = parse({"PerMessage-Deflate; Server_No_Context_Takeover=AbC"});
    ASSERT_TRUE(r.ok) << r.error;
    EXPECT_EQ(r.offers[0], (extension_offer{"PerMessage-Deflate",
                                            {param("Server_No_Context_Takeover", "AbC")}}));
}

class ExtensionParseMalformed : public testing::TestWithParam<std::string_view> {};

TEST_P(ExtensionParseMalformed, IsASyntaxError) {
    const auto r = parse({GetParam()});
    EXPECT_FALSE(r.ok);
    EXPECT_FALSE(r.error.empty());
    EXPECT_TRUE(r.offers.empty());
}

INSTANTIATE_TEST_SUITE_P(
    ExtensionSyntax, ExtensionParseMalformed,
    testing::Values(
        // unterminated quoted-string, also with a trailing escape
        R"(foo; a="abc)", R"(foo; a=")", R"(foo; a="abc\)", R"(foo; a="abc\", b)",
        // missing tokens
        ";", "; a", "foo;", "foo; ", "foo;;a", "foo; =1", "foo;, bar", "=", "foo, ;a",
        // "=" without a value
        "foo; a=", "foo; a= ", "foo; a=;b", "foo; a=, bar",
        // characters outside token
        "foo@bar", "foo; a@=1", "foo; a=1@", "foo/1", "foo bar", "foo; a b", "foo; a=1 2",
        "foo; a=x=y", "(foo)", "foo; a=[1]", "foo{", "foo:1", "foo\x01", "foo\r\n", "f\xc3\xa9",
        "\"foo\"", "foo; \"a\"=1", "foo; a=1\"", "foo; a=\"1\"x", "foo; a=\"1\" \"2\""));

TEST(ExtensionParse, ErrorInAnyValueFailsTheWholeHeader) {
    const auto r = parse({"permessage-deflate", "x; =", "y"});
    EXPECT_FALSE(r.ok);
    EXPECT_TRUE(r.offers.empty());
}

// ---- server role ----

deflate_config enabled_config() {
    deflate_config c;
    c.enabled = true;
    return c;
}

std::optional<deflate_agreement> negotiate(std::initializer_list<std::string_view> values,
                                           const deflate_config& config = enabled_config()) {
    const auto parsed = parse(values);
    EXPECT_TRUE(parsed.ok) << parsed.error;
    return negotiate_deflate(parsed.offers, config);
}

deflate_params make_params(bool server_nct, bool client_nct, int server_bits, int client_bits) {
    deflate_params p;
    p.server_no_context_takeover = server_nct;
    p.client_no_context_takeover = client_nct;
    p.server_max_window_bits = server_bits;
    p.client_max_window_bits = client_bits;
    return p;
}

TEST(DeflateNegotiation, DisabledConfigAcceptsNothing) {
    EXPECT_FALSE(negotiate({"permessage-deflate"}, deflate_config{}));
}

TEST(DeflateNegotiation, PlainOffer) {
    const auto a = negotiate({"permessage-deflate"});
    ASSERT_TRUE(a);
    EXPECT_EQ(a->response, "permessage-deflate");
    EXPECT_EQ(a->params, deflate_params{});
}

TEST(DeflateNegotiation, NoOffersOrOnlyOtherExtensions) {
    EXPECT_FALSE(negotiate({}));
    EXPECT_FALSE(negotiate({"x-webkit-deflate-frame, foo; bar=1"}));
    // Extension names compare exactly: the registered name is lower case.
    EXPECT_FALSE(negotiate({"Permessage-Deflate"}));
}

TEST(DeflateNegotiation, OtherExtensionsBeforeTheOfferAreSkipped) {
    const auto a = negotiate({"foo, permessage-deflate; server_no_context_takeover"});
    ASSERT_TRUE(a);
    EXPECT_EQ(a->response, "permessage-deflate; server_no_context_takeover");
}

TEST(DeflateNegotiation, EachOfferedParameterAlone) {
    struct expectation {
        std::string_view offer;
        std::string_view response;
        deflate_params params;
    };
    const expectation cases[] = {
        {"permessage-deflate; server_no_context_takeover",
         "permessage-deflate; server_no_context_takeover", make_params(true, false, 15, 15)},
        {"permessage-deflate; client_no_context_takeover",
         "permessage-deflate; client_no_context_takeover", make_params(false, true, 15, 15)},
        {"permessage-deflate; server_max_window_bits=10",
         "permessage-deflate; server_max_window_bits=10", make_params(false, false, 10, 15)},
        // Offered server_max_window_bits must be echoed to be accepted, even at 15.
        {"permessage-deflate; server_max_window_bits=15",
         "permessage-deflate; server_max_window_bits=15", make_params(false, false, 15, 15)},
        {"permessage-deflate; server_max_window_bits=9",
         "permessage-deflate; server_max_window_bits=9", make_params(false, false, 9, 15)},
        // With the default config there is no limit to ask of the client.
        {"permessage-deflate; client_max_window_bits", "permessage-deflate",
         make_params(false, false, 15, 15)},
        {"permessage-deflate; client_max_window_bits=10",
         "permessage-deflate; client_max_window_bits=10", make_params(false, false, 15, 10)},
        {"permessage-deflate; client_max_window_bits=15", "permessage-deflate",
         make_params(false, false, 15, 15)},
        // A hint of 8 is answered with 9: see answer_offer.
        {"permessage-deflate; client_max_window_bits=8",
         "permessage-deflate; client_max_window_bits=9", make_params(false, false, 15, 9)},
        // A quoted value is the same value (RFC 6455 §9.1).
        {R"(permessage-deflate; server_max_window_bits="12")",
         "permessage-deflate; server_max_window_bits=12", make_params(false, false, 12, 15)},
    };
    for (const auto& c : cases) {
        const auto a = negotiate({c.offer});
        ASSERT_TRUE(a) << c.offer;
        EXPECT_EQ(a->response, c.response) << c.offer;
        EXPECT_EQ(a->params, c.params) << c.offer;
    }
}

TEST(DeflateNegotiation, AllParametersTogether) {
    auto config = enabled_config();
    config.server_max_window_bits = 12;
    config.client_max_window_bits = 11;
    const auto a = negotiate({"permessage-deflate; client_max_window_bits=13; "
                              "server_max_window_bits=10; client_no_context_takeover; "
                              "server_no_context_takeover"},
                             config);
    ASSERT_TRUE(a);
    EXPECT_EQ(a->response,
              "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
              "server_max_window_bits=10; client_max_window_bits=11");
    EXPECT_EQ(a->params, make_params(true, true, 10, 11));
}

TEST(DeflateNegotiation, ClientMaxWindowBitsWithoutValueGetsTheConfiguredLimit) {
    auto config = enabled_config();
    config.client_max_window_bits = 10;
    const auto a = negotiate({"permessage-deflate; client_max_window_bits"}, config);
    ASSERT_TRUE(a);
    EXPECT_EQ(a->response, "permessage-deflate; client_max_window_bits=10");
    EXPECT_EQ(a->params.client_max_window_bits, 10);
}

TEST(DeflateNegotiation, ClientLimitIsNeverSentUnlessOffered) {
    // RFC 7692 §7.1.2.2: no client_max_window_bits in the response if the offer lacks it.
    auto config = enabled_config();
    config.client_max_window_bits = 10;
    const auto a = negotiate({"permessage-deflate"}, config);
    ASSERT_TRUE(a);
    EXPECT_EQ(a->response, "permessage-deflate");
    EXPECT_EQ(a->params.client_max_window_bits, 15);
}

TEST(DeflateNegotiation, ConfiguredServerOptionsAreAnnouncedUnasked) {
    // RFC 7692 §7.1.1.1, §7.1.1.2 and §7.1.2.1: the server MAY include these unasked.
    auto config = enabled_config();
    config.server_no_context_takeover = true;
    config.client_no_context_takeover = true;
    config.server_max_window_bits = 11;
    const auto a = negotiate({"permessage-deflate"}, config);
    ASSERT_TRUE(a);
    EXPECT_EQ(a->response,
              "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
              "server_max_window_bits=11");
    EXPECT_EQ(a->params, make_params(true, true, 11, 15));
}

TEST(DeflateNegotiation, ServerWindowIsTheSmallerOfOfferAndConfig) {
    auto config = enabled_config();
    config.server_max_window_bits = 11;
    auto a = negotiate({"permessage-deflate; server_max_window_bits=13"}, config);
    ASSERT_TRUE(a);
    EXPECT_EQ(a->response, "permessage-deflate; server_max_window_bits=11");
    a = negotiate({"permessage-deflate; server_max_window_bits=9"}, config);
    ASSERT_TRUE(a);
    EXPECT_EQ(a->response, "permessage-deflate; server_max_window_bits=9");
}

TEST(DeflateNegotiation, ConfiguredWindowsAreClampedTo9Through15) {
    auto config = enabled_config();
    config.server_max_window_bits = 8;
    config.client_max_window_bits = 3;
    auto a = negotiate({"permessage-deflate; client_max_window_bits"}, config);
    ASSERT_TRUE(a);
    EXPECT_EQ(a->response,
              "permessage-deflate; server_max_window_bits=9; client_max_window_bits=9");
    config.server_max_window_bits = 99;
    config.client_max_window_bits = 16;
    a = negotiate({"permessage-deflate; client_max_window_bits"}, config);
    ASSERT_TRUE(a);
    EXPECT_EQ(a->response, "permessage-deflate");
    EXPECT_EQ(a->params, deflate_params{});
}

TEST(DeflateNegotiation, FirstAcceptableOfferWins) {
    const auto a = negotiate({"permessage-deflate; server_max_window_bits=12",
                              "permessage-deflate; server_no_context_takeover"});
    ASSERT_TRUE(a);
    EXPECT_EQ(a->response, "permessage-deflate; server_max_window_bits=12");
}

TEST(DeflateNegotiation, NoAcceptableOffer) {
    EXPECT_FALSE(
        negotiate({"permessage-deflate; server_max_window_bits=8, "
                   "permessage-deflate; foo, permessage-deflate; server_max_window_bits"}));
}

class DeflateNegotiationDeclined : public testing::TestWithParam<std::string_view> {};

TEST_P(DeflateNegotiationDeclined, FallsBackToTheNextOffer) {
    const std::string first = "permessage-deflate; " + std::string{GetParam()};
    const auto a = negotiate({first, "permessage-deflate; client_no_context_takeover"});
    ASSERT_TRUE(a) << first;
    EXPECT_EQ(a->response, "permessage-deflate; client_no_context_takeover") << first;
    EXPECT_EQ(a->params, make_params(false, true, 15, 15));
    // The same offer alone is declined outright.
    EXPECT_FALSE(negotiate({first})) << first;
}

INSTANTIATE_TEST_SUITE_P(
    DeflateNegotiationOffers, DeflateNegotiationDeclined,
    testing::Values(
        // duplicates (RFC 7692 §7.1)
        "server_no_context_takeover; server_no_context_takeover",
        "client_no_context_takeover; client_no_context_takeover",
        "server_max_window_bits=10; server_max_window_bits=10",
        "client_max_window_bits; client_max_window_bits",
        "client_max_window_bits=10; client_max_window_bits",
        // unknown parameters, including near misses and names of the other direction
        "foo", "foo=1", "Server_No_Context_Takeover", "server_max_window_bits_x=10",
        "max_window_bits=10", "mem_level=8",
        // the no_context_takeover flags take no value (§7.1.1.1, §7.1.1.2)
        "server_no_context_takeover=1", "client_no_context_takeover=true",
        R"(server_no_context_takeover="x")",
        // server_max_window_bits: a value is required, 8..15 without leading zeros
        // (§7.1.2.1); 8 itself we cannot compress with
        "server_max_window_bits", "server_max_window_bits=8", "server_max_window_bits=16",
        "server_max_window_bits=07", "server_max_window_bits=010", "server_max_window_bits=0",
        "server_max_window_bits=7", "server_max_window_bits=100", "server_max_window_bits=-9",
        "server_max_window_bits=+9", "server_max_window_bits=9.0", "server_max_window_bits=a",
        "server_max_window_bits=99999999999999999999", R"(server_max_window_bits="08")",
        // client_max_window_bits: no value or 8..15 (§7.1.2.2)
        "client_max_window_bits=16", "client_max_window_bits=09", "client_max_window_bits=7",
        "client_max_window_bits=x", "client_max_window_bits=-1"));

// Every combination of offered parameter and server configuration, against the rules of
// RFC 7692 §7.1 written out independently of the implementation.
TEST(DeflateNegotiation, EveryParameterCombination) {
    // Window offers: -2 absent, -1 present without value, otherwise the value.
    const int server_offers[] = {-2, 8, 9, 10, 12, 15};
    const int client_offers[] = {-2, -1, 8, 9, 11, 15};
    const int configured[] = {8, 9, 11, 15};
    int accepted = 0;
    for (int bits = 0; bits < 16; ++bits) {
        for (const int so : server_offers) {
            for (const int co : client_offers) {
                for (const int sc : configured) {
                    for (const int cc : configured) {
                        const bool offer_snct = bits & 1, offer_cnct = bits & 2;
                        deflate_config config = enabled_config();
                        config.server_no_context_takeover = bits & 4;
                        config.client_no_context_takeover = bits & 8;
                        config.server_max_window_bits = sc;
                        config.client_max_window_bits = cc;

                        std::string offer = "permessage-deflate";
                        if (co != -2)
                            offer += co == -1 ? "; client_max_window_bits"
                                              : "; client_max_window_bits=" + std::to_string(co);
                        if (offer_cnct) offer += "; client_no_context_takeover";
                        if (so != -2) offer += "; server_max_window_bits=" + std::to_string(so);
                        if (offer_snct) offer += "; server_no_context_takeover";

                        const auto a = negotiate({offer}, config);
                        if (so == 8) {
                            EXPECT_FALSE(a) << offer;
                            continue;
                        }
                        ASSERT_TRUE(a) << offer;
                        ++accepted;

                        const bool snct = offer_snct || config.server_no_context_takeover;
                        const bool cnct = offer_cnct || config.client_no_context_takeover;
                        const int own = sc < 9 ? 9 : sc;
                        const int server_bits = so == -2 ? own : std::min(own, so);
                        int client_bits = 15;
                        if (co != -2) client_bits = std::max(cc, 9);
                        if (co >= 8) client_bits = std::min(client_bits, std::max(co, 9));

                        std::string expected = "permessage-deflate";
                        if (snct) expected += "; server_no_context_takeover";
                        if (cnct) expected += "; client_no_context_takeover";
                        if (so != -2 || server_bits < 15)
                            expected += "; server_max_window_bits=" + std::to_string(server_bits);
                        if (client_bits < 15)
                            expected += "; client_max_window_bits=" + std::to_string(client_bits);

                        EXPECT_EQ(a->response, expected) << offer;
                        EXPECT_EQ(a->params, make_params(snct, cnct, server_bits, client_bits))
                            << offer;

                        // The response parses as one permessage-deflate element, and a
                        // client with the same wishes accepts it and agrees.
                        const std::string_view response = a->response;
                        const auto back = accept_deflate_response(std::span{&response, 1}, config);
                        ASSERT_TRUE(back.ok) << offer << " -> " << response << ": " << back.error;
                        ASSERT_TRUE(back.params);
                        EXPECT_EQ(back.params->server_max_window_bits, server_bits);
                        EXPECT_EQ(back.params->server_no_context_takeover, snct);
                        EXPECT_EQ(back.params->client_no_context_takeover, cnct);
                        EXPECT_LE(back.params->client_max_window_bits, client_bits);
                    }
                }
            }
        }
    }
    EXPECT_EQ(accepted, 16 * 5 * 6 * 4 * 4);
}

TEST(DeflateNegotiation, WindowBitsAndContextTakeoverPerRole) {
    const auto p = make_params(true, false, 10, 12);
    EXPECT_EQ(p.deflate_window_bits(role::server), 10);
    EXPECT_EQ(p.deflate_window_bits(role::client), 12);
    // Our inflater always takes the full window: it reads any smaller one.
    EXPECT_EQ(p.inflate_window_bits(role::server), 15);
    EXPECT_EQ(p.inflate_window_bits(role::client), 15);
    EXPECT_TRUE(p.local_no_context_takeover(role::server));
    EXPECT_FALSE(p.local_no_context_takeover(role::client));
    EXPECT_FALSE(p.peer_no_context_takeover(role::server));
    EXPECT_TRUE(p.peer_no_context_takeover(role::client));
}

// ---- client role ----

deflate_response_result accept(std::initializer_list<std::string_view> values,
                               const deflate_config& offered = enabled_config()) {
    return accept_deflate_response(std::span<const std::string_view>{values.begin(), values.size()},
                                   offered);
}

TEST(DeflateNegotiationClient, OfferStrings) {
    EXPECT_EQ(make_deflate_offer(deflate_config{}), "");
    auto config = enabled_config();
    EXPECT_EQ(make_deflate_offer(config), "permessage-deflate; client_max_window_bits");
    config.server_no_context_takeover = true;
    config.client_no_context_takeover = true;
    config.server_max_window_bits = 10;
    config.client_max_window_bits = 12;
    EXPECT_EQ(make_deflate_offer(config),
              "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
              "server_max_window_bits=10; client_max_window_bits=12");
    config = enabled_config();
    config.server_max_window_bits = 8;  // clamped: zlib servers would have to decline 8
    config.client_max_window_bits = 0;
    EXPECT_EQ(make_deflate_offer(config),
              "permessage-deflate; server_max_window_bits=9; client_max_window_bits=9");
}

TEST(DeflateNegotiationClient, NoExtensionAcceptedIsFine) {
    for (const auto& r :
         {accept({}), accept({""}), accept({" , "}), accept({}, deflate_config{})}) {
        EXPECT_TRUE(r.ok) << r.error;
        EXPECT_FALSE(r.params);
    }
}

TEST(DeflateNegotiationClient, PlainAcceptance) {
    const auto r = accept({"permessage-deflate"});
    ASSERT_TRUE(r.ok) << r.error;
    ASSERT_TRUE(r.params);
    EXPECT_EQ(*r.params, deflate_params{});
}

TEST(DeflateNegotiationClient, FullAcceptance) {
    const auto r =
        accept({"permessage-deflate; client_max_window_bits=10; server_max_window_bits=8; "
                "client_no_context_takeover; server_no_context_takeover"});
    ASSERT_TRUE(r.ok) << r.error;
    ASSERT_TRUE(r.params);
    // server_max_window_bits=8 is fine for us: our inflater uses a 15-bit window.
    EXPECT_EQ(*r.params, make_params(true, true, 8, 10));
}

TEST(DeflateNegotiationClient, ServerMayAddContextTakeoverAndWindowUnasked) {
    const auto r =
        accept({"permessage-deflate; server_no_context_takeover; server_max_window_bits=11"});
    ASSERT_TRUE(r.ok) << r.error;
    EXPECT_EQ(*r.params, make_params(true, false, 11, 15));
}

TEST(DeflateNegotiationClient, OurPromisesHoldWithoutEcho) {
    // Offering client_no_context_takeover or a client_max_window_bits value commits us
    // even when the server doesn't repeat them (RFC 7692 §7.1.1.2, §7.1.2.2).
    auto offered = enabled_config();
    offered.client_no_context_takeover = true;
    offered.client_max_window_bits = 11;
    auto r = accept({"permessage-deflate"}, offered);
    ASSERT_TRUE(r.ok) << r.error;
    EXPECT_EQ(*r.params, make_params(false, true, 15, 11));
    // A server ignoring our hint may name a larger window; we stay within ours.
    r = accept({"permessage-deflate; client_max_window_bits=13"}, offered);
    ASSERT_TRUE(r.ok) << r.error;
    EXPECT_EQ(r.params->client_max_window_bits, 11);
    r = accept({"permessage-deflate; client_max_window_bits=9"}, offered);
    ASSERT_TRUE(r.ok) << r.error;
    EXPECT_EQ(r.params->client_max_window_bits, 9);
}

TEST(DeflateNegotiationClient, ServerWindowWithinWhatWeAskedFor) {
    auto offered = enabled_config();
    offered.server_max_window_bits = 12;
    for (const std::string_view ok : {"permessage-deflate; server_max_window_bits=12",
                                      "permessage-deflate; server_max_window_bits=8"}) {
        EXPECT_TRUE(accept({ok}, offered).ok) << ok;
    }
    EXPECT_FALSE(accept({"permessage-deflate; server_max_window_bits=13"}, offered).ok);
    // Accepting our offer means echoing the parameter (§7.1.2.1).
    EXPECT_FALSE(accept({"permessage-deflate"}, offered).ok);
}

TEST(DeflateNegotiationClient, RequestedServerNoContextTakeoverMustBeEchoed) {
    auto offered = enabled_config();
    offered.server_no_context_takeover = true;
    EXPECT_FALSE(accept({"permessage-deflate"}, offered).ok);
    EXPECT_TRUE(accept({"permessage-deflate; server_no_context_takeover"}, offered).ok);
}

TEST(DeflateNegotiationClient, ResponseSpreadOverLinesWithEmptyElements) {
    const auto r = accept({"", ", permessage-deflate; server_max_window_bits=\"10\" ,"});
    ASSERT_TRUE(r.ok) << r.error;
    EXPECT_EQ(r.params->server_max_window_bits, 10);
}

class DeflateNegotiationClientRejects : public testing::TestWithParam<std::string_view> {};

TEST_P(DeflateNegotiationClientRejects, FailsTheConnection) {
    const auto r = accept({GetParam()});
    EXPECT_FALSE(r.ok) << GetParam();
    EXPECT_FALSE(r.error.empty());
    EXPECT_FALSE(r.params);
}

INSTANTIATE_TEST_SUITE_P(
    DeflateNegotiationResponses, DeflateNegotiationClientRejects,
    testing::Values(
        // malformed header
        "permessage-deflate;", "permessage-deflate; a=\"", "permessage-deflate x",
        // other or repeated extensions (RFC 6455 §4.1 item 5; RFC 7692 §5)
        "foo", "permessage-deflate, foo", "foo, permessage-deflate",
        "permessage-deflate, permessage-deflate", "Permessage-Deflate",
        // unknown, duplicate, or invalid parameters (RFC 7692 §7.1)
        "permessage-deflate; foo", "permessage-deflate; server_no_context_takeover=1",
        "permessage-deflate; client_no_context_takeover=\"x\"",
        "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
        "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
        "permessage-deflate; server_max_window_bits=10; server_max_window_bits=10",
        "permessage-deflate; client_max_window_bits=10; client_max_window_bits=10",
        "permessage-deflate; server_max_window_bits",
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; server_max_window_bits=07",
        "permessage-deflate; server_max_window_bits=7",
        // client_max_window_bits in a response needs a value (§7.1.2.2); 8 we can't use
        "permessage-deflate; client_max_window_bits",
        "permessage-deflate; client_max_window_bits=8",
        "permessage-deflate; client_max_window_bits=16",
        "permessage-deflate; client_max_window_bits=010"));

TEST(DeflateNegotiationClient, AnyExtensionIsRejectedWhenNoneWasOffered) {
    const auto r = accept({"permessage-deflate"}, deflate_config{});
    EXPECT_FALSE(r.ok);
}

// Our client's offer, through our server, back to our client: both sides agree exactly,
// and our server accepts every offer our client makes.
TEST(DeflateNegotiationClient, RoundTripThroughOurServer) {
    const int windows[] = {8, 9, 10, 14, 15};
    for (int bits = 0; bits < 16; ++bits) {
        for (const int cs : windows) {
            for (const int cc : windows) {
                for (const int ss : windows) {
                    for (const int sc : windows) {
                        deflate_config client = enabled_config();
                        client.server_no_context_takeover = bits & 1;
                        client.client_no_context_takeover = bits & 2;
                        client.server_max_window_bits = cs;
                        client.client_max_window_bits = cc;
                        deflate_config server = enabled_config();
                        server.server_no_context_takeover = bits & 4;
                        server.client_no_context_takeover = bits & 8;
                        server.server_max_window_bits = ss;
                        server.client_max_window_bits = sc;

                        const std::string offer = make_deflate_offer(client);
                        const auto a = negotiate({offer}, server);
                        ASSERT_TRUE(a) << offer;
                        const std::string_view response = a->response;
                        const auto r = accept_deflate_response(std::span{&response, 1}, client);
                        ASSERT_TRUE(r.ok) << offer << " -> " << response << ": " << r.error;
                        ASSERT_TRUE(r.params);
                        EXPECT_EQ(*r.params, a->params) << offer << " -> " << response;
                        EXPECT_GE(a->params.deflate_window_bits(role::server), 9);
                        EXPECT_GE(r.params->deflate_window_bits(role::client), 9);
                    }
                }
            }
        }
    }
}

}  // namespace
}  // namespace sockeye::protocol
