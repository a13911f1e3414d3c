//! Mask pairs as run-length encodings, cropped to the union bounding box.
//!
//! The engine never walks pixels once the masks are encoded: it works on runs (maximal
//! intervals of object pixels) of every column — used by x-major directions — and of every row
//! — used by y-major ones. Cropping both masks to the bounding box of their union first makes
//! the descriptor exactly invariant to translation and keeps the work proportional to the
//! objects, not to the canvas.

use ndarray::{ArrayView, ArrayView2, Axis, Dimension, Ix2, Ix3};

use crate::error::{Error, Result};
use crate::limits::{check_output_size, check_sides, MAX_OUTPUT_PIXELS, MAX_SIDE};

/// Runs of one mask along one axis: for each major index `u` (column or row), the sorted,
/// disjoint intervals `[lo, hi)` of the minor coordinate that belong to the object.
#[derive(Debug, Clone, Default)]
pub struct RunList {
    offsets: Vec<u32>,
    runs: Vec<(i32, i32)>,
    /// Per major position: its run if it has exactly one, else [`NOT_ONE_RUN`].
    single: Vec<(i32, i32)>,
    /// Per major position: `(lo of its first run, hi of its last)`, [`NO_SPAN`] if it has none.
    span: Vec<(i32, i32)>,
    occupied: std::ops::Range<usize>,
    minor: (i32, i32),
}

/// [`RunList::single`] of a position with no run or several.
pub const NOT_ONE_RUN: (i32, i32) = (0, 0);

/// [`RunList::span`] of a position with no run: above every `lo`, below every `hi` (and far
/// from overflowing when a line shift is added).
pub const NO_SPAN: (i32, i32) = (i32::MAX / 4, i32::MIN / 4);

impl RunList {
    fn new(offsets: Vec<u32>, runs: Vec<(i32, i32)>) -> Self {
        let single = offsets
            .windows(2)
            .map(|w| {
                if w[1] == w[0] + 1 {
                    runs[w[0] as usize]
                } else {
                    NOT_ONE_RUN
                }
            })
            .collect();
        let span = offsets
            .windows(2)
            .map(|w| {
                if w[1] > w[0] {
                    (runs[w[0] as usize].0, runs[w[1] as usize - 1].1)
                } else {
                    NO_SPAN
                }
            })
            .collect();
        let mut list = Self {
            offsets,
            runs,
            single,
            span,
            occupied: 0..0,
            minor: (0, 0),
        };
        let n = list.len();
        let first = (0..n).find(|&u| list.offsets[u + 1] > list.offsets[u]);
        if let Some(f) = first {
            let last = (f..n)
                .rev()
                .find(|&u| list.offsets[u + 1] > list.offsets[u])
                .unwrap_or(f);
            list.occupied = f..last + 1;
            list.minor = (
                list.runs.iter().map(|r| r.0).min().unwrap_or(0),
                list.runs.iter().map(|r| r.1).max().unwrap_or(0),
            );
        }
        list
    }

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

    /// For each major position, its run if it has exactly one, else [`NOT_ONE_RUN`] (an empty
    /// interval, so `lo < hi` tells the two apart).
    #[inline]
    pub fn single(&self) -> &[(i32, i32)] {
        &self.single
    }

    /// For each major position, the lowest `lo` and highest `hi` of its runs ([`NO_SPAN`] if
    /// none): the extent of the position's cover across the lines.
    #[inline]
    pub fn span(&self) -> &[(i32, i32)] {
        &self.span
    }

    pub fn run_count(&self) -> usize {
        self.runs.len()
    }

    /// The major positions `[first, last + 1)` that hold any run (empty if none).
    #[inline]
    pub fn occupied(&self) -> std::ops::Range<usize> {
        self.occupied.clone()
    }

    /// The smallest `lo` and largest `hi` of all runs: the object's extent across the lines
    /// (`(0, 0)` if empty).
    #[inline]
    pub fn minor_extent(&self) -> (i32, i32) {
        self.minor
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

    /// The pixels as bytes that are non-zero exactly where set, when that costs nothing.
    fn as_bytes(_pixels: &[Self]) -> Option<&[u8]> {
        None
    }
}

impl MaskPixel for bool {
    #[inline]
    fn is_set(self) -> bool {
        self
    }

