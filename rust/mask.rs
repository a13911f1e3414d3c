//! Mask pairs as run-length encodings, cropped to the union bounding box.
//!
//! The engine never walks pixels once the masks are encoded: it works on runs (maximal
//! intervals of object pixels) of every column — used by x-major directions — and of every row
//! — used by y-major ones. Cropping both masks to the bounding box of their union first makes
//! the descriptor exactly invariant to translation and keeps the work proportional to the
//! objects, not to the canvas.

use ndarray::ArrayView2;

use crate::error::{Error, Result};

/// Runs of one mask along one axis: for each major index `u` (column or row), the sorted,
/// disjoint intervals `[lo, hi)` of the minor coordinate that belong to the object.
#[derive(Debug, Clone, Default)]
pub struct RunList {
    offsets: Vec<u32>,
    runs: Vec<(i32, i32)>,
}

impl RunList {
    /// Number of major positions (columns for column runs).
    pub fn len(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Runs at major position `u`.
    #[inline]
    pub fn at(&self, u: usize) -> &[(i32, i32)] {
        &self.runs[self.offsets[u] as usize..self.offsets[u + 1] as usize]
    }

    pub fn run_count(&self) -> usize {
        self.runs.len()
    }
}

/// One object inside the crop: its runs by column and by row, and its pixel count.
#[derive(Debug, Clone)]
pub struct Object {
    pub by_column: RunList,
    pub by_row: RunList,
    pub pixels: u64,
}

/// Two objects on a common cropped grid of `height × width` pixels.
#[derive(Debug, Clone)]
pub struct MaskPair {
    pub height: usize,
    pub width: usize,
    pub a: Object,
    pub b: Object,
}

/// Something that reads as a 2-D mask: non-zero (or `true`) pixels are the object.
pub trait MaskPixel: Copy {
    fn is_set(self) -> bool;
}

impl MaskPixel for bool {
    #[inline]
    fn is_set(self) -> bool {
        self
    }
}

macro_rules! int_mask_pixel {
    ($($t:ty),*) => {$(
        impl MaskPixel for $t {
            #[inline]
            fn is_set(self) -> bool {
                self != 0
            }
        }
    )*};
}
int_mask_pixel!(u8, i8, u16, i16, u32, i32, u64, i64);

impl MaskPair {
    /// Validate and encode two masks. `name_a`/`name_b` name the arguments in error messages.
    pub fn new<A: MaskPixel, B: MaskPixel>(
        a: ArrayView2<'_, A>,
        b: ArrayView2<'_, B>,
        name_a: &str,
        name_b: &str,
    ) -> Result<Self> {
        for (m, name) in [(a.dim(), name_a), (b.dim(), name_b)] {
            if m.0 == 0 || m.1 == 0 {
                return Err(Error::value(format!(
                    "{name} is a zero-size array (shape {:?}); masks must have at least one row and one column",
                    [m.0, m.1]
                )));
            }
        }
        if a.dim() != b.dim() {
            return Err(Error::value(format!(
                "{name_a} and {name_b} must have the same shape, got {:?} and {:?}",
                [a.dim().0, a.dim().1],
                [b.dim().0, b.dim().1]
            )));
        }
        let box_a = bounding_box(&a).ok_or_else(|| empty_mask(name_a))?;
        let box_b = bounding_box(&b).ok_or_else(|| empty_mask(name_b))?;
        let (r0, r1) = (box_a.0.min(box_b.0), box_a.1.max(box_b.1));
        let (c0, c1) = (box_a.2.min(box_b.2), box_a.3.max(box_b.3));
        let crop_a = a.slice(ndarray::s![r0..r1, c0..c1]);
        let crop_b = b.slice(ndarray::s![r0..r1, c0..c1]);
        Ok(Self {
            height: r1 - r0,
            width: c1 - c0,
            a: Object::encode(&crop_a),
            b: Object::encode(&crop_b),
        })
    }

