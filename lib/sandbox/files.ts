import { readFileSync, writeFileSync } from 'node:fs';
import type { DNSConfig__Output } from '../generated/runtime/v1/DNSConfig.js';

/** resolv.conf from the pod's DNSConfig; the host's own when the pod gives none. */
export function resolvConf(dns: DNSConfig__Output | null, hostResolvConf: () => string): string {
  if (!dns || (dns.servers.length === 0 && dns.searches.length === 0 && dns.options.length === 0)) return hostResolvConf();
  const lines: string[] = [];
  if (dns.searches.length > 0) lines.push(`search ${dns.searches.join(' ')}`);
  for (const server of dns.servers) lines.push(`nameserver ${server}`);
  if (dns.options.length > 0) lines.push(`options ${dns.options.join(' ')}`);
  return `${lines.join('\n')}\n`;
}

/** /etc/hosts for a pod with its own network: localhost and the pod's name on each of its IPs. */
export function hostsFile(hostname: string, ips: readonly string[]): string {
  const lines = [
    '127.0.0.1\tlocalhost',
    '::1\tlocalhost ip6-localhost ip6-loopback',
    'fe00::0\tip6-localnet',
    'fe00::0\tip6-mcastprefix',
    'fe00::1\tip6-allnodes',
    'fe00::2\tip6-allrouters',
  ];
  for (const ip of ips) lines.push(`${ip}\t${hostname}`);
  return `${lines.join('\n')}\n`;
}

export function readHostFile(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

export function writePodFile(path: string, content: string): void {
  writeFileSync(path, content, { mode: 0o644 });
}
