import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { FrappeError } from '../core/errors.ts';
import { ipAllowed, ipRefusal, parseIpRules, validateIpRulesText } from './ip-rules.ts';

const allowed = (rules: string, ip: string) => ipAllowed(parseIpRules(rules), ip);

function refusesAsValidation(text: string, naming: string[]): void {
  assert.throws(
    () => parseIpRules(text),
    (error: unknown) => {
      assert.ok(error instanceof FrappeError);
      assert.equal(error.excType, 'ValidationError');
      assert.equal(error.status, 417);
      for (const entry of naming) assert.ok(error.message.includes(JSON.stringify(entry)), error.message);
      return true;
    },
  );
}

describe('restrict_ip rules', () => {
  it('empty text means no restriction, whatever the address', () => {
    for (const text of [undefined, null, '', ' ', ',\n, ']) {
      const rules = parseIpRules(text);
      assert.equal(rules.ranges.length, 0);
      assert.equal(ipAllowed(rules, '203.0.113.9'), true);
      assert.equal(ipAllowed(rules, 'not an ip'), true);
    }
  });

  it('an exact address admits only itself (Frappe prefix matching would admit 10.0.0.123)', () => {
    assert.equal(allowed('10.0.0.1', '10.0.0.1'), true);
    for (const ip of ['10.0.0.10', '10.0.0.123', '10.0.0.2', '110.0.0.1']) assert.equal(allowed('10.0.0.1', ip), false, ip);
    assert.equal(allowed('2001:db8::1', '2001:db8::1'), true);
    assert.equal(allowed('2001:db8::1', '2001:0db8:0:0::1'), true);
    assert.equal(allowed('2001:db8::1', '2001:db8::10'), false);
  });

  it('the partial form matches whole leading octets, with or without a trailing dot', () => {
    for (const rule of ['10.0.0', '10.0.0.']) {
      assert.equal(allowed(rule, '10.0.0.0'), true);
      assert.equal(allowed(rule, '10.0.0.255'), true);
      assert.equal(allowed(rule, '10.0.1.5'), false);
      assert.equal(allowed(rule, '10.0.00.5'), false);
      assert.equal(allowed(rule, '10.0.01.5'), false);
      assert.equal(allowed(rule, '10.0.0.5.evil'), false);
    }
    assert.equal(allowed('192.168', '192.168.44.3'), true);
    assert.equal(allowed('192.168', '192.16.8.3'), false);
    assert.equal(allowed('192.168', '192.1.68.3'), false);
    assert.equal(allowed('10', '10.200.1.1'), true);
    assert.equal(allowed('10', '100.0.0.1'), false);
    // inet_aton would read 127.1 as 127.0.0.1; here it is the partial form 127.1.x.x.
    assert.equal(allowed('127.1', '127.1.9.9'), true);
    assert.equal(allowed('127.1', '127.0.0.1'), false);
  });

  it('CIDR ranges, IPv4 and IPv6', () => {
    assert.equal(allowed('10.1.0.0/16', '10.1.255.3'), true);
    assert.equal(allowed('10.1.0.0/16', '10.2.0.3'), false);
    assert.equal(allowed('2001:db8::/32', '2001:db8:ffff::1'), true);
    assert.equal(allowed('2001:db8::/32', '2001:db9::1'), false);
    assert.equal(allowed('0.0.0.0/0', '8.8.8.8'), true);
    assert.equal(allowed('0.0.0.0/0', '::1'), false);
  });

  it('IPv4-mapped IPv6 is unwrapped, in rules and in addresses', () => {
    assert.equal(allowed('10.0.0.1', '::ffff:10.0.0.1'), true);
    assert.equal(allowed('10.0.0', '::ffff:10.0.0.7'), true);
    assert.equal(allowed('::ffff:10.0.0.1', '10.0.0.1'), true);
    assert.equal(allowed('::ffff:10.0.0.0/120', '10.0.0.77'), true);
    assert.equal(allowed('::ffff:10.0.0.0/120', '10.0.1.77'), false);
  });

  it('entries may be separated by commas and/or newlines; any entry admits', () => {
    const rules = parseIpRules(' 10.0.0.1 ,\n192.168.1\r\n2001:db8::/48,\n\n');
    assert.deepEqual(rules.entries, ['10.0.0.1', '192.168.1', '2001:db8::/48']);
    for (const ip of ['10.0.0.1', '192.168.1.9', '2001:db8:0:1::5']) assert.equal(ipAllowed(rules, ip), true, ip);
    assert.equal(ipAllowed(rules, '192.168.2.9'), false);
  });

  it('an unparsable client address is refused when there are rules', () => {
    const rules = parseIpRules('0.0.0.0/0, ::/0');
    for (const ip of ['', 'unknown', '10.0.0', '127.1', '0x7f.0.0.1', '010.0.0.1', '1.2.3.4.5']) assert.equal(ipAllowed(rules, ip), false, ip);
  });

  it('refuses invalid entries at parse time, naming each', () => {
    refusesAsValidation('10.0.0.1, 10.0.0.256', ['10.0.0.256']);
    refusesAsValidation('foo\n10.0.0.1\n1.2.3.4.5', ['foo', '1.2.3.4.5']);
    for (const entry of ['10.0.01', '10.0.00.5', '256', '10..0', '.10', '10.0.0.1.', '10.0.0.0/33', '10.0.0.0/x',
      '2001:db8::/129', '2001:db8', '0x7f.0.0.1', '*', '10.0.0.*', '10.0.0.1-10.0.0.9']) {
      refusesAsValidation(entry, [entry]);
    }
  });

  it('validateIpRulesText returns the value normalised as Frappe stores it', () => {
    assert.equal(validateIpRulesText(' 10.0.0.1 ,\n 192.168 \n'), '10.0.0.1,192.168');
    assert.equal(validateIpRulesText(''), '');
    assert.throws(() => validateIpRulesText('10.0.0.1\nnope'), FrappeError);
  });

  it('ipRefusal is Frappe\'s 401 AuthenticationError, naming the IP only in developer mode', () => {
    const error = ipRefusal('203.0.113.9');
    assert.equal(error.excType, 'AuthenticationError');
    assert.equal(error.status, 401);
    assert.equal(error.message, 'Access not allowed from this IP Address');
    assert.equal(ipRefusal('203.0.113.9', { developerMode: true }).message, 'Access not allowed from this IP Address: 203.0.113.9');
  });
});

