//! Dot products of f64 slices, the inner loop of every banner (R per direction).
//!
//! Eight independent accumulators let the compiler vectorise without reassociating a single
//! sum; on x86-64 CPUs with AVX2 and FMA a version compiled for them is chosen at run time.
//! The summation order is fixed for a given machine, so equal inputs give bitwise-equal
//! results (the symmetry and invariance guarantees rely on it).

macro_rules! dot_body {
    ($x:expr, $y:expr, $fma:expr) => {{
        let (x, y) = ($x, $y);
        let n = x.len().min(y.len());
        let (x, y) = (&x[..n], &y[..n]);
        let mut acc = [0.0f64; 8];
        let mut xc = x.chunks_exact(8);
        let mut yc = y.chunks_exact(8);
        for (a, b) in (&mut xc).zip(&mut yc) {
            for l in 0..8 {
                acc[l] = $fma(a[l], b[l], acc[l]);
            }
        }
        let mut tail = 0.0;
        for (a, b) in xc.remainder().iter().zip(yc.remainder()) {
            tail = $fma(*a, *b, tail);
        }
        ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail
    }};
}

#[inline]
fn mul_add_plain(a: f64, b: f64, c: f64) -> f64 {
    a * b + c
}

fn dot_portable(x: &[f64], y: &[f64]) -> f64 {
    dot_body!(x, y, mul_add_plain)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot_avx2_fma(x: &[f64], y: &[f64]) -> f64 {
    use std::arch::x86_64::*;
    let n = x.len().min(y.len());
    let (px, py) = (x.as_ptr(), y.as_ptr());
    let mut acc0 = _mm256_setzero_pd();
    let mut acc1 = _mm256_setzero_pd();
    let mut i = 0;
    while i + 8 <= n {
        // SAFETY: i + 8 <= n, so both 4-lane loads stay inside the slices.
        acc0 = _mm256_fmadd_pd(_mm256_loadu_pd(px.add(i)), _mm256_loadu_pd(py.add(i)), acc0);
        acc1 = _mm256_fmadd_pd(
            _mm256_loadu_pd(px.add(i + 4)),
            _mm256_loadu_pd(py.add(i + 4)),
            acc1,
        );
        i += 8;
    }
    let mut lanes = [0.0f64; 4];
    _mm256_storeu_pd(lanes.as_mut_ptr(), _mm256_add_pd(acc0, acc1));
    let mut tail = 0.0;
    while i < n {
        tail = x[i].mul_add(y[i], tail);
        i += 1;
    }
    ((lanes[0] + lanes[2]) + (lanes[1] + lanes[3])) + tail
}

/// `Σ x[i]·y[i]` over the common length.
#[inline]
pub fn dot(x: &[f64], y: &[f64]) -> f64 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU supports the features the function was compiled for.
            return unsafe { dot_avx2_fma(x, y) };
        }
    }
    dot_portable(x, y)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_naive_sum() {
        for n in [0usize, 1, 7, 8, 9, 31, 130] {
            let x: Vec<f64> = (0..n).map(|i| (i as f64).sin() + 2.0).collect();
            let y: Vec<f64> = (0..n).map(|i| 1.0 / (1.0 + i as f64)).collect();
            let naive: f64 = x.iter().zip(&y).map(|(a, b)| a * b).sum();
            assert!(
                (dot(&x, &y) - naive).abs() <= 1e-13 * naive.abs().max(1.0),
                "n={n}"
            );
            assert!((dot_portable(&x, &y) - naive).abs() <= 1e-13 * naive.abs().max(1.0));
        }
    }
}
