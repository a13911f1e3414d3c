//! The pixel-pair force kernel `k_r(d)`.
//!
//! Two points at distance `δ` attract with `φ_r(δ) = δ^(−r)`. A digital line is a row of unit
//! pixels; the force between the pixel `[0, 1)` and the pixel `[d, d+1)` (positions counted in
//! pixel steps) is the double integral
//!
//! ```text
//! k_r(d) = ∫₀¹ ∫₀¹ (d + u − v)^(−r) du dv = G(d+1) − 2 G(d) + G(d−1)
//! ```
//!
//! with `G'' = φ_r` (`G(s) = s^(2−r) / ((1−r)(2−r))`, `s ln s` at r = 1, `−ln s` at r = 2).
//! Summed over the pixel pairs of two segments, the integrals telescope back to the closed form
//! `f_r = G(x+y+z) − G(x+y) − G(y+z) + G(y)` of Matsakis & Wendling exactly, for every gap
//! `y ≥ 1` — this is why the engine can work on pixel-pair distance counts.
//!
//! # Stable evaluation
//! The `G` differences lose every digit near r = 1 and r = 2 (0/0) and for large `d`
//! (a second difference of a number of size `d^(2−r)`). Instead, with `ε = 1/d` and the
//! binomial series of `(1 + tε)^(−r)`:
//!
//! ```text
//! k_r(d) = d^(−r) Σ_{m≥0} C(−r, 2m) · 2 / ((2m+1)(2m+2)) · ε^(2m)
//! ```
//!
//! (the odd moments of the triangular weight `1 − |t|` vanish). It converges for every `d ≥ 2`,
//! has no removable singularity in `r`, and is continuous (analytic) in `r`.
//!
//! # Touching and overlapping pixels (d = 0 and d = 1)
//! The continuous force diverges for pixels that overlap (d = 0) when r ≥ 1 and for pixels
//! that touch (d = 1) when r ≥ 2. We use the *point force at the pixel-centre distance, with the
//! distance floored at one pixel*: `k_r(0) = k_r(1) = 1^(−r) = 1` for every r. This choice is
//! finite for every configuration and every r; non-negative; constant, hence continuous, in r;
//! exact at r = 0 (where every kernel value is 1, so F₀ counts pixel pairs); and it keeps the
//! kernel ordered as the physics says (for r > 0 contact dominates: `k_r(1) ≥ k_r(2)`; for r < 0
//! far pairs dominate: `k_r(1) ≤ k_r(2)`). Pairs at distance ≥ 2 (segments separated by at least
//! one pixel) keep their exact value.

use crate::error::Result;
use crate::limits::{check_table_size, try_with_capacity};

/// Largest |r| accepted: beyond it the binomial series needs too many terms and the values
/// over- or underflow for large objects. The paper uses |r| ≤ 2.24.
pub const MAX_ABS_FORCE: f64 = 8.0;

/// `k_r(d)`: the force between two unit pixels `d` steps apart on one line (see module docs).
pub fn pixel_pair_kernel(r: f64, d: usize) -> f64 {
    if d <= 1 {
        return 1.0;
    }
    let df = d as f64;
    let eps2 = 1.0 / (df * df);
    let mut sum = 1.0;
    let mut binom = 1.0; // C(−r, 2m)
    let mut pow = 1.0; // ε^(2m)
    for m in 1..512usize {
        let n = (2 * m) as f64;
        binom *= (-r - (n - 2.0)) * (-r - (n - 1.0)) / ((n - 1.0) * n);
        pow *= eps2;
        let term = binom * pow * 2.0 / ((n + 1.0) * (n + 2.0));
        sum += term;
        if term.abs() <= 1e-18 * sum.abs() {
            break;
        }
    }
    (-r * df.ln()).exp() * sum
}

/// `k_r(d)` for each force level `r` (rows) and each distance `d = 0..=max_distance`
/// (columns), row-major `(R, max_distance + 1)`.
#[derive(Debug, Clone)]
pub struct KernelTable {
    forces: Vec<f64>,
    max_distance: usize,
    by_force: Vec<f64>,
}

