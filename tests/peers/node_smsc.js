// An SMSC built on the `smpp` npm package (node-smpp), an SMPP implementation nobody here wrote,
// so Herald's SMPP codec is checked against someone else's reading of the specification.
//
// usage: node node_smsc.js SMPP_PORT CONTROL_PORT SYSTEM_ID PASSWORD
//
// SMPP: bind_transceiver (ESME_RINVPASWD on a wrong password, ESME_RBINDFAIL while told to),
// submit_sm answered with a message id (or ESME_RTHROTTLED / ESME_RSYSERR every Nth, when told),
// concatenated parts (UDH IEI 0x00 or 0x08) reassembled and counted once, a delivery receipt per
// part (deliver_sm, esm_class 0x04, the receipt text and its TLVs), enquire_link answered.
// A cut (cut_after_n): the Nth submit_sm since the reset is taken but never answered, every bind is
// dropped at once (whatever else they had written is never read), and binds are answered
// ESME_RBINDFAIL for cut_bindfail_s from then, as an SMSC that restarts does.
// Control (HTTP on loopback): GET /ledger, POST /reset, POST /config {throttle_every, syserr_every,
// bindfail_s, cut_after_n, cut_bindfail_s}, POST /mo {from, to, text} (a person's text as deliver_sm,
// esm_class 0).
'use strict';
const http = require('http');
const smpp = require('smpp');

const [smppPort, controlPort, systemId, password] = process.argv.slice(2);
let ledger, config, ids, sessions = new Set();

function reset() {
  ledger = {binds: 0, bind_failures: 0, submits: 0, throttled: 0, syserr: 0, messages: [],
            receipts_sent: 0, receipts_acked: 0, mo_acked: 0,
            // The cut: when (ms since the epoch), how many binds it dropped, whom the submit_sm it
            // took unanswered was for, and the first submit_sm after it.
            cuts: 0, cut_at: null, cut_binds: 0, cut_taken: [], first_submit_after_cut: null};
  config = {throttle_every: 0, syserr_every: 0, bindfail_until: 0, cut_after_n: 0, cut_bindfail_s: 0};
  ids = 0;
}
reset();
const partial = new Map();

function concatenation(udhList) {
  // [reference, total, sequence] of a concatenation header, or null.
  for (const udh of udhList || []) {
    if (udh[0] === 0x00 && udh.length >= 5) return [udh[2], udh[3], udh[4]];
    if (udh[0] === 0x08 && udh.length >= 6) return [udh.readUInt16BE(2), udh[4], udh[5]];
  }
  return null;
}

function stamp() {
  const d = new Date();
  const two = (n) => String(n).padStart(2, '0');
  return two(d.getUTCFullYear() % 100) + two(d.getUTCMonth() + 1) + two(d.getUTCDate()) +
    two(d.getUTCHours()) + two(d.getUTCMinutes());
}

function receipt(session, messageId, pdu) {
  const text = `id:${messageId} sub:001 dlvrd:001 submit date:${stamp()} done date:${stamp()} stat:DELIVRD err:000 text:`;
  ledger.receipts_sent++;
  session.deliver_sm({
    source_addr: pdu.destination_addr, source_addr_ton: 1, source_addr_npi: 1,
    destination_addr: pdu.source_addr, esm_class: 0x04, short_message: text,
    receipted_message_id: messageId, message_state: 2,
  }, (resp) => { if (resp.command_status === 0) ledger.receipts_acked++; });
}

function cutEveryBind(n) {
  // Dropped, not closed: nothing more is read from or written to these binds.
  ledger.cuts++;
  ledger.cut_at = Date.now();
  ledger.cut_binds = [...sessions].filter((s) => s.bound).length;
  config.bindfail_until = ledger.cut_at + 1000 * config.cut_bindfail_s;
  config.cut_after_n = 0;
  for (const s of [...sessions]) {
    s.cut = true;
    s.bound = false;
    s.pause();
    s.destroy();
  }
}

