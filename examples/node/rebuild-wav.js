#!/usr/bin/env node
// rebuild-wav.js: rebuild one participant's audio of one call from mediabot's
// NATS JetStream stream as a 16-bit mono WAV, the way the bot's file sink
// writes it. Everything it relies on is in the main README's "Consuming
// audio: in-process, files, NATS" section:
//
//   - frames are on mediabot.audio.{callId}.{participantId} (ids as subject
//     tokens), payload s16le mono PCM at Mediabot-Sample-Rate;
//   - Mediabot-Seq numbers a subject's frames from 0: sort by it (JetStream
//     may store a resent frame after later ones); a gap is frames the bot
//     dropped (or the stream discarded at its limits);
//   - Mediabot-Media-Time (ms on the call's media clock) places each frame:
//     nothing is published during silence (DTX), so a jump in it is silence;
//   - participant.joined/updated events on mediabot.events.{callId} give the
//     display name (identity.displayName) of each participant id.
//
// Usage (see README.md beside it):
//   node rebuild-wav.js --url nats://127.0.0.1:4222 --call CALL_ID --name "Alice" --out alice.wav
//   node rebuild-wav.js --url ... --call CALL_ID --participant PARTICIPANT_ID --out p.wav
//   node rebuild-wav.js --url ... --call CALL_ID     (lists the call's participants)
//   node rebuild-wav.js --url ...                    (lists the calls)
"use strict";

const fs = require("node:fs");
const { connect, credsAuthenticator, nkeyAuthenticator } = require("nats");

const AUDIO = "mediabot.audio.";
const EVENTS = "mediabot.events.";

function usage(msg) {
  if (msg) console.error(`rebuild-wav: ${msg}`);
  console.error(`usage: node rebuild-wav.js --url URL [--stream MEDIABOT] [--creds FILE | --nkey SEEDFILE]
       [--call CALL_ID [--participant ID | --name DISPLAY_NAME] --out FILE.wav] [--idle-ms 3000]`);
  process.exit(2);
}

function parseArgs(argv) {
  const o = { stream: "MEDIABOT", idleMs: 3000 };
  const names = { "--url": "url", "--stream": "stream", "--call": "call", "--participant": "participant",
    "--name": "name", "--out": "out", "--creds": "creds", "--nkey": "nkey", "--idle-ms": "idleMs" };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "-h" || argv[i] === "--help") usage();
    const key = names[argv[i]];
    if (!key || i + 1 >= argv.length) usage(`unknown or incomplete argument ${argv[i]}`);
    o[key] = argv[++i];
  }
  o.url = o.url || process.env.NATS_URL;
  if (!o.url) usage("--url (or NATS_URL) is required");
  o.idleMs = Number(o.idleMs);
  return o;
}

