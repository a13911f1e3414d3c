//! How the pairs of a batch are handed to threads, apart from the hardware: the engine's
//! guided claims ([`Dispenser`]) beside rayon's adaptive splitting of `par_chunks_mut` (the
//! engine before it), on work that *sleeps* for each pair's time instead of computing, so that
//! 16 threads finish like on 16 idle cores even on a 2-core machine. What is left is the
//! hand-out: efficiency = Σ the pairs' own (measured) times / (threads · makespan), 100 % when
//! no thread waits for another.
//!
//! Run: `cargo bench --bench handout` (add `-- PAIRS REPEATS` to change 2048 pairs, 9 runs).
//! Printed per thread count: the median efficiency over the runs (min–max): rayon's depends on
//! which thread steals what, so it varies from run to run.
//! Pair times: 0.11 to 0.60 ms, spread like the single-thread times of the 128² ellipse pairs
//! of `benches/bench_sfb_scaling.py` (mean 0.38 ms), in a fixed pseudo-random order.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use csip_core::dispenser::Dispenser;
use rayon::prelude::*;

/// `n` pair times (µs) in a fixed order: a linear congruential stream mapped to 110..600 µs.
fn pair_times(n: usize) -> Vec<u64> {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    (0..n)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            110 + (x >> 33) % 491
        })
        .collect()
}

/// Time spent in [`work`], every thread together (ns).
static BUSY: AtomicU64 = AtomicU64::new(0);

/// Sleeps for pair `i`'s time, adds the time it took to [`BUSY`] and writes `i` (the
/// "banner") into its output slot.
fn work(times: &[u64], i: usize, dst: &mut [u32]) {
    let t = Instant::now();
    std::thread::sleep(Duration::from_micros(times[i]));
    BUSY.fetch_add(t.elapsed().as_nanos() as u64, Ordering::Relaxed);
    dst[0] = i as u32;
}

/// Blocks ("leaves") that rayon ran without splitting them again, in the last run: how many,
/// and the most pairs in one.
static LEAVES: AtomicU64 = AtomicU64::new(0);
static LARGEST_LEAF: AtomicU64 = AtomicU64::new(0);

/// The pairs of one leaf (`for_each_init` makes one per leaf); recorded when the leaf ends.
struct Leaf(u64);

impl Drop for Leaf {
    fn drop(&mut self) {
        LEAVES.fetch_add(1, Ordering::Relaxed);
        LARGEST_LEAF.fetch_max(self.0, Ordering::Relaxed);
    }
}

fn rayon_split(pool: &rayon::ThreadPool, times: &[u64], out: &mut [u32]) {
    LEAVES.store(0, Ordering::Relaxed);
    LARGEST_LEAF.store(0, Ordering::Relaxed);
    pool.install(|| {
        out.par_chunks_mut(1).enumerate().for_each_init(
            || Leaf(0),
            |leaf, (i, dst)| {
                leaf.0 += 1;
                work(times, i, dst)
            },
        )
    });
}

fn guided(pool: &rayon::ThreadPool, times: &[u64], out: &mut [u32]) {
    let d = Dispenser::new(out, 1, pool.current_num_threads());
    pool.in_place_scope(|s| {
        s.spawn_broadcast(|_, _| {
            while let Some((first, block)) = d.claim() {
                for (k, dst) in block.chunks_mut(1).enumerate() {
                    work(times, first + k, dst);
                }
            }
        })
    });
}

/// The number of guided claims of a batch and the largest (deterministic).
fn claim_sizes(n_pairs: usize, threads: usize) -> (usize, usize) {
    let mut out = vec![0u32; n_pairs];
    let d = Dispenser::new(&mut out, 1, threads);
    let (mut claims, mut largest) = (0, 0);
    while let Some((_, block)) = d.claim() {
        claims += 1;
        largest = largest.max(block.len());
    }
    (claims, largest)
}

type Handout = fn(&rayon::ThreadPool, &[u64], &mut [u32]);

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let (n_pairs, repeats) = (
        args.first().copied().unwrap_or(2048),
        args.get(1).copied().unwrap_or(9),
    );
    let times = pair_times(n_pairs);
    let mean_us = times.iter().sum::<u64>() as f64 / n_pairs as f64;
    println!("{n_pairs} pairs of {mean_us:.0} µs mean (requested sleeps), {repeats} runs");
    println!(
        "| threads | pairs / thread | rayon split: efficiency, median (min–max) | guided claims \
         | rayon: leaves, largest (last run) | guided: claims, largest |"
    );
    println!("|---:|---:|---:|---:|---:|---:|");
    for threads in [2usize, 4, 8, 16] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let mut row = format!("| {threads} | {:.0} |", n_pairs as f64 / threads as f64);
        for handout in [rayon_split as Handout, guided as Handout] {
            let mut effs = Vec::with_capacity(repeats);
            for _ in 0..repeats {
                let mut out = vec![u32::MAX; n_pairs];
                BUSY.store(0, Ordering::Relaxed);
                let t = Instant::now();
                handout(&pool, &times, &mut out);
                let elapsed = t.elapsed().as_secs_f64();
                let busy = BUSY.load(Ordering::Relaxed) as f64 / 1e9;
                assert!(out.iter().enumerate().all(|(i, &v)| v == i as u32));
                effs.push(100.0 * busy / (threads as f64 * elapsed));
            }
            effs.sort_by(f64::total_cmp);
            row += &format!(
                " {:.1} % ({:.1}–{:.1}) |",
                effs[effs.len() / 2],
                effs[0],
                effs[effs.len() - 1]
            );
        }
        let (claims, largest) = claim_sizes(n_pairs, threads);
        row += &format!(
            " {}, {} pairs | {claims}, {largest} pairs |",
            LEAVES.load(Ordering::Relaxed),
            LARGEST_LEAF.load(Ordering::Relaxed)
        );
        println!("{row}");
    }
}
