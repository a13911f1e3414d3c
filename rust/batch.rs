//! Many symmetric banners at once, in parallel over pairs (a rayon pool): each pair is encoded,
//! computed and written by one worker, while the calling thread reports progress and polls
//! for cancellation. Every pool thread runs one job for the whole batch, with one scratch,
//! claiming blocks of pairs in index order from a [`Dispenser`] until none is left.

use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use rayon::ThreadPool;

use crate::banner::{normalize_rows, Normalize};
use crate::dispenser::Dispenser;
use crate::error::{Error, Result};
use crate::mask::MaskPair;
use crate::pair_counts::Workspace;
use crate::plan::{never, Plan, Stop};
use crate::plan_cache::{shared_plan, PlanKind};

/// Most thread pools a process keeps: the [`MAX_POOLS`] thread counts used last. A batch at
/// another count builds its pool and retires the least recently used one, whose threads end as
/// soon as no batch runs on it (a batch holds its own reference), so at most the threads of
/// these pools, plus those of the pools still finishing a batch, are alive.
pub const MAX_POOLS: usize = 4;

/// The pools of this process, least recently used first.
struct Pools {
    /// The process they were built in.
    pid: u32,
    by_size: Vec<(usize, Arc<ThreadPool>)>,
}

static POOLS: Mutex<Pools> = Mutex::new(Pools {
    pid: 0,
    by_size: Vec::new(),
});

/// A rayon pool of `n_threads` workers, reused while it is among the [`MAX_POOLS`] most
/// recently used (building a pool costs about as much as a few banners).
///
/// Pools belong to the process that built them: a process forked from one whose pool was
/// running inherits the pool but none of its threads, and a batch sent to it would wait for
/// ever. The child builds its own; the inherited ones are never used, nor dropped (dropping one
/// wakes threads that no longer exist, through locks they may have held at the fork): they are
/// leaked, once, when the child first asks for a pool.
pub fn thread_pool(n_threads: usize) -> Result<Arc<ThreadPool>> {
    if n_threads == 0 || n_threads > 1024 {
        return Err(Error::value(format!(
            "n_threads must be between 1 and 1024, got {n_threads}"
        )));
    }
    let pid = std::process::id();
    let (pool, retired) = {
        let mut pools = POOLS.lock().unwrap_or_else(|p| p.into_inner());
        if pools.pid != pid {
            std::mem::forget(std::mem::take(&mut pools.by_size));
            pools.pid = pid;
        }
        if let Some(k) = pools.by_size.iter().position(|&(n, _)| n == n_threads) {
            let entry = pools.by_size.remove(k);
            let pool = entry.1.clone();
            pools.by_size.push(entry);
            return Ok(pool);
        }
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(n_threads)
            .thread_name(|i| format!("csip-sfb-{i}"))
            .build()
            .map_err(|e| Error::value(format!("could not start {n_threads} threads: {e}")))?;
        let pool = Arc::new(pool);
        pools.by_size.push((n_threads, pool.clone()));
        let retired = if pools.by_size.len() > MAX_POOLS {
            Some(pools.by_size.remove(0))
        } else {
            None
        };
        (pool, retired)
    };
    // outside the lock: the retired pool's threads are told to end (without waiting for them)
    // once the last batch running on it lets go of it
    drop(retired);
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

/// Where the pairs of a batch come from. Pair `i` is encoded by whichever thread computes its
/// banner, so `pair` must be callable from any thread.
pub trait PairSource: Sync {
    /// Number of pairs.
    fn len(&self) -> usize;

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Pair `i`, validated and encoded (errors name the argument).
    fn pair(&self, i: usize) -> Result<Cow<'_, MaskPair>>;
}

/// A slice of encoded pairs is a source.
impl PairSource for [MaskPair] {
    fn len(&self) -> usize {
        <[MaskPair]>::len(self)
    }
    fn pair(&self, i: usize) -> Result<Cow<'_, MaskPair>> {
        Ok(Cow::Borrowed(&self[i]))
    }
}

