//! Exact pixel-pair counts of one digital line by bit-parallel correlation.
//!
//! On a line that crosses A in `n_A` segments and B in `n_B`, pairing segments costs
//! `n_A · n_B` updates: for fragmented masks (noise, textures, hair) this grows as the square
//! of the fragmentation. The same counts `C(t) = #{(i, j) : A[i] ∧ B[j], i − j = t}` are the
//! correlation of the line's two 0/1 vectors, which bitsets give 64 positions at a time:
//! `C(t) = Σ_k popcount(A[k] & (B ≪ t)[k])`. With the 64 bit-shifts of B precomputed, every
//! shift `t = 64 q + s` is an AND-popcount of aligned words, `O((L_A + L_B) · min(L_A, L_B)/64)`
//! for the line, whatever the number of segments. Integer counts: exactly the segment path's.

/// Reusable buffers of the correlation of one line.
#[derive(Debug, Default)]
pub struct BitCorrelation {
    a: Vec<u64>,
    /// `shifted[s · nb + k]`: word `k` of B shifted up by `s` bits, `s < 64`.
    shifted: Vec<u64>,
    b: Vec<u64>,
}

/// Words of a bitset of `len` bits.
#[inline]
fn words(len: usize) -> usize {
    len.div_ceil(64)
}

/// The rough cost, in word operations, of [`BitCorrelation::correlate`] for lines of `len_a`
/// and `len_b` positions (from first to last object pixel).
#[inline]
pub fn cost(len_a: usize, len_b: usize) -> usize {
    (len_a + len_b) * (words(len_a.min(len_b)) + 1) + 64 * (words(len_b) + 1)
}

/// Set bits `[lo, hi)` of `bits`.
fn set_range(bits: &mut [u64], lo: usize, hi: usize) {
    let (w0, w1) = (lo / 64, (hi - 1) / 64);
    let first = !0u64 << (lo % 64);
    let last = !0u64 >> (63 - (hi - 1) % 64);
    if w0 == w1 {
        bits[w0] |= first & last;
    } else {
        bits[w0] |= first;
        bits[w0 + 1..w1].iter_mut().for_each(|w| *w = !0);
        bits[w1] |= last;
    }
}

impl BitCorrelation {
    /// Pair counts of segments `a` (of A) and `b` (of B), `[start, end)` positions on one
    /// line, each list non-empty: the count of every `δ = pos(a) − pos(b)` is added to
    /// `counts[zero + δ]`. Returns the range of `δ` that may be non-zero (`counts` must cover
    /// it).
    pub fn correlate(
        &mut self,
        a: impl Iterator<Item = (u32, u32)> + Clone,
        b: impl Iterator<Item = (u32, u32)> + Clone,
        counts: &mut [i64],
        zero: i64,
    ) -> std::ops::RangeInclusive<i64> {
        let span = |(lo, hi): (u32, u32), (s, e): (u32, u32)| (lo.min(s), hi.max(e));
        let (a_lo, a_hi) = a.clone().fold((u32::MAX, 0), span);
        let (b_lo, b_hi) = b.clone().fold((u32::MAX, 0), span);
        self.a.clear();
        self.a.resize(words((a_hi - a_lo) as usize), 0);
        for (s, e) in a {
            set_range(&mut self.a, (s - a_lo) as usize, (e - a_lo) as usize);
        }
        self.b.clear();
        self.b.resize(words((b_hi - b_lo) as usize), 0);
        for (s, e) in b {
            set_range(&mut self.b, (s - b_lo) as usize, (e - b_lo) as usize);
        }
        let (a_bits, b_bits) = (std::mem::take(&mut self.a), std::mem::take(&mut self.b));
        let range = self.correlate_bits(&a_bits, a_lo as i64, &b_bits, b_lo as i64, counts, zero);
        (self.a, self.b) = (a_bits, b_bits);
        range.expect("non-empty segments")
    }

