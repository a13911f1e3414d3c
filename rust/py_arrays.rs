//! Python objects to engine inputs, for the bindings: numpy arrays (any supported dtype, any
//! strides) borrowed as mask views, the `forces`, size and `normalize` arguments checked, the
//! masks of a batch in each of its three forms, its `out` array, and the arguments of
//! `resize_rgb` and `rle_window`. Errors name the argument, as the Python caller wrote it.

use std::borrow::Cow;

use ndarray::{Dimension, Ix2, Ix3};
use numpy::{
    PyArray, PyArray1, PyArray3, PyArrayDescrMethods, PyArrayMethods, PyReadonlyArray,
    PyReadonlyArray3, PyReadwriteArray3, PyUntypedArray, PyUntypedArrayMethods,
};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PySequence, PyString};

use crate::banner::{default_forces, Normalize};
use crate::batch::{PairSource, Threads};
use crate::mask::{mask_dtypes, MaskPair, MaskView};

/// `numpy.asarray(obj)` checked for `ndim` dimensions.
pub(crate) fn as_ndarray<'py>(
    obj: &Bound<'py, PyAny>,
    name: &str,
    ndim: usize,
) -> PyResult<Bound<'py, PyUntypedArray>> {
    let py = obj.py();
    let arr = py.import("numpy")?.getattr("asarray")?.call1((obj,))?;
    let arr = arr
        .cast_into::<PyUntypedArray>()
        .map_err(|_| PyTypeError::new_err(format!("{name} must be a numpy array")))?;
    if arr.ndim() != ndim {
        return Err(PyValueError::new_err(format!(
            "{name} must be a {ndim}-D array, got a {}-D array of shape {:?}",
            arr.ndim(),
            arr.shape()
        )));
    }
    Ok(arr)
}

macro_rules! define_mask_array {
    ($($variant:ident: $t:ty),*) => {
        /// A numpy mask (or stack of masks) of any supported dtype, borrowed read-only.
        pub(crate) enum MaskArray<'py, D: Dimension> {
            $($variant(PyReadonlyArray<'py, $t, D>)),*
        }

        impl<'py, D: Dimension> MaskArray<'py, D> {
            /// The array borrowed as its dtype, None for an unsupported one.
            fn cast(arr: &Bound<'py, PyUntypedArray>) -> Option<Self> {
                $(
                    if let Ok(a) = arr.cast::<PyArray<$t, D>>() {
                        return Some(MaskArray::$variant(a.readonly()));
                    }
                )*
                None
            }

            pub(crate) fn view(&self) -> MaskView<'_, D> {
                match self {
                    $(MaskArray::$variant(a) => MaskView::$variant(a.as_array())),*
                }
            }
        }
    };
}
mask_dtypes!(define_mask_array);

/// `obj` as a mask array of `D::NDIM` dimensions and a bool or integer dtype; `name` names it
/// in errors.
pub(crate) fn mask_array<'py, D: Dimension>(
    obj: &Bound<'py, PyAny>,
    name: &str,
) -> PyResult<MaskArray<'py, D>> {
    let arr = as_ndarray(obj, name, D::NDIM.expect("fixed dimension"))?;
    let kind = arr.dtype().kind();
    if !matches!(kind, b'b' | b'i' | b'u') {
        return Err(PyTypeError::new_err(format!(
            "{name} must have a bool or integer dtype (non-zero = object), got {}",
            arr.dtype()
        )));
    }
    MaskArray::cast(&arr)
        .ok_or_else(|| PyTypeError::new_err(format!("{name}: unsupported dtype {}", arr.dtype())))
}

