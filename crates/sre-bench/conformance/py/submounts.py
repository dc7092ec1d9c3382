# Row 30: the host mounted a tmpfs (mode 1777, holding the file `planted`) below a directory the
# runtime binds read-only; writing there must fail with EROFS like the bind itself.
if ctx.get('phase') == 'where':
    info['stdlib'] = os.path.dirname(os.__file__)
    report()
    sys.exit(0)
d = ctx['dir']
info['visible'] = os.path.exists(os.path.join(d, 'planted'))
if info['visible']:
    for what, act in [('wrote a file', lambda: open(os.path.join(d, 'written'), 'w').write('x')),
                      ('made a directory', lambda: os.mkdir(os.path.join(d, 'made')))]:
        try:
            act()
            breaches.append(what + ' on a host mount below a read-only bind')
        except OSError as e:
            info['errno'] = e.errno
report()
