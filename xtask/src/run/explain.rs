//! Why a headless job ended without reporting its exit status, as a pure
//! function of what the run saw: QEMU's exit, its stderr and the console's
//! last lines. A kernel panic is named first, since it is the usual cause.

use std::path::Path;

/// Console lines quoted at the end of the message.
const TAIL_LINES: usize = 20;

/// The error message for a job that left no status file. `qemu_exit` is how
/// QEMU ended (e.g. "exit status 1"); `log` is the full boot log.
pub fn no_status(qemu_exit: &str, console_tail: &str, qemu_stderr: &str, log: &Path) -> String {
    let panic = console_tail
        .lines()
        .find(|l| l.contains("Kernel panic"))
        .map(str::trim);
    let mut msg = match panic {
        Some(line) => format!("the guest kernel panicked: {line}"),
        None => format!("QEMU exited ({qemu_exit}) before the command reported its exit status"),
    };
    if !qemu_stderr.trim().is_empty() {
        msg.push_str(&format!("\nQEMU said:\n{}", indent(qemu_stderr.trim())));
    }
    let tail: Vec<&str> = console_tail.lines().rev().take(TAIL_LINES).collect();
    if !tail.is_empty() {
        msg.push_str("\nlast console lines:\n");
        msg.push_str(&indent(
            &tail.into_iter().rev().collect::<Vec<_>>().join("\n"),
        ));
    }
    msg.push_str(&format!("\nfull boot log: {}", log.display()));
    msg
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "/t/logs/run-img.log";

    #[test]
    fn a_kernel_panic_is_named_before_the_console_tail() {
        let tail = "[    1.0] Run /init\n[    1.2] Kernel panic - not syncing: Attempted to kill init!  \n[    1.3] ---[ end ]---\n";
        let msg = no_status("exit status 0", tail, "", Path::new(LOG));
        assert_eq!(
            msg,
            "the guest kernel panicked: [    1.2] Kernel panic - not syncing: Attempted to kill init!\n\
             last console lines:\n    [    1.0] Run /init\n    [    1.2] Kernel panic - not syncing: Attempted to kill init!  \n    [    1.3] ---[ end ]---\n\
             full boot log: /t/logs/run-img.log"
        );
    }

    #[test]
    fn a_plain_exit_says_how_qemu_ended() {
        let msg = no_status("killed by signal 9", "login:\n", "", Path::new(LOG));
        assert_eq!(
            msg,
            "QEMU exited (killed by signal 9) before the command reported its exit status\n\
             last console lines:\n    login:\n\
             full boot log: /t/logs/run-img.log"
        );
    }

    #[test]
    fn qemu_stderr_is_quoted_indented_before_the_console() {
        let msg = no_status(
            "exit status 1",
            "OpenSBI\n",
            "\nqemu-system-riscv64: -drive file=x: Could not open 'x'\nsecond line\n",
            Path::new(LOG),
        );
        assert_eq!(
            msg,
            "QEMU exited (exit status 1) before the command reported its exit status\n\
             QEMU said:\n    qemu-system-riscv64: -drive file=x: Could not open 'x'\n    second line\n\
             last console lines:\n    OpenSBI\n\
             full boot log: /t/logs/run-img.log"
        );
    }

    #[test]
    fn an_empty_console_and_stderr_leave_only_the_exit_and_the_log() {
        let msg = no_status("exit status 1", "", "  \n", Path::new(LOG));
        assert_eq!(
            msg,
            "QEMU exited (exit status 1) before the command reported its exit status\n\
             full boot log: /t/logs/run-img.log"
        );
    }

    #[test]
    fn only_the_last_twenty_console_lines_are_quoted() {
        let tail: String = (1..=30).map(|i| format!("line {i}\n")).collect();
        let msg = no_status("exit status 0", &tail, "", Path::new(LOG));
        assert!(!msg.contains("line 10\n"), "{msg}");
        assert!(
            msg.contains("\n    line 11\n") && msg.contains("\n    line 30\n"),
            "{msg}"
        );
    }
}
