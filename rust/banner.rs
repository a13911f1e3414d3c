//! Force histograms, force banners and symmetric force banners.
//!
//! With the pair-distance counts `C_θ(δ)` of [`crate::pair_counts`], the pixel-pair kernel
//! `k_r` of [`crate::kernel`] and the oblique correction `corr(θ, r)` of
//! [`crate::directions`]:
//!
//! ```text
//! F_r^{AB}(θ) = corr(θ, r) · [ Σ_{δ after} C_θ(δ) k_r(|δ|) + ½ C_θ(0) k_r(0) ]
//! ξ(θ, r)     = (F_r^{AB}(θ) + F_r^{AB}(θ + π)) / 2 = ½ corr(θ, r) Σ_δ C_θ(δ) k_r(|δ|)
//! ```
//!
//! where "δ after" are the pairs whose A pixel lies after its B pixel in direction θ, so that
//! `F^{AB}(θ)` is large when A lies in direction θ of B. A pixel in both masks is a pair at
//! δ = 0, split half to each direction. The symmetric banner depends only on `|δ|`, so
//! `sfb(a, b)` and `sfb(b, a)` are computed from identical integer counts and are bitwise equal.

use crate::error::{Error, Result};
use crate::limits::try_filled;
use crate::mask::MaskPair;
use crate::pair_counts::Workspace;
use crate::plan::{never, Stop};
use crate::plan_cache::{shared_plan, PlanKind};

/// The paper's force levels: r from −2.24 to 2.24 in steps of 0.08 (57 levels; contains 0, ±2).
pub fn default_forces() -> Vec<f64> {
    (0..57).map(|i| (i as f64 - 28.0) * 0.08).collect()
}

/// How a symmetric banner is scaled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Normalize {
    /// Raw ξ(θ, r).
    None,
    /// Each force level divided by its maximum over θ (an all-zero level stays zero). Raw values
    /// span many orders of magnitude across r and scale as λ^(3−r) with object size λ; after
    /// this each row lies in [0, 1] and is invariant to a uniform scaling of the values.
    Max,
}

impl Normalize {
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "none" | "raw" => Ok(Normalize::None),
            "max" => Ok(Normalize::Max),
            other => Err(Error::value(format!(
                "normalize must be \"max\" or \"none\", got {other:?}"
            ))),
        }
    }
}

/// Apply a normalisation in place to a row-major `(R, K)` banner.
pub fn normalize_rows(banner: &mut [f64], k_count: usize, mode: Normalize) {
    if mode == Normalize::None {
        return;
    }
    for row in banner.chunks_mut(k_count) {
        let max = row.iter().copied().fold(0.0f64, f64::max);
        if max > 0.0 {
            row.iter_mut().for_each(|v| *v /= max);
        }
    }
}

/// The symmetric force banner of one pair, `(R, n_angles)` row-major, as f32.
pub fn sfb(pair: &MaskPair, forces: &[f64], n_angles: usize, mode: Normalize) -> Result<Vec<f32>> {
    sfb_until(pair, forces, n_angles, mode, &never)
}

/// [`sfb`] that gives up with [`Error::Cancelled`] when `stop` returns true (checked before
/// each direction).
pub fn sfb_until(
    pair: &MaskPair,
    forces: &[f64],
    n_angles: usize,
    mode: Normalize,
    stop: Stop<'_>,
) -> Result<Vec<f32>> {
    let plan = shared_plan(PlanKind::Symmetric, forces, n_angles, pair.max_extent())?;
    let mut out = try_filled(plan.banner_len(), 0.0, "banner")?;
    plan.symmetric_into(pair, &mut Workspace::default(), &mut out, stop)?;
    normalize_rows(&mut out, n_angles, mode);
    Ok(out.into_iter().map(|v| v as f32).collect())
}

/// The force banner `F_r^{AB}(θ_k)`, `θ_k = 2πk/n_dirs`, `(R, n_dirs)` row-major.
pub fn force_banner(pair: &MaskPair, forces: &[f64], n_dirs: usize) -> Result<Vec<f64>> {
    force_banner_until(pair, forces, n_dirs, &never)
}