function submitted(session, pdu) {
  ledger.submits++;
  const n = ledger.submits;
  if (ledger.cuts && ledger.first_submit_after_cut === null) ledger.first_submit_after_cut = Date.now();
  if (config.throttle_every && n % config.throttle_every === 0) {
    ledger.throttled++;
    return session.send(pdu.response({command_status: smpp.ESME_RTHROTTLED}));
  }
  if (config.syserr_every && n % config.syserr_every === 0) {
    ledger.syserr++;
    return session.send(pdu.response({command_status: smpp.ESME_RSYSERR}));
  }
  const messageId = (++ids).toString(16).padStart(10, '0');
  const cutting = config.cut_after_n && n === config.cut_after_n;
  if (!cutting) session.send(pdu.response({message_id: messageId}));
  const body = pdu.short_message || {};
  const text = typeof body === 'string' ? body : (body.message || '');
  const to = (pdu.dest_addr_ton === 1 ? '+' : '') + pdu.destination_addr;
  const concat = concatenation(body.udh);
  if (!concat) {
    ledger.messages.push({to, text, parts: 1, data_coding: pdu.data_coding, ids: [messageId]});
  } else {
    const [ref, total, seq] = concat;
    const key = `${to}/${ref}`;
    const parts = partial.get(key) || new Map();
    parts.set(seq, {text, id: messageId});
    partial.set(key, parts);
    if (parts.size === total) {
      partial.delete(key);
      const ordered = [...parts.keys()].sort((a, b) => a - b).map((k) => parts.get(k));
      ledger.messages.push({to, text: ordered.map((p) => p.text).join(''), parts: total,
                            data_coding: pdu.data_coding, ids: ordered.map((p) => p.id)});
    }
  }
  if (cutting) {
    ledger.cut_taken.push(to);
    return cutEveryBind(n);
  }
  if (pdu.registered_delivery) setTimeout(() => receipt(session, messageId, pdu), 20);
}

const server = smpp.createServer((session) => {
  sessions.add(session);
  session.on('close', () => sessions.delete(session));
  session.on('error', () => sessions.delete(session));
  session.on('bind_transceiver', (pdu) => {
    if (Date.now() < config.bindfail_until) {
      ledger.bind_failures++;
      session.send(pdu.response({command_status: smpp.ESME_RBINDFAIL}));
      return session.close();
    }
    if (pdu.system_id !== systemId || pdu.password !== password) {
      ledger.bind_failures++;
      session.send(pdu.response({command_status: pdu.system_id !== systemId ? smpp.ESME_RINVSYSID
                                                                            : smpp.ESME_RINVPASWD}));
      return session.close();
    }
    ledger.binds++;
    session.bound = true;
    session.send(pdu.response({system_id: 'NODE-SMSC'}));
  });
  session.on('submit_sm', (pdu) => {
    if (session.cut) return;
    if (!session.bound) return session.send(pdu.response({command_status: smpp.ESME_RINVBNDSTS}));
    submitted(session, pdu);
  });
  session.on('enquire_link', (pdu) => session.send(pdu.response()));
  session.on('unbind', (pdu) => { session.bound = false; session.send(pdu.response()); session.close(); });
});
server.listen(Number(smppPort), '127.0.0.1');

const CONFIG_FIELDS = ['throttle_every', 'syserr_every', 'bindfail_s', 'cut_after_n', 'cut_bindfail_s'];

function answer(res, status, body) {
  res.writeHead(status, {'Content-Type': 'application/json'});
  res.end(JSON.stringify(body));
}

http.createServer((req, res) => {
  let raw = '';
  req.on('data', (chunk) => { raw += chunk; });
  req.on('end', () => {
    let body = {};
    try { body = raw ? JSON.parse(raw) : {}; } catch (e) { return answer(res, 400, {error: 'not JSON'}); }
    if (req.method === 'GET' && req.url === '/ledger') return answer(res, 200, ledger);
    if (req.method === 'POST' && req.url === '/reset') { reset(); partial.clear(); return answer(res, 200, {}); }
    if (req.method === 'POST' && req.url === '/config') {
      const bad = Object.keys(body).filter((k) => !CONFIG_FIELDS.includes(k) || !(Number(body[k]) >= 0));
      if (bad.length) return answer(res, 400, {error: `unknown or not a number >= 0: ${bad.join(', ')}`});
      config.throttle_every = Number(body.throttle_every || 0);
      config.syserr_every = Number(body.syserr_every || 0);
      config.bindfail_until = Date.now() + 1000 * Number(body.bindfail_s || 0);
      config.cut_after_n = Number(body.cut_after_n || 0);
      config.cut_bindfail_s = Number(body.cut_bindfail_s || 0);
      return answer(res, 200, config);
    }
    if (req.method === 'POST' && req.url === '/mo') {
      // The newest bind: an older one may be closing (its unbind or close not read yet).
      const bound = [...sessions].filter((s) => s.bound).pop();
      if (!bound) return answer(res, 409, {error: 'no ESME is bound'});
      bound.deliver_sm({source_addr: String(body.from).replace(/^\+/, ''), source_addr_ton: 1, source_addr_npi: 1,
                        destination_addr: String(body.to), esm_class: 0, short_message: String(body.text)},
                       (resp) => { if (resp.command_status === 0) ledger.mo_acked++; });
      return answer(res, 200, {sent: true});
    }
    answer(res, 404, {error: 'not found'});
  });
}).listen(Number(controlPort), '127.0.0.1', () => console.log('node SMSC ready'));
