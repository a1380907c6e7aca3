// After apply: the UDP ports publish.udp gives are kept for network: private's
// NAT, through the helper (`cellsh-helper ports`, src/helper/port-guard.h),
// which makes the kept set exactly the applied policy's: a range no user has
// any longer is freed. Without it, any local account could bind a user's port
// (libslirp shares it with SO_REUSEADDR) and take their mosh traffic.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { ExitCode } from '../errors.js';
import { helperArgs } from '../helper-client/protocol.js';
import type { Layout } from '../layout.js';
import type { CompiledUser } from '../policy/compiled.js';
import type { TextOut } from './check.js';

/** "60001-60004 (alice), 61000 (bob)": what the policy publishes, by user. */
export function describePorts(users: readonly CompiledUser[]): string {
  return users
    .filter((u) => u.udp_ports[0] !== 0)
    .map(({ udp_ports: [lo, hi], name }) => `${lo === hi ? lo : `${lo}-${hi}`} (${name})`)
    .join(', ');
}

/** Keep the policy's ports (and free the rest); the exit code apply ends with. */
export function keepPublishedPorts(layout: Layout, users: readonly CompiledUser[], out: TextOut, err: TextOut): number {
  const kept = describePorts(users);
  if (!existsSync(layout.helper)) {
    if (kept) err.write(`note: ${layout.helper} is missing, so the UDP ports ${kept} are not kept for the NAT\n`);
    return ExitCode.ok;
  }
  const r = spawnSync(layout.helper, helperArgs({ verb: 'ports' }), { encoding: 'utf8' });
  if (r.status === 0) {
    if (kept) out.write(`applied: UDP ports ${kept} kept for the NAT of network: private\n`);
    return ExitCode.ok;
  }
  const why = (r.stderr || r.error?.message || 'the helper failed').trim().replace(/^cellsh[^:]*: /, '');
  err.write(`${why}\nthe policy is applied, but those users' logins fail until the ports can be kept\n`);
  return ExitCode.config;
}
