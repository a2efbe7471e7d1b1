//! A task that misbehaves on purpose, for the tests of how nodes contain WebAssembly tasks.
//! Its input (a JSON string) says what to do:
//! - `"echo"`: writes its arguments, environment and what it can see of files, as JSON;
//! - `"loop"`: never ends; `"sleep"`: sleeps 50 ms, then answers `"slept"`;
//! - `"alloc"`: allocates until refused; `"recurse"`: recurses without end;
//! - `"trap"`: executes `unreachable`; `"exit"`: exits with code 3;
//! - `"text"`: writes text that is not JSON; `"flood"`: writes 64 MiB on stdout;
//! - `"log"`: writes two lines on stderr, then answers `"logged"`;
//! - `"iovecs"`: asks WASI to write 2^32 - 1 buffers, far more than its memory holds, and
//!   answers the error number it got (`{"errno": n}`).

use std::io::Write;

fn main() {
    let input = pws_wasm_tasks::input();
    match input.trim_matches('"') {
        "echo" => echo(),
        "loop" => {
            let mut n: u64 = 0;
            loop {
                n = std::hint::black_box(n.wrapping_add(1));
            }
        }
        "sleep" => {
            std::thread::sleep(std::time::Duration::from_millis(50));
            println!("\"slept\"");
        }
        "alloc" => {
            let mut kept: Vec<Vec<u8>> = Vec::new();
            loop {
                kept.push(vec![1; 16 * 1024 * 1024]);
                std::hint::black_box(&kept);
            }
        }
        "recurse" => println!("{}", recurse(std::hint::black_box(1))),
        "trap" => std::process::abort(),
        "exit" => std::process::exit(3),
        "text" => println!("this is not JSON"),
        "flood" => {
            let chunk = vec![b' '; 1024 * 1024];
            let mut stdout = std::io::stdout();
            for _ in 0..64 {
                if stdout.write_all(&chunk).is_err() {
                    break;
                }
            }
            println!("1");
        }
        "log" => {
            eprintln!("first line");
            eprintln!("second line");
            println!("\"logged\"");
        }
        "iovecs" => println!("{{\"errno\":{}}}", write_too_many_buffers()),
        other => {
            eprintln!("unknown probe {other:?}");
            std::process::exit(2);
        }
    }
}

#[link(wasm_import_module = "wasi_snapshot_preview1")]
unsafe extern "C" {
    fn fd_write(fd: u32, iovs: u32, count: u32, written: *mut u32) -> u16;
}

/// WASI's answer to a write whose buffer list runs past the end of memory.
fn write_too_many_buffers() -> u16 {
    let mut written = 0u32;
    // SAFETY: the host only reads the (out of bounds) list and writes `written`.
    unsafe { fd_write(1, 8, u32::MAX, &mut written) }
}

fn recurse(depth: u64) -> u64 {
    if depth == 0 {
        return 0;
    }
    1 + recurse(std::hint::black_box(depth + 1))
}

/// What a task can learn of its host: `{"args": [...], "env": n, "files": [...]}`, where
/// `files` lists each path it could read.
fn echo() {
    let args: Vec<String> = std::env::args().collect();
    let env = std::env::vars().count();
    let readable: Vec<&str> = ["/etc/passwd", "identity.key", ".", "/"]
        .into_iter()
        .filter(|path| std::fs::read(path).is_ok() || std::fs::read_dir(path).is_ok())
        .collect();
    println!("{{\"args\":{args:?},\"env\":{env},\"files\":{readable:?}}}");
}
