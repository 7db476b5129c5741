'use strict';
// Raw HTTP/2 frames (RFC 9113), for clients that misbehave as attacks do: whatever a well-made
// client library refuses to send. Header blocks use HPACK literals without Huffman coding.
const tls = require('node:tls');
const { once } = require('node:events');

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const TYPE = { DATA: 0, HEADERS: 1, RST_STREAM: 3, SETTINGS: 4, PING: 6, GOAWAY: 7, WINDOW_UPDATE: 8, CONTINUATION: 9 };
const FLAG = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4 };
/** GOAWAY and RST_STREAM codes (RFC 9113 7) by number. */
const CODES = ['NO_ERROR', 'PROTOCOL_ERROR', 'INTERNAL_ERROR', 'FLOW_CONTROL_ERROR', 'SETTINGS_TIMEOUT', 'STREAM_CLOSED', 'FRAME_SIZE_ERROR',
  'REFUSED_STREAM', 'CANCEL', 'COMPRESSION_ERROR', 'CONNECT_ERROR', 'ENHANCE_YOUR_CALM', 'INADEQUATE_SECURITY', 'HTTP_1_1_REQUIRED'];

function frame(type, flags, stream, payload = Buffer.alloc(0)) {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(stream, 5);
  return Buffer.concat([head, payload]);
}

/** An HPACK integer with an n-bit prefix (RFC 7541 5.1), the prefix's other bits zero. */
function hpackInteger(value, n) {
  const max = (1 << n) - 1;
  if (value < max) return [value];
  const bytes = [max];
  for (value -= max; value >= 128; value >>= 7) bytes.push((value & 127) | 128);
  bytes.push(value);
  return bytes;
}

/** A header block: every field a literal without indexing, with a new name. */
function headerBlock(fields) {
  const bytes = [];
  for (const [name, value] of fields) {
    bytes.push(0, ...hpackInteger(Buffer.byteLength(name), 7), ...Buffer.from(name));
    bytes.push(...hpackInteger(Buffer.byteLength(value), 7), ...Buffer.from(value));
  }
  return Buffer.from(bytes);
}

const request = (path = '/', method = 'GET') => headerBlock([[':method', method], [':scheme', 'https'], [':path', path], [':authority', 'localhost']]);
const headers = (stream, block, flags = FLAG.END_HEADERS | FLAG.END_STREAM) => frame(TYPE.HEADERS, flags, stream, block);
const rstStream = (stream, code = 8) => frame(TYPE.RST_STREAM, 0, stream, Buffer.from([0, 0, 0, code]));
const settings = () => frame(TYPE.SETTINGS, 0, 0);
const ping = (n = 0) => {
  const payload = Buffer.alloc(8);
  payload.writeUInt32BE(n, 4);
  return frame(TYPE.PING, 0, 0, payload);
};
const continuation = (stream, block, flags = 0) => frame(TYPE.CONTINUATION, flags, stream, block);

/**
 * A TLS connection that chose h2 and sent the preface: `frames` collects what the server sends,
 * `goaway` resolves with the GOAWAY's code name once one comes (or 'closed' when the connection
 * ends without one).
 */
async function rawHttp2(port, options = {}) {
  const socket = tls.connect({ port, host: '127.0.0.1', servername: 'localhost', ALPNProtocols: ['h2'], rejectUnauthorized: false, ...options });
  await once(socket, 'secureConnect');
  if (socket.alpnProtocol !== 'h2') throw new Error(`ALPN chose ${socket.alpnProtocol}`);
  socket.on('error', () => {});
  const frames = [];
  let pending = Buffer.alloc(0);
  let sawGoaway;
  const goaway = new Promise((resolve) => {
    sawGoaway = resolve;
    socket.on('close', () => resolve('closed'));
  });
  socket.on('data', (chunk) => {
    pending = Buffer.concat([pending, chunk]);
    while (pending.length >= 9 && pending.length >= 9 + pending.readUIntBE(0, 3)) {
      const length = pending.readUIntBE(0, 3);
      const f = { type: pending[3], flags: pending[4], stream: pending.readUInt32BE(5) & 0x7fffffff, payload: pending.subarray(9, 9 + length) };
      pending = pending.subarray(9 + length);
      frames.push(f);
      if (f.type === TYPE.GOAWAY) sawGoaway(CODES[f.payload.readUInt32BE(4)] ?? String(f.payload.readUInt32BE(4)));
    }
  });
  socket.write(Buffer.concat([PREFACE, settings()]));
  return { socket, frames, goaway };
}

module.exports = { TYPE, FLAG, CODES, frame, headerBlock, request, headers, rstStream, settings, ping, continuation, rawHttp2 };
