//! Python bindings (`csip_core._csip_core`): numpy in, numpy out, the GIL released while the
//! engine computes. Only argument conversion and error mapping live here.

use std::panic::{catch_unwind, AssertUnwindSafe};

use ndarray::{Array2, ArrayView2, Axis, CowArray, Ix2};
use numpy::{
    Element, PyArray1, PyArray2, PyArray3, PyArrayDescrMethods, PyArrayMethods, PyReadonlyArray2,
    PyReadonlyArray3, PyUntypedArray, PyUntypedArrayMethods,
};
use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PySequence, PyString, PyTuple};

use crate::banner::{default_forces, normalize_rows, Normalize};
use crate::batch::{sfb_many, Threads};
use crate::error::Error;
use crate::kernel::KernelTable;
use crate::mask::{MaskPair, MaskPixel};
use crate::pair_counts::Workspace;
use crate::plan_cache::{shared_plan, PlanKind};

impl From<Error> for PyErr {
    fn from(e: Error) -> PyErr {
        match e {
            Error::Value(m) => PyValueError::new_err(m),
            Error::Type(m) => PyTypeError::new_err(m),
        }
    }
}

/// Run engine code without the GIL; a Rust panic becomes a `RuntimeError`.
fn compute<T: Send>(py: Python<'_>, f: impl FnOnce() -> T + Send) -> PyResult<T> {
    py.detach(|| catch_unwind(AssertUnwindSafe(f)))
        .map_err(|payload| {
            let msg = payload
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| payload.downcast_ref::<&str>().copied())
                .unwrap_or("unknown panic");
            PyRuntimeError::new_err(format!(
                "internal error in csip_core ({msg}); please report it"
            ))
        })
}

/// `numpy.asarray(obj)` checked for `ndim` dimensions.
fn as_ndarray<'py>(
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

/// `numpy.asarray(obj)` checked for `ndim` dimensions and a bool or integer dtype.
fn as_mask_array<'py>(
    obj: &Bound<'py, PyAny>,
    name: &str,
    ndim: usize,
) -> PyResult<Bound<'py, PyUntypedArray>> {
    let arr = as_ndarray(obj, name, ndim)?;
    let kind = arr.dtype().kind();
    if !matches!(kind, b'b' | b'i' | b'u') {
        return Err(PyTypeError::new_err(format!(
            "{name} must have a bool or integer dtype (non-zero = object), got {}",
            arr.dtype()
        )));
    }
    Ok(arr)
}

/// A 2-D mask as a bool view: borrowed for bool arrays, converted otherwise.
enum Mask2<'py> {
    Bool(PyReadonlyArray2<'py, bool>),
    Owned(Array2<bool>),
}

impl Mask2<'_> {
    fn view(&self) -> ArrayView2<'_, bool> {
        match self {
            Mask2::Bool(a) => a.as_array(),
            Mask2::Owned(a) => a.view(),
        }
    }
}

fn typed_mask2<'py, T: Element + MaskPixel>(
    arr: &Bound<'py, PyUntypedArray>,
) -> Option<Mask2<'py>> {
    let arr = arr.cast::<PyArray2<T>>().ok()?;
    Some(Mask2::Owned(arr.readonly().as_array().mapv(|v| v.is_set())))
}

fn mask2<'py>(obj: &Bound<'py, PyAny>, name: &str) -> PyResult<Mask2<'py>> {
    let arr = as_mask_array(obj, name, 2)?;
    if let Ok(b) = arr.cast::<PyArray2<bool>>() {
        return Ok(Mask2::Bool(b.readonly()));
    }
    typed_mask2::<u8>(&arr)
        .or_else(|| typed_mask2::<i8>(&arr))
        .or_else(|| typed_mask2::<u16>(&arr))
        .or_else(|| typed_mask2::<i16>(&arr))
        .or_else(|| typed_mask2::<u32>(&arr))
        .or_else(|| typed_mask2::<i32>(&arr))
        .or_else(|| typed_mask2::<u64>(&arr))
        .or_else(|| typed_mask2::<i64>(&arr))
        .ok_or_else(|| PyTypeError::new_err(format!("{name}: unsupported dtype {}", arr.dtype())))
}

