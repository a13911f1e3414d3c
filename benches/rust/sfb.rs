//! Criterion benchmarks of the Rust core: one default symmetric banner (57 levels × 180
//! angles) at several sizes, its stages, and a parallel batch.
//!
//! Run: `cargo bench --bench sfb` (add `-- --quick` for a short run).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use csip_core::banner::{default_forces, Normalize};
use csip_core::batch::{sfb_many, Threads};
use csip_core::pair_counts::Workspace;
use csip_core::plan::{never, Plan};
use csip_core::{sfb, MaskPair};
use ndarray::Array2;
use std::hint::black_box;

/// Two realistic objects on an `n × n` canvas: an ellipse and an L-shaped union of blobs.
fn scene(n: usize) -> (Array2<bool>, Array2<bool>) {
    let f = n as f64 / 128.0;
    let a = Array2::from_shape_fn((n, n), |(y, x)| {
        let (x, y) = (x as f64 / f, y as f64 / f);
        (x - 40.0).powi(2) / 400.0 + (y - 50.0).powi(2) / 200.0 < 1.0
    });
    let b = Array2::from_shape_fn((n, n), |(y, x)| {
        let (x, y) = (x as f64 / f, y as f64 / f);
        (x - 90.0).powi(2) / 300.0 + (y - 80.0).powi(2) / 500.0 < 1.0
            || ((x - 80.0).abs() < 20.0 && (y - 30.0).abs() < 5.0)
    });
    (a, b)
}

fn single(c: &mut Criterion) {
    let forces = default_forces();
    let mut g = c.benchmark_group("sfb_single_thread");
    for n in [64usize, 128, 224, 512] {
        let (a, b) = scene(n);
        g.bench_with_input(BenchmarkId::new("end_to_end", n), &n, |bench, _| {
            bench.iter(|| {
                let pair = MaskPair::new(a.view(), b.view(), "a", "b").unwrap();
                black_box(sfb(&pair, &forces, 180, Normalize::Max).unwrap())
            })
        });
    }
    let (a, b) = scene(128);
    let pair = MaskPair::new(a.view(), b.view(), "a", "b").unwrap();
    g.bench_function("stage_encode_128", |bench| {
        bench.iter(|| black_box(MaskPair::new(a.view(), b.view(), "a", "b").unwrap()))
    });
    g.bench_function("stage_plan_128", |bench| {
        bench.iter(|| black_box(Plan::symmetric(&forces, 180, 128).unwrap()))
    });
    let plan = Plan::symmetric(&forces, 180, 128).unwrap();
    let mut ws = Workspace::default();
    let mut out = vec![0.0; plan.banner_len()];
    g.bench_function("stage_banner_128_with_plan", |bench| {
        bench.iter(|| plan.symmetric_into(&pair, &mut ws, black_box(&mut out), &never))
    });
    g.finish();
}

fn batch(c: &mut Criterion) {
    let forces = default_forces();
    let (a, b) = scene(128);
    let pairs: Vec<MaskPair> = (0..64)
        .map(|_| MaskPair::new(a.view(), b.view(), "a", "b").unwrap())
        .collect();
    let mut out = vec![0.0f32; pairs.len() * forces.len() * 180];
    let mut g = c.benchmark_group("sfb_batch_128");
    g.throughput(Throughput::Elements(pairs.len() as u64));
    for threads in [1usize, 2] {
        let pool = Threads::new(threads).unwrap();
        g.bench_with_input(
            BenchmarkId::new("threads", threads),
            &threads,
            |bench, _| {
                bench.iter(|| {
                    sfb_many(
                        &pairs,
                        &forces,
                        180,
                        Normalize::Max,
                        &pool,
                        black_box(&mut out),
                    )
                })
            },
        );
    }
    g.finish();
}

criterion_group!(benches, single, batch);
criterion_main!(benches);
