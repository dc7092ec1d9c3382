# Row 21: no device beyond the harmless ones.
for d in ['/dev/kvm', '/dev/mem', '/dev/kmem', '/dev/port', '/dev/sda', '/dev/vda', '/dev/nvme0n1',
          '/dev/net/tun', '/dev/fuse', '/dev/loop0', '/dev/dri/card0', '/dev/vsock']:
    try:
        open(d, 'rb').close(); breaches.append('opened ' + d)
    except OSError:
        pass
info['dev'] = sorted(os.listdir('/dev'))
report()
