/**
 * The client's IP: the socket peer, and `X-Forwarded-For` only when that peer is a trusted
 * proxy (site config `trusted_proxies`, loopback by default). Frappe believes the header from
 * anyone; cortado does not (docs/compatibility.md).
 */
import ipaddr from 'ipaddr.js';

type Range = [ipaddr.IPv4 | ipaddr.IPv6, number];

/**
 * Parses an address, unwrapping IPv4-mapped IPv6 (`::ffff:1.2.3.4`). IPv4 must be a plain
 * dotted quad: ipaddr.js also takes inet_aton shorthands (`127.1`, `2130706433`,
 * `0x7f.0.0.1`, `1.2.3` = 1.2.0.3), which are refused here.
 */
export function parseIp(text: string): ipaddr.IPv4 | ipaddr.IPv6 | undefined {
  const trimmed = text.trim();
  if (!ipaddr.IPv4.isValidFourPartDecimal(trimmed) && !ipaddr.IPv6.isValid(trimmed)) return undefined;
  try {
    const address = ipaddr.parse(trimmed);
    return address.kind() === 'ipv6' && (address as ipaddr.IPv6).isIPv4MappedAddress()
      ? (address as ipaddr.IPv6).toIPv4Address()
      : address;
  } catch {
    return undefined;
  }
}

export function parseRange(text: string): Range {
  const trimmed = text.trim();
  if (trimmed.includes('/')) {
    if (!parseIp(trimmed.slice(0, trimmed.indexOf('/')))) throw new TypeError(`invalid IP address or CIDR: ${JSON.stringify(text)}`);
    const [address, bits] = ipaddr.parseCIDR(trimmed);
    const unwrapped = parseIp(address.toString());
    if (unwrapped && unwrapped.kind() !== address.kind()) return [unwrapped, Math.max(0, bits - 96)];
    return [address, bits];
  }
  const address = parseIp(trimmed);
  if (!address) throw new TypeError(`invalid IP address or CIDR: ${JSON.stringify(text)}`);
  return [address, address.kind() === 'ipv4' ? 32 : 128];
}

export function inRanges(address: ipaddr.IPv4 | ipaddr.IPv6, ranges: readonly Range[]): boolean {
  return ranges.some(([base, bits]) => base.kind() === address.kind() && address.match(base, bits));
}

interface Peer {
  address: ipaddr.IPv4 | ipaddr.IPv6 | undefined;
  text: string;
  trusted: boolean;
}

/**
 * The socket peer, parsed and checked against `ranges` once per distinct address: parsing
 * with ipaddr.js cost about as much as one SQL statement per request (bench CPU profile,
 * docs/performance.md). Bounded, so a flood of addresses only costs re-parsing.
 */
function peerParser(ranges: readonly Range[]): (socket: string) => Peer {
  const seen = new Map<string, Peer>();
  return (socket) => {
    let peer = seen.get(socket);
    if (!peer) {
      const address = parseIp(socket);
      peer = { address, text: address?.toString() ?? socket, trusted: address !== undefined && inRanges(address, ranges) };
      if (seen.size >= 1024) seen.clear();
      seen.set(socket, peer);
    }
    return peer;
  };
}

/** Builds the resolver once; a bad `trusted_proxies` entry fails at start, not per request. */
export function createClientIpResolver(trustedProxies: readonly string[]): (socket: string, forwardedFor: string | undefined) => string {
  const ranges = trustedProxies.map(parseRange);
  const parsePeer = peerParser(ranges);
  return function clientIp(socket, forwardedFor) {
    const { address: peer, text: peerText, trusted } = parsePeer(socket);
    if (!peer || !forwardedFor || !trusted) return peerText;
    // Walk from the nearest hop outwards; the first address not of our own proxies is the client.
    const hops = forwardedFor.split(',').map((h) => h.trim()).filter(Boolean);
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = parseIp(hops[i] ?? '');
      if (!hop) return peerText;
      if (!inRanges(hop, ranges)) return hop.toString();
    }
    const first = parseIp(hops[0] ?? '');
    return first?.toString() ?? peerText;
  };
}

/** Whether a socket peer is one of our trusted proxies (whose X-Forwarded-* headers count). */
export function createTrustedPeerCheck(trustedProxies: readonly string[]): (socket: string) => boolean {
  const parsePeer = peerParser(trustedProxies.map(parseRange));
  return (socket) => parsePeer(socket).trusted;
}
