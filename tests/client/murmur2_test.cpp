// The partitioner hash must be Kafka's, bit for bit: a keyed record lands on the partition a Java
// producer would choose. Expected values are Kafka's own test vectors (UtilsTest.testMurmur2)
// and other published outputs of the Java implementation.
#include <doctest/doctest.h>

#include <string>

#include "sluice/producer/producer.h"

TEST_CASE("murmur2 matches Kafka's Utils.murmur2") {
    CHECK(sluice::murmur2("21") == -973932308);
    CHECK(sluice::murmur2("foobar") == -790332482);
    CHECK(sluice::murmur2("a-little-bit-long-string") == -985981536);
    CHECK(sluice::murmur2("a-little-bit-longer-string") == -1486304829);
    CHECK(sluice::murmur2("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8") == -58897971);
    CHECK(sluice::murmur2("abc") == 479470107);
    // One key per tail length (length % 4 == 1, 2, 3, 0, 1).
    CHECK(sluice::murmur2("1") == -1993445489);
    CHECK(sluice::murmur2("12") == 126087238);
    CHECK(sluice::murmur2("123") == -267702483);
    CHECK(sluice::murmur2("1234") == -1614185708);
    CHECK(sluice::murmur2("12345") == -1188365604);
}

TEST_CASE("murmur2 treats bytes as unsigned") {
    // Bytes >= 0x80 must not sign-extend (Java masks with 0xff). Hashing is a pure function of
    // the bytes, so two keys differing only in a high byte must differ.
    const std::string a("\x80\x81\x82\x83\xff", 5);
    const std::string b("\x00\x81\x82\x83\xff", 5);
    CHECK(sluice::murmur2(a) != sluice::murmur2(b));
    CHECK(sluice::murmur2(a) == sluice::murmur2(std::string(a)));
}

TEST_CASE("murmur2_partition is toPositive(hash) % partitions") {
    // toPositive clears the sign bit: -973932308 & 0x7fffffff = 1173551340.
    CHECK(sluice::murmur2_partition("21", 1) == 0);
    CHECK(sluice::murmur2_partition("21", 10) == 1173551340 % 10);
    CHECK(sluice::murmur2_partition("foobar", 7) == ((-790332482) & 0x7fffffff) % 7);
    CHECK(sluice::murmur2_partition("abc", 3) == 479470107 % 3);
    for (int n = 1; n <= 64; ++n) {
        const int32_t p = sluice::murmur2_partition("some-key", n);
        CHECK(p >= 0);
        CHECK(p < n);
    }
}