    /// [`BitCorrelation::correlate`] of two bitsets: bit `i` of `a` is position
    /// `a_origin + i` of A, bit `j` of `b` position `b_origin + j` of B. `None` (and nothing
    /// added) when either is empty.
    pub fn correlate_bits(
        &mut self,
        a: &[u64],
        a_origin: i64,
        b: &[u64],
        b_origin: i64,
        counts: &mut [i64],
        zero: i64,
    ) -> Option<std::ops::RangeInclusive<i64>> {
        // trim empty words, then the exact first and last bits
        let (a, a_origin, a_first, a_last) = trim(a, a_origin)?;
        let (b, b_origin, b_first, b_last) = trim(b, b_origin)?;
        let nb = b.len() + 1;
        self.shifted.clear();
        self.shifted.resize(64 * nb, 0);
        for s in 0..64 {
            let row = &mut self.shifted[s * nb..(s + 1) * nb];
            row[0] = b[0] << s;
            for k in 1..nb {
                let cur = if k < b.len() { b[k] } else { 0 };
                row[k] = if s == 0 {
                    cur
                } else {
                    cur << s | b[k - 1] >> (64 - s)
                };
            }
        }
        // t = i − j over A bit i and B bit j
        let t = (a_first - b_last, a_last - b_first);
        let offset = a_origin - b_origin;
        let first = (zero + offset + t.0) as usize;
        let out = &mut counts[first..=(zero + offset + t.1) as usize];
        count_shifts(a, &self.shifted, nb, t, out);
        Some(offset + t.0..=offset + t.1)
    }
}

/// `bits` without its empty words at either end, the origin moved to match, and the indices
/// of its first and last set bits; `None` if no bit is set.
fn trim(bits: &[u64], origin: i64) -> Option<(&[u64], i64, i64, i64)> {
    let w0 = bits.iter().position(|&w| w != 0)?;
    let w1 = bits.iter().rposition(|&w| w != 0)? + 1;
    let bits = &bits[w0..w1];
    let first = bits[0].trailing_zeros() as i64;
    let last = 64 * (bits.len() as i64 - 1) + 63 - bits[bits.len() - 1].leading_zeros() as i64;
    Some((bits, origin + 64 * w0 as i64, first, last))
}

/// For every shift `t` in `t_range` (inclusive), `out[t − t_min] += Σ_k popcount(a[k] &
/// (B ≪ t)[k])`, `B ≪ (64 q + s)` being row `s` of `shifted` (rows of `nb` words) moved up
/// by `q` words; with the CPU's popcount instruction where it has one.
fn count_shifts(a: &[u64], shifted: &[u64], nb: usize, t_range: (i64, i64), out: &mut [i64]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("popcnt")
        {
            // SAFETY: the CPU has the instructions.
            return unsafe { count_shifts_avx2(a, shifted, nb, t_range, out) };
        }
        if std::arch::is_x86_feature_detected!("popcnt") {
            // SAFETY: the CPU has the instruction.
            return unsafe { count_shifts_popcnt(a, shifted, nb, t_range, out) };
        }
    }
    count_shifts_body(a, shifted, nb, t_range, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "popcnt")]
