// A small real-time service on memlock: it stamps and signs a frame every
// 10 ms into a ring of pinned memory (locked and faulted in up front, so the
// hot path never takes a page fault), with a signing key kept in secret
// memory (locked, out of core dumps), watched by the paging monitor, and it
// serves memlock's metrics to Prometheus on 127.0.0.1.
//
//   node --import tsx examples/realtime-service/service.ts
//   PORT=0 ...  (any free port: the address is printed as the first line, JSON)
//
// It runs until SIGINT or SIGTERM, then frees what it holds and exits.
import { createHmac, randomFillSync } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { allocPinned, allocSecret, monitorPaging, pageSize } from 'memlock';
import { registerMetrics } from 'memlock/prometheus';
import { Registry } from 'prom-client';

const HOST = '127.0.0.1';
const port = Number(process.env['PORT'] ?? 9464);
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
  console.log(JSON.stringify({ metrics: `http://${HOST}:${bound}/metrics`, pid: process.pid }));
});

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
