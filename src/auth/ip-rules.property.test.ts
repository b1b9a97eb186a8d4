/**
 * Property tests of the IP allowlist parser (`restrict_ip` on User and on named API keys) and of
 * the client address resolver (`X-Forwarded-For`), with the fuzz kit's seed and case count
 * (FC_SEED / FC_NUM_RUNS, test/security/fuzz-kit.ts).
 *
 * - Any text: parseIpRules returns rules or throws Frappe's ValidationError (417), never anything
 *   else; what it accepts, validateIpRulesText normalises idempotently; ipAllowed takes any
 *   address text.
 * - Valid IPv4 and IPv6 CIDRs round-trip through the stored form, contain their own network
 *   and last address, and nothing just outside them (BigInt reference).
 * - Any X-Forwarded-For: the resolver answers the peer or an address written in the header.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FrappeError } from '../core/errors.ts';
import { anyText, fc, fuzzKit } from '../../test/security/fuzz-kit.ts';
import { createClientIpResolver, parseIp } from './client-ip.ts';
import { ipAllowed, parseIpRules, validateIpRulesText } from './ip-rules.ts';

const kit = fuzzKit('src/auth/ip-rules.property.test.ts');

const octet = fc.nat(255);
const word = fc.nat(0xffff);

/** Text near the grammar: addresses, CIDRs, partial forms, separators, junk. */
const entryText = fc.oneof(
  anyText,
  fc.ipV4(),
  fc.ipV6(),
  fc.ipV4Extended(),
  fc.tuple(fc.oneof(fc.ipV4(), fc.ipV6(), anyText), fc.oneof(fc.integer({ min: -2, max: 140 }).map(String), anyText)).map(([a, b]) => `${a}/${b}`),
  fc.array(octet, { minLength: 1, maxLength: 5 }).map((parts) => parts.join('.')),
  fc.constantFrom('10.0.0.', '10.0.01', '010.0.0.1', '1.2.3.4/', '/24', '::/0', '0.0.0.0/0', '::ffff:10.0.0.1/120', '256.0.0.1', '1.2.3.4/33', '::1/129', '1.2.3.4 /24', '[::1]', 'fe80::1%eth0', '1.2.3.4:80', '*', '10.*'),
);
const rulesText = fc.tuple(fc.array(entryText, { maxLength: 6 }), fc.constantFrom(',', '\n', ', ', '\r\n', ',,', ' ')).map(([entries, sep]) => entries.join(sep));

const toBig = (parts: readonly number[], width: number) => parts.reduce((n, p) => (n << BigInt(width)) | BigInt(p), 0n);

function fromBig(value: bigint, count: number, width: number): number[] {
  const out: number[] = [];
  for (let i = count - 1; i >= 0; i--) out.push(Number((value >> BigInt(i * width)) & ((1n << BigInt(width)) - 1n)));
  return out;
}

