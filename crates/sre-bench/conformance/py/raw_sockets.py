# Row 11: raw, packet and ICMP sockets (netlink route sockets are ordinary, not raw network access).
import socket
for name, fam, typ, proto in [('packet', 17, socket.SOCK_RAW, 0x0300), ('packet dgram', 17, socket.SOCK_DGRAM, 0x0300),
                              ('raw icmp', socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP),
                              ('icmp ping socket', socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP),
                              ('raw ip', socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW),
                              ('raw icmpv6', socket.AF_INET6, socket.SOCK_RAW, 58)]:
    try:
        socket.socket(fam, typ, proto); breaches.append(name)
    except OSError as e:
        info[name] = e.errno
report()
