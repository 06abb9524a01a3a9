//! Key hashing. The kernel hashes with jhash and a random seed per map; any well-mixing
//! 32-bit hash gives the same bucket spread for the benchmark's sequential keys.

/// murmur3's finaliser over the seeded key.
#[inline]
pub(crate) fn hash_u32(key: u32, seed: u32) -> u32 {
    let mut h = key ^ seed;
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^= h >> 16;
    h
}
