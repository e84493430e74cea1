// Plays media files in headless Chromium and reports what the player saw, as JSON on stdout.
//
//   node tests/browser/play.mjs SPEC.json
//
// SPEC: {"dir": "/abs/folder served at /", "rate": 8, "timeout_secs": 90,
//        "items": [{"name": "...", "path": "file.mp4" | "file.ts", "kind": "mp4" | "hls",
//                   "extinf": 8.04 (hls only: the one segment's EXTINF), "seeks": [1.5, ...],
//                   "watch": [{"from": 6.0, "to": 9.0,
//                              "rects": {"main": [x, y, w, h], "tile": [x, y, w, h]}}] (optional)}]}
//
// A loopback HTTP server (node:http, Range requests) serves the folder, hls.js and, for an
// "hls" item, a one-segment VOD playlist /NAME.m3u8 pointing at its .ts. Each item gets a
// fresh page with one <video> (muted): after `loadedmetadata` it seeks to every time in
// `seeks` and draws the painted picture to a canvas (mean colour of a 4x4 grid); then, for
// every `watch` window, plays from `from` to `to` in real time (rate 1) and, in a
// `requestVideoFrameCallback` per presented frame, draws the frame to a canvas and records
// its `mediaTime`, `presentedFrames` and the mean colour of each named rect (as a viewer
// sees the composite: a main area that changes owner shows up as a jump in colour); then
// plays from 0 to `ended` at `rate`. Every `durationchange` and error is recorded. The test
// (tests/browser.rs) judges the result; this script only fails on its own errors.

