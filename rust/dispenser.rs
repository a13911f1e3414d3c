//! Hands the pairs of a batch to the worker threads, in index order, in blocks that shrink as
//! the batch runs out (guided self-scheduling): big blocks while much is left (few claims),
//! one pair at a time at the end, so that no thread is left computing a long block while the
//! others are idle. The end of a batch then waits on at most one pair per thread.
//!
//! Why not rayon's `par_chunks_mut`: its adaptive splitting leaves blocks of up to
//! `N / (2 · threads)` pairs that are computed by one thread without being split again (64 of
//! 2048 pairs on 16 threads, about a third of each thread's share), and the last of them
//! decides when the batch ends.

use std::sync::Mutex;

/// How many pairs a claim takes when `remaining` pairs are left for `threads` threads:
/// `⌈remaining / (2 · threads)⌉`, at least 1 and at most `remaining`.
///
/// Half of an even share per claim: the first claims take `N / (2 · threads)` pairs, each
/// claim leaves the others enough to balance it, and the last `2 · threads` pairs go one by one.
pub fn claim_size(remaining: usize, threads: usize) -> usize {
    remaining.div_ceil(2 * threads.max(1)).min(remaining)
}

/// The not yet claimed part of a pair-major output buffer (`len` values per pair), shared by the
/// workers; each claim is a contiguous block of whole pairs, the lowest not yet claimed.
pub struct Dispenser<'a, T> {
    /// (index of the first unclaimed pair, its values and every later pair's)
    rest: Mutex<(usize, &'a mut [T])>,
    len: usize,
    threads: usize,
}

impl<'a, T> Dispenser<'a, T> {
    /// Dispense `out` (whole pairs of `len` values each; `len > 0`) to `threads` workers.
    pub fn new(out: &'a mut [T], len: usize, threads: usize) -> Self {
        assert!(len > 0 && out.len() % len == 0, "output size");
        Dispenser {
            rest: Mutex::new((0, out)),
            len,
            threads,
        }
    }

    /// The next block: the index of its first pair and its values (a whole number of pairs,
    /// [`claim_size`] of those left), or `None` when every pair has been claimed.
    pub fn claim(&self) -> Option<(usize, &'a mut [T])> {
        let mut rest = self.rest.lock().unwrap_or_else(|p| p.into_inner());
        let (first, values) = std::mem::take(&mut *rest);
        let left = values.len() / self.len;
        if left == 0 {
            return None;
        }
        let (block, after) = values.split_at_mut(claim_size(left, self.threads) * self.len);
        *rest = (first + block.len() / self.len, after);
        Some((first, block))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claim_sizes_halve_an_even_share_and_end_at_one() {
        assert_eq!(claim_size(2048, 16), 64);
        assert_eq!(claim_size(33, 16), 2);
        assert_eq!(claim_size(32, 16), 1);
        assert_eq!(claim_size(1, 16), 1);
        assert_eq!(claim_size(0, 16), 0);
        assert_eq!(claim_size(7, 1), 4);
        assert_eq!(claim_size(5, 0), 3); // 0 threads counts as 1
    }

    #[test]
    fn claims_cover_every_pair_once_in_order() {
        let mut out: Vec<u32> = vec![0; 100 * 3];
        let d = Dispenser::new(&mut out, 3, 4);
        let mut sizes = Vec::new();
        let mut next = 0;
        while let Some((first, block)) = d.claim() {
            assert_eq!(first, next);
            assert_eq!(block.len() % 3, 0);
            let n = block.len() / 3;
            for (k, v) in block.iter_mut().enumerate() {
                *v = (first * 3 + k) as u32 + 1; // each value written by exactly one claim
            }
            sizes.push(n);
            next += n;
        }
        assert!(d.claim().is_none());
        assert_eq!(next, 100);
        assert_eq!(out, (1..=300).collect::<Vec<u32>>());
        // ⌈100/8⌉ = 13, ⌈87/8⌉ = 11, ... down to single pairs at the end
        assert_eq!(&sizes[..3], &[13, 11, 10]);
        assert_eq!(&sizes[sizes.len() - 8..], &[1; 8]);
    }

    #[test]
    fn claims_from_many_threads_are_disjoint() {
        let mut out: Vec<u32> = vec![0; 1000 * 2];
        let d = Dispenser::new(&mut out, 2, 8);
        std::thread::scope(|s| {
            for _ in 0..8 {
                let d = &d;
                s.spawn(move || {
                    while let Some((_, block)) = d.claim() {
                        for v in block.iter_mut() {
                            *v += 1;
                        }
                        std::thread::yield_now();
                    }
                });
            }
        });
        assert!(
            out.iter().all(|&v| v == 1),
            "a value claimed twice or never"
        );
    }
}