impl KernelTable {
    /// Tabulate the kernel; `forces` must be finite and within ±[`MAX_ABS_FORCE`] (checked by
    /// the callers' validation).
    /// Errors when the table would exceed [`crate::limits::MAX_TABLE_VALUES`] or cannot be
    /// allocated.
    pub fn new(forces: &[f64], max_distance: usize) -> Result<Self> {
        let width = max_distance.saturating_add(1);
        check_table_size("kernel table", forces.len(), width)?;
        let mut by_force = try_with_capacity(forces.len() * width, "the kernel table")?;
        for &r in forces {
            by_force.extend((0..width).map(|d| pixel_pair_kernel(r, d)));
        }
        Ok(Self {
            forces: forces.to_vec(),
            max_distance,
            by_force,
        })
    }

    pub fn forces(&self) -> &[f64] {
        &self.forces
    }

    pub fn max_distance(&self) -> usize {
        self.max_distance
    }

    /// `k_{forces[i]}(d)` for `d = 0..=max_distance`, contiguous.
    #[inline]
    pub fn at_force(&self, i: usize) -> &[f64] {
        let w = self.max_distance + 1;
        &self.by_force[i * w..(i + 1) * w]
    }

    /// `k_{forces[i]}(d)`.
    pub fn value(&self, i: usize, d: usize) -> f64 {
        self.at_force(i)[d]
    }

    /// The values, row-major `(R, max_distance + 1)`.
    pub fn into_values(self) -> Vec<f64> {
        self.by_force
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `G(d+1) − 2G(d) + G(d−1)` in plain f64, valid away from r = 1, 2 and for small d.
    fn g_difference(r: f64, d: f64) -> f64 {
        let g = |s: f64| s.powf(2.0 - r) / ((1.0 - r) * (2.0 - r));
        g(d + 1.0) - 2.0 * g(d) + g(d - 1.0)
    }

    #[test]
    fn r_zero_is_one_everywhere() {
        for d in 0..50 {
            assert_eq!(pixel_pair_kernel(0.0, d), 1.0);
        }
    }

    #[test]
    fn matches_g_differences_away_from_singular_orders() {
        for &r in &[-2.24, -1.5, -0.5, 0.5, 1.5, 2.5, 3.0] {
            for d in 2..12 {
                let want = g_difference(r, d as f64);
                let got = pixel_pair_kernel(r, d);
                assert!(
                    ((got - want) / want).abs() < 1e-11,
                    "r={r} d={d}: {got} vs {want}"
                );
            }
        }
    }

    #[test]
    fn closed_forms_at_one_and_two() {
        for d in 2..40usize {
            let d = d as f64;
            let g1 = |s: f64| s * s.ln();
            let want1 = g1(d + 1.0) - 2.0 * g1(d) + g1(d - 1.0);
            let got1 = pixel_pair_kernel(1.0, d as usize);
            assert!(((got1 - want1) / want1).abs() < 1e-10, "r=1 d={d}");
            let want2 = ((d * d) / ((d + 1.0) * (d - 1.0))).ln();
            let got2 = pixel_pair_kernel(2.0, d as usize);
            assert!(((got2 - want2) / want2).abs() < 1e-10, "r=2 d={d}");
        }
    }

    #[test]
    fn continuous_across_singular_orders() {
        for &r0 in &[1.0, 2.0] {
            for d in [2usize, 3, 10, 1000] {
                let a = pixel_pair_kernel(r0 - 1e-9, d);
                let b = pixel_pair_kernel(r0 + 1e-9, d);
                assert!(((a - b) / a).abs() < 1e-7, "r={r0} d={d}: {a} vs {b}");
            }
        }
    }

    #[test]
    fn large_distances_tend_to_the_point_force() {
        let r: f64 = 1.3;
        let d = 100_000usize;
        let want = (d as f64).powf(-r);
        assert!((pixel_pair_kernel(r, d) / want - 1.0).abs() < 1e-9);
    }

    #[test]
    fn table_layout() {
        let t = KernelTable::new(&[-1.0, 0.0, 2.0], 5).unwrap();
        assert_eq!(t.at_force(2).len(), 6);
        assert_eq!(t.value(1, 4), 1.0);
        assert_eq!(t.value(2, 3), pixel_pair_kernel(2.0, 3));
        assert_eq!(t.max_distance(), 5);
    }
}