    fn as_bytes(pixels: &[bool]) -> Option<&[u8]> {
        // SAFETY: a bool is one byte holding 0 or 1.
        Some(unsafe { std::slice::from_raw_parts(pixels.as_ptr().cast::<u8>(), pixels.len()) })
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
        Self::assemble(
            (
                a.dim(),
                || bounding_box(&a),
                |r: Crop| Object::encode(&crop(&a, r), name_a),
            ),
            (
                b.dim(),
                || bounding_box(&b),
                |r: Crop| Object::encode(&crop(&b, r), name_b),
            ),
            name_a,
            name_b,
        )
    }

    /// [`MaskPair::new`] for masks of any supported element type.
    pub fn from_views(
        a: &MaskView<'_>,
        b: &MaskView<'_>,
        name_a: &str,
        name_b: &str,
    ) -> Result<Self> {
        Self::assemble(
            (a.dim(), || a.bounding_box(), |r: Crop| a.encode(r, name_a)),
            (b.dim(), || b.bounding_box(), |r: Crop| b.encode(r, name_b)),
            name_a,
            name_b,
        )
    }

    /// Check the shapes, crop both masks to the union of their boxes (checked against
    /// [`crate::limits::MAX_OUTPUT_PIXELS`] and [`crate::limits::MAX_SIDE`]: the encoding
    /// copies the crop), encode them; each mask comes as `(shape, its bounding box, its
    /// encoding within a crop)`.
    fn assemble(
        a: (
            (usize, usize),
            impl FnOnce() -> Option<Crop>,
            impl FnOnce(Crop) -> Result<Object>,
        ),
        b: (
            (usize, usize),
            impl FnOnce() -> Option<Crop>,
            impl FnOnce(Crop) -> Result<Object>,
        ),
        name_a: &str,
        name_b: &str,
    ) -> Result<Self> {
        for (m, name) in [(a.0, name_a), (b.0, name_b)] {
            if m.0 == 0 || m.1 == 0 {
                return Err(Error::value(format!(
                    "{name} is a zero-size array (shape {:?}); masks must have at least one row and one column",
                    [m.0, m.1]
                )));
            }
        }
        if a.0 != b.0 {
            return Err(Error::value(format!(
                "{name_a} and {name_b} must have the same shape, got {:?} and {:?}",
                [a.0 .0, a.0 .1],
                [b.0 .0, b.0 .1]
            )));
        }
        let box_a = a.1().ok_or_else(|| empty_mask(name_a))?;
        let box_b = b.1().ok_or_else(|| empty_mask(name_b))?;
        let (r0, r1) = (box_a.0.min(box_b.0), box_a.1.max(box_b.1));
        let (c0, c1) = (box_a.2.min(box_b.2), box_a.3.max(box_b.3));
        let union = (r0, r1, c0, c1);
        let (height, width) = (r1 - r0, c1 - c0);
        let too_large = height
            .checked_mul(width)
            .is_none_or(|n| n > MAX_OUTPUT_PIXELS)
            || height.max(width) > MAX_SIDE;
        if too_large {
            // (the name is formatted only then: this runs for every pair of a batch)
            let what = format!("the union box of {name_a} and {name_b}");
            check_output_size(&what, height, width)?;
            check_sides(&what, height, width)?;
        }
        Ok(Self {
            height,
            width,
            a: a.2(union)?,
            b: b.2(union)?,
        })
    }

    /// The longest line of the crop, in pixel steps: every pair distance is below it.
    pub fn max_extent(&self) -> usize {
        self.height.max(self.width)
    }
}

/// `(row0, row1, col0, col1)`, exclusive ends.
type Crop = (usize, usize, usize, usize);

fn crop<'a, T>(m: &ArrayView2<'a, T>, (r0, r1, c0, c1): Crop) -> ArrayView2<'a, T> {
    m.slice_move(ndarray::s![r0..r1, c0..c1])
}

