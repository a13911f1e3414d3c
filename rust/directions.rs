//! Digital lines: how the pixels are cut into parallel lines for one direction.
//!
//! Conventions (the classical ones): an image has rows `y` (row 0 at the top) and columns `x`;
//! θ = 0 points to +x and θ = π/2 points **up** (towards row 0).
//!
//! For a direction within 45° of the x axis ("x-major") every line holds exactly one pixel per
//! column; otherwise ("y-major") one pixel per row — the raster partition of the classical code
//! (Bresenham-like). Each pixel lies on exactly one line. The line of pixel `(x, y)` is
//!
//! ```text
//! x-major: y + round((x − cx) · t)      y-major: x + round(−(y − cy) · t)
//! ```
//!
//! where `t = tan(offset)` and `offset ∈ [−45°, 45°]` is the angle between the direction and its
//! major axis, `(cx, cy)` is the centre of the grid, and `round` rounds half away from zero.
//! Anchoring at the centre with an odd rounding makes the partition *exactly* equivariant: a
//! horizontal flip maps the lines of θ onto those of π − θ, and a 90° rotation maps those of θ
//! onto those of θ + 90° (the slope of both is computed from the same offset, so it is the same
//! float). Exact diagonals (offset ±45°) use `t = ±1` and an integer shift, so that x-major and
//! y-major digitisations coincide there.
//!
//! Positions along a line are pixel steps along the major axis; the Euclidean length of one
//! step is `1 / cos(offset)` and the spacing between adjacent lines is `cos(offset)`, so a force
//! computed on step counts is multiplied by `cos(offset)^(r − 1)` (the classical correction,
//! `|cos θ|^(r−1)` for x-major and `|sin θ|^(r−1)` for y-major directions).

use std::f64::consts::PI;

/// The axis along which a line advances one pixel per step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Major {
    /// One pixel per column; position = column index.
    X,
    /// One pixel per row; position = row index.
    Y,
}

/// The line geometry of one direction of a half-turn grid.
#[derive(Debug, Clone, Copy)]
pub struct Direction {
    pub major: Major,
    /// `tan(offset)`; exactly ±1 on diagonals.
    pub slope: f64,
    /// True for offset = ±45°: the shift is the integer `±position`.
    pub diagonal: bool,
    /// `cos(offset)` ∈ [1/√2, 1]: the base of the oblique correction `cos(offset)^(r−1)`.
    pub cos_offset: f64,
    /// +1 when the position (column or row index) increases along the direction, −1 otherwise.
    pub forward: i8,
}

impl Direction {
    /// Direction `θ = π · a / n` of a grid of `n` directions over the half-turn `[0, π)`,
    /// `0 ≤ a < n`.
    pub fn half_turn(a: usize, n: usize) -> Self {
        assert!(n > 0 && a < n, "direction index out of range");
        let (a, n) = (a as i64, n as i64);
        // Offsets from the major axis in units of π / (2n).
        let (major, q, forward) = if 4 * a <= n {
            (Major::X, 2 * a, 1) // [0°, 45°]: points right
        } else if 4 * a >= 3 * n {
            (Major::X, 2 * (a - n), -1) // [135°, 180°): points left
        } else {
            (Major::Y, 2 * a - n, -1) // (45°, 135°): points up, rows decrease
        };
        let diagonal = 2 * q.abs() == n;
        let angle = PI * (q.abs() as f64) / (2 * n) as f64;
        let magnitude = if diagonal { 1.0 } else { angle.tan() };
        let slope = if q < 0 { -magnitude } else { magnitude };
        Self {
            major,
            slope,
            diagonal,
            cos_offset: if diagonal {
                std::f64::consts::FRAC_1_SQRT_2
            } else {
                angle.cos()
            },
            forward,
        }
    }

    /// Direction `θ = 2π · k / n` of a grid of `n` directions over the full turn `[0, 2π)`:
    /// the lines of `θ mod π`, walked backwards when `θ ≥ π`.
    pub fn full_turn(k: usize, n: usize) -> Self {
        assert!(n > 0 && k < n, "direction index out of range");
        let mut d = Self::half_turn((2 * k) % n, n);
        if 2 * k >= n {
            d.forward = -d.forward;
        }
        d
    }

    /// Index of the half-turn line partition a full-turn direction uses (`2k mod n` of `n`).
    pub fn full_turn_partition(k: usize, n: usize) -> usize {
        (2 * k) % n
    }

    /// The shift added to the minor coordinate of a pixel at major position `u` to get its
    /// line: `line = v + shift(u)`. `centre` is `(len − 1) / 2` along the major axis.
    #[inline]
    pub fn shift(&self, u: usize, centre: f64) -> i64 {
        match (self.major, self.diagonal) {
            (Major::X, true) => {
                if self.slope > 0.0 {
                    u as i64
                } else {
                    -(u as i64)
                }
            }
            (Major::X, false) => round_half_away(((u as f64) - centre) * self.slope),
            (Major::Y, _) => round_half_away((-((u as f64) - centre)) * self.slope),
        }
    }

