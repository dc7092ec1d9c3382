# Row 11: raw, packet and ICMP sockets.
import socket
for name, fam, typ, proto in [('packet', 17, socket.SOCK_RAW, 0x0300), ('raw icmp', socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP),
                              ('raw ip', socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW),
                              ('netlink raw', 16, socket.SOCK_RAW, 0), ('raw ipv6', socket.AF_INET6, socket.SOCK_RAW, 58)]:
    try:
        socket.socket(fam, typ, proto); breaches.append(name)
    except OSError as e:
        info[name] = e.errno
report()
