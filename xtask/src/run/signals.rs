//! SIGINT, SIGTERM and SIGHUP while a run (or a session, or the peer) is in
//! progress: remembered, and acted on by whoever polls [`Signals::caught`].
//! Outside every such scope they do what they do by default, end the
//! process: a `pytorch build` or a sweep that goes on after its runs must
//! still stop on Ctrl-C.
//!
//! One handler per signal is installed once per process; it counts the
//! signals that arrive while a scope is open and, with none open, emulates
//! the default action. (Unregistering signal-hook's actions instead would
//! leave the signal ignored.)

use std::sync::atomic::{AtomicI32, AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;

use anyhow::{Context, Result};

const HANDLED: [i32; 3] = [
    signal_hook::consts::SIGINT,
    signal_hook::consts::SIGTERM,
    signal_hook::consts::SIGHUP,
];

/// Open scopes; the handler acts only while this is above zero.
static OPEN: AtomicUsize = AtomicUsize::new(0);
/// How many handled signals have arrived, and the latest of them.
static ARRIVED: AtomicU64 = AtomicU64::new(0);
static LATEST: AtomicI32 = AtomicI32::new(0);

/// A scope in which the handled signals are remembered instead of ending
/// the process; it ends when dropped.
pub struct Signals {
    /// [`ARRIVED`] when the scope opened: later arrivals are this scope's.
    since: u64,
}

impl Signals {
    pub fn register() -> Result<Signals> {
        install_once()?;
        let since = ARRIVED.load(Ordering::SeqCst);
        OPEN.fetch_add(1, Ordering::SeqCst);
        Ok(Signals { since })
    }

    /// The signal that arrived since this scope opened, if one did.
    pub fn caught(&self) -> Option<i32> {
        (ARRIVED.load(Ordering::SeqCst) > self.since).then(|| LATEST.load(Ordering::SeqCst))
    }
}

impl Drop for Signals {
    fn drop(&mut self) {
        OPEN.fetch_sub(1, Ordering::SeqCst);
    }
}

fn install_once() -> Result<()> {
    static INSTALLED: OnceLock<std::result::Result<(), String>> = OnceLock::new();
    INSTALLED
        .get_or_init(|| {
            for signal in HANDLED {
                // SAFETY: the action only touches atomics and calls
                // emulate_default_handler, both async-signal-safe.
                unsafe { signal_hook::low_level::register(signal, move || on_signal(signal)) }
                    .map_err(|e| format!("installing a handler for signal {signal}: {e}"))?;
            }
            Ok(())
        })
        .clone()
        .map_err(anyhow::Error::msg)
        .context("setting up Ctrl-C handling")
}

fn on_signal(signal: i32) {
    if OPEN.load(Ordering::SeqCst) == 0 {
        let _ = signal_hook::low_level::emulate_default_handler(signal);
        return;
    }
    LATEST.store(signal, Ordering::SeqCst);
    ARRIVED.fetch_add(1, Ordering::SeqCst);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `signal` does to a forked copy of this process: the exit status
    /// it chose, or the signal that ended it. The child runs only
    /// async-signal-safe calls.
    fn in_child(signal: i32, scope: bool) -> Result<i32, i32> {
        let scope = scope.then(|| Signals::register().unwrap());
        // SAFETY: the child calls only raise, atomics and _exit.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            unsafe { libc::raise(signal) };
            let caught = scope.as_ref().and_then(Signals::caught);
            unsafe { libc::_exit(if caught == Some(signal) { 7 } else { 0 }) };
        }
        drop(scope);
        let mut status = 0;
        // SAFETY: waiting for our own child.
        assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
        if libc::WIFSIGNALED(status) {
            Err(libc::WTERMSIG(status))
        } else {
            Ok(libc::WEXITSTATUS(status))
        }
    }

    #[test]
    fn signals_are_caught_inside_a_scope_and_end_the_process_after_it() {
        for signal in HANDLED {
            assert_eq!(
                in_child(signal, true),
                Ok(7),
                "signal {signal} inside a scope"
            );
            assert_eq!(
                in_child(signal, false),
                Err(signal),
                "signal {signal} after every scope ended must end the process"
            );
        }
    }
}
