// `memlock doctor`'s real-time readiness: locked memory stays resident, but
// the kernel may still move it, unmap it for sampling, merge it or compact
// around it (docs/locked-is-not-pinned.md). Each check says what a setting
// means for locked memory, the kernel's own counters as evidence, and the fix.
// None of them fails: a machine can lock memory without being real-time ready.
import { readdirSync } from 'node:fs';
import { readKernelFile } from '../kernel-file';
import type { Check, CheckId, CheckStatus } from './check';
import { columns, type stylist } from './format';
import { readProcFile, swapAreas, vmstat } from '../proc';

/** `doctor --json`'s `realtime`: the same Check shape as `checks`. */
export interface RealtimeReport {
  /** No real-time check has status "warn" (none ever fails). */
  ready: boolean;
  checks: Check[];
  summary: Record<CheckStatus, number>;
}

function realtimeCheck(id: CheckId, title: string, status: CheckStatus, finding: string, remedy: string[] = []): Check {
  return { id, title, status, finding, remedy: status === 'pass' ? [] : remedy, error: null };
}

/** A sysfs or procfs setting, trimmed; undefined where the kernel has no such file. */
function setting(path: string): string | undefined {
  try {
    return readKernelFile(path).trim();
  } catch {
    return undefined;
  }
}

/** The selected word of a sysfs choice such as "always [madvise] never". */
function selected(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  return /\[([^\]]+)\]/.exec(text)?.[1] ?? text;
}

/** "name N" for the vmstat counters given, those the kernel has. */
function counters(names: string[]): string {
  let all: Map<string, number>;
  try {
    all = vmstat();
  } catch {
    return '/proc/vmstat unreadable';
  }
  const found = names.filter((n) => all.has(n)).map((n) => `${n} ${all.get(n)}`);
  return found.length === 0 ? 'no counters for it in /proc/vmstat' : `since boot: ${found.join(', ')}`;
}

function compactionCheck(): Check {
  const title = 'vm.compact_unevictable_allowed';
  const value = setting('/proc/sys/vm/compact_unevictable_allowed');
  if (value === undefined)
    return realtimeCheck(
      'compact-unevictable',
      title,
      'pass',
      'absent: this kernel has no compaction (CONFIG_COMPACTION off)',
    );
  const proactive = setting('/proc/sys/vm/compaction_proactiveness');
  const evidence = counters(['pgmigrate_success', 'compact_isolated', 'compact_stall', 'compact_daemon_wake']);
  if (value === '0')
    return realtimeCheck(
      'compact-unevictable',
      title,
      'pass',
      `0: compaction leaves locked pages where they are (${evidence})`,
    );
  return realtimeCheck(
    'compact-unevictable',
    title,
    'warn',
    `${value}: compaction may migrate locked pages to other frames, and a thread touching one waits for the move` +
      `${proactive === undefined || proactive === '0' ? '' : ` (proactive compaction ${proactive}: kcompactd does it in the background)`}; ${evidence}`,
    [
      'sysctl -w vm.compact_unevictable_allowed=0, and persist it in /etc/sysctl.d/ (containers share the host value)',
      'or on the kernel command line: sysctl.vm.compact_unevictable_allowed=0 (PREEMPT_RT kernels default to 0)',
      "or tuned-adm profile realtime (tuned's real-time profiles set it)",
    ],
  );
}

function numaCheck(): Check {
  const title = 'kernel.numa_balancing';
  let nodes = 1;
  try {
    nodes = readdirSync('/sys/devices/system/node').filter((n) => /^node\d+$/.test(n)).length || 1;
  } catch {
    // No /sys/devices/system/node: a kernel without NUMA, one node.
  }
  const value = setting('/proc/sys/kernel/numa_balancing');
  const where = `${nodes} NUMA node${nodes === 1 ? '' : 's'}`;
  if (value === undefined || value === '0')
    return realtimeCheck('numa-balancing', title, 'pass', `${value ?? 'absent'} (off), ${where}`);
  const evidence = counters(['numa_hint_faults', 'numa_pages_migrated', 'pgmigrate_success']);
  if (nodes === 1)
    return realtimeCheck(
      'numa-balancing',
      title,
      'pass',
      `${value} (on) but ${where}: nothing to balance between (${evidence})`,
    );
  return realtimeCheck(
    'numa-balancing',
    title,
    'warn',
    `${value} (on), ${where}: the kernel unmaps pages (locked ones too) to sample their use, so a touch takes a hinting fault, and migrates them between nodes; ${evidence}`,
    [
      'sysctl -w kernel.numa_balancing=0, and persist it in /etc/sysctl.d/, or numa_balancing=disable on the kernel command line',
      'and bind the service to one node: numactl --cpunodebind=N --membind=N, or systemd NUMAPolicy=bind',
    ],
  );
}