/// [`force_banner`] that gives up with [`Error::Cancelled`] when `stop` returns true.
pub fn force_banner_until(
    pair: &MaskPair,
    forces: &[f64],
    n_dirs: usize,
    stop: Stop<'_>,
) -> Result<Vec<f64>> {
    let plan = shared_plan(PlanKind::Directional, forces, n_dirs, pair.max_extent())?;
    let mut out = try_filled(plan.banner_len(), 0.0, "force banner")?;
    plan.directional_into(pair, &mut Workspace::default(), &mut out, stop)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{validate_forces, Plan};
    use ndarray::Array2;

    fn pair(a: &Array2<u8>, b: &Array2<u8>) -> MaskPair {
        MaskPair::new(a.view(), b.view(), "a", "b").unwrap()
    }

    /// Closed form of two segments of lengths x and z with gap y (y ≥ 1), r ∉ {1, 2}.
    fn segment_force(r: f64, x: f64, y: f64, z: f64) -> f64 {
        let g = |s: f64| s.powf(2.0 - r) / ((1.0 - r) * (2.0 - r));
        g(x + y + z) - g(x + y) - g(y + z) + g(y)
    }

    #[test]
    fn default_grid() {
        let f = default_forces();
        assert_eq!(f.len(), 57);
        assert!((f[0] + 2.24).abs() < 1e-12 && (f[56] - 2.24).abs() < 1e-12);
        assert_eq!(f[28], 0.0);
        assert!((f[3] + 2.0).abs() < 1e-12 && (f[53] - 2.0).abs() < 1e-12);
    }

    #[test]
    fn horizontal_segments_closed_form() {
        // A = columns 9..14 (x = 5) right of B = columns 0..3 (z = 3), gap y = 6, 4 rows.
        let mut a = Array2::<u8>::zeros((4, 14));
        let mut b = Array2::<u8>::zeros((4, 14));
        a.slice_mut(ndarray::s![.., 9..14]).fill(1);
        b.slice_mut(ndarray::s![.., 0..3]).fill(1);
        let forces = [-1.7, -0.5, 0.3, 1.5, 2.6];
        let fb = force_banner(&pair(&a, &b), &forces, 4).unwrap();
        for (i, &r) in forces.iter().enumerate() {
            let want = 4.0 * segment_force(r, 5.0, 6.0, 3.0);
            let east = fb[i * 4];
            assert!(
                ((east - want) / want).abs() < 1e-12,
                "r={r}: {east} vs {want}"
            );
            assert_eq!(fb[i * 4 + 1], 0.0); // north: no shared column
            assert_eq!(fb[i * 4 + 2], 0.0); // west: A is not left of B
        }
    }

    #[test]
    fn vertical_direction_points_up() {
        let mut a = Array2::<u8>::zeros((10, 3));
        let mut b = Array2::<u8>::zeros((10, 3));
        a.slice_mut(ndarray::s![0..2, ..]).fill(1); // A at the top
        b.slice_mut(ndarray::s![7..10, ..]).fill(1);
        let fb = force_banner(&pair(&a, &b), &[0.0], 4).unwrap();
        assert_eq!(fb, vec![0.0, 3.0 * 2.0 * 3.0, 0.0, 0.0]);
    }

    #[test]
    fn overlap_splits_shared_pixels_and_sfb_is_symmetric() {
        let mut a = Array2::<u8>::zeros((5, 6));
        let mut b = Array2::<u8>::zeros((5, 6));
        a.slice_mut(ndarray::s![1..4, 0..4]).fill(1);
        b.slice_mut(ndarray::s![0..5, 2..6]).fill(1);
        let p = pair(&a, &b);
        let fb = force_banner(&p, &[0.0], 2).unwrap();
        // Row lines: 3 rows, |A∩L| = 4, |B∩L| = 4 → 16 pairs each; per row: A at 0..4, B at 2..6.
        // a after b: (a=3,b=2) (a=3,b=...): count pairs with xa > xb: xa∈{0..3}, xb∈{2..5}.
        let after: i64 = (0..4)
            .map(|xa: i64| (2..6).filter(|&xb| xa > xb).count() as i64)
            .sum();
        let same: i64 = 2; // xa = xb ∈ {2, 3}
        assert_eq!(fb[0], 3.0 * (after as f64 + 0.5 * same as f64));
        let before = 16 - after - same;
        assert_eq!(fb[1], 3.0 * (before as f64 + 0.5 * same as f64));
        let s1 = sfb(&p, &default_forces(), 180, Normalize::None).unwrap();
        let s2 = sfb(&pair(&b, &a), &default_forces(), 180, Normalize::None).unwrap();
        assert_eq!(s1, s2);
        assert!(s1.iter().all(|v| v.is_finite() && *v >= 0.0));
    }

    #[test]
    fn normalisation_rows_peak_at_one() {
        let mut a = Array2::<u8>::zeros((8, 8));
        let mut b = Array2::<u8>::zeros((8, 8));
        a[[0, 0]] = 1;
        b[[7, 5]] = 1;
        b[[6, 5]] = 1;
        let s = sfb(&pair(&a, &b), &[-1.0, 0.0, 1.0], 36, Normalize::Max).unwrap();
        for row in s.chunks(36) {
            let m = row.iter().copied().fold(0.0f32, f32::max);
            assert!(m == 1.0 || m == 0.0);
        }
    }

    #[test]
    fn bad_parameters_are_named() {
        assert!(validate_forces(&[])
            .unwrap_err()
            .to_string()
            .contains("forces"));
        assert!(validate_forces(&[f64::NAN])
            .unwrap_err()
            .to_string()
            .contains("forces[0]"));
        assert!(Plan::symmetric(&[0.0], 0, 4)
            .unwrap_err()
            .to_string()
            .contains("n_angles"));
        assert!(Plan::directional(&[0.0], 0, 4)
            .unwrap_err()
            .to_string()
            .contains("n_dirs"));
        assert!(Normalize::parse("l2").is_err());
    }
}
