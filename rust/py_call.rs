//! How the bindings run the engine: without the GIL, with Ctrl-C honoured, a Rust panic turned
//! into a `RuntimeError` and each engine [`Error`] into its Python exception.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use pyo3::exceptions::{
    PyKeyboardInterrupt, PyMemoryError, PyRuntimeError, PyTypeError, PyValueError,
};
use pyo3::prelude::*;

use crate::error::Error;

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
pub(crate) struct Interrupts {
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

    pub(crate) fn stop(&self) -> bool {
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
    pub(crate) fn keep(&self, e: PyErr) -> bool {
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
pub(crate) fn compute<T: Send>(
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

/// The engine's `chunk_done` for a batch: calls `progress(done, total)` (if any) with the GIL and
/// runs the signal handlers; an exception from either is kept by `interrupts` and stops the
/// batch.
pub(crate) fn progress_reporter<'a>(
    interrupts: &'a Interrupts,
    progress: Option<&'a Py<PyAny>>,
) -> impl FnMut(usize, usize) -> crate::Result<()> + 'a {
    move |done, total| {
        let called = Python::attach(|py| {
            if let Some(p) = progress {
                p.bind(py).call1((done, total))?;
            }
            py.check_signals()
        });
        called.map_err(|e| {
            interrupts.keep(e);
            Error::Cancelled
        })
    }
}