/// The element types a [`MaskView`] can hold, as `Variant: type` (a callback macro, so the
/// bindings dispatch over the same list).
macro_rules! mask_dtypes {
    ($then:ident) => {
        $then! { Bool: bool, U8: u8, I8: i8, U16: u16, I16: i16, U32: u32, I32: i32, U64: u64, I64: i64 }
    };
}
#[cfg(feature = "python")] // the bindings' numpy arrays
pub(crate) use mask_dtypes;

macro_rules! define_mask_view {
    ($($variant:ident: $t:ty),*) => {
        /// A borrowed mask (`D = Ix2`) or stack of masks (`D = Ix3`, masks along axis 0) of any
        /// supported element type, in any memory layout; non-zero (or `true`) is the object.
        /// It can be sent to other threads, so that masks are encoded where they are computed.
        #[derive(Debug, Clone, Copy)]
        pub enum MaskView<'a, D: Dimension = Ix2> {
            $($variant(ArrayView<'a, $t, D>)),*
        }

        $(
            impl<'a, D: Dimension> From<ArrayView<'a, $t, D>> for MaskView<'a, D> {
                fn from(v: ArrayView<'a, $t, D>) -> Self {
                    MaskView::$variant(v)
                }
            }
        )*

        impl<'a, D: Dimension> MaskView<'a, D> {
            /// The array's shape.
            pub fn shape(&self) -> &[usize] {
                match self {
                    $(MaskView::$variant(m) => m.shape()),*
                }
            }
        }

        impl<'a> MaskView<'a, Ix3> {
            /// Mask `i` of the stack.
            pub fn index(&self, i: usize) -> MaskView<'a, Ix2> {
                match *self {
                    $(MaskView::$variant(m) => MaskView::$variant(m.index_axis_move(Axis(0), i))),*
                }
            }
        }

        impl MaskView<'_, Ix2> {
            /// `f` called on the view as its element type.
            pub fn apply<F: ViewFn>(&self, f: F) -> F::Output {
                match self {
                    $(MaskView::$variant(m) => f.call(m.view())),*
                }
            }
        }
    };
}
mask_dtypes!(define_mask_view);

/// A function of a 2-D mask generic over its element type, for [`MaskView::apply`].
pub trait ViewFn {
    type Output;
    fn call<T: MaskPixel>(self, mask: ArrayView2<'_, T>) -> Self::Output;
}

impl MaskView<'_, Ix2> {
    /// `(height, width)`.
    pub fn dim(&self) -> (usize, usize) {
        let s = self.shape();
        (s[0], s[1])
    }

    fn bounding_box(&self) -> Option<Crop> {
        struct BoundingBox;
        impl ViewFn for BoundingBox {
            type Output = Option<Crop>;
            fn call<T: MaskPixel>(self, m: ArrayView2<'_, T>) -> Option<Crop> {
                bounding_box(&m)
            }
        }
        self.apply(BoundingBox)
    }

    fn encode(&self, r: Crop, name: &str) -> Result<Object> {
        struct Encode<'n>(Crop, &'n str);
        impl ViewFn for Encode<'_> {
            type Output = Result<Object>;
            fn call<T: MaskPixel>(self, m: ArrayView2<'_, T>) -> Result<Object> {
                Object::encode(&crop(&m, self.0), self.1)
            }
        }
        self.apply(Encode(r, name))
    }
}

fn empty_mask(name: &str) -> Error {
    Error::value(format!("{name} is an empty mask (no non-zero pixel)"))
}

/// Whether `m` is stored column by column (a Fortran-order array or a transposed view): then
/// its transpose is read row by row, contiguously, and the roles of rows and columns swapped.
fn is_column_major<T>(m: &ArrayView2<'_, T>) -> bool {
    let (h, w) = m.dim();
    h > 1 && w > 1 && m.strides()[0] == 1 && m.strides()[1] != 1
}