fn mask_pair(a: &Bound<'_, PyAny>, b: &Bound<'_, PyAny>, na: &str, nb: &str) -> PyResult<MaskPair> {
    let (ma, mb) = (mask2(a, na)?, mask2(b, nb)?);
    Ok(MaskPair::new(ma.view(), mb.view(), na, nb)?)
}

/// A stack of N masks `(N, H, W)`; `get(i)` gives mask i as bool.
trait MaskStack {
    fn len(&self) -> usize;
    fn get(&self, i: usize) -> CowArray<'_, bool, Ix2>;
}

struct TypedStack<'py, T: Element>(PyReadonlyArray3<'py, T>);

impl<T: Element + MaskPixel> MaskStack for TypedStack<'_, T> {
    fn len(&self) -> usize {
        self.0.as_array().len_of(Axis(0))
    }
    fn get(&self, i: usize) -> CowArray<'_, bool, Ix2> {
        CowArray::from(
            self.0
                .as_array()
                .index_axis(Axis(0), i)
                .mapv(|v| v.is_set()),
        )
    }
}

struct BoolStack<'py>(PyReadonlyArray3<'py, bool>);

impl MaskStack for BoolStack<'_> {
    fn len(&self) -> usize {
        self.0.as_array().len_of(Axis(0))
    }
    fn get(&self, i: usize) -> CowArray<'_, bool, Ix2> {
        CowArray::from(self.0.as_array().index_axis_move(Axis(0), i))
    }
}

fn typed_stack<'py, T: Element + MaskPixel + 'py>(
    arr: &Bound<'py, PyUntypedArray>,
) -> Option<Box<dyn MaskStack + 'py>> {
    let arr = arr.cast::<PyArray3<T>>().ok()?;
    Some(Box::new(TypedStack(arr.readonly())))
}

fn mask_stack<'py>(obj: &Bound<'py, PyAny>, name: &str) -> PyResult<Box<dyn MaskStack + 'py>> {
    let arr = as_mask_array(obj, name, 3)?;
    if let Ok(b) = arr.cast::<PyArray3<bool>>() {
        return Ok(Box::new(BoolStack(b.readonly())));
    }
    typed_stack::<u8>(&arr)
        .or_else(|| typed_stack::<i8>(&arr))
        .or_else(|| typed_stack::<u16>(&arr))
        .or_else(|| typed_stack::<i16>(&arr))
        .or_else(|| typed_stack::<u32>(&arr))
        .or_else(|| typed_stack::<i32>(&arr))
        .or_else(|| typed_stack::<u64>(&arr))
        .or_else(|| typed_stack::<i64>(&arr))
        .ok_or_else(|| PyTypeError::new_err(format!("{name}: unsupported dtype {}", arr.dtype())))
}

/// The `forces` argument as a list of levels: any 1-D sequence of numbers; None → the default.
fn forces_or_default(forces: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<f64>> {
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

fn positive(name: &str, n: i64) -> PyResult<usize> {
    if n < 1 {
        return Err(PyValueError::new_err(format!(
            "{name} must be at least 1, got {n}"
        )));
    }
    Ok(n as usize)
}

fn parse_normalize(normalize: Option<&str>) -> PyResult<Normalize> {
    Ok(normalize
        .map(Normalize::parse)
        .transpose()?
        .unwrap_or(Normalize::None))
}

/// F_r^{AB}(θ_k), θ_k = 2πk/n_dirs: the force histogram of argument `a` with respect to
/// referent `b` for one force level `r`. Returns float64 (n_dirs,).
#[pyfunction]
#[pyo3(signature = (a, b, r, n_dirs = 360))]
fn force_histogram<'py>(
    py: Python<'py>,
    a: &Bound<'py, PyAny>,
    b: &Bound<'py, PyAny>,
    r: f64,
    n_dirs: i64,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let n_dirs = positive("n_dirs", n_dirs)?;
    if !r.is_finite() {
        return Err(PyValueError::new_err(format!("r must be finite, got {r}")));
    }
    let pair = mask_pair(a, b, "a", "b")?;
    let plan = shared_plan(PlanKind::Directional, &[r], n_dirs, pair.max_extent()).map_err(
        |e| match e {
            Error::Value(m) => PyValueError::new_err(m.replace("forces[0]", "r")),
            other => other.into(),
        },
    )?;
    let out = compute(py, || {
        let mut out = vec![0.0; plan.banner_len()];
        plan.directional_into(&pair, &mut Workspace::default(), &mut out);
        out
    })?;
    Ok(PyArray1::from_vec(py, out))
}

/// FB^{AB}(r, θ_k): one force histogram per force level (rows), θ_k = 2πk/n_dirs (columns).
/// Returns float64 (R, n_dirs).
#[pyfunction]
#[pyo3(signature = (a, b, forces = None, n_dirs = 360))]
fn force_banner<'py>(
    py: Python<'py>,
    a: &Bound<'py, PyAny>,
    b: &Bound<'py, PyAny>,
    forces: Option<&Bound<'py, PyAny>>,
    n_dirs: i64,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    let n_dirs = positive("n_dirs", n_dirs)?;
    let forces = forces_or_default(forces)?;
    let pair = mask_pair(a, b, "a", "b")?;
    let plan = shared_plan(PlanKind::Directional, &forces, n_dirs, pair.max_extent())?;
    let out = compute(py, || {
        let mut out = vec![0.0; plan.banner_len()];
        plan.directional_into(&pair, &mut Workspace::default(), &mut out);
        out
    })?;
    let arr = Array2::from_shape_vec((forces.len(), n_dirs), out).expect("banner shape");
    Ok(PyArray2::from_owned_array(py, arr))
}