describe('restrict_ip parser: properties', () => {
  it('any text: rules, or a ValidationError naming the bad entries; accepted text normalises idempotently', async () => {
    await kit.check(
      fc.property(rulesText, fc.oneof(fc.ipV4(), fc.ipV6(), anyText), (text, address) => {
        let normalised: string;
        try {
          normalised = validateIpRulesText(text);
        } catch (error) {
          assert.ok(error instanceof FrappeError, `not a FrappeError: ${String(error)}`);
          assert.equal(error.excType, 'ValidationError');
          assert.equal(error.status, 417);
          return;
        }
        assert.equal(validateIpRulesText(normalised), normalised, 'normalising twice changes nothing');
        const rules = parseIpRules(normalised);
        assert.equal(rules.ranges.length, rules.entries.length);
        assert.equal(typeof ipAllowed(rules, address), 'boolean');
      }),
      1500,
    );
  });

  it('IPv4 CIDRs round-trip, contain their network and last address, and nothing just outside', async () => {
    await kit.check(
      fc.property(fc.tuple(octet, octet, octet, octet), fc.integer({ min: 0, max: 32 }), fc.boolean(), (parts, bits, hostBits) => {
        const mask = bits === 0 ? 0n : ((1n << 32n) - 1n) ^ ((1n << BigInt(32 - bits)) - 1n);
        const address = toBig(parts, 8);
        const network = address & mask;
        const last = network | (((1n << 32n) - 1n) ^ mask);
        const text = (n: bigint) => fromBig(n, 4, 8).join('.');
        const entry = `${text(hostBits ? address : network)}/${bits}`;
        const stored = validateIpRulesText(` ${entry} `);
        assert.equal(stored, entry, 'stored as written, trimmed');
        const rules = parseIpRules(stored);
        assert.equal(rules.ranges[0]?.[1], bits);
        assert.equal(ipAllowed(rules, text(network)), true, `${entry} contains its network address`);
        assert.equal(ipAllowed(rules, text(last)), true, `${entry} contains its last address`);
        assert.equal(ipAllowed(rules, `::ffff:${text(network)}`), true, 'and its IPv4-mapped spelling');
        if (network > 0n) assert.equal(ipAllowed(rules, text(network - 1n)), false, `${entry} excludes the address before it`);
        if (last < (1n << 32n) - 1n) assert.equal(ipAllowed(rules, text(last + 1n)), false, `${entry} excludes the address after it`);
      }),
      800,
    );
  });

  it('IPv6 CIDRs round-trip, contain their network and last address, and nothing just outside', async () => {
    // Global unicast (2000::/3), so never an IPv4-mapped address.
    const words = fc.tuple(fc.integer({ min: 0x2000, max: 0x3fff }), word, word, word, word, word, word, word);
    await kit.check(
      fc.property(words, fc.integer({ min: 3, max: 128 }), fc.boolean(), fc.boolean(), (parts, bits, hostBits, compressed) => {
        const all = (1n << 128n) - 1n;
        const mask = all ^ ((1n << BigInt(128 - bits)) - 1n);
        const address = toBig(parts, 16);
        const network = address & mask;
        const last = network | (all ^ mask);
        const text = (n: bigint) => {
          const full = fromBig(n, 8, 16).map((w) => w.toString(16)).join(':');
          return compressed ? (parseIp(full)?.toString() ?? full) : full;
        };
        const entry = `${text(hostBits ? address : network)}/${bits}`;
        const rules = parseIpRules(validateIpRulesText(entry));
        assert.equal(rules.ranges[0]?.[1], bits);
        assert.equal(ipAllowed(rules, text(network)), true, `${entry} contains its network address`);
        assert.equal(ipAllowed(rules, text(last)), true, `${entry} contains its last address`);
        assert.equal(ipAllowed(rules, text(network - 1n)), false, `${entry} excludes the address before it`);
        if (last < all) assert.equal(ipAllowed(rules, text(last + 1n)), false, `${entry} excludes the address after it`);
      }),
      800,
    );
  });
});

/** In 127.0.0.0/8, ::1 or 10.0.0.0/8, the proxies the resolver below trusts. */
function trusted(socket: string): boolean {
  const address = parseIp(socket)?.toString() ?? '';
  return address === '::1' || /^(127|10)\./.test(address);
}

describe('X-Forwarded-For resolver: properties', () => {
  it('any header: the peer, or an address written in the header; never an exception', async () => {
    const resolve = createClientIpResolver(['127.0.0.1/8', '::1/128', '10.0.0.0/8']);
    const hop = fc.oneof(fc.ipV4(), fc.ipV6(), fc.constantFrom('127.0.0.1', '10.1.2.3', '::1', 'unknown', '', ' '), anyText);
    const header = fc.oneof(fc.tuple(fc.array(hop, { maxLength: 6 }), fc.constantFrom(',', ', ', ' , ')).map(([hops, sep]) => hops.join(sep)), anyText);
    const peer = fc.oneof(fc.constantFrom('127.0.0.1', '::1', '::ffff:127.0.0.1', '10.9.9.9', '203.0.113.5', '', 'garbage'), fc.ipV4());
    await kit.check(
      fc.property(peer, fc.option(header, { nil: undefined }), (socket, forwarded) => {
        const ip = resolve(socket, forwarded);
        assert.equal(typeof ip, 'string');
        const peerText = parseIp(socket)?.toString() ?? socket;
        if (ip === peerText) return;
        const parsed = parseIp(ip);
        assert.ok(parsed, `resolved to ${JSON.stringify(ip)}, not an address`);
        const written = (forwarded ?? '').split(',').map((h) => parseIp(h)?.toString());
        assert.ok(written.includes(ip), `${ip} is not in ${JSON.stringify(forwarded)}`);
        assert.ok(trusted(socket), `an untrusted peer ${socket} was overridden`);
      }),
      1500,
    );
  });
});
