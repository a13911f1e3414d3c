//! Python bindings (`csip_core._csip_core`): numpy in, numpy out, the GIL released while the
//! engine computes. Only argument conversion and error mapping live here.

use std::borrow::Cow;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use ndarray::{Array2, Dimension, Ix2, Ix3};
use numpy::{
    PyArray, PyArray1, PyArray2, PyArray3, PyArrayDescrMethods, PyArrayMethods, PyReadonlyArray,
    PyUntypedArray, PyUntypedArrayMethods,
};
use pyo3::exceptions::{
    PyKeyboardInterrupt, PyMemoryError, PyRuntimeError, PyTypeError, PyValueError,
};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PySequence, PyString, PyTuple};

use crate::banner::{default_forces, force_banner_until, sfb_until, Normalize};
use crate::batch::{sfb_batch as run_batch, BatchSpec, PairSource, Threads};
use crate::error::Error;
use crate::kernel::KernelTable;
use crate::mask::{mask_dtypes, MaskPair, MaskView};
use crate::plan::{validate_forces, Stop};
use crate::plan_cache::{shared_plan, PlanKind};

impl From<Error> for PyErr {
    fn from(e: Error) -> PyErr {
        match e {
            Error::Value(m) => PyValueError::new_err(m),
            Error::Type(m) => PyTypeError::new_err(m),
            Error::Memory(m) => PyMemoryError::new_err(m),
            Error::Cancelled => PyKeyboardInterrupt::new_err("interrupted"),
        }
    }
}

/// Ctrl-C (and any other signal handler's exception) while the engine runs without the GIL:
/// [`Interrupts::stop`] is the engine's stop test. On the calling thread it runs Python's
/// signal handlers at most every [`Interrupts::EVERY`]; elsewhere it reports what the calling
/// thread found. The exception is kept and raised in place of [`Error::Cancelled`].
struct Interrupts {
    caller: ThreadId,
    last: Mutex<Instant>,
    raised: AtomicBool,
    pending: Mutex<Option<PyErr>>,
}

impl Interrupts {
    const EVERY: Duration = Duration::from_millis(20);

    fn new() -> Self {
        Self {
            caller: std::thread::current().id(),
            last: Mutex::new(Instant::now()),
            raised: AtomicBool::new(false),
            pending: Mutex::new(None),
        }
    }

    fn stop(&self) -> bool {
        if self.raised.load(Ordering::Relaxed) {
            return true;
        }
        if std::thread::current().id() != self.caller {
            return false;
        }
        {
            let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
            if last.elapsed() < Self::EVERY {
                return false;
            }
            *last = Instant::now();
        }
        match Python::attach(|py| py.check_signals()) {
            Ok(()) => false,
            Err(e) => self.keep(e),
        }
    }

    /// Keep `e` to raise it once the engine has stopped; returns true (stop).
    fn keep(&self, e: PyErr) -> bool {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        pending.get_or_insert(e);
        self.raised.store(true, Ordering::Relaxed);
        true
    }

    /// The Python exception for an engine error: the kept one for [`Error::Cancelled`].
    fn to_pyerr(&self, e: Error) -> PyErr {
        let kept = self
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        match (e, kept) {
            (Error::Cancelled, Some(kept)) => kept,
            (e, _) => e.into(),
        }
    }
}

/// Run engine code without the GIL, with a stop test that honours Ctrl-C; a Rust panic becomes
/// a `RuntimeError`, an engine error its Python exception.
fn compute<T: Send>(
    py: Python<'_>,
    f: impl FnOnce(&Interrupts) -> crate::Result<T> + Send,
) -> PyResult<T> {
    let interrupts = Interrupts::new();
    let result = py
        .detach(|| catch_unwind(AssertUnwindSafe(|| f(&interrupts))))
        .map_err(|payload| {
            let msg = payload
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| payload.downcast_ref::<&str>().copied())
                .unwrap_or("unknown panic");
            PyRuntimeError::new_err(format!(
                "internal error in csip_core ({msg}); please report it"
            ))
        })?;
    result.map_err(|e| interrupts.to_pyerr(e))
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

macro_rules! define_mask_array {
    ($($variant:ident: $t:ty),*) => {
        /// A numpy mask (or stack of masks) of any supported dtype, borrowed read-only.
        enum MaskArray<'py, D: Dimension> {
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

            fn view(&self) -> MaskView<'_, D> {
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
fn mask_array<'py, D: Dimension>(
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

/// Masks `a` and `b` of one call, borrowed.
fn two_masks<'py>(
    a: &Bound<'py, PyAny>,
    b: &Bound<'py, PyAny>,
) -> PyResult<(MaskArray<'py, Ix2>, MaskArray<'py, Ix2>)> {
    Ok((mask_array(a, "a")?, mask_array(b, "b")?))
}

/// The force banner of `a` and `b` as (R, n_dirs) float64, computed without the GIL.
fn force_banner_array<'py>(
    py: Python<'py>,
    a: &Bound<'py, PyAny>,
    b: &Bound<'py, PyAny>,
    forces: &[f64],
    n_dirs: usize,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    let (ma, mb) = two_masks(a, b)?;
    let (va, vb) = (ma.view(), mb.view());
    let out = compute(py, |i| {
        let pair = MaskPair::from_views(&va, &vb, "a", "b")?;
        force_banner_until(&pair, forces, n_dirs, &|| i.stop())
    })?;
    let arr = Array2::from_shape_vec((forces.len(), n_dirs), out).expect("banner shape");
    Ok(PyArray2::from_owned_array(py, arr))
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
    validate_forces(&[r])
        .map_err(|e| PyValueError::new_err(e.to_string().replace("forces[0]", "r")))?;
    let banner = force_banner_array(py, a, b, &[r], n_dirs)?;
    banner.reshape([n_dirs])
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
    force_banner_array(py, a, b, &forces, n_dirs)
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
    let (ma, mb) = two_masks(a, b)?;
    let (va, vb) = (ma.view(), mb.view());
    let out = compute(py, |i| {
        let pair = MaskPair::from_views(&va, &vb, "a", "b")?;
        sfb_until(&pair, &forces, n_angles, mode, &|| i.stop())
    })?;
    let arr = Array2::from_shape_vec((forces.len(), n_angles), out).expect("banner shape");
    Ok(PyArray2::from_owned_array(py, arr))
}

