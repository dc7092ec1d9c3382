# Rows 9, 10, 14, 15, 16, 22: system calls that must be refused. ctx['group'] picks the row.
# x86_64 numbers; the result of each must be negative (an errno), and is recorded.
d = ctx['daemon']
groups = {
  # The daemon (its host pid); pid 1 is the call's own init, which is not another tenant.
  'ptrace': {'ptrace_attach_daemon': (101, 16, d, 0, 0), 'ptrace_seize_daemon': (101, 0x4206, d, 0, 0),
             'process_vm_readv_daemon': (310, d, 0, 1, 0, 1, 0)},
  'namespaces': {'mount': (165, 0, 0, 0, 0, 0), 'umount2': (166, 0, 0), 'pivot_root': (155, 0, 0),
                 'unshare_user': (272, 0x10000000), 'unshare_mnt': (272, 0x00020000),
                 'unshare_net': (272, 0x40000000), 'setns': (308, 0, 0), 'chroot': (161, 0),
                 'clone_newuser': (56, 0x10000000 | 17, 0, 0, 0, 0)},
  'keyring': {'add_key': (248, b'user', b'ain-conformance', b'secret', 6, -3),
              'keyctl_read': (250, 11, -3, 0, 0), 'request_key': (249, b'user', b'x', 0, -3)},
  'io_uring': {'io_uring_setup': (425, 8, 0), 'io_uring_enter': (426, 0, 0, 0, 0, 0, 0),
               'io_uring_register': (427, 0, 0, 0, 0)},
  'kernel': {'bpf': (321, 0, 0, 0), 'perf_event_open': (298, 0, 0, -1, -1, 0), 'userfaultfd': (323, 0),
             'kexec_load': (246, 0, 0, 0, 0), 'init_module': (175, 0, 0, 0), 'finit_module': (313, -1, 0, 0),
             'x32_getpid': (0x40000000 | 39,)},
  'clock': {'settimeofday': (164, 0, 0), 'adjtimex': (159, 0), 'clock_settime': (227, 0, 0),
            'clock_adjtime': (305, 0, 0)},
}
def in_child(nr, *args):
    # A filter may answer a foreign-ABI call by killing the caller (SIGSYS) instead of an errno;
    # both refuse it, so the call is made in a child that may die for it.
    pid = os.fork()
    if pid == 0:
        os._exit(0 if sys_(nr, *args) < 0 else 1)
    _, st = os.waitpid(pid, 0)
    if os.WIFSIGNALED(st) and os.WTERMSIG(st) == 31:
        return 'killed by SIGSYS'
    return -1 if os.WEXITSTATUS(st) == 0 else 1
for name, (nr, *args) in groups[ctx['group']].items():
    if name.startswith('x32_'):
        r = in_child(nr, *args)
        info[name] = r
        if not isinstance(r, str) and r >= 0:
            breaches.append('%s succeeded' % name)
        continue
    if name == 'clock_settime' or name == 'settimeofday':
        ts = (ctypes.c_long * 2)(0, 0)  # 1970: would be visible to everyone if it worked
        r = sys_(nr, *([0, ctypes.byref(ts)] if name == 'clock_settime' else [ctypes.byref(ts), 0]))
    else:
        r = sys_(nr, *args)
    info[name] = r
    if r >= 0:
        breaches.append('%s succeeded (%d)' % (name, r))
report()
