// Real socket.io-client 4.8 members for iorelay-bench: the join-storm and
// slow-consumer cases, driven by the client library browsers actually run.
//
// The Rust coordinator (`iorelay-bench join-storm --client-kind node`) starts
// several of these as `node worker.js --config <json>` and speaks the same
// JSON-lines protocol as with its own workers: this process writes `ready`,
// `progress` and `done` lines (the Rust `WorkerMsg`) and reads `go` and `stop`.
//
// Each member is its own Manager (forceNew, WebSocket only, like one browser
// tab) on /chat: it connects with auth {name}, joins the room with an ack
// (5 s per try, 3 tries, as client-demo does), counts the bytes of every
// `presence` event (the whole Engine.IO packet, whatever its shape) and records
// the sequence number and latency of every `message`. Member 0 publishes.
// Times are CLOCK_MONOTONIC microseconds (process.hrtime), the same clock in
// every process of the machine, so latency = receive time - send time.
//
// In the slow-consumer case one member stops reading its TCP socket for a
// while; when the server drops it, socket.io-client reconnects, and the member
// re-joins and asks `history {room, after: lastSeenId}` page by page.
'use strict';

const readline = require('readline');
const { io } = require('socket.io-client');

const cfg = JSON.parse(process.argv[process.argv.indexOf('--config') + 1]);
const nowUs = () => Number(process.hrtime.bigint() / 1000n);

const ACK_TIMEOUT_MS = 5000;
const JOIN_TRIES = 3;
const HISTORY_PAGE = 500;
const MAX_HISTORY_PAGES = 100;
const MAX_ERROR_KINDS = 16;
const PRESENCE_PREFIX = '2/chat,["presence"';

const url = cfg.targets[0].replace(/\/+$/, '');
const planned = Math.max(1, Math.round(cfg.publish_rate * (cfg.publish_ms / 1000)));
const pad = 'x'.repeat(Math.max(0, cfg.chat_text_len - 24));

/** Latencies (µs) kept to 4 significant digits: mergeable `(value, count)` pairs. */
class Hist {
  constructor() { this.counts = new Map(); }
  record(us) {
    let v = Math.max(1, Math.round(us));
    if (v >= 10000) {
      const step = 10 ** (Math.floor(Math.log10(v)) - 3);
      v = Math.round(v / step) * step;
    }
    this.counts.set(v, (this.counts.get(v) || 0) + 1);
  }
  pairs() { return [...this.counts.entries()]; }
}

const st = {
  connected: 0, failed: 0, settled: 0, joinRetries: 0, alive: 0, dropped: 0,
  received: 0, duplicates: 0, errorEvents: 0,
  sent: 0, acks: 0, ackFailures: 0, firstRecv: 0, lastRecv: 0, publishFirst: 0, publishLast: 0,
};
const latency = new Hist();
const ackLatency = new Hist();
const connectLatency = new Hist();
const errors = new Map();
const members = [];
let ready = false;
let stopping = false;
const started = nowUs();
let slowReport = null;

function error(key) {
  let k = String(key).slice(0, 160);
  if (errors.size >= MAX_ERROR_KINDS && !errors.has(k)) k = `${k.split(':')[0]}: other`;
  errors.set(k, (errors.get(k) || 0) + 1);
}

function emit(msg) { process.stdout.write(`${JSON.stringify(msg)}\n`); }

/** `"<send µs> <seq> <pad>"` -> {ts, seq}. */
function parseText(text) {
  if (typeof text !== 'string') return null;
  const a = text.indexOf(' ');
  const b = text.indexOf(' ', a + 1);
  const ts = Number(text.slice(0, a));
  const seq = Number(b < 0 ? text.slice(a + 1) : text.slice(a + 1, b));
  return a > 0 && Number.isInteger(ts) && Number.isInteger(seq) ? { ts, seq } : null;
}

/** Marks `seq` as seen by `m`: live (a `message` event) or recovered (join reply, history). */
function mark(m, seq, live) {
  if (seq < 0 || seq >= planned) return;
  if (m.seen[seq]) {
    if (live && m.seen[seq] === 1) st.duplicates++;
    return;
  }
  m.seen[seq] = live ? 1 : 2;
  m.distinct++;
  if (live) m.liveSeen++;
}