/// The `forces` argument as a list of levels: any 1-D sequence of numbers; None → the default.
pub(crate) fn forces_or_default(forces: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<f64>> {
    let Some(obj) = forces else {
        return Ok(default_forces());
    };
    let py = obj.py();
    let np = py.import("numpy")?;
    let arr = np
        .getattr("asarray")?
        .call1((obj, np.getattr("float64")?))
        .map_err(|e| PyTypeError::new_err(format!("forces must be a sequence of numbers: {e}")))?;
    let arr = arr
        .cast_into::<PyUntypedArray>()
        .map_err(|_| PyTypeError::new_err("forces must be a sequence of numbers"))?;
    if arr.ndim() != 1 {
        return Err(PyValueError::new_err(format!(
            "forces must be a 1-D sequence of force levels, got shape {:?}",
            arr.shape()
        )));
    }
    let arr = arr
        .cast::<PyArray1<f64>>()
        .map_err(|_| PyTypeError::new_err("forces: expected float64"))?;
    Ok(arr.readonly().as_array().to_vec())
}

/// A size or count argument: at least 1.
pub(crate) fn positive(name: &str, n: i64) -> PyResult<usize> {
    match usize::try_from(n) {
        Ok(n) if n >= 1 => Ok(n),
        _ if n < 1 => Err(PyValueError::new_err(format!(
            "{name} must be at least 1, got {n}"
        ))),
        _ => Err(PyValueError::new_err(format!(
            "{name} = {n} does not fit this platform's sizes"
        ))),
    }
}

/// The `normalize` argument: "max", "none" (or "raw"), or None for raw values.
pub(crate) fn parse_normalize(normalize: Option<&str>) -> PyResult<Normalize> {
    Ok(normalize
        .map(Normalize::parse)
        .transpose()?
        .unwrap_or(Normalize::None))
}

/// Masks `a` and `b` of one call, borrowed.
pub(crate) fn two_masks<'py>(
    a: &Bound<'py, PyAny>,
    b: &Bound<'py, PyAny>,
) -> PyResult<(MaskArray<'py, Ix2>, MaskArray<'py, Ix2>)> {
    Ok((mask_array(a, "a")?, mask_array(b, "b")?))
}

/// The masks of a batch, borrowed from numpy: two stacks, or one pair of 2-D arrays per item.
pub(crate) enum BatchArrays<'py> {
    Stacks(MaskArray<'py, Ix3>, MaskArray<'py, Ix3>),
    Items(Vec<(MaskArray<'py, Ix2>, MaskArray<'py, Ix2>)>, Names),
}

/// How the items' masks are named in errors.
#[derive(Clone, Copy)]
pub(crate) enum Names {
    /// `masks_a[i]` and `masks_b[i]`.
    TwoLists,
    /// `masks_a[i][0]` and `masks_a[i][1]`.
    Pairs,
}

impl Names {
    fn of(self, i: usize) -> (String, String) {
        match self {
            Names::TwoLists => (format!("masks_a[{i}]"), format!("masks_b[{i}]")),
            Names::Pairs => (format!("masks_a[{i}][0]"), format!("masks_a[{i}][1]")),
        }
    }
}

