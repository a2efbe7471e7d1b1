//! The sandbox confinement, proven from inside a worker: this test starts its own binary
//! again as a child process, which checks that it can open a file, bind a socket and start
//! a program, then confines itself exactly as every sandbox worker does
//! ([`run_confined`]) and tries again. Every attempt must now fail. The child entry exists
//! only in this test binary.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pws_node::sandbox::confine::Confinement;
use pws_node::sandbox::worker::run_confined;

/// Set in the child: `probe` to confine and probe, `noop` to exit at once (the program
/// the probe starts).
const ROLE: &str = "PWS_CONFINEMENT_TEST_ROLE";
const TIMEOUT: Duration = Duration::from_secs(30);

fn main() {
    match std::env::var(ROLE).as_deref() {
        Ok("noop") => {}
        Ok("probe") => probe(),
        _ if cfg!(target_os = "linux") => supervise(),
        _ => println!("confinement: Linux only, nothing to prove here"),
    }
}

fn supervise() {
    let started = Instant::now();
    let mut child = Command::new(std::env::current_exe().expect("own path"))
        .env(ROLE, "probe")
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the probe");
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the probe") {
            break status;
        }
        if started.elapsed() > TIMEOUT {
            let _ = child.kill();
            panic!("the probe did not finish within {TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut report = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut report).unwrap();
    print!("{report}");
    assert!(
        status.success(),
        "a confined worker could do what it must not: {status}"
    );
    println!("confinement: ok in {:?}", started.elapsed());
}

/// What a worker must not be able to do, each returning whether it succeeded.
fn attempts() -> Vec<(&'static str, Result<(), String>)> {
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
    let show = |e: std::io::Error| e.to_string();
    vec![
        (
            "open an existing file",
            std::fs::File::open(file).map(drop).map_err(show),
        ),
        (
            "list a directory",
            std::fs::read_dir("/").map(drop).map_err(show),
        ),
        (
            "bind a TCP socket",
            std::net::TcpListener::bind("127.0.0.1:0")
                .map(drop)
                .map_err(show),
        ),
        (
            "bind a UDP socket",
            std::net::UdpSocket::bind("127.0.0.1:0")
                .map(drop)
                .map_err(show),
        ),
        (
            "make a unix socket",
            std::os::unix::net::UnixDatagram::unbound()
                .map(drop)
                .map_err(show),
        ),
        (
            "start a program",
            Command::new(std::env::current_exe().expect("own path"))
                .env(ROLE, "noop")
                .status()
                .map(drop)
                .map_err(show),
        ),
    ]
}

fn probe() {
    // Unconfined, everything works: the test can fail.
    for (what, result) in attempts() {
        if let Err(e) = result {
            panic!("before confinement, could not {what}: {e}");
        }
    }
    let parent = std::os::unix::process::parent_id() as i32;
    let failures = run_confined(8 << 30, move |confinement: Confinement| {
        println!(
            "enforced: {:?}\nmissing: {:?}",
            confinement.enforced, confinement.missing
        );
        let mut failures = 0;
        let mut attempts = attempts();
        if confinement
            .enforced
            .iter()
            .any(|layer| layer.contains("no signals"))
        {
            // SAFETY: signal 0 only checks whether the signal could be sent.
            let signalled = unsafe { libc::kill(parent, 0) } == 0;
            attempts.push((
                "signal the parent",
                if signalled {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error().to_string())
                },
            ));
        }
        attempts.push((
            "hold a capability",
            match caps::read(None, caps::CapSet::Effective) {
                Ok(held) if held.is_empty() => Err("none held".into()),
                Ok(held) => {
                    println!("held: {held:?}");
                    Ok(())
                }
                Err(e) => Err(e.to_string()),
            },
        ));
        for (what, result) in attempts {
            match result {
                Ok(()) => {
                    println!("FAIL: a confined worker could {what}");
                    failures += 1;
                }
                Err(e) => println!("ok: cannot {what} ({e})"),
            }
        }
        Ok(failures)
    })
    .expect("run confined");
    std::process::exit(if failures == 0 { 0 } else { 1 });
}
