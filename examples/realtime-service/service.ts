// A small real-time service on memlock: it stamps and signs a frame every
// 10 ms into a ring of pinned memory (locked and faulted in up front, so the
// hot path never takes a page fault), with a signing key kept in secret
// memory (locked, out of core dumps), watched by the paging monitor, and it
// serves memlock's metrics to Prometheus on 127.0.0.1.
//
//   node --import tsx examples/realtime-service/service.ts
//   PORT=0 ...  (any free port: the address is printed as the first line, JSON)
//
// It runs until SIGINT or SIGTERM, then frees what it holds and exits
// (with MEMLOCK_EXAMPLE_CI=1, as `npm run examples` runs it: after scraping
// itself once).
import { createHmac, randomFillSync } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { allocPinned, allocSecret, monitorPaging, pageSize } from 'memlock';
import { registerMetrics } from 'memlock/prometheus';
import { Registry } from 'prom-client';

const HOST = '127.0.0.1';
// In CI (npm run examples) any free port, so a busy 9464 fails nothing.
const port = Number(process.env['PORT'] ?? (process.env['MEMLOCK_EXAMPLE_CI'] === '1' ? 0 : 9464));
const FRAME_BYTES = 512;
const FRAMES = (64 * pageSize) / FRAME_BYTES;
const TICK_MS = 10;

const registry = new Registry();
registerMetrics({ registry });

const ring = allocPinned(FRAMES * FRAME_BYTES);
const key = allocSecret(32);
randomFillSync(key.buffer);

// Stalls over 50 ms are attributed (paging, GC, CPU) and counted in
// memlock_event_loop_stalls_total; PSI triggers in memlock_pressure_events_total.
const monitor = monitorPaging({ stallThresholdMs: 50 });
monitor.on('stall', (report: { verdict: string; reason: string }) => {
  console.error(`stall (${report.verdict}): ${report.reason}`);
});

let tick = 0;
const timer = setInterval(() => {
  const offset = (tick % FRAMES) * FRAME_BYTES;
  const frame = ring.buffer.subarray(offset, offset + FRAME_BYTES);
  frame.writeDoubleLE(performance.now(), 0);
  frame.writeUInt32LE(tick, 8);
  // OpenSSL copies the key for the length of this call; the long-lived copy
  // stays in secret memory.
  createHmac('sha256', key.buffer).update(frame.subarray(0, 12)).digest().copy(frame, 16);
  tick += 1;
}, TICK_MS);

const server = http.createServer((request, response) => {
  if (request.url !== '/metrics') {
    response.writeHead(404).end();
    return;
  }
  registry.metrics().then(
    (text) => response.writeHead(200, { 'Content-Type': registry.contentType }).end(text),
    (error: unknown) => response.writeHead(500).end(String(error)),
  );
});
server.listen(port, HOST, () => {
  const { port: bound } = server.address() as AddressInfo;
  const url = `http://${HOST}:${bound}/metrics`;
  console.log(JSON.stringify({ metrics: url, pid: process.pid }));
  // npm run examples (CI): scrape itself once after a second, then stop.
  if (process.env['MEMLOCK_EXAMPLE_CI'] === '1') setTimeout(() => void scrapeOnceAndStop(url), 1000);
});

async function scrapeOnceAndStop(url: string): Promise<void> {
  const text = await (await fetch(url)).text();
  const locked = /^memlock_locked_bytes (\d+)/m.exec(text)?.[1];
  console.log(`scraped ${text.split('\n').length} lines; memlock_locked_bytes ${locked}`);
  shutdown();
  if (locked === undefined || Number(locked) < ring.buffer.length) process.exitCode = 1;
}

function shutdown(): void {
  clearInterval(timer);
  monitor.close();
  server.close();
  server.closeAllConnections();
  key.free();
  ring.free();
}
process.once('SIGINT', shutdown);
process.once('SIGTERM', shutdown);
