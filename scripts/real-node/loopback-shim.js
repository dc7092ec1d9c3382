// Preloaded into a local ain-blockchain node (NODE_OPTIONS=--require) by start.sh.
//
// Why: this sandbox has no internet and its LAN address is not private. The node asks
// `ip.address()` and the `ext-ip` service for its own address and only starts a new chain when
// it believes it is the first node at that address; the external lookup never answers here.
// Both are made to answer 127.0.0.1, and every server the node opens (express JSON-RPC, P2P and
// event-handler WebSocket servers) binds to 127.0.0.1 instead of all interfaces.
'use strict';
const Module = require('module');
const net = require('net');

const LOOPBACK = '127.0.0.1';

const origLoad = Module._load;
Module._load = function load(request, parent, isMain) {
  const loaded = origLoad.apply(this, arguments);
  if (request === 'ip' && loaded && !loaded.__ainSreShim) {
    loaded.address = () => LOOPBACK;
    loaded.__ainSreShim = true;
  } else if (request === 'ext-ip') {
    // ext-ip exports a factory; its instance's get() does HTTP lookups to the internet.
    return function extIpFactory() {
      return { get: () => Promise.resolve(LOOPBACK), on() { return this; } };
    };
  }
  return loaded;
};

// listen(port[, host][, backlog][, cb]) and listen({port, host}): default the host to loopback.
const origListen = net.Server.prototype.listen;
net.Server.prototype.listen = function listen(...args) {
  const first = args[0];
  if (first !== null && typeof first === 'object' && !Array.isArray(first)) {
    if (first.port !== undefined && first.path === undefined && !first.host) {
      args[0] = Object.assign({}, first, { host: LOOPBACK });
    }
  } else if (typeof first === 'number' || (typeof first === 'string' && /^\d+$/.test(first))) {
    if (typeof args[1] !== 'string') {
      // listen(port), listen(port, cb), listen(port, undefined, backlog, cb) (ws passes undefined)
      if (args.length >= 2 && (args[1] === undefined || args[1] === null)) {
        args[1] = LOOPBACK;
      } else {
        args.splice(1, 0, LOOPBACK);
      }
    }
  }
  return origListen.apply(this, args);
};