/// `(row0, row1, col0, col1)` with exclusive ends, or `None` for an empty mask.
fn bounding_box<T: MaskPixel>(m: &ArrayView2<'_, T>) -> Option<(usize, usize, usize, usize)> {
    if is_column_major(m) {
        return bounding_box(&m.t()).map(|(c0, c1, r0, r1)| (r0, r1, c0, c1));
    }
    let (mut r0, mut r1, mut c0, mut c1) = (usize::MAX, 0, usize::MAX, 0);
    for (r, row) in m.rows().into_iter().enumerate() {
        let extent = match row.as_slice().and_then(T::as_bytes) {
            Some(bytes) => first_last_nonzero(bytes),
            None => {
                let first = row.iter().position(|p| p.is_set());
                first.map(|f| (f, row.iter().rposition(|p| p.is_set()).unwrap_or(f)))
            }
        };
        if let Some((f, l)) = extent {
            r0 = r0.min(r);
            r1 = r + 1;
            c0 = c0.min(f);
            c1 = c1.max(l + 1);
        }
    }
    (r1 > 0).then_some((r0, r1, c0, c1))
}

/// First and last index of a non-zero byte, skipping eight zero bytes at a time.
fn first_last_nonzero(bytes: &[u8]) -> Option<(usize, usize)> {
    let word = |i: usize| u64::from_ne_bytes(bytes[i..i + 8].try_into().expect("8 bytes"));
    let n = bytes.len();
    let mut i = 0;
    while i + 8 <= n && word(i) == 0 {
        i += 8;
    }
    let first = (i..n).find(|&j| bytes[j] != 0)?;
    let mut j = n;
    while j >= first + 8 && word(j - 8) == 0 {
        j -= 8;
    }
    let last = (first..j).rev().find(|&k| bytes[k] != 0).unwrap_or(first);
    Some((first, last))
}

impl Object {
    /// The runs of `m` (named `name` in errors), from a dense 0/1 copy of it.
    fn encode<T: MaskPixel>(m: &ArrayView2<'_, T>, name: &str) -> Result<Self> {
        // the rows of a column-major mask's transpose are its columns, and the other way round
        let (view, transposed) = if is_column_major(m) {
            (m.t(), true)
        } else {
            (m.view(), false)
        };
        let (h, w) = view.dim();
        let mut dense = Vec::new();
        dense.try_reserve_exact(h * w).map_err(|_| {
            Error::Memory(format!(
                "could not allocate the encoding of {name} ({} items of 1 bytes)",
                h * w
            ))
        })?;
        for row in view.rows() {
            match row.as_slice().and_then(T::as_bytes) {
                Some(bytes) => dense.extend(bytes.iter().map(|&b| (b != 0) as u8)),
                None => dense.extend(row.iter().map(|p| p.is_set() as u8)),
            }
        }
        let pixels = dense.iter().map(|&b| b as u64).sum();
        let (rows, columns) = (row_runs(&dense, h, w), column_runs(&dense, h, w));
        let (by_row, by_column) = if transposed {
            (columns, rows)
        } else {
            (rows, columns)
        };
        Ok(Self {
            by_row,
            by_column,
            pixels,
        })
    }
}

/// Call `f(i)` for every `i` where `a[i] != b[i]`, skipping eight equal bytes at a time.
#[inline]
fn for_each_change(a: &[u8], b: &[u8], mut f: impl FnMut(usize)) {
    let n = a.len().min(b.len());
    let word = |s: &[u8], i: usize| u64::from_ne_bytes(s[i..i + 8].try_into().expect("8 bytes"));
    let mut i = 0;
    while i + 8 <= n {
        if word(a, i) != word(b, i) {
            for j in i..i + 8 {
                if a[j] != b[j] {
                    f(j);
                }
            }
        }
        i += 8;
    }
    for j in i..n {
        if a[j] != b[j] {
            f(j);
        }
    }
}

/// Runs of each row of a dense 0/1 image.
fn row_runs(dense: &[u8], h: usize, w: usize) -> RunList {
    let mut offsets = Vec::with_capacity(h + 1);
    let mut runs = Vec::new();
    offsets.push(0u32);
    let mut padded = vec![0u8; w + 2];
    for row in dense.chunks_exact(w) {
        padded[1..=w].copy_from_slice(row);
        // padded[i + 1] vs padded[i]: a change at i is a run start (if set) or end.
        let mut start = 0;
        for_each_change(&padded[1..], &padded[..=w], |i| {
            if padded[i + 1] != 0 {
                start = i as i32;
            } else {
                runs.push((start, i as i32));
            }
        });
        offsets.push(runs.len() as u32);
    }
    RunList::new(offsets, runs)
}