// subjectToken is the NATS sink's SubjectToken: an id as one subject token.
// '.', '*', '>' and white space (Go's unicode.IsSpace) become '_'; "" is "_".
function subjectToken(id) {
  if (id === "") return "_";
  return id.replace(/[.*>\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/gu, "_");
}

// subjectCounts is the number of messages per subject matching filter.
async function subjectCounts(jsm, stream, filter) {
  const info = await jsm.streams.info(stream, { subjects_filter: filter });
  return info.state.subjects || {};
}

// readAll returns the expected messages of subject (its count when the
// read began) in stream order, from an ordered consumer from the start.
async function readAll(js, stream, subject, expected, idleMs) {
  const out = [];
  if (!expected) return out;
  // An ordered consumer starts at stream sequence 1 by default: it delivers
  // all. Do not pass deliver_policy: DeliverPolicy.All: nats.js 2.x then
  // sends it with opt_start_seq, which current NATS servers (2.15 here)
  // refuse, and it retries without end.
  const c = await js.consumers.get(stream, { filterSubjects: subject });
  while (out.length < expected) {
    const batch = await c.fetch({ max_messages: Math.min(1000, expected - out.length), expires: idleMs });
    let got = 0;
    for await (const m of batch) {
      out.push(m);
      got++;
    }
    if (got === 0) break; // the stream discarded some meanwhile (its limits)
  }
  return out;
}

// participants reads a call's participant events: id -> display name.
async function participants(js, jsm, stream, callTok, idleMs) {
  const subject = EVENTS + callTok;
  const counts = await subjectCounts(jsm, stream, subject);
  const names = new Map();
  for (const m of await readAll(js, stream, subject, counts[subject] || 0, idleMs)) {
    let e;
    try {
      e = JSON.parse(new TextDecoder().decode(m.data));
    } catch {
      continue;
    }
    if ((e.type === "participant.joined" || e.type === "participant.updated") && e.participantId) {
      const prev = names.get(e.participantId) || {};
      names.set(e.participantId, { name: (e.identity && e.identity.displayName) || prev.name || "", kind: (e.identity && e.identity.kind) || prev.kind || "", sourceId: e.sourceId || prev.sourceId || "" });
    }
  }
  return names;
}

// header reads one header, failing on a frame without it.
function header(m, name) {
  const v = m.headers && m.headers.get(name);
  if (v === undefined || v === null || v === "") throw new Error(`frame ${m.subject} #${m.seq} has no ${name}`);
  return v;
}

// writeWAV writes 16-bit mono PCM (chunks of s16le bytes) at rate.
function writeWAV(path, rate, chunks) {
  const dataLen = chunks.reduce((n, c) => n + c.length, 0);
  const h = Buffer.alloc(44);
  h.write("RIFF", 0);
  h.writeUInt32LE(36 + dataLen, 4);
  h.write("WAVE", 8);
  h.write("fmt ", 12);
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(1, 20); // PCM
  h.writeUInt16LE(1, 22); // mono
  h.writeUInt32LE(rate, 24);
  h.writeUInt32LE(rate * 2, 28);
  h.writeUInt16LE(2, 32);
  h.writeUInt16LE(16, 34);
  h.write("data", 36);
  h.writeUInt32LE(dataLen, 40);
  const fd = fs.openSync(path, "w");
  try {
    fs.writeSync(fd, h);
    for (const c of chunks) fs.writeSync(fd, c);
  } finally {
    fs.closeSync(fd);
  }
  return dataLen / 2;
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const opts = { servers: o.url.split(","), name: "mediabot rebuild-wav" };
  if (o.creds) opts.authenticator = credsAuthenticator(fs.readFileSync(o.creds));
  if (o.nkey) opts.authenticator = nkeyAuthenticator(new TextEncoder().encode(fs.readFileSync(o.nkey, "utf8").trim()));
  const nc = await connect(opts);
  try {
    const js = nc.jetstream();
    const jsm = await nc.jetstreamManager();

    if (!o.call) { // list the calls
      const counts = await subjectCounts(jsm, o.stream, EVENTS + "*");
      for (const s of Object.keys(counts).sort()) console.log(`${s.slice(EVENTS.length)}\t${counts[s]} events`);
      return;
    }
    const callTok = subjectToken(o.call);
    const people = await participants(js, jsm, o.stream, callTok, o.idleMs);

    let pid = o.participant;
    if (!pid && o.name) {
      const ids = [...people].filter(([, p]) => p.name === o.name).map(([id]) => id);
      if (ids.length !== 1) throw new Error(`${ids.length} participants of call ${o.call} named ${JSON.stringify(o.name)}${ids.length ? ": " + ids.join(", ") : ""}`);
      pid = ids[0];
    }
    if (!pid) { // list the call's audio subjects
      const counts = await subjectCounts(jsm, o.stream, AUDIO + callTok + ".*");
      const byToken = new Map([...people].map(([id, p]) => [subjectToken(id), { id, ...p }]));
      for (const s of Object.keys(counts).sort()) {
        const tok = s.slice(AUDIO.length + callTok.length + 1);
        const p = byToken.get(tok);
        console.log(`${p ? p.id : tok}\t${counts[s]} frames\t${p ? JSON.stringify(p.name) + " " + p.kind : ""}`);
      }
      return;
    }
    if (!o.out) usage("--out is required");

    const subject = AUDIO + callTok + "." + subjectToken(pid);
    const counts = await subjectCounts(jsm, o.stream, subject);
    const msgs = await readAll(js, o.stream, subject, counts[subject] || 0, o.idleMs);
    if (msgs.length === 0) throw new Error(`no frames on ${subject}`);

    // Order by Mediabot-Seq, once each (a resend may be stored again after
    // the stream's de-duplication window).
    const frames = new Map();
    for (const m of msgs) {
      const seq = Number(header(m, "Mediabot-Seq"));
      if (!frames.has(seq)) {
        frames.set(seq, {
          seq,
          rate: Number(header(m, "Mediabot-Sample-Rate")),
          mediaMs: Number(header(m, "Mediabot-Media-Time")),
          concealed: header(m, "Mediabot-Concealed") === "true",
          pcm: m.data,
        });
      }
    }
    const ordered = [...frames.values()].sort((a, b) => a.seq - b.seq);

    // Place each frame at its media time: silence where the WAV is behind
    // (DTX pauses, frames lost); a frame late for its place is appended, as
    // the file sink does.
    const rate = ordered[0].rate;
    const chunks = [];
    let written = 0; // samples
    let missing = ordered[0].seq; // frames before the first kept one
    let concealed = 0;
    let prev = ordered[0].seq - 1;
    for (const f of ordered) {
      missing += f.seq - prev - 1;
      prev = f.seq;
      if (f.rate !== rate) {
        console.error(`rebuild-wav: frame ${f.seq} at ${f.rate} Hz skipped (the WAV is at ${rate} Hz)`);
        continue;
      }
      const at = Math.floor((f.mediaMs * rate) / 1000);
      if (at > written) {
        chunks.push(Buffer.alloc(2 * (at - written)));
        written = at;
      }
      chunks.push(Buffer.from(f.pcm.buffer, f.pcm.byteOffset, f.pcm.byteLength - (f.pcm.byteLength % 2)));
      written += Math.floor(f.pcm.byteLength / 2);
      if (f.concealed) concealed++;
    }
    const samples = writeWAV(o.out, rate, chunks);
    const who = people.get(pid);
    console.log(`${o.out}: ${(samples / rate).toFixed(2)} s at ${rate} Hz from ${ordered.length} frames of ${pid}` +
      (who && who.name ? ` (${who.name})` : "") + `, ${concealed} concealed`);
    if (missing > 0) {
      console.log(`${missing} frames missing (gaps in Mediabot-Seq: dropped by the bot while NATS was unreachable, or discarded by the stream's limits); silence in their place`);
    }
  } finally {
    await nc.close();
  }
}

main().catch((err) => {
  console.error(`rebuild-wav: ${err.message || err}`);
  process.exit(1);
});
