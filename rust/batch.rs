//! Many symmetric banners at once, in parallel over pairs (rayon).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use rayon::prelude::*;
use rayon::ThreadPool;

use crate::banner::{normalize_rows, Normalize, Plan};
use crate::error::{Error, Result};
use crate::mask::MaskPair;
use crate::pair_counts::Workspace;

/// A rayon pool of `n_threads` workers, built once per size and reused (building a pool costs
/// about as much as a few banners).
pub fn thread_pool(n_threads: usize) -> Result<Arc<ThreadPool>> {
    static POOLS: OnceLock<Mutex<HashMap<usize, Arc<ThreadPool>>>> = OnceLock::new();
    if n_threads == 0 || n_threads > 1024 {
        return Err(Error::value(format!(
            "n_threads must be between 1 and 1024, got {n_threads}"
        )));
    }
    let pools = POOLS.get_or_init(Default::default);
    let mut pools = pools.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(pool) = pools.get(&n_threads) {
        return Ok(pool.clone());
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(n_threads)
        .thread_name(|i| format!("csip-sfb-{i}"))
        .build()
        .map_err(|e| Error::value(format!("could not start {n_threads} threads: {e}")))?;
    let pool = Arc::new(pool);
    pools.insert(n_threads, pool.clone());
    Ok(pool)
}

/// Where a batch runs: on the calling thread, or on a shared rayon pool.
#[derive(Clone)]
pub enum Threads {
    /// One thread, the caller's: no pool is touched, so this is safe in a process forked from
    /// one whose pools were already running (their threads do not survive a fork).
    Calling,
    Pool(Arc<ThreadPool>),
}

impl Threads {
    /// `Calling` for one thread, else the shared pool of `n_threads` workers.
    pub fn new(n_threads: usize) -> Result<Self> {
        match n_threads {
            1 => Ok(Threads::Calling),
            n => Ok(Threads::Pool(thread_pool(n)?)),
        }
    }
}

/// Symmetric banners of `pairs` into `out` (`pairs.len() · R · K` f32, pair-major), in parallel
/// on `threads`. The plan must cover the largest pair ([`Plan::max_extent`]).
pub fn sfb_many(
    pairs: &[MaskPair],
    plan: &Plan,
    mode: Normalize,
    threads: &Threads,
    out: &mut [f32],
) {
    let len = plan.banner_len();
    assert_eq!(out.len(), pairs.len() * len, "output size");
    let k_count = plan.n_directions();
    let one = |(ws, raw): &mut (Workspace, Vec<f64>), (dst, pair): (&mut [f32], &MaskPair)| {
        plan.symmetric_into(pair, ws, raw);
        normalize_rows(raw, k_count, mode);
        for (d, &v) in dst.iter_mut().zip(raw.iter()) {
            *d = v as f32;
        }
    };
    let init = || (Workspace::default(), vec![0.0f64; len]);
    match threads {
        Threads::Calling => {
            let mut state = init();
            for item in out.chunks_mut(len).zip(pairs.iter()) {
                one(&mut state, item);
            }
        }
        Threads::Pool(pool) => pool.install(|| {
            out.par_chunks_mut(len)
                .zip(pairs.par_iter())
                .for_each_init(init, |state, item| one(state, item));
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::banner::{default_forces, sfb};
    use ndarray::Array2;

    #[test]
    fn batch_equals_single_pairs_bitwise() {
        let mut pairs = Vec::new();
        for i in 0..9usize {
            let mut a = Array2::<u8>::zeros((20, 24));
            let mut b = Array2::<u8>::zeros((20, 24));
            a.slice_mut(ndarray::s![i..i + 5, 2..9]).fill(1);
            b.slice_mut(ndarray::s![10..18, 3 + i..12 + i]).fill(1);
            pairs.push(MaskPair::new(a.view(), b.view(), "a", "b").unwrap());
        }
        let forces = default_forces();
        let extent = pairs.iter().map(|p| p.max_extent()).max().unwrap();
        let plan = Plan::symmetric(&forces, 36, extent).unwrap();
        for threads in [1, 2] {
            let mut out = vec![0.0f32; pairs.len() * plan.banner_len()];
            sfb_many(
                &pairs,
                &plan,
                Normalize::Max,
                &Threads::new(threads).unwrap(),
                &mut out,
            );
            for (p, got) in pairs.iter().zip(out.chunks(plan.banner_len())) {
                assert_eq!(got, sfb(p, &forces, 36, Normalize::Max).unwrap().as_slice());
            }
        }
        assert!(Threads::new(0).is_err());
    }
}