unsafe fn count_shifts_popcnt(
    a: &[u64],
    shifted: &[u64],
    nb: usize,
    t_range: (i64, i64),
    out: &mut [i64],
) {
    count_shifts_body(a, shifted, nb, t_range, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,popcnt")]
unsafe fn count_shifts_avx2(
    a: &[u64],
    shifted: &[u64],
    nb: usize,
    t_range: (i64, i64),
    out: &mut [i64],
) {
    count_shifts_body(a, shifted, nb, t_range, out)
}

#[inline(always)]
fn count_shifts_body(
    a: &[u64],
    shifted: &[u64],
    nb: usize,
    (t_min, t_max): (i64, i64),
    out: &mut [i64],
) {
    let na = a.len() as i64;
    let mut q = t_min.div_euclid(64);
    while 64 * q <= t_max {
        // word k of A meets word k − q of a shifted row
        let (k0, k1) = (q.max(0), na.min(nb as i64 + q));
        if k0 < k1 {
            let a = &a[k0 as usize..k1 as usize];
            let s_range = (t_min - 64 * q).max(0)..(t_max - 64 * q + 1).min(64);
            for s in s_range {
                let row = &shifted[s as usize * nb..(s as usize + 1) * nb];
                let n = and_popcount(a, &row[(k0 - q) as usize..(k1 - q) as usize]);
                out[(64 * q + s - t_min) as usize] += n as i64;
            }
        }
        q += 1;
    }
}

#[inline(always)]
/// `Σ_k popcount(a[k] & b[k])`.
fn and_popcount(a: &[u64], b: &[u64]) -> u64 {
    let mut acc = [0u64; 4];
    let (ca, cb) = (a.chunks_exact(4), b.chunks_exact(4));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for l in 0..4 {
            acc[l] += (x[l] & y[l]).count_ones() as u64;
        }
    }
    let tail: u64 = ra
        .iter()
        .zip(rb)
        .map(|(x, y)| (x & y).count_ones() as u64)
        .sum();
    acc.iter().sum::<u64>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Counts by δ, pixel pair by pixel pair.
    fn brute(a: &[(u32, u32)], b: &[(u32, u32)]) -> std::collections::BTreeMap<i64, u64> {
        let mut out = std::collections::BTreeMap::new();
        for &(a0, a1) in a {
            for &(b0, b1) in b {
                for pa in a0..a1 {
                    for pb in b0..b1 {
                        *out.entry(pa as i64 - pb as i64).or_insert(0) += 1;
                    }
                }
            }
        }
        out
    }

    fn correlate(a: &[(u32, u32)], b: &[(u32, u32)]) -> std::collections::BTreeMap<i64, u64> {
        let zero = 2000;
        let mut counts = vec![0i64; 2 * zero as usize];
        let range = BitCorrelation::default().correlate(
            a.iter().copied(),
            b.iter().copied(),
            &mut counts,
            zero,
        );
        let mut out = std::collections::BTreeMap::new();
        for (i, &n) in counts.iter().enumerate() {
            let d = i as i64 - zero;
            if n != 0 {
                assert!(range.contains(&d), "{d} outside {range:?}");
                out.insert(d, n as u64);
            }
        }
        out
    }

    /// Disjoint sorted segments from a 0/1 line starting at `origin`.
    fn segments(line: &[bool], origin: u32) -> Vec<(u32, u32)> {
        let mut v = Vec::new();
        let mut i = 0;
        while i < line.len() {
            if line[i] {
                let s = i;
                while i < line.len() && line[i] {
                    i += 1;
                }
                v.push((origin + s as u32, origin + i as u32));
            } else {
                i += 1;
            }
        }
        v
    }

    #[test]
    fn word_edges() {
        for (a, b) in [
            (vec![(0, 1)], vec![(0, 1)]),
            (vec![(0, 64)], vec![(0, 64)]),
            (vec![(63, 65)], vec![(127, 129), (200, 300)]),
            (vec![(5, 6), (70, 200)], vec![(0, 1)]),
            (vec![(1000, 1001)], vec![(0, 1), (64, 65), (128, 130)]),
        ] {
            assert_eq!(correlate(&a, &b), brute(&a, &b), "{a:?} {b:?}");
        }
    }

    proptest! {
        #[test]
        fn matches_pixel_pairs_on_fragmented_lines(
            la in proptest::collection::vec(any::<bool>(), 1..300),
            lb in proptest::collection::vec(any::<bool>(), 1..300),
            oa in 0u32..200,
            ob in 0u32..200,
        ) {
            let (a, b) = (segments(&la, oa), segments(&lb, ob));
            prop_assume!(!a.is_empty() && !b.is_empty());
            prop_assert_eq!(correlate(&a, &b), brute(&a, &b));
        }
    }
}