const octet = fc.integer({ min: 0, max: 255 });
const quad = fc.tuple(octet, octet, octet, octet);

function toBigInt(bytes: readonly number[]): bigint {
  return bytes.reduce((acc, byte) => (acc << 8n) | BigInt(byte), 0n);
}

/** Reference: the top `bits` bits of both addresses are equal. */
function inCidr(base: readonly number[], bits: number, address: readonly number[]): boolean {
  const width = BigInt(base.length * 8);
  const shift = width - BigInt(bits);
  return toBigInt(base) >> shift === toBigInt(address) >> shift;
}

function ipv6Text(bytes: readonly number[]): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0)).toString(16));
  return groups.join(':');
}

/** ::ffff:0:0/96, which parseIp unwraps to IPv4: covered by its own examples above. */
const isMapped = (bytes: readonly number[]) => bytes.slice(0, 10).every((b) => b === 0) && bytes[10] === 255 && bytes[11] === 255;

describe('restrict_ip properties', () => {
  it('a partial form never admits an address whose leading octets differ, and admits every one that shares them', () => {
    fc.assert(
      fc.property(fc.array(octet, { minLength: 1, maxLength: 3 }), fc.boolean(), quad, (prefix, dot, address) => {
        const rules = parseIpRules(prefix.join('.') + (dot ? '.' : ''));
        const same = prefix.every((value, i) => address[i] === value);
        assert.equal(ipAllowed(rules, address.join('.')), same);
      }),
      { numRuns: 2000 },
    );
  });

  it('a partial form admits no textual variant with padded octets', () => {
    fc.assert(
      fc.property(fc.array(octet, { minLength: 1, maxLength: 3 }), quad, fc.integer({ min: 0, max: 3 }), (prefix, address, pad) => {
        const rules = parseIpRules(prefix.join('.'));
        const text = address.map((value, i) => (i === pad ? `0${value}` : String(value))).join('.');
        assert.equal(ipAllowed(rules, text), false);
      }),
    );
  });

  it('IPv4 CIDR matching equals a BigInt reference', () => {
    fc.assert(
      fc.property(quad, fc.integer({ min: 0, max: 32 }), quad, fc.boolean(), (base, bits, address, near) => {
        // Half the time, an address sharing a long prefix with the base, to hit the boundary.
        const probe = near ? [...base.slice(0, 3), address[3] ?? 0] : address;
        const rules = parseIpRules(`${base.join('.')}/${bits}`);
        assert.equal(ipAllowed(rules, probe.join('.')), inCidr(base, bits, probe));
      }),
      { numRuns: 2000 },
    );
  });

  it('IPv6 CIDR matching equals a BigInt reference', () => {
    const bytes = fc.array(octet, { minLength: 16, maxLength: 16 }).filter((b) => !isMapped(b));
    fc.assert(
      fc.property(bytes, fc.integer({ min: 0, max: 128 }), bytes, fc.integer({ min: 0, max: 16 }), (base, bits, address, keep) => {
        const probe = [...base.slice(0, keep), ...address.slice(keep)];
        fc.pre(!isMapped(probe));
        const rules = parseIpRules(`${ipv6Text(base)}/${bits}`);
        assert.equal(ipAllowed(rules, ipv6Text(probe)), inCidr(base, bits, probe));
      }),
      { numRuns: 2000 },
    );
  });
});
