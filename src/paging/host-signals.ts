// What a guest can see of the hypervisor under it: the CPU flag, steal time
// (/proc/stat), balloon counters (/proc/vmstat) and balloon devices. Read on
// demand; each reading is the kernel's cumulative count, so readings are
// compared, never judged alone.
import { existsSync, readdirSync } from 'node:fs';
import { readKernelFile } from '../kernel-file';

function read(file: string): string | undefined {
  try {
    return readKernelFile(file);
  } catch {
    return undefined;
  }
}

/** The CPU flag "hypervisor" in /proc/cpuinfo: the kernel runs as a guest. Stable for the boot. */
export function hypervisorFlag(): boolean {
  return /^flags\s*:.*\bhypervisor\b/m.test(read('/proc/cpuinfo') ?? '');
}

// USER_HZ: /proc/stat counts in 1/100 s on every Linux architecture Node runs on.
const TICK_MS = 10;

export interface CpuTimes {
  /** All CPUs' time since boot, and of it the time stolen by the hypervisor (runnable, not run), in ms. */
  totalMs: number;
  stealMs: number;
}

/** /proc/stat's first line; undefined where it cannot be read. */
export function cpuTimes(): CpuTimes | undefined {
  const line = /^cpu\s+(.*)$/m.exec(read('/proc/stat') ?? '')?.[1];
  if (line === undefined) return undefined;
  // user nice system idle iowait irq softirq steal guest guest_nice (guest is already in user)
  const fields = line.trim().split(/\s+/).map(Number);
  const total = fields.slice(0, 8).reduce((sum, value) => sum + (value || 0), 0);
  return { totalMs: total * TICK_MS, stealMs: (fields[7] ?? 0) * TICK_MS };
}

export interface BalloonCounters {
  /** /proc/vmstat balloon_inflate, balloon_deflate (pages moved since boot), nr_balloon_pages (held now). */
  inflate: number;
  deflate: number;
  pages: number;
}

export function balloonCounters(): BalloonCounters | undefined {
  const text = read('/proc/vmstat');
  if (text === undefined) return undefined;
  const field = (name: string) => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
  return { inflate: field('balloon_inflate'), deflate: field('balloon_deflate'), pages: field('nr_balloon_pages') };
}

/** Balloon drivers bound to a device: the host can ask for guest memory back. */
export function balloonDevices(): string[] {
  const found: string[] = [];
  const bound = (dir: string) => {
    try {
      return readdirSync(dir).some((entry) => /^virtio\d+$/.test(entry));
    } catch {
      return false;
    }
  };
  if (bound('/sys/bus/virtio/drivers/virtio_balloon')) found.push('virtio_balloon');
  if (bound('/sys/bus/virtio/drivers/virtio_mem')) found.push('virtio_mem');
  if (existsSync('/sys/module/vmw_balloon')) found.push('vmw_balloon');
  if (existsSync('/sys/module/hv_balloon')) found.push('hv_balloon');
  if (existsSync('/sys/module/xen_balloon')) found.push('xen_balloon');
  return found;
}
