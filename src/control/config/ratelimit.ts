// The `rateLimit` section: how many UDP queries a second one client (an
// IPv4 address, an IPv6 /56) may send before aifence stops answering it in
// full, and what it does then.
//
// The defaults are sized for an office resolver where one "client" may be a
// NAT gateway or a local forwarder speaking for hundreds of people. A
// browser opening a heavy page asks A, AAAA and HTTPS for 50-100 names at
// once, so a burst of 1,000 covers a whole floor reloading its tabs; 200 a
// second sustained is about ten times what a 200-person office sends in
// total. A host that floods (a looping script, malware tunnelling over DNS,
// a reflection attack with forged sources) is held to 200 a second, well
// under 1% of what one core answers. AdGuard Home's 20 qps and Pi-hole's
// 1000 per minute suit one home device: Pi-hole users whose router or DoT
// proxy forwards for everyone get limited (pi-hole/pi-hole#5586);
// unbound's ip-ratelimit is off by default.

import { parseCidr } from '../../net/address.js';
import type { RateLimitConfig } from '../../shared/serving-config.js';
import { ConfigError, integer, list, object, oneOf } from './check.js';

export const DEFAULT_QPS = 200;
/** The burst, unless given, as a multiple of qps. */
const BURST_SECONDS = 5;
export const DEFAULT_SLIP = 2;
// Loopback cannot be forged from the network (the kernel drops it as martian)
// and is where health checks and a local forwarder (dnsmasq on a gateway) speak from.
export const DEFAULT_EXEMPT = ['127.0.0.0/8', '::1/128'];

export const RATE_LIMIT_OFF: RateLimitConfig = { qps: 0, burst: 0, action: 'drop', slip: DEFAULT_SLIP, exempt: [] };

export function rateLimitSection(value: unknown): RateLimitConfig {
  if (value === 'off' || value === false) return RATE_LIMIT_OFF;
  if (typeof value === 'string') throw new ConfigError('rateLimit', value, 'is not off or a mapping; write off, or e.g. { qps: 200, burst: 1000, action: slip }');
  const section = object('rateLimit', value, ['qps', 'burst', 'action', 'slip', 'exempt']);
  const qps = section.qps === undefined ? DEFAULT_QPS : integer('rateLimit.qps', section.qps, 0, 1_000_000);
  if (qps === 0) return RATE_LIMIT_OFF;
  const burst = section.burst === undefined ? qps * BURST_SECONDS : integer('rateLimit.burst', section.burst, 1, 10_000_000);
  const action = section.action === undefined ? 'slip' : oneOf('rateLimit.action', section.action, ['drop', 'refused', 'slip'] as const);
  if (section.slip !== undefined && action !== 'slip') {
    throw new ConfigError('rateLimit.slip', section.slip, `only applies with action: slip (action is ${action}); remove it or set action: slip`);
  }
  const slip = section.slip === undefined ? DEFAULT_SLIP : integer('rateLimit.slip', section.slip, 1, 100);
  const exempt = list('rateLimit.exempt', section.exempt ?? DEFAULT_EXEMPT).map((item, i) => {
    const cidr = typeof item === 'string' ? parseCidr(item) : null;
    if (!cidr) throw new ConfigError(`rateLimit.exempt[${i}]`, item, 'is not an IP prefix, e.g. 127.0.0.0/8, 10.0.0.1 or fd00::/8');
    return cidr;
  });
  return { qps, burst, action, slip, exempt };
}