    /// [`Direction::shift`] of every major position `0..len`, lowered so that the smallest is 0
    /// (a line index is then never negative), into `out`.
    pub fn shifts(&self, len: usize, out: &mut Vec<i64>) {
        let centre = (len as f64 - 1.0) / 2.0;
        out.clear();
        // the match of `shift` taken once, outside the loop
        match (self.major, self.diagonal) {
            (Major::X, true) if self.slope > 0.0 => out.extend((0..len).map(|u| u as i64)),
            (Major::X, true) => out.extend((0..len).map(|u| -(u as i64))),
            (major, false) | (major @ Major::Y, true) => {
                // The shift is an odd function of u − centre (rounding half away from zero is
                // odd, and u − centre, its negation and their products with the slope are all
                // exact or negated exactly): compute the first half, mirror the rest.
                let sign = if major == Major::Y { -1.0 } else { 1.0 };
                let half = len.div_ceil(2);
                out.extend(
                    (0..half).map(|u| round_half_away(sign * ((u as f64) - centre) * self.slope)),
                );
                for u in half..len {
                    out.push(-out[len - 1 - u]);
                }
            }
        }
        debug_assert!(out
            .iter()
            .enumerate()
            .all(|(u, &s)| s == self.shift(u, centre)));
        // monotonic: the lowest is at one end
        let lowest = match (out.first(), out.last()) {
            (Some(&a), Some(&b)) => a.min(b),
            _ => 0,
        };
        out.iter_mut().for_each(|s| *s -= lowest);
    }

    /// `cos(offset)^(r − 1)`: line spacing times the step length to the power `2 − r`.
    #[inline]
    pub fn correction(&self, r: f64) -> f64 {
        if self.cos_offset == 1.0 {
            1.0
        } else {
            ((r - 1.0) * self.cos_offset.ln()).exp()
        }
    }
}

/// `x.round() as i64` (half away from zero, an odd function) for |x| < 2^52, without the libm
/// call that `f64::round` costs on baseline x86-64.
#[inline]
fn round_half_away(x: f64) -> i64 {
    let whole = x as i64; // truncation towards zero
    let frac = x - whole as f64; // exact: |x| < 2^52
    whole + (frac >= 0.5) as i64 - (frac <= -0.5) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shifts_are_shift_lowered_to_zero() {
        let mut out = Vec::new();
        for n in [4usize, 7, 90, 180, 360, 1000] {
            for k in 0..n {
                for dir in [Direction::half_turn(k, n), Direction::full_turn(k, n)] {
                    for len in [1usize, 2, 3, 10, 57, 224, 305, 1001] {
                        dir.shifts(len, &mut out);
                        let centre = (len as f64 - 1.0) / 2.0;
                        let raw: Vec<i64> = (0..len).map(|u| dir.shift(u, centre)).collect();
                        let lowest = *raw.iter().min().unwrap();
                        let want: Vec<i64> = raw.iter().map(|s| s - lowest).collect();
                        assert_eq!(out, want, "n={n} k={k} len={len}");
                    }
                }
            }
        }
    }

    #[test]
    fn rounding_matches_std() {
        for x in [
            0.0,
            0.5,
            -0.5,
            1.5,
            -1.5,
            2.4999999999999996,
            -7.5,
            3.75,
            -0.49999999999999994,
        ] {
            assert_eq!(round_half_away(x), x.round() as i64, "x={x}");
        }
        for i in -2000..2000 {
            let x = i as f64 * 0.137 + 0.25;
            assert_eq!(round_half_away(x), x.round() as i64);
        }
    }

    #[test]
    fn axes_and_diagonals() {
        let d0 = Direction::half_turn(0, 8);
        assert_eq!((d0.major, d0.slope, d0.forward), (Major::X, 0.0, 1));
        let d45 = Direction::half_turn(2, 8);
        assert!(d45.diagonal && d45.slope == 1.0 && d45.major == Major::X);
        let d90 = Direction::half_turn(4, 8);
        assert_eq!((d90.major, d90.slope, d90.forward), (Major::Y, 0.0, -1));
        let d135 = Direction::half_turn(6, 8);
        assert!(d135.diagonal && d135.slope == -1.0 && d135.forward == -1);
        let d180 = Direction::full_turn(4, 8);
        assert_eq!((d180.major, d180.forward), (Major::X, -1));
        let d270 = Direction::full_turn(6, 8);
        assert_eq!((d270.major, d270.forward), (Major::Y, 1));
    }

    #[test]
    fn flip_and_rotation_share_slopes_exactly() {
        let n = 180;
        for a in 1..n {
            let d = Direction::half_turn(a, n);
            let flipped = Direction::half_turn(n - a, n);
            assert_eq!(d.slope, -flipped.slope, "a={a}");
            let rotated = Direction::half_turn((a + n / 2) % n, n);
            assert_eq!(d.slope.abs(), rotated.slope.abs(), "a={a}");
            assert_eq!(d.cos_offset, rotated.cos_offset);
        }
    }

    #[test]
    fn every_pixel_on_one_line_and_lines_are_digital() {
        // One pixel per column on x-major lines: the shift changes by at most 1 per step.
        for a in 0..360 {
            let d = Direction::half_turn(a, 360);
            let c = 31.5;
            for u in 1..64 {
                assert!((d.shift(u, c) - d.shift(u - 1, c)).abs() <= 1, "a={a}");
            }
        }
    }

    #[test]
    fn correction_is_classical() {
        let d = Direction::half_turn(30, 180); // 30°, x-major
        let want = (30f64.to_radians().cos()).powf(0.5);
        assert!((d.correction(1.5) - want).abs() < 1e-14);
        let d = Direction::half_turn(70, 180); // 70°, y-major: |sin θ|^(r−1)
        let want = (70f64.to_radians().sin()).powf(-2.0);
        assert!((d.correction(-1.0) / want - 1.0).abs() < 1e-13);
    }
}