/// Runs of each column of a dense 0/1 image, found row against row.
fn column_runs(dense: &[u8], h: usize, w: usize) -> RunList {
    let zeros = vec![0u8; w];
    let mut start = vec![0i32; w];
    let mut found: Vec<(u32, i32, i32)> = Vec::new();
    let mut counts = vec![0u32; w + 1];
    for y in 0..=h {
        let prev = if y == 0 {
            &zeros[..]
        } else {
            &dense[(y - 1) * w..y * w]
        };
        let cur = if y == h {
            &zeros[..]
        } else {
            &dense[y * w..(y + 1) * w]
        };
        for_each_change(cur, prev, |x| {
            if cur[x] != 0 {
                start[x] = y as i32;
            } else {
                found.push((x as u32, start[x], y as i32));
                counts[x + 1] += 1;
            }
        });
    }
    for x in 1..=w {
        counts[x] += counts[x - 1];
    }
    let mut runs = vec![(0, 0); found.len()];
    let mut fill = counts.clone();
    for (x, lo, hi) in found {
        runs[fill[x as usize] as usize] = (lo, hi);
        fill[x as usize] += 1;
    }
    RunList::new(counts, runs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, ShapeBuilder};

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
    fn column_major_masks_encode_like_row_major_ones() {
        let m = ndarray::Array2::from_shape_fn((9, 13), |(y, x)| {
            (x * 7 + y * 3) % 5 < 2 && (2..11).contains(&x) && y > 1
        });
        let fortran = m.t().to_owned(); // fortran.t() is m, stored column by column
        let n = ndarray::Array2::from_shape_fn((9, 13), |(y, x)| y == 4 && (3..6).contains(&x));
        let p = MaskPair::new(m.view(), n.view(), "a", "b").unwrap();
        let q = MaskPair::new(fortran.t(), n.view(), "a", "b").unwrap();
        assert_eq!((p.height, p.width), (q.height, q.width));
        assert_eq!((p.height, p.width), (7, 9)); // rows 2..9, columns 2..11
        for u in 0..p.width {
            assert_eq!(p.a.by_column.at(u), q.a.by_column.at(u));
        }
        for v in 0..p.height {
            assert_eq!(p.a.by_row.at(v), q.a.by_row.at(v));
        }
        assert_eq!(p.a.pixels, q.a.pixels);
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

    /// A mask whose every pixel is `value`, of any shape, in no memory (a broadcast scalar).
    fn uniform(value: &bool, shape: (usize, usize)) -> ArrayView2<'_, bool> {
        ArrayView2::from_shape(shape.strides((0, 0)), std::slice::from_ref(value)).unwrap()
    }

    #[test]
    fn a_union_box_beyond_the_limits_is_refused_before_its_copy() {
        // 50000² = 2.5e9 pixels > 2^31: the dense copy of the crop would take 2.5 GB
        let full = uniform(&true, (50_000, 50_000));
        let e = MaskPair::new(full, full, "masks_a[3]", "masks_b[3]").unwrap_err();
        assert_eq!(
            e.to_string(),
            "the union box of masks_a[3] and masks_b[3] of 50000 x 50000 pixels exceeds the \
             limit of 2147483648 pixels"
        );
        // one row longer than any line the engine indexes (2^28 + 1 pixels; zero pages only)
        let n = crate::limits::MAX_SIDE + 1;
        let mut a = ndarray::Array2::<u8>::zeros((1, n));
        let mut b = a.clone();
        a[[0, 0]] = 1;
        b[[0, n - 1]] = 1;
        let e = MaskPair::new(a.view(), b.view(), "a", "b").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("the union box of a and b of 1 x 268435457 pixels has a side"),
            "{e}"
        );
    }
}