function thpCheck(): Check {
  const title = 'transparent huge pages';
  const base = '/sys/kernel/mm/transparent_hugepage';
  const enabled = selected(setting(`${base}/enabled`));
  if (enabled === undefined)
    return realtimeCheck('thp', title, 'pass', 'absent: this kernel has no transparent huge pages');
  const defrag = selected(setting(`${base}/defrag`)) ?? 'unknown';
  const collapse = setting(`${base}/khugepaged/defrag`) ?? 'unknown';
  const scan = setting(`${base}/khugepaged/pages_to_scan`);
  const finding =
    `enabled ${enabled}, defrag ${defrag}, khugepaged defrag ${collapse}` +
    (scan === undefined ? '' : `, ${scan} pages per scan`) +
    `; ${counters(['thp_fault_alloc', 'thp_collapse_alloc', 'compact_stall'])}`;
  const problems: string[] = [];
  if (enabled === 'always')
    problems.push('khugepaged may collapse any anonymous memory, locked too, into huge pages: a copy to a new frame');
  if (defrag === 'always')
    problems.push('a fault that could take a huge page compacts memory first (direct compaction, a stall)');
  // In madvise mode khugepaged works only for memory that asked for huge pages.
  if (enabled === 'always' && collapse === '1')
    problems.push('khugepaged compacts memory (locked pages too, where compaction may move them) for its collapses');
  if (problems.length === 0)
    return realtimeCheck('thp', title, 'pass', `${finding}: only memory that asks (madvise) is collapsed`);
  return realtimeCheck('thp', title, 'warn', `${finding}: ${problems.join('; ')}`, [
    `echo madvise > ${base}/enabled (or never), or transparent_hugepage=madvise on the kernel command line`,
    `echo defer+madvise > ${base}/defrag (or never), and echo 0 > ${base}/khugepaged/defrag`,
  ]);
}

function ksmCheck(): Check {
  const title = 'KSM';
  const run = setting('/sys/kernel/mm/ksm/run');
  if (run === undefined) return realtimeCheck('ksm', title, 'pass', 'absent: this kernel has no KSM');
  const sharing = setting('/sys/kernel/mm/ksm/pages_sharing') ?? 'unknown';
  if (run === '0' || run === '2')
    return realtimeCheck(
      'ksm',
      title,
      'pass',
      `run ${run} (${run === '0' ? 'stopped' : 'stopped, merged pages unmerged'}): no pages are merged`,
    );
  return realtimeCheck(
    'ksm',
    title,
    'warn',
    `run ${run}: ksmd merges identical pages of mergeable memory (MADV_MERGEABLE, prctl PR_SET_MEMORY_MERGE), locked ones too; a write to a merged page takes a copy-on-write fault; pages_sharing ${sharing}`,
    [
      'echo 2 > /sys/kernel/mm/ksm/run (stop and unmerge), or leave it running and keep the service out of it (no MADV_MERGEABLE, no PR_SET_MEMORY_MERGE)',
    ],
  );
}

function swappinessCheck(): Check {
  const title = 'vm.swappiness';
  const value = setting('/proc/sys/vm/swappiness');
  const areas = swapAreas();
  if (value === undefined) return realtimeCheck('swappiness', title, 'pass', 'absent');
  if (areas.length === 0)
    return realtimeCheck(
      'swappiness',
      title,
      'pass',
      `${value}, no swap: memory that is not locked is not swapped either`,
    );
  if (Number(value) <= 10)
    return realtimeCheck(
      'swappiness',
      title,
      'pass',
      `${value}: with swap on, memory that is not locked (the V8 heap, code, unlocked buffers) is swapped only under pressure`,
    );
  return realtimeCheck(
    'swappiness',
    title,
    'warn',
    `${value}, swap on: memory that is not locked (the V8 heap, code, unlocked buffers) is swapped out readily, and the next touch waits for a read`,
    [
      'sysctl -w vm.swappiness=10 (or lower), and persist it in /etc/sysctl.d/',
      'or lock what the service touches on its latency path: lockCode(), lock(view), lockAll({ onFault: true })',
    ],
  );
}

