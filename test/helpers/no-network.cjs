// Preloaded (`node --require`) into a dbops process that must work with the network unreachable: every
// connection to anything but loopback or a Unix socket fails with ENETUNREACH, as on an air-gapped runner,
// and is recorded (one line per attempt) in the file DBOPS_TEST_NETLOG names, with every name looked up
// in DNS, so a test can assert that nothing was even attempted.
const net = require('node:net');
const dns = require('node:dns');
const fs = require('node:fs');

const log = process.env.DBOPS_TEST_NETLOG;
const local = (host) => !host || host === 'localhost' || /^127\./.test(host) || host === '::1' || String(host).startsWith('/');
const record = (line) => log && fs.appendFileSync(log, `${line}\n`);

const connect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function (...args) {
  const first = Array.isArray(args[0]) ? args[0][0] : args[0];
  const options = typeof first === 'object' && first !== null ? first : { port: first, host: typeof args[1] === 'string' ? args[1] : undefined };
  const host = options.path ?? options.host;
  if (!local(host)) {
    record(`connect ${host}:${options.port}`);
    const error = Object.assign(new Error(`connect ENETUNREACH ${host}:${options.port}`), { code: 'ENETUNREACH' });
    process.nextTick(() => this.destroy(error));
    return this;
  }
  return connect.apply(this, args);
};

for (const target of [dns, dns.promises]) {
  const lookup = target.lookup;
  target.lookup = function (host, ...rest) {
    if (!local(host)) record(`lookup ${host}`);
    return lookup.call(this, host, ...rest);
  };
}
