//! Ctrl-C and SIGTERM: every long command stops within a second, writes nothing half-made and
//! exits 130 (SIGINT) or 143 (SIGTERM), as shells expect of an interrupted program.
//!
//! The handler only sets a flag; the simulation's progress callback reads it (every 1,024
//! events) and ends the run, the command then returns before it writes anything (its outputs
//! are staged and renamed into place only at the end, `asim_report::output`). A second signal
//! while the first is being honoured ends the process at once — a staging directory may then
//! be left beside `--out`; the next run into it removes it.

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

/// Set when a stop was asked for. `'static` so that the sweep's workers can watch it.
pub(crate) static STOP: AtomicBool = AtomicBool::new(false);
/// The signal that asked.
static SIGNAL: AtomicI32 = AtomicI32::new(0);

/// Install the handlers (once, at start).
pub(crate) fn install() {
    #[cfg(unix)]
    {
        use signal_hook::consts::{SIGINT, SIGTERM};
        for sig in [SIGINT, SIGTERM] {
            // SAFETY: the handler only touches atomics and calls `_exit`, both
            // async-signal-safe.
            let registered = unsafe {
                signal_hook::low_level::register(sig, move || {
                    if STOP.load(Ordering::SeqCst) {
                        signal_hook::low_level::exit(128 + sig);
                    }
                    SIGNAL.store(sig, Ordering::SeqCst);
                    STOP.store(true, Ordering::SeqCst);
                })
            };
            if let Err(e) = registered {
                tracing::warn!("cannot handle signal {sig}: {e}; an interrupt kills the run");
            }
        }
    }
}

/// Has a stop been asked for?
pub(crate) fn requested() -> bool {
    STOP.load(Ordering::Relaxed)
}

/// The exit code of an interrupted command (128 + the signal), if one was.
pub(crate) fn exit_code() -> Option<i32> {
    requested().then(|| 128 + SIGNAL.load(Ordering::SeqCst).max(2))
}

/// Say so and give the exit code, if interrupted.
pub(crate) fn stop_here() -> Option<i32> {
    let code = exit_code()?;
    eprintln!("interrupted: stopped before writing anything");
    Some(code)
}