function rtprioCheck(): Check {
  const title = 'RLIMIT_RTPRIO';
  const line = /^Max realtime priority\s+(\S+)\s+(\S+)/m.exec(readProcFile('/proc/self/limits'));
  const soft = line?.[1] ?? 'unknown';
  const hard = line?.[2] ?? 'unknown';
  const meaning =
    soft === '0'
      ? 'this process may not take a real-time scheduling class (SCHED_FIFO/RR) without CAP_SYS_NICE'
      : 'this process may take a real-time scheduling class up to that priority';
  return realtimeCheck('rtprio', title, 'pass', `${soft} soft / ${hard} hard (information): ${meaning}`);
}

function governorCheck(): Check {
  const title = 'CPU frequency governor';
  let governors: string[] = [];
  try {
    governors = readdirSync('/sys/devices/system/cpu')
      .filter((c) => /^cpu\d+$/.test(c))
      .map((c) => setting(`/sys/devices/system/cpu/${c}/cpufreq/scaling_governor`))
      .filter((g): g is string => g !== undefined);
  } catch {
    // No sysfs: nothing to say.
  }
  if (governors.length === 0)
    return realtimeCheck(
      'cpu-governor',
      title,
      'pass',
      'no cpufreq here (information): frequency is not scaled by this kernel (on a VM the host decides)',
    );
  const distinct = [...new Set(governors)];
  return realtimeCheck(
    'cpu-governor',
    title,
    'pass',
    `${distinct.join(', ')} on ${governors.length} CPU${governors.length === 1 ? '' : 's'} (information)` +
      (distinct.every((g) => g === 'performance')
        ? ''
        : ': a CPU clocked down takes longer for the same work; real-time profiles use performance'),
  );
}

function guarded(id: CheckId, title: string, run: () => Check): Check {
  try {
    return run();
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return realtimeCheck(id, title, 'warn', `could not check: ${message}`, ['see the finding']);
  }
}

export function realtimeChecks(): RealtimeReport {
  const checks = [
    guarded('compact-unevictable', 'vm.compact_unevictable_allowed', compactionCheck),
    guarded('numa-balancing', 'kernel.numa_balancing', numaCheck),
    guarded('thp', 'transparent huge pages', thpCheck),
    guarded('ksm', 'KSM', ksmCheck),
    guarded('swappiness', 'vm.swappiness', swappinessCheck),
    guarded('rtprio', 'RLIMIT_RTPRIO', rtprioCheck),
    guarded('cpu-governor', 'CPU frequency governor', governorCheck),
  ];
  const summary = { pass: 0, warn: 0, fail: 0 };
  for (const c of checks) summary[c.status] += 1;
  return { ready: summary.warn === 0 && summary.fail === 0, checks, summary };
}

/** The section `memlock doctor` prints after its checks. */
export function renderRealtime(report: RealtimeReport, style: ReturnType<typeof stylist>): string[] {
  const colour = { pass: 'green', warn: 'yellow', fail: 'red' } as const;
  const lines = ['', style('bold', 'real-time readiness') + '  (locked is resident, not pinned)', ''];
  const rows = columns(report.checks.map((c) => [c.status.toUpperCase(), c.title, c.finding]));
  const indent = ' '.repeat(rows[0]![0]!.length + 2 + rows[0]![1]!.length + 2);
  report.checks.forEach((c, i) => {
    const [status, title, finding] = rows[i]!;
    lines.push(`${style(['bold', colour[c.status]], status!)}  ${title}  ${finding}`);
    for (const fix of c.remedy) lines.push(`${indent}${style('dim', 'fix:')} ${fix}`);
  });
  const { warn } = report.summary;
  lines.push(
    '',
    report.ready ? 'real-time ready' : `not real-time ready: ${warn} warning${warn === 1 ? '' : 's'} above`,
  );
  return lines;
}