    /// The longest line of the crop, in pixel steps: every pair distance is below it.
    pub fn max_extent(&self) -> usize {
        self.height.max(self.width)
    }
}

fn empty_mask(name: &str) -> Error {
    Error::value(format!("{name} is an empty mask (no non-zero pixel)"))
}

/// `(row0, row1, col0, col1)` with exclusive ends, or `None` for an empty mask.
fn bounding_box<T: MaskPixel>(m: &ArrayView2<'_, T>) -> Option<(usize, usize, usize, usize)> {
    let (mut r0, mut r1, mut c0, mut c1) = (usize::MAX, 0, usize::MAX, 0);
    for (r, row) in m.rows().into_iter().enumerate() {
        let mut first = None;
        let mut last = 0;
        for (c, &p) in row.iter().enumerate() {
            if p.is_set() {
                if first.is_none() {
                    first = Some(c);
                }
                last = c;
            }
        }
        if let Some(f) = first {
            r0 = r0.min(r);
            r1 = r + 1;
            c0 = c0.min(f);
            c1 = c1.max(last + 1);
        }
    }
    (r1 > 0).then_some((r0, r1, c0, c1))
}

impl Object {
    fn encode<T: MaskPixel>(m: &ArrayView2<'_, T>) -> Self {
        let (h, w) = m.dim();
        let mut dense = Vec::with_capacity(h * w);
        for row in m.rows() {
            dense.extend(row.iter().map(|p| p.is_set()));
        }
        let pixels = dense.iter().filter(|&&p| p).count() as u64;
        let by_row = runs_of(h, w, |u, v| dense[u * w + v]);
        let by_column = runs_of(w, h, |u, v| dense[v * w + u]);
        Self {
            by_column,
            by_row,
            pixels,
        }
    }
}

/// Runs along the minor axis (length `minor`) for each of `major` positions.
fn runs_of(major: usize, minor: usize, set: impl Fn(usize, usize) -> bool) -> RunList {
    let mut offsets = Vec::with_capacity(major + 1);
    let mut runs = Vec::new();
    offsets.push(0u32);
    for u in 0..major {
        let mut v = 0;
        while v < minor {
            if set(u, v) {
                let start = v;
                while v < minor && set(u, v) {
                    v += 1;
                }
                runs.push((start as i32, v as i32));
            } else {
                v += 1;
            }
        }
        offsets.push(runs.len() as u32);
    }
    RunList { offsets, runs }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn crops_to_union_box_and_encodes_runs() {
        let a = array![[0u8, 0, 0, 0], [0, 1, 1, 0], [0, 0, 0, 0]];
        let b = array![[0u8, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 1]];
        let p = MaskPair::new(a.view(), b.view(), "a", "b").unwrap();
        assert_eq!((p.height, p.width), (2, 3));
        assert_eq!(p.a.by_row.at(0), &[(0, 2)]);
        assert_eq!(p.a.by_row.at(1), &[]);
        assert_eq!(p.b.by_column.at(2), &[(1, 2)]);
        assert_eq!(p.a.pixels, 2);
    }

    #[test]
    fn several_runs_per_line() {
        let a = array![[true, false, true, true, false, true]];
        let p = MaskPair::new(a.view(), a.view(), "a", "b").unwrap();
        assert_eq!(p.a.by_row.at(0), &[(0, 1), (2, 4), (5, 6)]);
        assert_eq!(p.a.by_column.run_count(), 4);
    }

    #[test]
    fn errors_name_the_argument() {
        let z = ndarray::Array2::<u8>::zeros((3, 3));
        let mut one = z.clone();
        one[[1, 1]] = 1;
        let e = MaskPair::new(z.view(), one.view(), "a", "b").unwrap_err();
        assert!(e.to_string().contains("a is an empty mask"));
        let e = MaskPair::new(one.view(), z.view(), "a", "b").unwrap_err();
        assert!(e.to_string().contains("b is an empty mask"));
        let other = ndarray::Array2::<u8>::ones((2, 3));
        let e = MaskPair::new(one.view(), other.view(), "a", "b").unwrap_err();
        assert!(e.to_string().contains("same shape"));
        let empty = ndarray::Array2::<u8>::ones((0, 3));
        let e = MaskPair::new(empty.view(), empty.view(), "a", "b").unwrap_err();
        assert!(e.to_string().contains("a is a zero-size array"));
    }
}