/// The symmetric force banner ξ(θ_k, r) = (F_r^{AB}(θ_k) + F_r^{AB}(θ_k + π)) / 2,
/// θ_k = πk/n_angles ∈ [0, π). Returns float32 (R, n_angles); `normalize="max"` divides each
/// force level by its maximum over θ, `"none"` (or None) returns the raw values.
#[pyfunction]
#[pyo3(signature = (a, b, forces = None, n_angles = 180, normalize = Some("max")))]
fn sfb<'py>(
    py: Python<'py>,
    a: &Bound<'py, PyAny>,
    b: &Bound<'py, PyAny>,
    forces: Option<&Bound<'py, PyAny>>,
    n_angles: i64,
    normalize: Option<&str>,
) -> PyResult<Bound<'py, PyArray2<f32>>> {
    let n_angles = positive("n_angles", n_angles)?;
    let mode = parse_normalize(normalize)?;
    let forces = forces_or_default(forces)?;
    let pair = mask_pair(a, b, "a", "b")?;
    let plan = shared_plan(PlanKind::Symmetric, &forces, n_angles, pair.max_extent())?;
    let out = compute(py, || {
        let mut out = vec![0.0; plan.banner_len()];
        plan.symmetric_into(&pair, &mut Workspace::default(), &mut out);
        normalize_rows(&mut out, n_angles, mode);
        out.into_iter().map(|v| v as f32).collect::<Vec<f32>>()
    })?;
    let arr = Array2::from_shape_vec((forces.len(), n_angles), out).expect("banner shape");
    Ok(PyArray2::from_owned_array(py, arr))
}

/// Where the pairs of a batch come from.
enum BatchInput<'py> {
    Stacks(Box<dyn MaskStack + 'py>, Box<dyn MaskStack + 'py>),
    Lists(Bound<'py, PySequence>, Bound<'py, PySequence>),
    Pairs(Bound<'py, PySequence>),
}