impl<'py> BatchArrays<'py> {
    /// Two stacked arrays, two sequences of 2-D arrays, or (`masks_b` None) a sequence of
    /// pairs; every item is checked (dimensions, dtype) and borrowed here, with the GIL.
    pub(crate) fn new(
        masks_a: &Bound<'py, PyAny>,
        masks_b: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Self> {
        let as_seq = |obj: &Bound<'py, PyAny>, name: &str| {
            obj.cast::<PySequence>().cloned().map_err(|_| {
                PyTypeError::new_err(format!(
                    "{name} must be an (N, H, W) array or a sequence of 2-D arrays"
                ))
            })
        };
        let is_array = |obj: &Bound<'py, PyAny>| obj.cast::<PyUntypedArray>().is_ok();
        let same_length = |na: usize, nb: usize| {
            if na != nb {
                return Err(PyValueError::new_err(format!(
                    "masks_a and masks_b must hold the same number of masks, got {na} and {nb}"
                )));
            }
            Ok(())
        };
        match masks_b {
            None => {
                if is_array(masks_a) {
                    return Err(PyTypeError::new_err(
                        "masks_b is required when masks_a is an array; pass masks_b=None only \
                         with a sequence of (a, b) pairs",
                    ));
                }
                let pairs = as_seq(masks_a, "masks_a")?;
                let mut items = Vec::with_capacity(pairs.len()?);
                for i in 0..pairs.len()? {
                    let (a, b): (Bound<'py, PyAny>, Bound<'py, PyAny>) =
                        pairs.get_item(i)?.extract().map_err(|_| {
                            PyTypeError::new_err(format!(
                                "masks_a[{i}] must be an (a, b) pair of masks"
                            ))
                        })?;
                    let (na, nb) = Names::Pairs.of(i);
                    items.push((mask_array(&a, &na)?, mask_array(&b, &nb)?));
                }
                Ok(BatchArrays::Items(items, Names::Pairs))
            }
            Some(b) if is_array(masks_a) && is_array(b) => {
                let (sa, sb) = (mask_array(masks_a, "masks_a")?, mask_array(b, "masks_b")?);
                same_length(sa.view().shape()[0], sb.view().shape()[0])?;
                Ok(BatchArrays::Stacks(sa, sb))
            }
            Some(b) => {
                let (la, lb) = (as_seq(masks_a, "masks_a")?, as_seq(b, "masks_b")?);
                same_length(la.len()?, lb.len()?)?;
                let mut items = Vec::with_capacity(la.len()?);
                for i in 0..la.len()? {
                    let (na, nb) = Names::TwoLists.of(i);
                    items.push((
                        mask_array(&la.get_item(i)?, &na)?,
                        mask_array(&lb.get_item(i)?, &nb)?,
                    ));
                }
                Ok(BatchArrays::Items(items, Names::TwoLists))
            }
        }
    }

    pub(crate) fn views(&self) -> BatchViews<'_> {
        match self {
            BatchArrays::Stacks(a, b) => BatchViews::Stacks(a.view(), b.view()),
            BatchArrays::Items(items, names) => BatchViews::Items(
                items.iter().map(|(a, b)| (a.view(), b.view())).collect(),
                *names,
            ),
        }
    }
}

/// [`BatchArrays`] as views that any thread can read (and encode).
pub(crate) enum BatchViews<'a> {
    Stacks(MaskView<'a, Ix3>, MaskView<'a, Ix3>),
    Items(Vec<(MaskView<'a>, MaskView<'a>)>, Names),
}

impl PairSource for BatchViews<'_> {
    fn len(&self) -> usize {
        match self {
            BatchViews::Stacks(a, _) => a.shape()[0],
            BatchViews::Items(items, _) => items.len(),
        }
    }

    fn pair(&self, i: usize) -> crate::Result<Cow<'_, MaskPair>> {
        let pair = match self {
            BatchViews::Stacks(a, b) => {
                let (na, nb) = Names::TwoLists.of(i);
                MaskPair::from_views(&a.index(i), &b.index(i), &na, &nb)
            }
            BatchViews::Items(items, names) => {
                let (na, nb) = names.of(i);
                MaskPair::from_views(&items[i].0, &items[i].1, &na, &nb)
            }
        };
        pair.map(Cow::Owned)
    }
}

/// The `out` argument of `sfb_batch`, checked: a C-contiguous float32 array of `shape`.
fn checked_out<'py>(out: Bound<'py, PyAny>, shape: [usize; 3]) -> PyResult<Bound<'py, PyAny>> {
    let arr = out.cast::<PyArray3<f32>>().map_err(|_| {
        PyTypeError::new_err("out must be a float32 numpy array of shape (N, R, n_angles)")
    })?;
    let [n, r, k] = shape;
    if arr.shape() != shape {
        return Err(PyValueError::new_err(format!(
            "out must be a C-contiguous float32 array of shape ({n}, {r}, {k}), got shape {:?}",
            arr.shape()
        )));
    }
    if !arr.is_c_contiguous() {
        return Err(PyValueError::new_err(format!(
            "out must be C-contiguous (banners are written in place, pair after pair), got \
             strides {:?} for shape ({n}, {r}, {k})",
            arr.strides()
        )));
    }
    Ok(out)
}