function startMember(i) {
  const global = cfg.first_client + i;
  const slow = cfg.slow_client === global;
  const m = {
    global, slow, seen: new Uint8Array(planned), distinct: 0, liveSeen: 0, lastId: 0,
    presenceBytes: 0, presenceEvents: 0, joined: false, settled: false, t0: nowUs(), socket: null,
  };
  const socket = io(`${url}/chat`, {
    forceNew: true,
    transports: ['websocket'],
    auth: { name: `u${global}` },
    reconnection: slow,
    reconnectionDelay: 500,
    reconnectionDelayMax: 3000,
    timeout: cfg.connect_timeout_ms,
    localAddress: cfg.sources[i % cfg.sources.length],
  });
  m.socket = socket;
  socket.io.on('open', () => {
    socket.io.engine.on('packet', (p) => {
      if (p.type === 'message' && typeof p.data === 'string' && p.data.startsWith(PRESENCE_PREFIX)) {
        m.presenceBytes += Buffer.byteLength(p.data) + 1;
        m.presenceEvents++;
      }
    });
  });
  socket.on('connect', () => {
    if (!m.settled) {
      joinRoom(m).then(
        ({ retries }) => { st.joinRetries += retries; settle(m, true); },
        (e) => settle(m, false, `join: ${e.message}`),
      );
    } else if (m.slow && !stopping) {
      resync(m);
    }
  });
  socket.on('connect_error', (e) => settle(m, false, `connect: ${e.message}`));
  socket.on('disconnect', (reason) => onDisconnect(m, reason));
  socket.on('presence', () => {});
  socket.on('message', (msg) => onMessage(m, msg));
  // iorelay answers an over-limit event with `error {code}` (e.g. rate_limited).
  socket.on('error', () => { st.errorEvents++; });
}

async function joinRoom(m) {
  for (let attempt = 0; attempt < JOIN_TRIES; attempt++) {
    let reply;
    try {
      reply = await m.socket.timeout(ACK_TIMEOUT_MS).emitWithAck('join', { room: cfg.room });
    } catch (e) {
      if (!m.socket.connected) throw e;
      continue;
    }
    if (!reply || reply.ok !== true) throw new Error(`refused: ${JSON.stringify(reply).slice(0, 120)}`);
    return { reply, retries: attempt };
  }
  throw new Error(`no ack after ${JOIN_TRIES} tries`);
}

function settle(m, ok, why) {
  if (m.settled) return;
  m.settled = true;
  st.settled++;
  if (ready) {
    // Too late for the connect phase: not a member of this run.
    m.socket.close();
    return;
  }
  if (ok) {
    m.joined = true;
    st.connected++;
    st.alive++;
    members.push(m);
    connectLatency.record(nowUs() - m.t0);
  } else {
    st.failed++;
    error(why);
    m.socket.close();
  }
  if (st.settled === cfg.clients) sendReady();
}

function sendReady() {
  if (ready) return;
  ready = true;
  const pending = cfg.clients - st.settled;
  if (pending > 0) {
    st.failed += pending;
    errors.set('connect: still pending at the end of the connect phase', pending);
  }
  emit({
    type: 'ready', connected: st.connected, failed: st.failed, polling: 0, join_retries: st.joinRetries,
    connect_secs: (nowUs() - started) / 1e6, connect_latency: connectLatency.pairs(),
    errors: Object.fromEntries(errors),
  });
}

function onMessage(m, msg) {
  if (!m.joined) return;
  const t = nowUs();
  const p = parseText(msg && msg.text);
  if (!p) return;
  st.received++;
  if (!st.firstRecv) st.firstRecv = t;
  st.lastRecv = t;
  if (typeof msg.id === 'number' && msg.id > m.lastId) m.lastId = msg.id;
  if (!m.slow) latency.record(t - p.ts);
  mark(m, p.seq, true);
}

