//! OS-level confinement of a sandbox worker, applied to itself before it reads its first
//! task. The engine is the first wall; this is the second, for the day a task escapes it (a
//! memory-safety bug in Boa): the worker then runs code as a process that cannot open any
//! file, make a socket, start a program, trace or signal another process, or grow past its
//! resource limits. The worker only needs what it holds already: its pipes to the node.
//!
//! On Linux: `no_new_privs`, rlimits, no capabilities, Landlock (every file system access and TCP
//! bind/connect handled with no rule allowing any, signals and abstract sockets scoped to the
//! worker) and a seccomp filter that fails the system calls a worker never makes with EPERM
//! (everything else is allowed, so Boa and the allocator work unchanged). A kernel without
//! Landlock or seccomp runs the worker with what it has; the [`Confinement`] says which.
//! Elsewhere nothing is enforced, and the report says so.

use serde::{Deserialize, Serialize};

/// What a worker enforced on itself, as it tells the node in its first message.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Confinement {
    /// Each protection in force, described.
    pub enforced: Vec<String>,
    /// Each protection this system could not give, and why.
    pub missing: Vec<String>,
}

impl Confinement {
    fn record(&mut self, layer: Result<String, String>) {
        match layer {
            Ok(enforced) => self.enforced.push(enforced),
            Err(missing) => self.missing.push(missing),
        }
    }
}

/// Most file descriptors a worker may hold: its three pipes and a little room.
pub const MAX_OPEN_FILES: u64 = 16;

/// Confine this process: the calling thread now, and every thread it starts afterwards.
/// `address_space_bytes` caps the process's virtual memory (`RLIMIT_AS`).
pub fn confine(address_space_bytes: u64) -> Confinement {
    let mut confinement = Confinement::default();
    imp::confine(address_space_bytes, &mut confinement);
    confinement
}

/// Call once the last thread of the worker is started: no further process or thread may be
/// created (`RLIMIT_NPROC` 0, which Linux counts per user and does not apply to root; the
/// seccomp filter refuses new processes in any case).
pub fn forbid_new_processes(confinement: &mut Confinement) {
    imp::forbid_new_processes(confinement);
}

#[cfg(target_os = "linux")]
mod imp {
    use std::collections::BTreeMap;

    use landlock::{
        ABI, Access, AccessFs, AccessNet, LandlockStatus, Ruleset, RulesetAttr, RulesetStatus,
        Scope,
    };
    use seccompiler::{
        SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
        SeccompRule, TargetArch,
    };

    use super::{Confinement, MAX_OPEN_FILES};

    pub fn confine(address_space_bytes: u64, confinement: &mut Confinement) {
        confinement.record(no_new_privs());
        confinement.record(rlimits(address_space_bytes));
        confinement.record(drop_capabilities());
        landlock(confinement);
        confinement.record(seccomp());
    }

    pub fn forbid_new_processes(confinement: &mut Confinement) {
        // SAFETY: geteuid has no preconditions.
        let root = unsafe { libc::geteuid() } == 0;
        confinement.record(match lower_limit(libc::RLIMIT_NPROC, 0) {
            Ok(()) if root => Err("RLIMIT_NPROC: does not bind root (run the node as an \
                                   ordinary user)"
                .into()),
            Ok(()) => Ok("RLIMIT_NPROC 0: no new processes or threads".into()),
            Err(e) => Err(format!("RLIMIT_NPROC: {e}")),
        });
    }