impl<'py> BatchInput<'py> {
    fn new(masks_a: &Bound<'py, PyAny>, masks_b: Option<&Bound<'py, PyAny>>) -> PyResult<Self> {
        let as_seq = |obj: &Bound<'py, PyAny>, name: &str| {
            obj.cast::<PySequence>().cloned().map_err(|_| {
                PyTypeError::new_err(format!(
                    "{name} must be an (N, H, W) array or a sequence of 2-D arrays"
                ))
            })
        };
        let is_array = |obj: &Bound<'py, PyAny>| obj.cast::<PyUntypedArray>().is_ok();
        let input = match masks_b {
            None => {
                if is_array(masks_a) {
                    return Err(PyTypeError::new_err(
                        "masks_b is required when masks_a is an array; pass masks_b=None only \
                         with a sequence of (a, b) pairs",
                    ));
                }
                BatchInput::Pairs(as_seq(masks_a, "masks_a")?)
            }
            Some(b) if is_array(masks_a) && is_array(b) => {
                BatchInput::Stacks(mask_stack(masks_a, "masks_a")?, mask_stack(b, "masks_b")?)
            }
            Some(b) => BatchInput::Lists(as_seq(masks_a, "masks_a")?, as_seq(b, "masks_b")?),
        };
        let (na, nb) = (input.len_of(0)?, input.len_of(1)?);
        if na != nb {
            return Err(PyValueError::new_err(format!(
                "masks_a and masks_b must hold the same number of masks, got {na} and {nb}"
            )));
        }
        Ok(input)
    }

    fn len_of(&self, side: usize) -> PyResult<usize> {
        Ok(match self {
            BatchInput::Stacks(a, b) => [a.len(), b.len()][side],
            BatchInput::Lists(a, b) => [a.len()?, b.len()?][side],
            BatchInput::Pairs(p) => p.len()?,
        })
    }

    fn pair(&self, i: usize) -> PyResult<MaskPair> {
        let (na, nb) = (format!("masks_a[{i}]"), format!("masks_b[{i}]"));
        match self {
            BatchInput::Stacks(a, b) => {
                Ok(MaskPair::new(a.get(i).view(), b.get(i).view(), &na, &nb)?)
            }
            BatchInput::Lists(a, b) => mask_pair(&a.get_item(i)?, &b.get_item(i)?, &na, &nb),
            BatchInput::Pairs(p) => {
                let item = p.get_item(i)?;
                let (a, b): (Bound<'py, PyAny>, Bound<'py, PyAny>) =
                    item.extract().map_err(|_| {
                        PyTypeError::new_err(format!(
                            "masks_a[{i}] must be an (a, b) pair of masks"
                        ))
                    })?;
                mask_pair(
                    &a,
                    &b,
                    &format!("masks_a[{i}][0]"),
                    &format!("masks_a[{i}][1]"),
                )
            }
        }
    }
}

/// Symmetric force banners of many pairs, in parallel. Returns float32 (N, R, n_angles), each
/// row bit-identical to `sfb` of the same pair.
///
/// Pairs come as two stacked (N, H, W) arrays, two equal-length sequences of 2-D arrays, or
/// (with `masks_b=None`) one sequence of (a, b) pairs; sizes may differ between pairs. Work
/// proceeds in chunks of `chunk_size` pairs: each chunk is encoded with the GIL held, computed
/// on `n_threads` threads (default: all cores; `n_threads=1` runs on the calling thread and
/// starts none, which is safe in forked worker processes) without it, written into `out` (a float32
/// C-contiguous (N, R, n_angles) array such as a np.memmap; allocated when None), then
/// `progress(done, total)` is called and Ctrl-C is honoured.
#[pyfunction]
#[pyo3(signature = (masks_a, masks_b = None, forces = None, n_angles = 180, normalize = Some("max"),
    n_threads = None, chunk_size = 64, progress = None, out = None))]