function onDisconnect(m, reason) {
  if (!m.joined || stopping) return;
  if (m.slow) {
    const s = slowState();
    s.disconnects++;
    if (s.disconnected_at_us === null) {
      s.disconnected_at_us = nowUs();
      s.disconnect_reason = reason;
    }
    // A server-side namespace disconnect is final for socket.io-client: connect again, as an app would.
    if (reason === 'io server disconnect') setTimeout(() => m.socket.connect(), 500);
    return;
  }
  st.alive--;
  st.dropped++;
  error(`run: ${reason}`);
}

// ---------------------------------------------------------------- publisher

function startPublisher(m) {
  const start = nowUs();
  const hardStop = start + (cfg.publish_ms * 2 + 10000) * 1000;
  let seq = 0;
  st.publishFirst = start;
  const tick = () => {
    const due = Math.min(planned, Math.floor(((nowUs() - start) / 1e6) * cfg.publish_rate) + 1);
    while (seq < due) {
      const sentAt = nowUs();
      m.socket.emit('message', { room: cfg.room, text: `${sentAt} ${seq} ${pad}` }, (reply) => {
        ackLatency.record(nowUs() - sentAt);
        if (reply && reply.ok === true) st.acks++;
        else st.ackFailures++;
      });
      seq++;
      st.sent++;
    }
    st.publishLast = nowUs();
    if (seq >= planned || nowUs() > hardStop) clearInterval(timer);
  };
  const timer = setInterval(tick, Math.max(1, 1000 / cfg.publish_rate));
  tick();
}

// ---------------------------------------------------------------- slow consumer

function slowState() {
  if (!slowReport) {
    slowReport = {
      global: cfg.slow_client, paused: false, pause_error: null, paused_at_us: null, resumed_at_us: null,
      bytes_read_during_pause: null, bytes_read_after_first_second: null,
      disconnects: 0, disconnected_at_us: null, disconnect_reason: null,
      reconnects: 0, reconnected_at_us: null, resync_error: null, history_pages: 0, history_messages: 0,
      caught_up_at_us: null, live_seen: 0, seen: 0, missing_ranges: [], last_seen_id: 0,
    };
  }
  return slowReport;
}

/** Stops reading the member's TCP socket for `pause_ms`, then reads again. */
function pauseReading(m) {
  const s = slowState();
  const engine = m.socket.io.engine;
  const ws = engine && engine.transport && engine.transport.ws;
  const raw = ws && ws._socket;
  if (!raw || typeof raw.pause !== 'function') {
    s.pause_error = 'no underlying TCP socket (not on WebSocket?)';
    return;
  }
  // ws.pause() pauses ws._socket and keeps ws from resuming it when its parser drains.
  const pause = typeof ws.pause === 'function' ? () => ws.pause() : () => raw.pause();
  const resume = typeof ws.resume === 'function' ? () => ws.resume() : () => raw.resume();
  const atPause = raw.bytesRead;
  let afterOneSecond = null;
  pause();
  s.paused = true;
  s.paused_at_us = nowUs();
  const check = setTimeout(() => { afterOneSecond = raw.bytesRead; }, Math.min(1000, cfg.pause_ms / 2));
  setTimeout(() => {
    clearTimeout(check);
    s.bytes_read_during_pause = raw.bytesRead - atPause;
    s.bytes_read_after_first_second = afterOneSecond === null ? null : raw.bytesRead - afterOneSecond;
    resume();
    s.resumed_at_us = nowUs();
  }, cfg.pause_ms);
}