    fn no_new_privs() -> Result<String, String> {
        // SAFETY: PR_SET_NO_NEW_PRIVS takes plain integers.
        match unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } {
            0 => Ok("no_new_privs".into()),
            _ => Err(format!("no_new_privs: {}", std::io::Error::last_os_error())),
        }
    }

    fn rlimits(address_space_bytes: u64) -> Result<String, String> {
        let limits = [
            (libc::RLIMIT_CORE, 0, "RLIMIT_CORE"),
            (libc::RLIMIT_NOFILE, MAX_OPEN_FILES, "RLIMIT_NOFILE"),
            (libc::RLIMIT_AS, address_space_bytes, "RLIMIT_AS"),
        ];
        for (resource, value, name) in limits {
            lower_limit(resource, value).map_err(|e| format!("{name}: {e}"))?;
        }
        Ok(format!(
            "rlimits: no core dumps, {MAX_OPEN_FILES} open files, {} MiB of address space",
            address_space_bytes >> 20
        ))
    }

    /// A node run as root would give its workers every capability: drop them all (ambient
    /// first, then inheritable, effective and permitted), so root's workers are as weak as
    /// anyone's.
    fn drop_capabilities() -> Result<String, String> {
        use caps::CapSet;
        for set in [
            CapSet::Ambient,
            CapSet::Inheritable,
            CapSet::Effective,
            CapSet::Permitted,
        ] {
            caps::clear(None, set).map_err(|e| format!("capabilities: {e}"))?;
        }
        Ok("no capabilities".into())
    }

    #[cfg(target_env = "gnu")]
    type Resource = libc::__rlimit_resource_t;
    #[cfg(not(target_env = "gnu"))]
    type Resource = libc::c_int;

    /// Set both the soft and the hard limit to `value`, or keep a lower hard limit the node
    /// was started with (a process may lower its hard limits, never raise them).
    fn lower_limit(resource: Resource, value: u64) -> std::io::Result<()> {
        let mut current = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: `current` is a valid rlimit to write to.
        if unsafe { libc::getrlimit(resource, &mut current) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let value = value.min(current.rlim_max);
        let limit = libc::rlimit {
            rlim_cur: value,
            rlim_max: value,
        };
        // SAFETY: `limit` is a valid rlimit to read.
        if unsafe { libc::setrlimit(resource, &limit) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }

    /// Handle every access right Landlock knows up to ABI 6 and allow none: no path can be
    /// opened, created, executed or changed, no TCP port bound or connected, and no signal
    /// or abstract unix socket reaches outside the worker (the node included).
    fn landlock(confinement: &mut Confinement) {
        let abi = ABI::V6;
        let restricted = Ruleset::default()
            .handle_access(AccessFs::from_all(abi))
            .and_then(|r| r.handle_access(AccessNet::from_all(abi)))
            .and_then(|r| r.scope(Scope::from_all(abi)))
            .and_then(|r| r.create())
            .and_then(|r| r.restrict_self());
        let status = match restricted {
            Ok(status) => status,
            Err(e) => return confinement.missing.push(format!("Landlock: {e}")),
        };
        let kernel_abi = match status.landlock {
            LandlockStatus::Available { effective_abi, .. } => effective_abi as i32,
            _ => 0,
        };
        if status.ruleset == RulesetStatus::NotEnforced || kernel_abi == 0 {
            return confinement
                .missing
                .push("Landlock: not supported or not enabled by this kernel".into());
        }
        let layers = [
            (1, "no file system access"),
            (4, "no TCP bind or connect"),
            (6, "no signals or abstract unix sockets outside the worker"),
        ];
        let (held, lacking): (Vec<_>, Vec<_>) =
            layers.iter().partition(|(since, _)| kernel_abi >= *since);
        let held: Vec<&str> = held.iter().map(|(_, what)| *what).collect();
        confinement
            .enforced
            .push(format!("Landlock ABI {kernel_abi}: {}", held.join(", ")));
        for (since, what) in lacking {
            confinement.missing.push(format!(
                "Landlock: {what} (needs ABI {since}, the kernel has {kernel_abi})"
            ));
        }
    }

    /// System calls a worker never makes once confined. They fail with EPERM; the rest is
    /// allowed, so nothing Boa or the allocator do needs listing.
    const DENIED: &[libc::c_long] = &[
        // Files: opening by path or by handle.
        #[cfg(target_arch = "x86_64")]
        libc::SYS_open,
        #[cfg(target_arch = "x86_64")]
        libc::SYS_creat,
        libc::SYS_openat,
        libc::SYS_openat2,
        libc::SYS_open_by_handle_at,
        // Network.
        libc::SYS_socket,
        libc::SYS_socketpair,
        // Programs and processes (clone without CLONE_THREAD is refused below).
        libc::SYS_execve,
        libc::SYS_execveat,
        #[cfg(target_arch = "x86_64")]
        libc::SYS_fork,
        #[cfg(target_arch = "x86_64")]
        libc::SYS_vfork,
        // Other processes' memory and file descriptors.
        libc::SYS_ptrace,
        libc::SYS_process_vm_readv,
        libc::SYS_process_vm_writev,
        libc::SYS_pidfd_getfd,
        // Kernel interfaces that reach files, or much kernel code, around the rules above.
        libc::SYS_io_uring_setup,
        libc::SYS_io_uring_enter,
        libc::SYS_io_uring_register,
        libc::SYS_bpf,
        libc::SYS_perf_event_open,
        libc::SYS_userfaultfd,
        libc::SYS_unshare,
        libc::SYS_setns,
        libc::SYS_mount,
        libc::SYS_keyctl,
        libc::SYS_add_key,
        libc::SYS_request_key,
    ];

    fn seccomp() -> Result<String, String> {
        let arch = TargetArch::try_from(std::env::consts::ARCH)
            .map_err(|_| format!("seccomp: no filter for {}", std::env::consts::ARCH))?;
        let mut rules: BTreeMap<i64, Vec<SeccompRule>> =
            DENIED.iter().map(|&call| (call, Vec::new())).collect();
        // A new thread passes CLONE_THREAD; anything else is a new process.
        let new_process = SeccompCondition::new(
            0,
            SeccompCmpArgLen::Qword,
            SeccompCmpOp::MaskedEq(libc::CLONE_THREAD as u64),
            0,
        )
        .and_then(|condition| SeccompRule::new(vec![condition]));
        rules.insert(libc::SYS_clone, vec![new_process.map_err(error)?]);
        let deny = filter(rules, SeccompAction::Errno(libc::EPERM as u32), arch)?;
        // clone3 passes its flags in memory, where a filter cannot look: say it does not
        // exist, and the C library falls back to clone, checked above.
        let clone3 = [(libc::SYS_clone3, Vec::new())].into_iter().collect();
        let clone3 = filter(clone3, SeccompAction::Errno(libc::ENOSYS as u32), arch)?;
        for program in [deny, clone3] {
            seccompiler::apply_filter(&program).map_err(error)?;
        }
        deny_x32()?;
        Ok(
            "seccomp: open, socket, exec, new processes, ptrace, io_uring, bpf, \
            namespaces and mounts fail with EPERM"
                .into(),
        )
    }

    fn filter(
        rules: BTreeMap<i64, Vec<SeccompRule>>,
        action: SeccompAction,
        arch: TargetArch,
    ) -> Result<seccompiler::BpfProgram, String> {
        SeccompFilter::new(rules, SeccompAction::Allow, action, arch)
            .and_then(seccompiler::BpfProgram::try_from)
            .map_err(error)
    }

    fn error(e: impl std::fmt::Display) -> String {
        format!("seccomp: {e}")
    }

    /// x86_64 kernels may also accept every system call under its x32 number (bit 30 set),
    /// which the filters above do not list: refuse them all (nothing here uses x32).
    #[cfg(target_arch = "x86_64")]
    fn deny_x32() -> Result<(), String> {
        use seccompiler::sock_filter;
        const X32_SYSCALL_BIT: u32 = 0x4000_0000;
        let statement = |code: u32, jt, jf, k| sock_filter {
            code: code as u16,
            jt,
            jf,
            k,
        };
        let program = [
            // Load the system call number (offset 0 of `struct seccomp_data`).
            statement(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, 0, 0, 0),
            statement(
                libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K,
                0,
                1,
                X32_SYSCALL_BIT,
            ),
            statement(
                libc::BPF_RET | libc::BPF_K,
                0,
                0,
                libc::SECCOMP_RET_ERRNO | libc::EPERM as u32,
            ),
            statement(libc::BPF_RET | libc::BPF_K, 0, 0, libc::SECCOMP_RET_ALLOW),
        ];
        seccompiler::apply_filter(&program).map_err(error)
    }

    #[cfg(not(target_arch = "x86_64"))]
    fn deny_x32() -> Result<(), String> {
        Ok(())
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    use super::Confinement;

    pub fn confine(_address_space_bytes: u64, confinement: &mut Confinement) {
        confinement
            .missing
            .push("OS-level confinement (implemented for Linux only)".into());
    }

    pub fn forbid_new_processes(_confinement: &mut Confinement) {}
}
