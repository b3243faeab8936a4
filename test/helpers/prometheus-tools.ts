// promtool and the Prometheus server, from Debian's `prometheus` package
// (.ci/run installs it). Outside CI a missing tool skips the test, saying so;
// under CI=true it fails: CI must run these checks.
import { spawnSync } from 'node:child_process';

export type PrometheusTool = 'promtool' | 'prometheus';

/** Their environment: without the sanitizer runtime the ASan run preloads for Node (they are Go programs). */
export function toolEnv(): NodeJS.ProcessEnv {
  const { LD_PRELOAD: _preload, ...env } = process.env;
  return env;
}

/** Whether `tool` runs here; otherwise why the test cannot run (and whether that is a failure). */
export function prometheusTool(tool: PrometheusTool): { ok: true } | { ok: false; why: string; fail: boolean } {
  const probe = spawnSync(tool, ['--version'], { encoding: 'utf8', env: toolEnv() });
  if (probe.status === 0) return { ok: true };
  return {
    ok: false,
    why: `${tool} is not installed (apt-get install prometheus): ${probe.error?.message ?? probe.stderr}`,
    fail: process.env['CI'] === 'true',
  };
}