/** After a reconnect: join again, then every message after the last one seen. */
async function resync(m) {
  const s = slowState();
  s.reconnects++;
  if (s.reconnected_at_us === null) s.reconnected_at_us = nowUs();
  const recover = (msg) => {
    const p = parseText(msg && msg.text);
    if (p) mark(m, p.seq, false);
  };
  try {
    const after0 = m.lastId;
    const { reply } = await joinRoom(m);
    for (const msg of reply.messages || []) recover(msg);
    let after = after0;
    for (let page = 0; page < MAX_HISTORY_PAGES; page++) {
      const h = await m.socket.timeout(ACK_TIMEOUT_MS).emitWithAck('history', { room: cfg.room, after, limit: HISTORY_PAGE });
      if (!h || h.ok !== true) throw new Error(`history refused: ${JSON.stringify(h).slice(0, 120)}`);
      s.history_pages++;
      s.history_messages += h.messages.length;
      for (const msg of h.messages) recover(msg);
      if (!h.has_more || h.messages.length === 0) break;
      after = h.messages[h.messages.length - 1].id;
      if (after > m.lastId) m.lastId = after;
    }
    s.caught_up_at_us = nowUs();
  } catch (e) {
    s.resync_error = String((e && e.message) || e);
  }
}

/** Runs of sequence numbers `m` never saw, as [first, last] pairs (at most 20). */
function missingRanges(m) {
  const out = [];
  for (let i = 0; i < planned; i++) {
    if (m.seen[i]) continue;
    let j = i;
    while (j + 1 < planned && !m.seen[j + 1]) j++;
    if (out.length < 20) out.push([i, j]);
    i = j;
  }
  return out;
}

// ---------------------------------------------------------------- protocol

function go() {
  for (const m of members) {
    if (m.global === 0) startPublisher(m);
    if (m.slow) setTimeout(() => pauseReading(m), cfg.pause_at_ms);
  }
}

function done() {
  stopping = true;
  const distinct = new Map();
  let presenceTotal = 0;
  let presenceMax = 0;
  let presenceEvents = 0;
  for (const m of members) {
    presenceTotal += m.presenceBytes;
    presenceEvents += m.presenceEvents;
    presenceMax = Math.max(presenceMax, m.presenceBytes);
    if (m.slow) {
      const s = slowState();
      s.live_seen = m.liveSeen;
      s.seen = m.distinct;
      s.last_seen_id = m.lastId;
      s.missing_ranges = missingRanges(m);
      continue;
    }
    distinct.set(m.distinct, (distinct.get(m.distinct) || 0) + 1);
  }
  emit({
    type: 'done', connected: st.connected, alive: st.alive, dropped: st.dropped, received: st.received,
    sent: st.sent, acks: st.acks, ack_failures: st.ackFailures,
    acks_missing: Math.max(0, st.sent - st.acks - st.ackFailures),
    first_recv_us: st.firstRecv, last_recv_us: st.lastRecv,
    latency: latency.pairs(), ack_latency: ackLatency.pairs(), errors: Object.fromEntries(errors),
    distinct: [...distinct.entries()], duplicates: st.duplicates,
    presence_bytes_total: presenceTotal, presence_bytes_max: presenceMax, presence_events: presenceEvents,
    publish_first_us: st.publishFirst, publish_last_us: st.publishLast, error_events: st.errorEvents,
    slow: slowReport, loop_lag_max_ms: Math.max(0, loopLagMax),
  });
}

// How late a 100 ms timer fires: the event loop was busy (parsing) that long.
let loopLagMax = 0;
let lagCheck = nowUs();
setInterval(() => {
  const t = nowUs();
  loopLagMax = Math.max(loopLagMax, (t - lagCheck) / 1000 - 100);
  lagCheck = t;
}, 100);

const progress = setInterval(() => {
  emit({ type: 'progress', alive: st.alive, received: st.received, acks: st.acks });
}, 250);

readline.createInterface({ input: process.stdin }).on('line', (line) => {
  const cmd = line.trim();
  if (cmd === 'go') go();
  else if (cmd === 'stop') {
    clearInterval(progress);
    done();
    process.stdout.write('', () => process.exit(0));
  }
}).on('close', () => process.exit(0));

if (cfg.slow_client !== null && cfg.slow_client !== undefined
    && cfg.slow_client >= cfg.first_client && cfg.slow_client < cfg.first_client + cfg.clients) {
  slowState();
}
setTimeout(sendReady, cfg.connect_phase_ms);
for (let i = 0; i < cfg.clients; i++) startMember(i);
if (cfg.clients === 0) sendReady();
