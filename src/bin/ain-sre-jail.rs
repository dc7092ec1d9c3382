//! `ain-sre-jail`: the process tier's stem-cell helper. Started only by the daemon, with its
//! control socket on fd 3; it never parses arguments and never runs tokio (it must stay
//! single-threaded to enter a new user namespace).

fn main() {
    ain_sre::sandbox::process::jail_main()
}
