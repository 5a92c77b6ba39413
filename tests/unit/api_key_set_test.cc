// Tests for the in-memory set of active API keys (auth/api_key_set.h): checks, updates, the size bound.
#include "auth/api_key_set.h"

#include <string>
#include <unordered_map>

#include <gtest/gtest.h>

#include "auth/api_key.h"

namespace ledger {
namespace {

ActiveKey key_for(const std::string& account, Role role, const std::string& secret) {
  return ActiveKey{account, role, secret_sha256(secret)};
}

TEST(ApiKeySetTest, ChecksIdAndSecretAndAnswersTheActor) {
  ApiKeySet set(10);
  EXPECT_FALSE(set.loaded());
  ASSERT_TRUE(set.replace_all({{"00000000000000a1", key_for("Acme", Role::kHolder, "s1")}}).ok());
  EXPECT_TRUE(set.loaded());
  const auto actor = set.check("00000000000000a1", secret_sha256("s1"));
  ASSERT_TRUE(actor.has_value());
  EXPECT_EQ(actor->account, "Acme");
  EXPECT_EQ(actor->role, Role::kHolder);
  EXPECT_FALSE(set.check("00000000000000a1", secret_sha256("s2")).has_value()) << "wrong secret";
  EXPECT_FALSE(set.check("00000000000000a2", secret_sha256("s1")).has_value()) << "unknown id";
  EXPECT_FALSE(set.check("not-an-id", secret_sha256("s1")).has_value());
  EXPECT_FALSE(set.check("00000000000000A1", secret_sha256("s1")).has_value()) << "ids are lowercase";
}

TEST(ApiKeySetTest, UpdatesAddReplaceAndDropKeys) {
  ApiKeySet set(10);
  ASSERT_TRUE(set.replace_all({}).ok());
  ASSERT_TRUE(set.update("00000000000000b1", key_for("A", Role::kIssuer, "s")).ok());
  EXPECT_TRUE(set.check("00000000000000b1", secret_sha256("s")).has_value());
  ASSERT_TRUE(set.update("00000000000000b1", std::nullopt).ok());  // revoked
  EXPECT_FALSE(set.check("00000000000000b1", secret_sha256("s")).has_value());
  EXPECT_EQ(set.size(), 0u);
  EXPECT_TRUE(set.update("00000000000000b9", std::nullopt).ok()) << "dropping an unknown key is a no-op";
  EXPECT_FALSE(set.update("xyz", key_for("A", Role::kIssuer, "s")).ok());
}

TEST(ApiKeySetTest, HoldsAtMostKeysMax) {
  ApiKeySet set(2);
  std::unordered_map<std::string, ActiveKey> three = {{"00000000000000c1", key_for("A", Role::kHolder, "1")},
                                                      {"00000000000000c2", key_for("B", Role::kHolder, "2")},
                                                      {"00000000000000c3", key_for("C", Role::kHolder, "3")}};
  EXPECT_TRUE(set.replace_all(three).IsInvalid());
  EXPECT_FALSE(set.loaded()) << "nothing changed";
  three.erase("00000000000000c3");
  ASSERT_TRUE(set.replace_all(three).ok());
  EXPECT_TRUE(set.update("00000000000000c3", key_for("C", Role::kHolder, "3")).IsInvalid());
  EXPECT_FALSE(set.check("00000000000000c3", secret_sha256("3")).has_value());
  EXPECT_TRUE(set.update("00000000000000c1", key_for("A2", Role::kAdmin, "1")).ok()) << "replacing fits";
  EXPECT_EQ(set.check("00000000000000c1", secret_sha256("1"))->role, Role::kAdmin);
}

TEST(ApiKeySetTest, KeyIdBitsReadsSixteenLowercaseHexDigits) {
  EXPECT_EQ(key_id_bits("00000000000000ff"), 255u);
  EXPECT_EQ(key_id_bits("ffffffffffffffff"), ~std::uint64_t{0});
  EXPECT_FALSE(key_id_bits("fffffffffffffff").has_value());
  EXPECT_FALSE(key_id_bits("0000000000000g00").has_value());
  EXPECT_FALSE(key_id_bits("").has_value());
}

}  // namespace
}  // namespace ledger
