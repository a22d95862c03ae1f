// Regenerates hlsjs_cmcd.txt with the CMCD encoder hls.js itself uses
// (its bundled @svta/common-media-library: encodeCmcd for the CMCD= query
// and event bodies, toPreparedCmcdHeaders for the CMCD-* headers), so the
// Go parser is tested against what hls.js really puts on the wire.
//
//   npm install --prefix .tools/node hls.js@1.7.4
//   node sched/collect/testdata/hlsjs/gen.mjs .tools/node/node_modules/hls.js/dist/hls.mjs \
//     > sched/collect/testdata/hlsjs/hlsjs_cmcd.txt
//
// The encoder is not exported from hls.js, so a copy of the bundle with an
// export line appended is imported.
import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

globalThis.self = globalThis;
const src = readFileSync(process.argv[2], 'utf8');
const tmp = join(mkdtempSync(join(tmpdir(), 'hlsjs-')), 'hls-exp.mjs');
writeFileSync(tmp, src + '\nexport { encodeCmcd, toPreparedCmcdHeaders, prepareCmcdData };\n');
const m = await import(tmp);

const sid = '6e2fb550-c457-11e9-bb97-0800200c9a66';
const requests = [
  { ot: 'm', su: true, sid, cid: 'live/cam1', sf: 'h', st: 'l' },
  { br: [3200], bl: [21300], d: 4004, dl: 21300, mtp: [25400], ot: 'v', rtp: 15000, sid, cid: 'live/cam1', sf: 'h', st: 'l', su: true, tb: [6000], nor: ['seg-0002.ts'] },
  { br: [3200], bl: [800], d: 4000, dl: 600, mtp: [9100], ot: 'av', rtp: 15000, sid, sf: 'h', st: 'v', bs: true, pr: 1.25 },
  { br: [128], bl: [15000], d: 2000, ot: 'a', sid, sf: 'h', st: 'v' },
];
for (const v of [1, 2]) {
  for (const r of requests) {
    const data = { ...r, v };
    console.log('query\t' + m.encodeCmcd(data, { version: v }));
    const h = m.toPreparedCmcdHeaders(m.prepareCmcdData(data, { version: v }));
    console.log('headers\t' + Object.entries(h).map(([k, val]) => k + ': ' + val).join('\t'));
  }
}
const events = [
  { e: 'ps', sta: 's', ts: 1764638400000, sid, sf: 'h', st: 'l' },
  { e: 'ps', sta: 'p', ts: 1764638401250, sid, msd: 1250, ltc: [3400], sf: 'h', st: 'l' },
  { e: 'ps', sta: 'r', ts: 1764638430000, sid, bsa: [2], bsd: [1800], dfa: 12, sf: 'h', st: 'l' },
  { e: 'e', sta: 'e', ts: 1764638431000, sid, ec: ['MEDIA_ERR_DECODE', 'NET-404'], sf: 'h', st: 'l' },
];
for (const ev of events) console.log('event\t' + m.encodeCmcd({ ...ev, v: 2 }, { version: 2, reportingMode: 'event' }));
