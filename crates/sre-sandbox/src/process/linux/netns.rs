//! The egress proxy's endpoint inside a sandbox: a TCP listener on `127.0.0.1` of the sandbox's
//! own network namespace, opened by the daemon.
//!
//! A short-lived thread joins the namespace (`setns` changes only the calling thread's network
//! namespace, and the thread ends right after, so no daemon thread is left in it), brings the
//! namespace's `lo` up (a new namespace's loopback is down and has no address), binds an
//! ephemeral port and returns the socket. A socket stays in the namespace it was created in, so
//! the daemon serves it from anywhere while the guest — whose namespace has nothing else: no
//! other interface, no route — can reach exactly that port. Nothing is configured on the host
//! (no veth, no iptables).

use std::io;
use std::net::{Ipv4Addr, TcpListener};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

/// Opens a listener on `127.0.0.1:<ephemeral>` in the network namespace of the process whose
/// `/proc/<pid>` directory is `proc_dir`.
pub(crate) fn listen_in_netns(proc_dir: &OwnedFd) -> io::Result<TcpListener> {
    let ns = std::fs::File::open(format!("/proc/self/fd/{}/ns/net", proc_dir.as_raw_fd()))?;
    listen_in(&ns)
}

/// As [`listen_in_netns`], in the network namespace `ns` (an open `/proc/<pid>/ns/net`): the
/// container tier's way into a container's own namespace.
pub(crate) fn listen_in(ns: &std::fs::File) -> io::Result<TcpListener> {
    std::thread::scope(|s| {
        s.spawn(|| {
            nix::sched::setns(ns.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET)
                .map_err(io::Error::from)?;
            loopback_up()?;
            TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        })
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("the netns thread panicked")))
    })
}

/// Sets `IFF_UP` on `lo` in the calling thread's network namespace.
fn loopback_up() -> io::Result<()> {
    // Any socket will do for the ioctl; binding the wildcard address needs no interface.
    let sock = std::net::UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))?;
    // SAFETY: an all-zero ifreq is valid; the name fits with its NUL.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, s) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *d = *s as libc::c_char;
    }
    // SAFETY: a live socket and a live ifreq of the size SIOCGIFFLAGS expects.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: SIOCGIFFLAGS filled the flags member of the union.
    unsafe { req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short };
    // SAFETY: as above, SIOCSIFFLAGS reads the same struct.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
