//! What a banner computation needs besides the masks: the directions, their oblique
//! corrections and the kernel table, built once and shared across pairs and threads.
//! [`Plan::symmetric_into`] and [`Plan::directional_into`] walk the directions of one pair.

use crate::directions::Direction;
use crate::dot::dot;
use crate::error::{Error, Result};
use crate::kernel::{KernelTable, MAX_ABS_FORCE};
use crate::limits::{check_table_size, try_with_capacity};
use crate::mask::MaskPair;
use crate::pair_counts::Workspace;

/// A cancellation test, called once per direction (from whichever thread computes): `true`
/// stops the computation with [`Error::Cancelled`]. The engine stays free of Python; the
/// bindings pass a closure that polls for Ctrl-C.
pub type Stop<'a> = &'a (dyn Fn() -> bool + Sync);

/// A [`Stop`] that never stops.
pub fn never() -> bool {
    false
}

/// Check a list of force levels: non-empty, finite, |r| ≤ [`MAX_ABS_FORCE`].
pub fn validate_forces(forces: &[f64]) -> Result<()> {
    if forces.is_empty() {
        return Err(Error::value("forces must not be empty"));
    }
    for (i, &r) in forces.iter().enumerate() {
        if !r.is_finite() {
            return Err(Error::value(format!("forces[{i}] is not finite ({r})")));
        }
        if r.abs() > MAX_ABS_FORCE {
            return Err(Error::value(format!(
                "forces[{i}] = {r} is outside [-{MAX_ABS_FORCE}, {MAX_ABS_FORCE}]"
            )));
        }
    }
    Ok(())
}

fn validate_count(name: &str, n: usize) -> Result<()> {
    if n == 0 || n > 1 << 20 {
        return Err(Error::value(format!(
            "{name} must be between 1 and {}, got {n}",
            1 << 20
        )));
    }
    Ok(())
}

/// Everything about a banner that does not depend on the masks: directions, corrections and
/// the kernel table. Build once, share across pairs and threads.
#[derive(Debug, Clone)]
pub struct Plan {
    directions: Vec<Direction>,
    /// `corr(θ_k, r_i)`, row-major `(K, R)`.
    correction: Vec<f64>,
    kernel: KernelTable,
}

impl Plan {
    fn build(forces: &[f64], directions: Vec<Direction>, max_extent: usize) -> Result<Self> {
        let r_count = forces.len();
        check_table_size("banner", r_count, directions.len())?;
        check_table_size("kernel table", r_count, max_extent.saturating_add(1))?;
        let mut correction =
            try_with_capacity(r_count * directions.len(), "direction corrections")?;
        correction.extend(
            directions
                .iter()
                .flat_map(|d| forces.iter().map(move |&r| d.correction(r))),
        );
        Ok(Self {
            directions,
            correction,
            kernel: KernelTable::new(forces, max_extent)?,
        })
    }

    /// A plan for symmetric banners: `n_angles` directions `θ_k = π k / n_angles`, for masks
    /// whose union box is at most `max_extent` pixels on its longer side.
    pub fn symmetric(forces: &[f64], n_angles: usize, max_extent: usize) -> Result<Self> {
        validate_forces(forces)?;
        validate_count("n_angles", n_angles)?;
        let dirs = (0..n_angles)
            .map(|k| Direction::half_turn(k, n_angles))
            .collect();
        Self::build(forces, dirs, max_extent)
    }

    /// A plan for directional banners: `n_dirs` directions `θ_k = 2π k / n_dirs`.
    pub fn directional(forces: &[f64], n_dirs: usize, max_extent: usize) -> Result<Self> {
        validate_forces(forces)?;
        validate_count("n_dirs", n_dirs)?;
        let dirs = (0..n_dirs)
            .map(|k| Direction::full_turn(k, n_dirs))
            .collect();
        Self::build(forces, dirs, max_extent)
    }

    pub fn forces(&self) -> &[f64] {
        self.kernel.forces()
    }

    pub fn n_directions(&self) -> usize {
        self.directions.len()
    }

    /// Number of values of one banner: `R · K`.
    pub fn banner_len(&self) -> usize {
        self.forces().len() * self.directions.len()
    }

    pub fn max_extent(&self) -> usize {
        self.kernel.max_distance()
    }

    /// The raw symmetric banner ξ into `out`, row-major `(R, K)`; [`Error::Cancelled`] when
    /// `stop` says so (checked before each direction).
    pub fn symmetric_into(
        &self,
        pair: &MaskPair,
        ws: &mut Workspace,
        out: &mut [f64],
        stop: Stop<'_>,
    ) -> Result<()> {
        self.fill(pair, ws, out, 0.5, stop, |ws, counts, _| {
            ws.symmetric_counts(counts)
        })
    }

    /// The force banner `F_r^{AB}(θ)` into `out`, row-major `(R, K)`; the plan must be
    /// [`Plan::directional`].
    pub fn directional_into(
        &self,
        pair: &MaskPair,
        ws: &mut Workspace,
        out: &mut [f64],
        stop: Stop<'_>,
    ) -> Result<()> {
        self.fill(pair, ws, out, 1.0, stop, |ws, counts, dir| {
            ws.directed_counts(dir.forward, counts)
        })
    }

    /// For each direction: count pairs, reduce them to counts by distance with `reduce`, then
    /// `out[i, k] = scale · corr(θ_k, r_i) · Σ_d counts[d] · k_{r_i}(d)`.
    fn fill(
        &self,
        pair: &MaskPair,
        ws: &mut Workspace,
        out: &mut [f64],
        scale: f64,
        stop: Stop<'_>,
        reduce: impl Fn(&Workspace, &mut Vec<f64>, &Direction) -> std::ops::Range<usize>,
    ) -> Result<()> {
        assert!(
            pair.max_extent() <= self.kernel.max_distance(),
            "plan built for masks up to {} px, got {}",
            self.kernel.max_distance(),
            pair.max_extent()
        );
        let (r_count, k_count) = (self.forces().len(), self.directions.len());
        assert_eq!(out.len(), r_count * k_count);
        let mut counts = Vec::with_capacity(pair.max_extent() + 1);
        for (k, dir) in self.directions.iter().enumerate() {
            if stop() {
                return Err(Error::Cancelled);
            }
            if !ws.count_pairs(pair, dir) {
                // no line of this direction meets both objects: every value is 0
                for i in 0..r_count {
                    out[i * k_count + k] = 0.0;
                }
                continue;
            }
            let range = reduce(ws, &mut counts, dir);
            let corr = &self.correction[k * r_count..(k + 1) * r_count];
            for i in 0..r_count {
                let kernel = &self.kernel.at_force(i)[range.clone()];
                let sum = dot(&counts[range.clone()], kernel);
                out[i * k_count + k] = scale * corr[i] * sum;
            }
        }
        Ok(())
    }
}
