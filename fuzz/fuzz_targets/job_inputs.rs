//! A job's inputs file, line by line, as the submitter checks it before storing it in
//! its journal.
#![no_main]
use libfuzzer_sys::fuzz_target;
use pws_submit::job::inputs::json_lines_of;

fuzz_target!(|data: &[u8]| {
    json_lines_of("fuzz".into(), data).for_each(drop);
});
