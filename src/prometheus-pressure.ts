// The paging side of memlock/prometheus: memory PSI, page faults and
// attributed event-loop stalls. Counters follow the conventions of cAdvisor
// (container_pressure_memory_{waiting,stalled}_seconds_total) and
// node_exporter (node_pressure_memory_*_seconds_total, node_vmstat_pgmajfault):
// seconds and counts since the source began, read at scrape time.
import diagnosticsChannel from 'node:diagnostics_channel';
import promClient = require('prom-client');
import type { PressureEvent, StallReport } from './paging-monitor';
import { pressure } from './pressure';
import type { StallVerdict } from './stall-verdict';

const CAUSES: StallVerdict[] = ['paging', 'gc', 'cpu', 'unknown'];

export function registerPressureMetrics(registry: promClient.Registry, prefix: string): void {
  new promClient.Counter({
    name: `${prefix}pressure_stall_seconds_total`,
    help: 'Memory pressure stall time (PSI) that applies to this process, from its cgroup v2 memory.pressure ' +
      '(source="cgroup") or /proc/pressure/memory (source="system"). kind="some": some task was stalled on memory ' +
      '(as cAdvisor\'s container_pressure_memory_waiting_seconds_total); kind="full": all non-idle tasks were ' +
      '(container_pressure_memory_stalled_seconds_total). Absent where the kernel has no PSI.',
    labelNames: ['kind', 'source'],
    registers: [registry],
    collect() {
      const snapshot = pressure();
      this.reset();
      if (snapshot.source === 'unavailable') return;
      if (snapshot.some) this.inc({ kind: 'some', source: snapshot.source }, snapshot.some.totalUs / 1e6);
      if (snapshot.full) this.inc({ kind: 'full', source: snapshot.source }, snapshot.full.totalUs / 1e6);
    },
  });
  const faults = (name: string, help: string, read: (usage: NodeJS.ResourceUsage) => number) =>
    new promClient.Counter({
      name: prefix + name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(read(process.resourceUsage()));
      },
    });
  faults('major_faults_total', 'Page faults of this process that read from disk or swap (as node_vmstat_pgmajfault, for one process).',
    (usage) => usage.majorPageFault);
  faults('minor_faults_total', 'Page faults of this process served without I/O (first touch, page cache hits).',
    (usage) => usage.minorPageFault);

  const stalls = new promClient.Counter({
    name: `${prefix}event_loop_stalls_total`,
    help: 'Event-loop stalls over the monitorPaging() threshold in this thread, by attributed cause ' +
      '(paging, gc, cpu, unknown). Counts only while a monitor runs.',
    labelNames: ['cause'],
    registers: [registry],
  });
  for (const cause of CAUSES) stalls.inc({ cause }, 0);
  diagnosticsChannel.subscribe('memlock:stall', (message) => stalls.inc({ cause: (message as StallReport).verdict }));

  const events = new promClient.Counter({
    name: `${prefix}pressure_events_total`,
    help: "PSI triggers fired for monitorPaging() in this thread (the trigger's kind and where it is armed).",
    labelNames: ['kind', 'source'],
    registers: [registry],
  });
  diagnosticsChannel.subscribe('memlock:pressure', (message) => {
    const { kind, source } = message as PressureEvent;
    events.inc({ kind, source });
  });
}
