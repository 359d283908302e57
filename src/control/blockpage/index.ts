// The block page, assembled: the organisation's CA (read once), the
// certificates it mints, and the listeners. The daemon starts it beside the
// admin API when the config has a blockPage section.

import type { Logger } from '../../shared/logger.js';
import type { BlockPageConfig } from '../config/blockpage.js';
import type { Filter } from '../policy/filter.js';
import { Certificates, loadCa } from './certs.js';
import { blockedForSomeone, hostName } from './facts.js';
import { BlockPageServer, type BlockPageTarget } from './server.js';

export { BlockPageServer } from './server.js';
export type { BlockPageTarget } from './server.js';

export interface BlockPage {
  server: BlockPageServer;
  certificates: Certificates;
}

/** Starts the page's listeners; a CA that cannot be used, or an address taken, stops the start with the reason. */
export async function startBlockPage(config: BlockPageConfig, target: BlockPageTarget, filter: () => Filter, log: Logger): Promise<BlockPage> {
  const ca = config.ca ? loadCa(config.ca) : null;
  const ips = [config.answer.ipv4, config.answer.ipv6].filter((a): a is string => a !== undefined);
  const certificates = new Certificates(ca, {
    defaultNames: { dns: [], ip: ips },
    organisation: config.organisation,
    mayMint: (name) => {
      const wire = hostName(name);
      return wire !== null && blockedForSomeone(filter(), wire);
    },
  });
  if (config.https.length > 0 && ca === null) {
    log.warn({ https: config.https.map((h) => `${h.host}:${h.port}`) }, 'block page over HTTPS without blockPage.ca: a self-signed certificate, so browsers warn (and refuse HSTS sites); see docs/block-page.md');
  }
  const server = await BlockPageServer.start(config, certificates, target, log);
  log.info({ http: server.addresses.http.map((a) => `${a.address}:${a.port}`), https: server.addresses.https.map((a) => `${a.address}:${a.port}`), ca: config.ca?.cert ?? null, requests: config.requests }, 'block page serving');
  return { server, certificates };
}