#[allow(clippy::too_many_arguments)]
fn sfb_batch<'py>(
    py: Python<'py>,
    masks_a: &Bound<'py, PyAny>,
    masks_b: Option<&Bound<'py, PyAny>>,
    forces: Option<&Bound<'py, PyAny>>,
    n_angles: i64,
    normalize: Option<&str>,
    n_threads: Option<i64>,
    chunk_size: i64,
    progress: Option<Bound<'py, PyAny>>,
    out: Option<Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let n_angles = positive("n_angles", n_angles)?;
    let chunk_size = positive("chunk_size", chunk_size)?;
    let mode = parse_normalize(normalize)?;
    let forces = forces_or_default(forces)?;
    let threads = match n_threads {
        None => Threads::new(std::thread::available_parallelism().map_or(1, |n| n.get()))?,
        Some(n) => Threads::new(positive("n_threads", n)?)?,
    };
    if let Some(p) = &progress {
        if !p.is_callable() {
            return Err(PyTypeError::new_err(
                "progress must be callable as progress(done, total)",
            ));
        }
    }
    let input = BatchInput::new(masks_a, masks_b)?;
    let total = input.len_of(0)?;
    let r_count = forces.len();
    let out = match out {
        Some(o) => {
            let arr = o.cast::<PyArray3<f32>>().map_err(|_| {
                PyTypeError::new_err("out must be a float32 numpy array of shape (N, R, n_angles)")
            })?;
            if arr.shape() != [total, r_count, n_angles] || !arr.is_c_contiguous() {
                return Err(PyValueError::new_err(format!(
                    "out must be a C-contiguous float32 array of shape ({total}, {r_count}, {n_angles}), got shape {:?}",
                    arr.shape()
                )));
            }
            o.clone()
        }
        None => PyArray3::<f32>::zeros(py, [total, r_count, n_angles], false).into_any(),
    };
    let out_arr = out.cast::<PyArray3<f32>>()?.clone();
    let mut done = 0;
    while done < total {
        let end = (done + chunk_size).min(total);
        let pairs = (done..end)
            .map(|i| input.pair(i))
            .collect::<PyResult<Vec<_>>>()?;
        let extent = pairs.iter().map(MaskPair::max_extent).max().unwrap_or(1);
        let chunk_plan = &*shared_plan(PlanKind::Symmetric, &forces, n_angles, extent)?;
        let values = compute(py, || {
            let mut buf = vec![0.0f32; pairs.len() * chunk_plan.banner_len()];
            sfb_many(&pairs, chunk_plan, mode, &threads, &mut buf);
            buf
        })?;
        {
            let mut rw = out_arr
                .try_readwrite()
                .map_err(|e| PyValueError::new_err(format!("out is not writable here: {e}")))?;
            let slice = rw
                .as_slice_mut()
                .map_err(|e| PyValueError::new_err(format!("out: {e}")))?;
            let len = chunk_plan.banner_len();
            slice[done * len..end * len].copy_from_slice(&values);
        }
        done = end;
        if let Some(p) = &progress {
            p.call1((done, total))?;
        }
        py.check_signals()?;
    }
    Ok(out)
}

/// The pixel-pair kernel k_r(d) for each force level (rows) and d = 0..=max_distance
/// (columns): float64 (R, max_distance + 1). k_r(0) = k_r(1) = 1 by the engine's choice for
/// touching and overlapping pixels; see the module documentation.
#[pyfunction]
#[pyo3(signature = (forces = None, max_distance = 256))]
fn kernel_table<'py>(
    py: Python<'py>,
    forces: Option<&Bound<'py, PyAny>>,
    max_distance: i64,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    let forces = forces_or_default(forces)?;
    crate::banner::validate_forces(&forces)?;
    let max_distance = positive("max_distance", max_distance)?;
    let table = KernelTable::new(&forces, max_distance);
    let arr = Array2::from_shape_fn((forces.len(), max_distance + 1), |(i, d)| table.value(i, d));
    Ok(PyArray2::from_owned_array(py, arr))
}

/// A binary mask resized to `(height, width)` by area coverage: an output pixel is set when the
/// mask covers at least half of the input area it stands for (exact, integer arithmetic; see
/// the engine's `resize_mask` module). Input: 2-D bool or integer (non-zero = set), any strides.
#[pyfunction]
#[pyo3(signature = (mask, height, width))]
fn resize_mask<'py>(
    py: Python<'py>,
    mask: &Bound<'py, PyAny>,
    height: i64,
    width: i64,
) -> PyResult<Bound<'py, PyArray2<bool>>> {
    let (height, width) = (positive("height", height)?, positive("width", width)?);
    let m = mask2(mask, "mask")?;
    let view = m.view();
    let out = compute(py, || crate::resize_mask::resize_mask(view, height, width))??;
    Ok(PyArray2::from_owned_array(py, out))
}

/// An RGB image, uint8 `(H, W, 3)` in any memory layout, resized to `(height, width, 3)` with
/// Pillow's antialiased bilinear filter: the same bytes as
/// `Image.fromarray(image).resize((width, height), Image.BILINEAR)` (see the engine's
/// `resize_image` module).
#[pyfunction]
#[pyo3(signature = (image, height, width))]
fn resize_rgb<'py>(
    py: Python<'py>,
    image: &Bound<'py, PyAny>,
    height: i64,
    width: i64,
) -> PyResult<Bound<'py, PyArray3<u8>>> {
    let (height, width) = (positive("height", height)?, positive("width", width)?);
    let arr = as_ndarray(image, "image", 3)?;
    let dtype = arr.dtype();
    let arr = arr
        .cast_into::<PyArray3<u8>>()
        .map_err(|_| PyTypeError::new_err(format!("image must have dtype uint8, got {dtype}")))?;
    let ro = arr.readonly();
    let view = ro.as_array();
    let out = compute(py, || crate::resize_image::resize_rgb(view, height, width))??;
    Ok(PyArray3::from_owned_array(py, out))
}

