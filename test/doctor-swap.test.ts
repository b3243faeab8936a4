// test-exclusive: a swapfile (swap seen by every process)
// doctor's container-swap check with real swap: a swapfile is made and
// enabled for the test (root only), and always removed. With swap present
// the container (this process's memory cgroup) may swap what is not locked:
// the check warns, with the runtimes' own settings as remedies; without swap
// it passes. The same check on cgroup v2 reads memory.swap.max.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { containerSwapCheck } from '../src/cli/container-checks';
import { hasCommand } from './helpers/child';

const swapAreas = (): number => readFileSync('/proc/swaps', 'utf8').trim().split('\n').length - 1;

const skip =
  process.platform !== 'linux'
    ? 'Linux only'
    : process.getuid?.() !== 0
      ? 'needs root (swapon)'
      : !hasCommand('mkswap') || !hasCommand('swapon')
        ? 'needs mkswap and swapon (util-linux)'
        : swapAreas() > 0
          ? 'swap is already on: the no-swap case cannot be shown'
          : false;

t.test(
  'container-swap: passes with no swap, warns once a swap area is on, and names the runtimes settings',
  { skip },
  (t) => {
    t.equal(containerSwapCheck().status, 'pass', 'no swap areas');
    // Not tmpfs: swapon refuses files there.
    const dir = mkdtempSync(path.join('/var/tmp', 'memlock-swap-'));
    const file = path.join(dir, 'swapfile');
    let enabled = false;
    t.teardown(() => {
      if (enabled) execFileSync('swapoff', [file]);
      rmSync(dir, { recursive: true, force: true });
    });
    execFileSync('dd', ['if=/dev/zero', `of=${file}`, 'bs=1M', 'count=16', 'status=none']);
    execFileSync('chmod', ['600', file]);
    execFileSync('mkswap', [file], { stdio: 'ignore' });
    try {
      execFileSync('swapon', [file], { stdio: ['ignore', 'ignore', 'pipe'] });
      enabled = true;
    } catch (error) {
      t.comment(
        `swapon refused a swapfile on /var/tmp's filesystem here: the swap case is not shown (${(error as Error).message})`,
      );
      t.end();
      return;
    }
    t.equal(swapAreas(), 1, 'the kernel lists the swapfile');
    const check = containerSwapCheck();
    t.equal(check.status, 'warn', check.finding);
    t.match(check.finding, /may swap/);
    t.ok(
      check.remedy.some((line) => line.includes('memorySwap.swapBehavior')) &&
        check.remedy.some((line) => line.includes('--memory-swap')) &&
        check.remedy.some((line) => line.includes('MemorySwapMax=0')),
      'remedies in Kubernetes, docker and systemd terms',
    );
    execFileSync('swapoff', [file]);
    enabled = false;
    t.equal(containerSwapCheck().status, 'pass', 'swap off again: passes');
    t.end();
  },
);
