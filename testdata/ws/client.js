// A WebSocket client built on the npm ws package, run by ws_npm_test.go:
//   node client.js ws://127.0.0.1:PORT/ws
// It checks fragmented messages, a 16 MiB message, ping/pong and close
// codes against an echo endpoint, prints one line per check, and exits
// non-zero on the first failure.
'use strict';
const WebSocket = require('ws');

const url = process.argv[2];
const fail = (msg) => { console.error('FAIL ' + msg); process.exit(1); };
setTimeout(() => fail('timed out'), 60000).unref();

function open() {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { maxPayload: 64 << 20 });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

function next(ws) {
  return new Promise((resolve) => ws.once('message', (data, isBinary) => resolve({ data, isBinary })));
}

async function main() {
  const ws = await open();

  // A text message sent in three fragments comes back whole.
  let reply = next(ws);
  ws.send('frag', { fin: false });
  ws.send('men', { fin: false });
  ws.send('ted', { fin: true });
  let m = await reply;
  if (m.isBinary || m.data.toString() !== 'fragmented') fail('fragmented text: ' + m.data);
  console.log('ok fragmented text');

  // Binary, fragmented.
  reply = next(ws);
  ws.send(Buffer.from([1, 2]), { binary: true, fin: false });
  ws.send(Buffer.from([3]), { binary: true, fin: true });
  m = await reply;
  if (!m.isBinary || !Buffer.from([1, 2, 3]).equals(m.data)) fail('fragmented binary');
  console.log('ok fragmented binary');

  // 16 MiB.
  const big = Buffer.alloc(16 << 20);
  for (let i = 0; i < big.length; i++) big[i] = i & 0xff;
  reply = next(ws);
  ws.send(big);
  m = await reply;
  if (!big.equals(m.data)) fail('16 MiB message: ' + m.data.length + ' bytes back');
  console.log('ok 16 MiB message');

  // Ping gets a pong with the same payload.
  const pong = new Promise((resolve) => ws.once('pong', resolve));
  ws.ping('are you there');
  const payload = await pong;
  if (payload.toString() !== 'are you there') fail('pong payload: ' + payload);
  console.log('ok ping/pong');

  // A close code and reason: the server completes the close handshake.
  const closed = new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  ws.close(4000, 'done here');
  const c = await closed;
  if (c.code !== 4000) fail('close code ' + c.code);
  console.log('ok close ' + c.code);
}

main().then(() => process.exit(0), (err) => fail(err.stack || String(err)));