import { createServer } from 'node:http';
import { createReadStream, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import puppeteer from 'puppeteer-core';

const here = dirname(fileURLToPath(import.meta.url));
const spec = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const rate = spec.rate ?? 8;
const timeoutMs = (spec.timeout_secs ?? 90) * 1000;
const hlsJs = join(here, 'node_modules', 'hls.js', 'dist', 'hls.min.js');

const types = { '.mp4': 'video/mp4', '.ts': 'video/mp2t', '.m3u8': 'application/vnd.apple.mpegurl' };

function serve(req, res) {
  const url = new URL(req.url, 'http://x');
  const path = decodeURIComponent(url.pathname);
  if (path === '/' || path === '/index.html') {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end('<!doctype html><html><body></body></html>');
    return;
  }
  if (path === '/hls.js') {
    res.writeHead(200, { 'content-type': 'text/javascript' });
    res.end(readFileSync(hlsJs));
    return;
  }
  const item = spec.items.find((i) => i.kind === 'hls' && path === `/${i.name}.m3u8`);
  if (item) {
    const text =
      '#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-PLAYLIST-TYPE:VOD\n' +
      `#EXT-X-TARGETDURATION:${Math.ceil(item.extinf)}\n#EXT-X-MEDIA-SEQUENCE:0\n` +
      `#EXTINF:${item.extinf.toFixed(6)},\n/${item.path}\n#EXT-X-ENDLIST\n`;
    res.writeHead(200, { 'content-type': types['.m3u8'] });
    res.end(text);
    return;
  }
  const file = normalize(join(spec.dir, path));
  if (!file.startsWith(normalize(spec.dir + '/'))) {
    res.writeHead(403).end();
    return;
  }
  let size;
  try {
    size = statSync(file).size;
  } catch {
    res.writeHead(404).end();
    return;
  }
  const type = types[file.slice(file.lastIndexOf('.'))] ?? 'application/octet-stream';
  const m = /^bytes=(\d*)-(\d*)$/.exec(req.headers.range ?? '');
  if (m && size > 0) {
    const start = m[1] === '' ? Math.max(0, size - Number(m[2])) : Number(m[1]);
    const end = m[1] !== '' && m[2] !== '' ? Math.min(Number(m[2]), size - 1) : size - 1;
    if (start >= size || start > end) {
      res.writeHead(416, { 'content-range': `bytes */${size}` }).end();
      return;
    }
    res.writeHead(206, {
      'content-type': type,
      'accept-ranges': 'bytes',
      'content-range': `bytes ${start}-${end}/${size}`,
      'content-length': end - start + 1,
    });
    createReadStream(file, { start, end }).pipe(res);
    return;
  }
  res.writeHead(200, { 'content-type': type, 'accept-ranges': 'bytes', 'content-length': size });
  createReadStream(file).pipe(res);
}

// Runs inside the page.
async function playInPage(src, kind, seeks, watch, rate, timeoutMs) {
  const log = { errors: [], warnings: [], durations: [], seeks: [], watches: [] };
  const v = document.createElement('video');
  v.muted = true;
  v.preload = 'auto';
  document.body.appendChild(v);
  const t0 = performance.now();
  const now = () => Math.round(performance.now() - t0);
  v.addEventListener('error', () =>
    log.errors.push(`media error ${v.error && v.error.code}: ${v.error && v.error.message}`),
  );
  v.addEventListener('durationchange', () =>
    log.durations.push({ ms: now(), duration: v.duration, current_time: v.currentTime }),
  );
  const once = (ev, ms) =>
    new Promise((ok, fail) => {
      const timer = setTimeout(() => fail(new Error(`no '${ev}' within ${ms} ms`)), ms);
      v.addEventListener(
        ev,
        () => {
          clearTimeout(timer);
          ok();
        },
        { once: true },
      );
    });
  const meta = once('loadedmetadata', 20000);
  if (kind === 'hls') {
    if (!window.Hls || !window.Hls.isSupported()) throw new Error('hls.js not supported here (no MSE?)');
    const hls = new window.Hls({ enableWorker: false, maxBufferLength: 600 });
    hls.on(window.Hls.Events.ERROR, (_, d) =>
      (d.fatal ? log.errors : log.warnings).push(`hls.js ${d.type} ${d.details}${d.fatal ? ' (fatal)' : ''}`),
    );
    hls.on(window.Hls.Events.BUFFER_APPENDED, (_, d) => {
      log.appended = log.appended || {};
      for (const [k, tr] of Object.entries(d.timeRanges || {}))
        if (tr && tr.length) log.appended[k] = [tr.start(0), tr.end(tr.length - 1)];
    });
    hls.loadSource(src);
    hls.attachMedia(v);
  } else {
    v.src = src;
  }
  try {
    await meta;
  } catch (e) {
    log.errors.push(String(e));
    return log;
  }
  log.loaded_duration = v.duration;
  log.width = v.videoWidth;
  log.height = v.videoHeight;
  const c = document.createElement('canvas');
  c.width = v.videoWidth;
  c.height = v.videoHeight;
  const g = c.getContext('2d', { willReadFrequently: true });
  const grid = 4;
  for (const t of seeks) {
    const seeked = once('seeked', 15000);
    v.currentTime = t;
    try {
      await seeked;
    } catch (e) {
      log.errors.push(`seek to ${t}: ${e}`);
      continue;
    }
    // The picture of the new position is composited at latest with the next video frame
    // callback; a paused element may not call it again when the frame did not change.
    await Promise.race([
      new Promise((ok) => v.requestVideoFrameCallback(() => ok())),
      new Promise((ok) => setTimeout(ok, 400)),
    ]);
    g.drawImage(v, 0, 0, c.width, c.height);
    const px = g.getImageData(0, 0, c.width, c.height).data;
    const cells = [];
    for (let gy = 0; gy < grid; gy++) {
      for (let gx = 0; gx < grid; gx++) {
        const x0 = Math.floor((gx * c.width) / grid), x1 = Math.floor(((gx + 1) * c.width) / grid);
        const y0 = Math.floor((gy * c.height) / grid), y1 = Math.floor(((gy + 1) * c.height) / grid);
        const s = [0, 0, 0];
        for (let y = y0; y < y1; y++) {
          for (let x = x0; x < x1; x++) {
            const i = (y * c.width + x) * 4;
            s[0] += px[i];
            s[1] += px[i + 1];
            s[2] += px[i + 2];
          }
        }
        const n = (x1 - x0) * (y1 - y0);
        cells.push(s.map((x) => x / n));
      }
    }
    log.seeks.push({ t, current_time: v.currentTime, grid: cells });
  }
  // Real-time windows: every presented frame.
  const mean = (px, cw, [rx, ry, rw, rh]) => {
    const s = [0, 0, 0];
    for (let y = ry; y < ry + rh; y++) {
      for (let x = rx; x < rx + rw; x++) {
        const i = (y * cw + x) * 4;
        s[0] += px[i];
        s[1] += px[i + 1];
        s[2] += px[i + 2];
      }
    }
    return s.map((x) => x / (rw * rh));
  };
  for (const w of watch) {
    const rec = { from: w.from, to: w.to, frames: [] };
    log.watches.push(rec);
    v.pause();
    v.playbackRate = 1;
    const seeked = once('seeked', 15000);
    v.currentTime = w.from;
    try {
      await seeked;
    } catch (e) {
      log.errors.push(`watch: seek to ${w.from}: ${e}`);
      continue;
    }
    const q0 = v.getVideoPlaybackQuality();
    let done;
    const finished = new Promise((ok) => (done = ok));
    const onFrame = (now, md) => {
      g.drawImage(v, 0, 0, c.width, c.height);
      const px = g.getImageData(0, 0, c.width, c.height).data;
      const f = { t: md.mediaTime, presented: md.presentedFrames, now };
      for (const [k, r] of Object.entries(w.rects)) f[k] = mean(px, c.width, r);
      rec.frames.push(f);
      if (md.mediaTime >= w.to || v.ended) done();
      else v.requestVideoFrameCallback(onFrame);
    };
    v.requestVideoFrameCallback(onFrame);
    const start = performance.now();
    try {
      await v.play();
      const limit = (w.to - w.from) * 1000 + 15000;
      await Promise.race([
        finished,
        new Promise((_, fail) => setTimeout(() => fail(new Error(`not at ${w.to} s within ${limit} ms`)), limit)),
      ]);
    } catch (e) {
      log.errors.push(`watch ${w.from}-${w.to}: ${e}`);
    }
    v.pause();
    const q1 = v.getVideoPlaybackQuality();
    rec.wall_ms = performance.now() - start;
    rec.dropped = q1.droppedVideoFrames - q0.droppedVideoFrames;
    rec.decoded = q1.totalVideoFrames - q0.totalVideoFrames;
  }
  // Play from the start to the end.
  const back = once('seeked', 15000);
  v.currentTime = 0;
  await back.catch((e) => log.errors.push(`seek to 0: ${e}`));
  const ended = once('ended', timeoutMs);
  v.playbackRate = rate;
  try {
    await v.play();
    await ended;
    log.ended = true;
  } catch (e) {
    log.errors.push(`playing: ${e}`);
    log.ended = false;
  }
  log.buffered = Array.from({ length: v.buffered.length }, (_, i) => [v.buffered.start(i), v.buffered.end(i)]);
  log.ended_duration = v.duration;
  log.ended_time = v.currentTime;
  log.play_ms = now();
  return log;
}

const server = createServer(serve);
await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
const base = `http://127.0.0.1:${server.address().port}`;
const profile = mkdtempSync(join(tmpdir(), 'stitch-chromium-'));
const browser = await puppeteer.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  headless: true,
  userDataDir: profile,
  timeout: 30000,
  protocolTimeout: timeoutMs + 60000,
  args: [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--autoplay-policy=no-user-gesture-required',
    '--mute-audio',
  ],
});
const out = { browser: await browser.version(), items: [] };
try {
  for (const item of spec.items) {
    const page = await browser.newPage();
    const console_lines = [];
    page.on('console', (m) => console_lines.push(m.text()));
    page.on('pageerror', (e) => console_lines.push(`pageerror: ${e.message}`));
    await page.goto(`${base}/index.html`);
    if (item.kind === 'hls') await page.addScriptTag({ url: `${base}/hls.js` });
    const src = item.kind === 'hls' ? `${base}/${item.name}.m3u8` : `${base}/${item.path}`;
    let r;
    try {
      r = await page.evaluate(playInPage, src, item.kind, item.seeks, item.watch ?? [], rate, timeoutMs);
    } catch (e) {
      r = { errors: [`page: ${e.message}`], durations: [], seeks: [] };
    }
    out.items.push({ name: item.name, console: console_lines, ...r });
    await page.close();
  }
} finally {
  await browser.close();
  server.close();
  rmSync(profile, { recursive: true, force: true });
}
process.stdout.write(JSON.stringify(out) + '\n');