/// The window `(x0, y0, x1, y1)` (exclusive ends) of a COCO run-length encoded mask of
/// `height × width` pixels, as bool `(y1 - y0, x1 - x0)` (Fortran-ordered), decoding only the
/// window's columns. `counts` is the RLE's `counts`: a compressed string (bytes or str, as
/// pycocotools writes it) or a sequence of run lengths (0s first, column-major).
#[pyfunction]
#[pyo3(signature = (counts, height, width, window))]
fn rle_window<'py>(
    py: Python<'py>,
    counts: &Bound<'py, PyAny>,
    height: i64,
    width: i64,
    window: (i64, i64, i64, i64),
) -> PyResult<Bound<'py, PyArray2<bool>>> {
    let (height, width) = (positive("height", height)?, positive("width", width)?);
    let counts: Vec<u64> = if let Ok(b) = counts.cast::<PyBytes>() {
        crate::rle::decode_counts(b.as_bytes())?
    } else if let Ok(s) = counts.cast::<PyString>() {
        crate::rle::decode_counts(s.to_str()?.as_bytes())?
    } else {
        let runs: Vec<i64> = counts.extract().map_err(|_| {
            PyTypeError::new_err(
                "counts must be a compressed RLE string (bytes or str) or a sequence of integers",
            )
        })?;
        runs.iter()
            .map(|&c| {
                u64::try_from(c).map_err(|_| {
                    PyValueError::new_err(format!("counts must not be negative, got {c}"))
                })
            })
            .collect::<PyResult<_>>()?
    };
    let (x0, y0, x1, y1) = window;
    let bad_window = || {
        PyValueError::new_err(format!(
            "window {window:?} is not inside the {width}x{height} mask"
        ))
    };
    let coord = |v: i64| usize::try_from(v).map_err(|_| bad_window());
    let window = (coord(x0)?, coord(y0)?, coord(x1)?, coord(y1)?);
    let out = compute(py, || crate::rle::window(&counts, height, width, window))??;
    Ok(PyArray2::from_owned_array(py, out))
}

#[pymodule]
fn _csip_core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("__doc__", MODULE_DOC)?;
    m.add("DEFAULT_FORCES", PyTuple::new(py, default_forces())?)?;
    m.add_function(wrap_pyfunction!(force_histogram, m)?)?;
    m.add_function(wrap_pyfunction!(force_banner, m)?)?;
    m.add_function(wrap_pyfunction!(sfb, m)?)?;
    m.add_function(wrap_pyfunction!(sfb_batch, m)?)?;
    m.add_function(wrap_pyfunction!(kernel_table, m)?)?;
    m.add_function(wrap_pyfunction!(resize_mask, m)?)?;
    m.add_function(wrap_pyfunction!(resize_rgb, m)?)?;
    m.add_function(wrap_pyfunction!(rle_window, m)?)?;
    Ok(())
}

const MODULE_DOC: &str = "\
Conventions: rows y (row 0 at the top), columns x; theta = 0 points to +x, theta = pi/2 points
up. F^{AB}(theta) is large when A (first argument) lies in direction theta of B (the referent);
F^{BA}(theta) = F^{AB}(theta + pi). Force levels r weight point pairs by 1/d^r.

Digital lines: one pixel per column (within 45 degrees of the x axis) or per row, anchored at the
centre of the union box of A and B, so the descriptor is exactly invariant to translation and
exactly equivariant to horizontal flips (theta -> pi - theta) and 90-degree rotations.

Kernel: pixel pairs d >= 2 steps apart use the exact integral of 1/d^r over the two unit pixels
(the closed form of Matsakis & Wendling, evaluated by a stable series, continuous in r).
Touching (d = 1) and overlapping (d = 0) pixels use the point force at a distance floored at one
pixel, k = 1, so every value is finite and non-negative for every r and exact at r = 0.
A pixel in both masks is a pair at d = 0, split half to each direction.";
