//! Printing that never panics. `println!` panics when the reader of a pipe
//! has gone (`segue history | head -1`); these macros drop the text
//! instead, so a running batch keeps running when its output is closed.

/// Writes a line to standard output, ignoring write errors.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// Writes a line to standard error, ignoring write errors.
macro_rules! errln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr().lock(), $($arg)*);
    }};
}

pub(crate) use {errln, outln};
