// Tests for API keys in memory (auth/api_key.h): the text form, Bearer parsing, hashing and comparison.
#include "auth/api_key.h"

#include <set>
#include <string>

#include <gtest/gtest.h>

#include "command/role.h"

namespace ledger {
namespace {

TEST(ApiKeyTest, GeneratedKeysHaveTheDocumentedFormAndParseBack) {
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    ApiKeyParts parts;
    ASSERT_TRUE(generate_api_key(&parts).ok());
    EXPECT_EQ(parts.key_id.size(), 16u);
    EXPECT_EQ(parts.secret.size(), 64u);  // 256 bits
    const std::string text = api_key_text(parts);
    EXPECT_EQ(text.rfind("clk_", 0), 0u);
    const auto parsed = parse_api_key(text);
    ASSERT_TRUE(parsed.has_value()) << text;
    EXPECT_EQ(parsed->key_id, parts.key_id);
    EXPECT_EQ(parsed->secret, parts.secret);
    EXPECT_TRUE(seen.insert(text).second) << "a key repeated";
  }
}

TEST(ApiKeyTest, ParseRejectsAnythingElse) {
  const std::string id(16, 'a');
  const std::string secret(64, 'b');
  EXPECT_TRUE(parse_api_key("clk_" + id + "_" + secret).has_value());
  for (const std::string& bad : {std::string(), "clk_" + id + "_" + secret + "0", "clk_" + id + "_" + secret.substr(1),
                                 "CLK_" + id + "_" + secret, "xyz_" + id + "_" + secret, "clk_" + id + "-" + secret,
                                 "clk_" + std::string(16, 'A') + "_" + secret, "clk_" + id + "_" + std::string(64, 'g'),
                                 "clk_" + id + "_" + secret.substr(0, 63) + " "}) {
    EXPECT_FALSE(parse_api_key(bad).has_value()) << bad;
  }
}

TEST(ApiKeyTest, BearerToken) {
  EXPECT_EQ(bearer_token("Bearer abc"), "abc");
  EXPECT_EQ(bearer_token("bearer abc"), "abc");
  EXPECT_EQ(bearer_token("BEARER   abc  "), "abc");
  EXPECT_FALSE(bearer_token("Bearer").has_value());
  EXPECT_FALSE(bearer_token("Bearer ").has_value());
  EXPECT_FALSE(bearer_token("Basic dXNlcjpwYXNz").has_value());
  EXPECT_FALSE(bearer_token("Bearerabc").has_value());
  EXPECT_FALSE(bearer_token("").has_value());
}

TEST(ApiKeyTest, Sha256KnownVectors) {
  auto hex = [](const std::string& bytes) {
    static const char* digits = "0123456789abcdef";
    std::string out;
    for (unsigned char c : bytes) {
      out += digits[c >> 4];
      out += digits[c & 15];
    }
    return out;
  };
  // FIPS 180-2 examples.
  EXPECT_EQ(hex(secret_sha256("abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(hex(secret_sha256("")), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(ApiKeyTest, ConstantTimeEqual) {
  EXPECT_TRUE(constant_time_equal("", ""));
  EXPECT_TRUE(constant_time_equal("abc", "abc"));
  EXPECT_FALSE(constant_time_equal("abc", "abd"));
  EXPECT_FALSE(constant_time_equal("abc", "ab"));
  EXPECT_FALSE(constant_time_equal(std::string("a\0b", 3), std::string("a\0c", 3)));
}

TEST(RoleTest, NamesRoundTrip) {
  for (Role role : {Role::kIssuer, Role::kHolder, Role::kAuditor, Role::kAdmin}) {
    EXPECT_EQ(parse_role(role_name(role)), role);
  }
  EXPECT_FALSE(parse_role("Admin").has_value());
  EXPECT_FALSE(parse_role("").has_value());
  EXPECT_FALSE(parse_role("root").has_value());
}

}  // namespace
}  // namespace ledger