/// The parameters of a batch of symmetric banners.
#[derive(Debug, Clone)]
pub struct BatchSpec<'a> {
    pub forces: &'a [f64],
    pub n_angles: usize,
    pub mode: Normalize,
    /// Pairs per progress report: `chunk_done(done, total)` is called once per chunk of this
    /// many pairs, in order, once every pair up to `done` is written.
    pub chunk_size: usize,
}

/// What one worker of a batch keeps from pair to pair.
struct Scratch {
    /// The plan of its last pair (shared): large enough for every pair it computed so far.
    plan: Arc<Plan>,
    ws: Workspace,
    /// The raw banner of the current pair.
    raw: Vec<f64>,
}

/// How often the calling thread tests `stop` while the pool computes.
const POLL: Duration = Duration::from_millis(20);

/// Symmetric banners of every pair of `source` into `out` (`N · R · K` f32, pair-major, each
/// bit-identical to [`crate::banner::sfb`]), on `threads`.
///
/// Like [`crate::banner::sfb`], each pair is computed with a plan sized for its own union box
/// (its [`MaskPair::max_extent`]), not for its canvas: a worker keeps the plan it last used and
/// asks [`shared_plan`] for a larger one only when a pair needs it. A plan's kernel values do
/// not depend on its size, so the banners are the same whichever plan computes them.
///
/// Each pair is encoded, computed, normalised and written by one worker: there is no serial
/// step per chunk. The calling thread only waits: it calls `chunk_done(done, total)` as the
/// chunks complete (in order; an error from it stops the batch) and tests `stop` every
/// `POLL` (20 ms; a `true` stops the batch with [`Error::Cancelled`] within one direction's work).
/// With [`Threads::Calling`] the pairs are computed in order on the calling thread, which
/// tests `stop` before each direction. An invalid pair stops the batch with the error of the
/// lowest such index; the chunks before it have been reported.
pub fn sfb_batch<S: PairSource + ?Sized>(
    source: &S,
    spec: &BatchSpec<'_>,
    threads: &Threads,
    out: &mut [f32],
    stop: Stop<'_>,
    mut chunk_done: impl FnMut(usize, usize) -> Result<()>,
) -> Result<()> {
    let total = source.len();
    // the parameters are checked (and the smallest plan shared) before any pair is read
    let first_plan = shared_plan(PlanKind::Symmetric, spec.forces, spec.n_angles, 1)?;
    let len = first_plan.banner_len();
    assert_eq!(out.len(), total * len, "output size");
    let chunk = spec.chunk_size.max(1);
    let one = |state: &mut Scratch, i: usize, dst: &mut [f32], stop: Stop<'_>| {
        let pair = source.pair(i)?;
        let Scratch { plan, ws, raw } = state;
        if pair.max_extent() > plan.max_extent() {
            *plan = shared_plan(
                PlanKind::Symmetric,
                spec.forces,
                spec.n_angles,
                pair.max_extent(),
            )?;
        }
        plan.symmetric_into(&pair, ws, raw, stop)?;
        normalize_rows(raw, spec.n_angles, spec.mode);
        for (d, &v) in dst.iter_mut().zip(raw.iter()) {
            *d = v as f32;
        }
        Ok(())
    };
    let init = || Scratch {
        plan: first_plan.clone(),
        ws: Workspace::default(),
        raw: vec![0.0f64; len],
    };
    let pool = match threads {
        Threads::Calling => {
            let mut state = init();
            for (c, dsts) in out.chunks_mut(chunk * len).enumerate() {
                for (k, dst) in dsts.chunks_mut(len).enumerate() {
                    one(&mut state, c * chunk + k, dst, stop)?;
                }
                chunk_done((c * chunk + chunk).min(total), total)?;
            }
            return Ok(());
        }
        Threads::Pool(pool) => pool,
    };
    let n_chunks = total.div_ceil(chunk);
    // pairs of each chunk not finished yet; the worker that finishes a chunk sends its index
    let left: Vec<AtomicUsize> = (0..n_chunks)
        .map(|c| AtomicUsize::new((total - c * chunk).min(chunk)))
        .collect();
    let cancel = AtomicBool::new(false);
    let worker_stop = || cancel.load(Ordering::Relaxed) || stop();
    let first_failure = AtomicUsize::new(usize::MAX);
    let failures = Mutex::new(Vec::<(usize, Error)>::new());
    let mut outcome = Ok(());
    let (sender, finished) = mpsc::channel::<usize>();
    let dispenser = Dispenser::new(out, len, pool.current_num_threads());
    pool.in_place_scope(|scope| {
        let (left, cancel, first_failure, failures) = (&left, &cancel, &first_failure, &failures);
        let (one, worker_stop) = (&one, &worker_stop);
        let dispenser = &dispenser;
        // one job per pool thread, each with its own scratch for the whole batch, claiming
        // blocks of pairs until none is left
        scope.spawn_broadcast(move |_, _| {
            let mut state = init();
            while let Some((first, block)) = dispenser.claim() {
                for (k, dst) in block.chunks_mut(len).enumerate() {
                    let i = first + k;
                    // after a failure only the pairs before it are needed (to find the first)
                    let skip =
                        cancel.load(Ordering::Relaxed) || first_failure.load(Ordering::Relaxed) < i;
                    if !skip {
                        if let Err(e) = one(&mut state, i, dst, worker_stop) {
                            first_failure.fetch_min(i, Ordering::Relaxed);
                            failures
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .push((i, e));
                        }
                    }
                    if left[i / chunk].fetch_sub(1, Ordering::AcqRel) == 1 {
                        let _ = sender.send(i / chunk);
                    }
                }
            }
        });
        let mut complete = vec![false; n_chunks];
        let (mut reported, mut received) = (0, 0);
        while received < n_chunks {
            match finished.recv_timeout(POLL) {
                Ok(c) => {
                    received += 1;
                    complete[c] = true;
                    while reported < n_chunks
                        && complete[reported]
                        && first_failure.load(Ordering::Acquire) >= (reported + 1) * chunk
                    {
                        reported += 1;
                        if let Err(e) = chunk_done((reported * chunk).min(total), total) {
                            outcome = Err(e);
                            cancel.store(true, Ordering::Relaxed);
                            return;
                        }
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if stop() {
                        outcome = Err(Error::Cancelled);
                        cancel.store(true, Ordering::Relaxed);
                        return;
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => return,
            }
        }
    });
    outcome?;
    let failures = failures.into_inner().unwrap_or_else(|p| p.into_inner());
    match failures.into_iter().min_by_key(|(i, _)| *i) {
        Some((_, e)) => Err(e),
        None => Ok(()),
    }
}

/// Symmetric banners of encoded `pairs` into `out` (`pairs.len() · R · K` f32, pair-major),
/// in parallel on `threads`: [`sfb_batch`] without progress or cancellation.
pub fn sfb_many(
    pairs: &[MaskPair],
    forces: &[f64],
    n_angles: usize,
    mode: Normalize,
    threads: &Threads,
    out: &mut [f32],
) -> Result<()> {
    let spec = BatchSpec {
        forces,
        n_angles,
        mode,
        chunk_size: pairs.len().max(1),
    };
    sfb_batch(pairs, &spec, threads, out, &never, |_, _| Ok(()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::banner::{default_forces, sfb};
    use ndarray::Array2;

    fn pairs(n: usize) -> Vec<MaskPair> {
        (0..n)
            .map(|i| {
                let mut a = Array2::<u8>::zeros((20, 24));
                let mut b = Array2::<u8>::zeros((20, 24));
                a.slice_mut(ndarray::s![i % 9..i % 9 + 5, 2..9]).fill(1);
                b.slice_mut(ndarray::s![10..18, 3 + i % 9..12 + i % 9])
                    .fill(1);
                MaskPair::new(a.view(), b.view(), "a", "b").unwrap()
            })
            .collect()
    }

    #[test]
    fn batch_equals_single_pairs_bitwise() {
        let pairs = pairs(9);
        let forces = default_forces();
        let len = forces.len() * 36;
        for threads in [1, 2] {
            let mut out = vec![0.0f32; pairs.len() * len];
            let threads = Threads::new(threads).unwrap();
            sfb_many(&pairs, &forces, 36, Normalize::Max, &threads, &mut out).unwrap();
            for (p, got) in pairs.iter().zip(out.chunks(len)) {
                assert_eq!(got, sfb(p, &forces, 36, Normalize::Max).unwrap().as_slice());
            }
        }
        assert!(Threads::new(0).is_err());
    }

    #[test]
    fn pools_beyond_the_most_recent_are_retired() {
        // thread counts no other test uses (tests may run at once, in one process)
        let first = thread_pool(41).unwrap();
        assert!(Arc::ptr_eq(&first, &thread_pool(41).unwrap()), "reused");
        for n in 42..42 + MAX_POOLS {
            thread_pool(n).unwrap();
        }
        // the cache let go of the least recently used pool: only this test holds it now
        assert_eq!(Arc::strong_count(&first), 1);
        let again = thread_pool(41).unwrap();
        assert!(!Arc::ptr_eq(&first, &again), "a retired pool is rebuilt");
        assert_eq!(again.current_num_threads(), 41);
        // a retired pool still running a batch finishes it
        let mut out = vec![0.0f32; 4 * 57 * 8];
        let pairs = pairs(4);
        let threads = Threads::Pool(first);
        sfb_many(
            &pairs,
            &default_forces(),
            8,
            Normalize::Max,
            &threads,
            &mut out,
        )
        .unwrap();
        assert_eq!(
            &out[..57 * 8],
            sfb(&pairs[0], &default_forces(), 8, Normalize::Max)
                .unwrap()
                .as_slice()
        );
        assert!(thread_pool(0).is_err() && thread_pool(1025).is_err());
    }

    /// Pairs from a list in which some are invalid (their error names the index).
    struct Faulty {
        pairs: Vec<MaskPair>,
        bad: Vec<usize>,
    }

    impl PairSource for Faulty {
        fn len(&self) -> usize {
            self.pairs.len()
        }
        fn pair(&self, i: usize) -> Result<Cow<'_, MaskPair>> {
            if self.bad.contains(&i) {
                return Err(Error::value(format!("masks_a[{i}] is bad")));
            }
            Ok(Cow::Borrowed(&self.pairs[i]))
        }
    }

    fn spec(forces: &[f64], chunk_size: usize) -> BatchSpec<'_> {
        BatchSpec {
            forces,
            n_angles: 12,
            mode: Normalize::Max,
            chunk_size,
        }
    }

    #[test]
    fn progress_in_order_and_first_failure_reported() {
        let forces = [0.0, 1.0];
        for threads in [1, 2, 3] {
            let threads = Threads::new(threads).unwrap();
            let src = Faulty {
                pairs: pairs(40),
                bad: vec![],
            };
            let mut out = vec![0.0f32; 40 * 24];
            let mut calls = Vec::new();
            sfb_batch(
                &src,
                &spec(&forces, 7),
                &threads,
                &mut out,
                &never,
                |d, t| {
                    calls.push((d, t));
                    Ok(())
                },
            )
            .unwrap();
            let want: Vec<_> = (1..=6).map(|c| ((7 * c).min(40), 40)).collect();
            assert_eq!(calls, want);
            let src = Faulty {
                pairs: pairs(40),
                bad: vec![33, 15, 16],
            };
            let mut calls = Vec::new();
            let e = sfb_batch(
                &src,
                &spec(&forces, 7),
                &threads,
                &mut out,
                &never,
                |d, _| {
                    calls.push(d);
                    Ok(())
                },
            )
            .unwrap_err();
            assert_eq!(e.to_string(), "masks_a[15] is bad");
            assert_eq!(calls, vec![7, 14]); // the chunks before the failing one
        }
    }

    /// Pairs on large canvases, cropped and encoded when the batch reads them (as the bindings'
    /// numpy views are).
    struct Canvases(Vec<(Array2<u8>, Array2<u8>)>);

    impl PairSource for Canvases {
        fn len(&self) -> usize {
            self.0.len()
        }
        fn pair(&self, i: usize) -> Result<Cow<'_, MaskPair>> {
            let (a, b) = &self.0[i];
            MaskPair::new(a.view(), b.view(), "a", "b").map(Cow::Owned)
        }
    }

    #[test]
    fn each_plan_is_sized_for_the_pair_not_its_canvas() {
        // two 3-pixel objects 10 px apart on a 1 x 5,000,000 canvas, and an ordinary pair: a plan
        // for the canvas would need a kernel table of 5,000,001 distances per level
        let mut far = (
            Array2::<u8>::zeros((1, 5_000_000)),
            Array2::<u8>::zeros((1, 5_000_000)),
        );
        far.0
            .slice_mut(ndarray::s![.., 4_000_000..4_000_003])
            .fill(1);
        far.1
            .slice_mut(ndarray::s![.., 4_000_013..4_000_016])
            .fill(1);
        let mut near = (
            Array2::<u8>::zeros((600, 700)),
            Array2::<u8>::zeros((600, 700)),
        );
        near.0.slice_mut(ndarray::s![10..300, 5..20]).fill(1);
        near.1.slice_mut(ndarray::s![400..590, 100..690]).fill(1);
        let src = Canvases(vec![far.clone(), near.clone(), far]);
        // force levels no other test uses: the shared plan seen below is this test's
        let forces = [-0.37, 0.0, 1.37];
        let spec = BatchSpec {
            forces: &forces,
            n_angles: 9,
            mode: Normalize::None,
            chunk_size: 1,
        };
        for n in [1, 2] {
            let mut out = vec![0.0f32; 3 * 27];
            sfb_batch(
                &src,
                &spec,
                &Threads::new(n).unwrap(),
                &mut out,
                &never,
                |_, _| Ok(()),
            )
            .unwrap();
            for (i, got) in out.chunks(27).enumerate() {
                let want = sfb(&src.pair(i).unwrap(), &forces, 9, Normalize::None).unwrap();
                assert_eq!(got, want.as_slice(), "pair {i}, {n} threads");
            }
        }
        let plan = shared_plan(PlanKind::Symmetric, &forces, 9, 1).unwrap();
        assert!(
            plan.max_extent() < 2_000,
            "plan for {} px",
            plan.max_extent()
        );
    }

    #[test]
    fn stop_and_progress_errors_end_the_batch() {
        let forces = [0.0];
        let src = Faulty {
            pairs: pairs(30),
            bad: vec![],
        };
        let mut out = vec![0.0f32; 30 * 12];
        for threads in [1, 2] {
            let threads = Threads::new(threads).unwrap();
            let e = sfb_batch(
                &src,
                &spec(&forces, 4),
                &threads,
                &mut out,
                &|| true,
                |_, _| Ok(()),
            );
            assert_eq!(e, Err(Error::Cancelled));
            let mut calls = 0;
            let e = sfb_batch(
                &src,
                &spec(&forces, 4),
                &threads,
                &mut out,
                &never,
                |_, _| {
                    calls += 1;
                    Err(Error::value("progress failed"))
                },
            );
            assert_eq!(e, Err(Error::value("progress failed")));
            assert_eq!(calls, 1);
        }
    }
}
