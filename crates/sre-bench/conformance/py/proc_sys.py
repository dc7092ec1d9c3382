# Row 12: /proc and /sys: all writes fail, kernel addresses and memory are not readable, no host
# paths of the worker in the mount table, a cgroup namespace hiding the host's cgroup tree, and no
# host-wide counters or identifiers (command line, boot id, meminfo, stat, PSI, block devices).
for p in ['/proc/sysrq-trigger', '/proc/sys/kernel/hostname', '/proc/sys/vm/drop_caches',
          '/sys/fs/cgroup/cgroup.procs', '/sys/kernel/mm/transparent_hugepage/enabled',
          '/proc/1/root/etc/passwd', '/sys/fs/cgroup/memory.max']:
    try:
        with open(p, 'w') as f:
            f.write('1')
        breaches.append('wrote ' + p)
    except OSError:
        pass
try:
    open('/proc/kcore', 'rb').read(64); breaches.append('read /proc/kcore')
except OSError:
    pass
try:
    syms = open('/proc/kallsyms').read(1 << 16).split('\n')[:100]
    if any(l and int(l.split()[0], 16) != 0 for l in syms):
        breaches.append('kernel addresses in /proc/kallsyms')
except (OSError, ValueError):
    pass
mi = open('/proc/self/mountinfo').read()
for p in ctx['host_paths']:
    if p in mi:
        breaches.append('host path %s in mountinfo' % p)
# The engine's own storage paths (overlay lowerdir/upperdir) are recorded, not failed: no engine
# option hides them.
info['engine_paths_in_mountinfo'] = '/var/lib/' in mi
for line in open('/proc/self/cgroup').read().splitlines():
    path = line.split(':', 2)[2]
    if path != '/':
        breaches.append('host cgroup path %s visible (no cgroup namespace)' % path)
        break
# Host-wide information no namespace hides: the kernel command line, the boot id, and the host's
# memory, CPU, disk, interrupt, lock and pressure counters, and its block devices. Readable with
# content (the host's: nothing in the sandbox has its own) is a breach.
host_files = ['/proc/cmdline', '/proc/sys/kernel/random/boot_id', '/proc/meminfo', '/proc/stat',
              '/proc/diskstats', '/proc/interrupts', '/proc/loadavg', '/proc/locks', '/proc/vmstat',
              '/proc/softirqs', '/proc/zoneinfo', '/proc/partitions']
try:
    host_files += ['/proc/pressure/' + f for f in os.listdir('/proc/pressure')]
except OSError:
    pass
for p in host_files:
    try:
        with open(p, 'rb') as f:
            if f.read(256).strip():
                breaches.append('host information readable: ' + p)
    except OSError:
        pass
for d in ['/sys/block', '/sys/class/block', '/sys/dev/block']:
    try:
        if os.listdir(d):
            breaches.append('host block devices listed in ' + d)
    except OSError:
        pass
report()
