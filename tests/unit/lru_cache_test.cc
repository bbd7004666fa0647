// The LRU behind the pod resolver's cache.
#include "kubernetes/lru_cache.h"

#include <string>

#include "gtest/gtest.h"

namespace diskidle {
namespace {

TEST(LruCacheTest, EvictsTheLeastRecentlyUsed) {
  LruCache<int, std::string> cache(2);
  cache.Insert(1, "one");
  cache.Insert(2, "two");
  ASSERT_NE(cache.Get(1), nullptr);  // 1 is now more recent than 2
  cache.Insert(3, "three");
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_EQ(cache.Get(2), nullptr);
  ASSERT_NE(cache.Get(1), nullptr);
  EXPECT_EQ(*cache.Get(1), "one");
  ASSERT_NE(cache.Get(3), nullptr);
  EXPECT_EQ(*cache.Get(3), "three");
}

TEST(LruCacheTest, AnEntryOnceGivenIsNotReplaced) {
  LruCache<int, std::string> cache(4);
  auto [first, inserted] = cache.Insert(7, "first");
  EXPECT_TRUE(inserted);
  auto [held, again] = cache.Insert(7, "second");
  EXPECT_FALSE(again);
  EXPECT_EQ(*held, "first");
  EXPECT_EQ(cache.size(), 1u);
}

TEST(LruCacheTest, InsertRefreshesAndZeroCapacityHoldsOne) {
  LruCache<int, int> cache(2);
  cache.Insert(1, 1);
  cache.Insert(2, 2);
  cache.Insert(1, 100);  // present: refreshes 1, so 2 is the oldest
  cache.Insert(3, 3);
  EXPECT_EQ(cache.Get(2), nullptr);
  EXPECT_NE(cache.Get(1), nullptr);
  LruCache<int, int> tiny(0);
  tiny.Insert(1, 1);
  tiny.Insert(2, 2);
  EXPECT_EQ(tiny.size(), 1u);
  EXPECT_NE(tiny.Get(2), nullptr);
}

}  // namespace
}  // namespace diskidle
