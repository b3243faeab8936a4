// A command prefix that runs a child where PSI cannot be seen: a private mount
// namespace in which /proc/pressure and every cgroup2 mount are empty tmpfs.
import { spawnSync } from 'node:child_process';
import { hasCommand } from './child';

export function hidePsi(): { prefix: string[] } | { skip: string } {
  if (process.getuid?.() !== 0 || !hasCommand('unshare'))
    return { skip: 'needs root and unshare to hide PSI from a child' };
  const mounts = spawnSync('sh', ['-c', 'awk \'$9 == "cgroup2" { print $5 }\' /proc/self/mountinfo'], {
    encoding: 'utf8',
  });
  const hide = mounts.stdout.trim().split('\n').filter(Boolean);
  const script = [
    'mount -t tmpfs tmpfs /proc/pressure',
    ...hide.map((m) => `mount -t tmpfs tmpfs '${m}'`),
    'exec "$@"',
  ].join(' && ');
  const prefix = ['unshare', '--mount', 'sh', '-c', script, 'sh'];
  const probe = spawnSync(prefix[0]!, [...prefix.slice(1), 'true'], { encoding: 'utf8' });
  return probe.status === 0 ? { prefix } : { skip: `cannot make a mount namespace here: ${probe.stderr.trim()}` };
}