/// The `out` array of `sfb_batch`: the caller's, checked by [`checked_out`], or a new one.
pub(crate) fn batch_out<'py>(
    py: Python<'py>,
    out: Option<Bound<'py, PyAny>>,
    shape: [usize; 3],
) -> PyResult<Bound<'py, PyAny>> {
    match out {
        Some(o) => checked_out(o, shape),
        // every value is written before the array is returned: no need to zero it here
        // (calloc can memset a recycled heap block on this thread, serially)
        None => py
            .import("numpy")?
            .getattr("empty")?
            .call1((shape, "float32")),
    }
}

/// An array from [`batch_out`], borrowed for writing.
pub(crate) fn writable<'py>(out: &Bound<'py, PyAny>) -> PyResult<PyReadwriteArray3<'py, f32>> {
    out.cast::<PyArray3<f32>>()?
        .try_readwrite()
        .map_err(|e| PyValueError::new_err(format!("out is not writable here: {e}")))
}

/// The values of a [`writable`] array, in order.
pub(crate) fn out_slice<'a>(rw: &'a mut PyReadwriteArray3<'_, f32>) -> PyResult<&'a mut [f32]> {
    rw.as_slice_mut()
        .map_err(|e| PyValueError::new_err(format!("out: {e}")))
}

/// The `image` argument of `resize_rgb`: a uint8 `(H, W, 3)` array in any memory layout.
pub(crate) fn rgb_image<'py>(image: &Bound<'py, PyAny>) -> PyResult<PyReadonlyArray3<'py, u8>> {
    let arr = as_ndarray(image, "image", 3)?;
    let dtype = arr.dtype();
    let arr = arr
        .cast_into::<PyArray3<u8>>()
        .map_err(|_| PyTypeError::new_err(format!("image must have dtype uint8, got {dtype}")))?;
    Ok(arr.readonly())
}

/// The `counts` argument of `rle_window`: a compressed RLE string (bytes or str) or a sequence
/// of run lengths, as run lengths.
pub(crate) fn rle_counts(counts: &Bound<'_, PyAny>) -> PyResult<Vec<u64>> {
    if let Ok(b) = counts.cast::<PyBytes>() {
        return Ok(crate::rle::decode_counts(b.as_bytes())?);
    }
    if let Ok(s) = counts.cast::<PyString>() {
        return Ok(crate::rle::decode_counts(s.to_str()?.as_bytes())?);
    }
    let runs: Vec<i64> = counts.extract().map_err(|_| {
        PyTypeError::new_err(
            "counts must be a compressed RLE string (bytes or str) or a sequence of integers",
        )
    })?;
    runs.iter()
        .map(|&c| {
            u64::try_from(c)
                .map_err(|_| PyValueError::new_err(format!("counts must not be negative, got {c}")))
        })
        .collect()
}

/// The `window` argument of `rle_window`, `(x0, y0, x1, y1)`, as non-negative coordinates (the
/// engine checks that it lies inside the `width × height` mask).
pub(crate) fn rle_window_box(
    window: (i64, i64, i64, i64),
    height: usize,
    width: usize,
) -> PyResult<(usize, usize, usize, usize)> {
    let (x0, y0, x1, y1) = window;
    let bad_window = || {
        PyValueError::new_err(format!(
            "window {window:?} is not inside the {width}x{height} mask"
        ))
    };
    let coord = |v: i64| usize::try_from(v).map_err(|_| bad_window());
    Ok((coord(x0)?, coord(y0)?, coord(x1)?, coord(y1)?))
}

/// The `n_threads` argument of `sfb_batch`: None for every core the process may use.
pub(crate) fn n_threads_arg(n_threads: Option<i64>) -> PyResult<Threads> {
    let n = match n_threads {
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
        Some(n) => positive("n_threads", n)?,
    };
    Ok(Threads::new(n)?)
}

/// The `progress` argument of `sfb_batch`: None, or a callable `progress(done, total)`.
pub(crate) fn progress_arg(progress: Option<Bound<'_, PyAny>>) -> PyResult<Option<Py<PyAny>>> {
    match progress {
        Some(p) if !p.is_callable() => Err(PyTypeError::new_err(
            "progress must be callable as progress(done, total)",
        )),
        p => Ok(p.map(Bound::unbind)),
    }
}
