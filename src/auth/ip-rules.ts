/**
 * A user's `restrict_ip` allowlist. Frappe matches with `request_ip.startswith(entry)`, so
 * `10.0.0.1` also admits `10.0.0.123`; cortado turns every entry into an address range: an exact
 * address, a CIDR (IPv4 or IPv6), or Frappe's partial form (`10.0.0`, `10.0.0.`, `192.168`)
 * read as whole leading octets, i.e. `10.0.0.0/24` (docs/compatibility.md).
 */
import ipaddr from 'ipaddr.js';
import { frappeError, type FrappeError } from '../core/errors.ts';
import { inRanges, parseIp, parseRange } from './client-ip.ts';

export type IpRange = [ipaddr.IPv4 | ipaddr.IPv6, number];

export interface IpRules {
  /** The entries as written (trimmed), in order; Frappe stores them joined by `,`. */
  readonly entries: readonly string[];
  readonly ranges: readonly IpRange[];
}

/** One to three decimal octets, optional trailing dot; no leading zeros, so `10.0.01` is refused. */
const PARTIAL = /^(0|[1-9]\d{0,2})(?:\.(0|[1-9]\d{0,2})){0,2}\.?$/;

function splitEntries(text: string | null | undefined): string[] {
  return (text ?? '')
    .split(/[,\r\n]+/)
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
}

function parseEntry(entry: string): IpRange | undefined {
  if (PARTIAL.test(entry)) {
    const octets = entry.replace(/\.$/, '').split('.').map(Number);
    // A dotted quad never matches PARTIAL (at most three octets), so this is a genuine prefix.
    if (octets.some((octet) => octet > 255)) return undefined;
    const padded = [...octets, 0, 0, 0].slice(0, 4);
    return [ipaddr.IPv4.parse(padded.join('.')), 8 * octets.length];
  }
  try {
    // parseRange accepts only dotted quads and valid IPv6, and unwraps IPv4-mapped forms.
    return parseRange(entry);
  } catch {
    return undefined;
  }
}

function invalid(entries: readonly string[]): FrappeError {
  const listed = entries.map((entry) => JSON.stringify(entry)).join(', ');
  return frappeError(
    'ValidationError',
    `Invalid entry in Restrict IP: ${listed}. Use an IP address (10.0.0.1), a CIDR range ` +
      '(10.0.0.0/24, 2001:db8::/32) or leading whole octets (10.0.0).',
    { title: 'Invalid IP Address' },
  );
}

/**
 * Parses a `restrict_ip` value (entries separated by commas and/or newlines). Empty text means
 * no restriction. Throws a ValidationError naming every invalid entry, so a typo never silently
 * widens or empties the allowlist.
 */
export function parseIpRules(text: string | null | undefined): IpRules {
  const entries = splitEntries(text);
  const ranges: IpRange[] = [];
  const bad: string[] = [];
  for (const entry of entries) {
    const range = parseEntry(entry);
    if (range) ranges.push(range);
    else bad.push(entry);
  }
  if (bad.length > 0) throw invalid(bad);
  return { entries, ranges };
}

/**
 * For the User save path: throws like parseIpRules, and returns the value normalised as Frappe
 * stores it (trimmed entries joined by `,`).
 */
export function validateIpRulesText(text: string | null | undefined): string {
  return parseIpRules(text).entries.join(',');
}

/** True when there is no restriction or the address lies in one of the ranges. */
export function ipAllowed(rules: IpRules, ip: string): boolean {
  if (rules.ranges.length === 0) return true;
  // An address we cannot read cannot be shown to be inside the allowlist.
  const address = parseIp(ip);
  return address !== undefined && inRanges(address, rules.ranges);
}

/**
 * Frappe's refusal. Frappe appends the IP in developer mode only; it is the client's own
 * address as the server sees it, which helps debugging a proxy set-up.
 */
export function ipRefusal(ip: string, options: { developerMode?: boolean } = {}): FrappeError {
  const suffix = options.developerMode ? `: ${ip}` : '';
  return frappeError('AuthenticationError', `Access not allowed from this IP Address${suffix}`, { status: 401 });
}
