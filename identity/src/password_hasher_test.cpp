#include "erds/identity/password_hasher.h"

#include <gtest/gtest.h>

namespace erds::identity {
namespace {

// Cheap parameters so the suite stays fast; the defaults are measured by erds_identity_bench.
Argon2Params cheap() {
  Argon2Params p;
  p.timeCost = 1;
  p.memoryKiB = 1024;
  return p;
}

TEST(PasswordHasherTest, HashesInPhcFormatAndVerifies) {
  auto h = PasswordHasher::create(cheap());
  ASSERT_TRUE(h.has_value());
  auto phc = h->hash("correct horse battery staple");
  ASSERT_TRUE(phc.has_value());
  EXPECT_EQ(phc->rfind("$argon2id$v=19$m=1024,t=1,p=1$", 0), 0u) << *phc;
  EXPECT_TRUE(h->verify("correct horse battery staple", *phc));
  EXPECT_FALSE(h->verify("correct horse battery stapl", *phc));
  EXPECT_FALSE(h->verify("", *phc));
}

TEST(PasswordHasherTest, SaltsDiffer) {
  auto h = PasswordHasher::create(cheap());
  auto a = h->hash("same");
  auto b = h->hash("same");
  EXPECT_NE(*a, *b);
  EXPECT_TRUE(h->verify("same", *a));
  EXPECT_TRUE(h->verify("same", *b));
}

TEST(PasswordHasherTest, RejectsBadInputWithoutErrors) {
  auto h = PasswordHasher::create(cheap());
  EXPECT_TRUE(h->hash("").error().is(ErrorCode::InvalidInput));
  EXPECT_TRUE(h->hash(std::string(PasswordHasher::kMaxPasswordBytes + 1, 'a')).error().is(ErrorCode::InvalidInput));
  EXPECT_FALSE(h->verify("pw", "not a hash"));
  EXPECT_FALSE(h->verify("pw", "$argon2i$v=19$m=1024,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaA"));
  // A tampered row asking for 1 TiB of memory is refused before libargon2 runs.
  EXPECT_FALSE(h->verify("pw", "$argon2id$v=19$m=1073741824,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaA"));
  EXPECT_FALSE(h->verifyDummy("anything"));
}

TEST(PasswordHasherTest, DetectsRehashNeed) {
  auto weak = PasswordHasher::create(cheap());
  Argon2Params stronger = cheap();
  stronger.timeCost = 2;
  auto strong = PasswordHasher::create(stronger);
  auto phc = weak->hash("pw");
  EXPECT_FALSE(weak->needsRehash(*phc));
  EXPECT_TRUE(strong->needsRehash(*phc));
  EXPECT_TRUE(strong->verify("pw", *phc));  // old hashes still verify
  EXPECT_TRUE(weak->needsRehash("$2b$10$bcrypt"));
  Argon2Params moreMemory = cheap();
  moreMemory.memoryKiB = 2048;
  EXPECT_TRUE(PasswordHasher::create(moreMemory)->needsRehash(*phc));
}

TEST(PasswordHasherTest, ValidatesParameters) {
  Argon2Params p = cheap();
  p.timeCost = 0;
  EXPECT_FALSE(PasswordHasher::create(p).has_value());
  p = cheap();
  p.memoryKiB = 4;
  EXPECT_FALSE(PasswordHasher::create(p).has_value());
  p = cheap();
  p.saltBytes = 8;
  EXPECT_FALSE(PasswordHasher::create(p).has_value());
  EXPECT_TRUE(Argon2Params{}.validate().has_value());
}

}  // namespace
}  // namespace erds::identity