/// The masks of a batch, borrowed from numpy: two stacks, or one pair of 2-D arrays per item.
enum BatchArrays<'py> {
    Stacks(MaskArray<'py, Ix3>, MaskArray<'py, Ix3>),
    Items(Vec<(MaskArray<'py, Ix2>, MaskArray<'py, Ix2>)>, Names),
}

/// How the items' masks are named in errors.
#[derive(Clone, Copy)]
enum Names {
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
    fn new(masks_a: &Bound<'py, PyAny>, masks_b: Option<&Bound<'py, PyAny>>) -> PyResult<Self> {
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

    fn views(&self) -> BatchViews<'_> {
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
enum BatchViews<'a> {
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

    fn max_side(&self) -> usize {
        let side = |shape: &[usize]| shape[shape.len() - 2].max(shape[shape.len() - 1]);
        match self {
            BatchViews::Stacks(a, b) => side(a.shape()).max(side(b.shape())),
            BatchViews::Items(items, _) => items
                .iter()
                .map(|(a, b)| side(a.shape()).max(side(b.shape())))
                .max()
                .unwrap_or(1),
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

/// Symmetric force banners of many pairs, in parallel. Returns float32 (N, R, n_angles), each
/// row bit-identical to `sfb` of the same pair.
///
/// Pairs come as two stacked (N, H, W) arrays, two equal-length sequences of 2-D arrays, or
/// (with `masks_b=None`) one sequence of (a, b) pairs; sizes may differ between pairs. Each
/// pair is read, encoded and computed on one of `n_threads` threads (default: all cores;
/// `n_threads=1` runs on the calling thread and starts none, which is safe in forked worker
/// processes) without the GIL, and written into `out` (a float32 C-contiguous
/// (N, R, n_angles) array such as a np.memmap; allocated when None). After every `chunk_size`
/// pairs are written, `progress(done, total)` is called; Ctrl-C stops the batch promptly.
#[pyfunction]
#[pyo3(signature = (masks_a, masks_b = None, forces = None, n_angles = 180, normalize = Some("max"),
    n_threads = None, chunk_size = 64, progress = None, out = None))]
#[allow(
    clippy::too_many_arguments,
    reason = "PyO3 takes one Rust parameter per Python parameter of sfb_batch's signature"
)]
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
    // the parameters are checked before any mask is read
    shared_plan(PlanKind::Symmetric, &forces, n_angles, 1)?;
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
    let arrays = BatchArrays::new(masks_a, masks_b)?;
    let views = arrays.views();
    let shape = [views.len(), forces.len(), n_angles];
    let out = match out {
        Some(o) => checked_out(o, shape)?,
        // every value is written before the array is returned: no need to zero it here
        // (calloc can memset a recycled heap block on this thread, serially)
        None => py
            .import("numpy")?
            .getattr("empty")?
            .call1((shape, "float32"))?,
    };
    let out_arr = out.cast::<PyArray3<f32>>()?.clone();
    let mut rw = out_arr
        .try_readwrite()
        .map_err(|e| PyValueError::new_err(format!("out is not writable here: {e}")))?;
    let slice = rw
        .as_slice_mut()
        .map_err(|e| PyValueError::new_err(format!("out: {e}")))?;
    let progress = progress.map(Bound::unbind);
    let spec = BatchSpec {
        forces: &forces,
        n_angles,
        mode,
        chunk_size,
    };
    compute(py, |i| {
        let stop: Stop<'_> = &|| i.stop();
        run_batch(&views, &spec, &threads, slice, stop, |done, total| {
            let called = Python::attach(|py| {
                if let Some(p) = &progress {
                    p.bind(py).call1((done, total))?;
                }
                py.check_signals()
            });
            match called {
                Ok(()) => Ok(()),
                Err(e) => {
                    i.keep(e);
                    Err(Error::Cancelled)
                }
            }
        })
    })?;
    drop(rw);
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
    validate_forces(&forces)?;
    let max_distance = positive("max_distance", max_distance)?;
    let table = KernelTable::new(&forces, max_distance)?;
    let arr = Array2::from_shape_vec((forces.len(), max_distance + 1), table.into_values())
        .expect("table shape");
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
    let m = mask_array::<Ix2>(mask, "mask")?;
    let view = m.view();
    let out = compute(py, |_| {
        crate::resize_mask::resize_view(&view, height, width)
    })?;
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
    let out = compute(py, |_| crate::resize_image::resize_rgb(view, height, width))?;
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
    let out = compute(py, |_| crate::rle::window(&counts, height, width, window))?;
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
