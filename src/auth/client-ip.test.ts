import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { parseSiteConfig } from '../core/config.ts';
import { createClientIpResolver, parseIp, parseRange } from './client-ip.ts';

const defaults = parseSiteConfig({ encryption_key: randomBytes(32).toString('base64url') }).trusted_proxies;

describe('client IP', () => {
  it('uses the socket address when the peer is not trusted, whatever X-Forwarded-For says', () => {
    const clientIp = createClientIpResolver(defaults);
    assert.equal(clientIp('203.0.113.5', '1.2.3.4'), '203.0.113.5');
    assert.equal(clientIp('203.0.113.5', '127.0.0.1'), '203.0.113.5');
    assert.equal(clientIp('203.0.113.5', '127.0.0.1, 10.0.0.1'), '203.0.113.5');
    assert.equal(clientIp('203.0.113.5', undefined), '203.0.113.5');
    assert.equal(clientIp('2001:db8::5', '1.2.3.4'), '2001:db8::5');
  });

  it('believes X-Forwarded-For from a loopback peer by default (IPv4 and IPv6)', () => {
    const clientIp = createClientIpResolver(defaults);
    assert.equal(clientIp('127.0.0.1', '198.51.100.7'), '198.51.100.7');
    assert.equal(clientIp('127.8.9.10', '198.51.100.7'), '198.51.100.7');
    assert.equal(clientIp('::1', '198.51.100.7'), '198.51.100.7');
    assert.equal(clientIp('::1', ' 2001:db8::42 '), '2001:db8::42');
    // No header: the peer itself.
    assert.equal(clientIp('127.0.0.1', undefined), '127.0.0.1');
    assert.equal(clientIp('127.0.0.1', ''), '127.0.0.1');
  });

  it('trusts nobody with an empty trusted_proxies list', () => {
    const clientIp = createClientIpResolver([]);
    assert.equal(clientIp('127.0.0.1', '198.51.100.7'), '127.0.0.1');
  });

  it('walks X-Forwarded-For from the right, skipping trusted proxies, so a client cannot spoof its address', () => {
    const clientIp = createClientIpResolver(['127.0.0.1/8', '10.0.0.0/8']);
    // The client wrote "6.6.6.6" itself; the edge proxy 10.0.0.2 appended the real client 1.2.3.4.
    assert.equal(clientIp('127.0.0.1', '6.6.6.6, 1.2.3.4, 10.0.0.2'), '1.2.3.4');
    assert.equal(clientIp('10.1.2.3', '6.6.6.6,1.2.3.4'), '1.2.3.4');
    assert.equal(clientIp('127.0.0.1', '1.2.3.4, 10.0.0.9, 10.0.0.2'), '1.2.3.4');
    // Every hop is one of ours: the left-most hop is the best answer.
    assert.equal(clientIp('127.0.0.1', '10.0.0.7, 10.0.0.2'), '10.0.0.7');
    // Empty elements are skipped.
    assert.equal(clientIp('127.0.0.1', ' , 1.2.3.4 ,, '), '1.2.3.4');
  });

  it('unwraps IPv4-mapped IPv6 addresses, for the peer and in the header', () => {
    const clientIp = createClientIpResolver(defaults);
    assert.equal(clientIp('::ffff:127.0.0.1', '198.51.100.7'), '198.51.100.7');
    assert.equal(clientIp('::ffff:203.0.113.9', '198.51.100.7'), '203.0.113.9');
    assert.equal(clientIp('::ffff:203.0.113.9', undefined), '203.0.113.9');
    assert.equal(clientIp('127.0.0.1', '::ffff:198.51.100.7'), '198.51.100.7');
    const internal = createClientIpResolver(['10.0.0.0/8']);
    assert.equal(internal('::ffff:10.0.0.1', '1.2.3.4, ::ffff:10.9.9.9'), '1.2.3.4');
    // A mapped CIDR in the config covers the plain IPv4 addresses.
    const mapped = createClientIpResolver(['::ffff:10.0.0.0/104']);
    assert.equal(mapped('10.4.4.4', '1.2.3.4'), '1.2.3.4');
    assert.equal(mapped('11.4.4.4', '1.2.3.4'), '11.4.4.4');
    assert.equal(parseIp('::ffff:1.2.3.4')?.toString(), '1.2.3.4');
  });

  it('falls back to the peer when X-Forwarded-For holds garbage', () => {
    const clientIp = createClientIpResolver(defaults);
    for (const header of ['not-an-ip', 'unknown', '1.2.3.4, <script>', '999.1.1.1', '", 1.2.3.4 OR 1=1', ',', ' ', '1.2.3.4:8080']) {
      assert.equal(clientIp('127.0.0.1', header), '127.0.0.1', header);
    }
  });

  it('refuses inet_aton shorthands, so "2130706433" or "127.1" cannot pass for 127.0.0.1', () => {
    const clientIp = createClientIpResolver(defaults);
    for (const header of ['1.2.3', '127.1', '2130706433', '0x7f.0.0.1', '0177.0.0.1', '01.02.03.04', '1.2.3.4, 2130706433']) {
      assert.equal(parseIp(header.split(', ').at(-1) ?? ''), undefined, header);
      assert.equal(clientIp('127.0.0.1', header), '127.0.0.1', header);
    }
    fc.assert(
      fc.property(fc.ipV4Extended(), (text) => {
        const parsed = parseIp(text);
        if (/^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/.test(text)) assert.equal(parsed?.toString(), text);
        else assert.equal(parsed, undefined, text);
      }),
    );
  });

  it('returns an unparseable socket address unchanged and never believes the header for it', () => {
    const clientIp = createClientIpResolver(defaults);
    assert.equal(clientIp('', '1.2.3.4'), '');
    assert.equal(clientIp('garbage', '1.2.3.4'), 'garbage');
  });

  it('matches IPv6 CIDR ranges', () => {
    const clientIp = createClientIpResolver(['2001:db8:abcd::/48', '127.0.0.1']);
    assert.equal(clientIp('2001:db8:abcd:12::1', '2a00:1450::1'), '2a00:1450::1');
    assert.equal(clientIp('2001:db8:abce::1', '2a00:1450::1'), '2001:db8:abce::1');
    assert.equal(clientIp('2001:db8:abcd::1', '2a00:1450::1, 2001:db8:abcd:ffff::9'), '2a00:1450::1');
    // Addresses are given back in their canonical form.
    assert.equal(clientIp('2001:0DB8:ABCD:0000::0001', '2A00:1450:0:0::1'), '2a00:1450::1');
    // An exact IPv4 entry is a /32, not a prefix; IPv4 ranges never match IPv6 addresses.
    assert.equal(clientIp('127.0.0.2', '1.2.3.4'), '127.0.0.2');
    assert.equal(clientIp('::1', '1.2.3.4'), '::1');
  });

  it('refuses a bad trusted_proxies entry when the resolver is built', () => {
    for (const entry of ['nope', '', '10.0.0.0/33', '2001:db8::/129', '10.0.0/8', '10.1/16', '127.1', '1.2.3.4/abc', 'localhost']) {
      assert.throws(() => createClientIpResolver(['127.0.0.1', entry]), Error, entry);
    }
    assert.throws(() => parseRange('nope'), /invalid IP address or CIDR: "nope"/);
  });

  it('never believes the header from an untrusted peer (property)', () => {
    const clientIp = createClientIpResolver(['127.0.0.0/8', '10.0.0.0/8', '::1/128']);
    fc.assert(
      fc.property(fc.ipV4(), fc.string({ maxLength: 200 }), (peer, header) => {
        fc.pre(!peer.startsWith('127.') && !peer.startsWith('10.'));
        assert.equal(clientIp(peer, header), parseIp(peer)?.toString());
      }),
    );
  });

  it('from a trusted peer, answers the peer or an address named in the header (property)', () => {
    const clientIp = createClientIpResolver(['127.0.0.0/8']);
    const hop = fc.oneof(fc.ipV4(), fc.ipV6(), fc.string({ maxLength: 20 }));
    fc.assert(
      fc.property(fc.array(hop, { maxLength: 6 }), (hops) => {
        const answer = clientIp('127.0.0.1', hops.join(', '));
        const named = hops.map((h) => parseIp(h)?.toString());
        assert.ok(answer === '127.0.0.1' || named.includes(answer), answer);
      }),
    );
  });
});
