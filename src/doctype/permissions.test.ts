import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FrappeError } from '../core/errors.ts';
import { normalizeDocType } from './meta/load-meta.ts';
import { CHILD_COLUMNS, STANDARD_COLUMNS, type DocTypeMeta } from './meta/types.ts';
import {
  assertDocPermission,
  assertDoctypePermission,
  doctypeAccess,
  hasDocPermission,
  hasDoctypePermission,
  permittedLevels,
  readableFieldnames,
} from './permissions.ts';
import { ADMINISTRATOR, GUEST, GUEST_PRINCIPAL, isAdministrator, principalFor, type Principal } from './principal.ts';

function meta(permissions: Record<string, unknown>[], extra: Record<string, unknown> = {}): DocTypeMeta {
  return normalizeDocType(
    {
      name: 'Loan',
      fields: [
        { fieldname: 'title', fieldtype: 'Data' },
        { fieldname: 'section', fieldtype: 'Section Break' },
        { fieldname: 'fee', fieldtype: 'Currency', permlevel: 1 },
        { fieldname: 'audit_note', fieldtype: 'Small Text', permlevel: 2 },
      ],
      permissions,
      ...extra,
    },
    'test',
  );
}

const user = (roles: string[], name = 'ann@example.com'): Principal => principalFor(name, roles, 'System User');
const admin = principalFor(ADMINISTRATOR, [], 'System User');

const loan = meta(
  [
    { role: 'Librarian', read: 1, write: 1, create: 1, delete: 1, submit: 1, report: 1 },
    { role: 'Librarian', permlevel: 1, read: 1, write: 1 },
    { role: 'Library Member', read: 1, write: 1, create: 1, if_owner: 1 },
    { role: 'Auditor', permlevel: 2, write: 1 },
    { role: 'Viewer', select: 1 },
    { role: 'Reader', read: 1 },
    // A right granted only at a higher permlevel never grants document access.
    { role: 'Accountant', permlevel: 1, read: 1, write: 1, delete: 1 },
  ],
  { is_submittable: 1 },
);

describe('doctypeAccess and hasDocPermission', () => {
  it('grants from a row of one of the user roles at permlevel 0', () => {
    const librarian = user(['Librarian']);
    assert.deepEqual(doctypeAccess(loan, 'read', librarian), { all: true, ownOnly: false });
    assert.deepEqual(doctypeAccess(loan, 'delete', librarian), { all: true, ownOnly: false });
    assert.equal(hasDocPermission(loan, 'write', { owner: 'someone@else' }, librarian), true);
    assert.deepEqual(doctypeAccess(loan, 'export', librarian), { all: false, ownOnly: false });
  });

  it('grants nothing to users without a matching role', () => {
    for (const p of [user([]), user(['Stranger']), GUEST_PRINCIPAL]) {
      assert.deepEqual(doctypeAccess(loan, 'read', p), { all: false, ownOnly: false });
      assert.equal(hasDoctypePermission(loan, 'read', p), false);
      assert.equal(hasDocPermission(loan, 'read', { owner: p.user }, p), false);
    }
  });

  it('ignores rows at permlevel above 0 for document rights', () => {
    const accountant = user(['Accountant']);
    assert.equal(hasDoctypePermission(loan, 'read', accountant), false);
    assert.equal(hasDoctypePermission(loan, 'delete', accountant), false);
  });

  it('grants if_owner rows only on documents the user owns', () => {
    const member = user(['Library Member'], 'bob@example.com');
    assert.deepEqual(doctypeAccess(loan, 'read', member), { all: false, ownOnly: true });
    assert.equal(hasDoctypePermission(loan, 'read', member), true);
    assert.equal(hasDocPermission(loan, 'read', { owner: 'bob@example.com' }, member), true);
    assert.equal(hasDocPermission(loan, 'write', { owner: 'bob@example.com' }, member), true);
    assert.equal(hasDocPermission(loan, 'read', { owner: 'ann@example.com' }, member), false);
    assert.equal(hasDocPermission(loan, 'read', {}, member), false);
    assert.equal(hasDocPermission(loan, 'read', { owner: 'BOB@example.com' }, member), false);
    assert.equal(hasDocPermission(loan, 'delete', { owner: 'bob@example.com' }, member), false);
  });

  it('lets a row without if_owner win over an if_owner row', () => {
    const both = user(['Library Member', 'Librarian'], 'bob@example.com');
    assert.deepEqual(doctypeAccess(loan, 'read', both), { all: true, ownOnly: false });
    assert.equal(hasDocPermission(loan, 'read', { owner: 'someone@else' }, both), true);
  });

  it('implies select from read, but not read from select', () => {
    assert.equal(hasDoctypePermission(loan, 'select', user(['Reader'])), true);
    assert.equal(hasDoctypePermission(loan, 'select', user(['Viewer'])), true);
    assert.equal(hasDoctypePermission(loan, 'read', user(['Viewer'])), false);
    assert.deepEqual(doctypeAccess(loan, 'select', user(['Library Member'])), { all: false, ownOnly: true });
    // write does not imply read at document level.
    const writer = meta([{ role: 'Writer', write: 1 }]);
    assert.equal(hasDoctypePermission(writer, 'read', user(['Writer'])), false);
  });

  it('denies submit, cancel and amend on a DocType that is not submittable, even with the right set', () => {
    const plain = meta([{ role: 'Librarian', read: 1, submit: 1, cancel: 1, amend: 1 }]);
    for (const ptype of ['submit', 'cancel', 'amend'] as const) {
      assert.equal(hasDoctypePermission(plain, ptype, user(['Librarian'])), false, ptype);
    }
    assert.equal(hasDoctypePermission(loan, 'submit', user(['Librarian'])), true);
    assert.equal(hasDoctypePermission(loan, 'cancel', user(['Librarian'])), false);
  });

  it('lets Administrator pass every check, without any role row', () => {
    const none = meta([]);
    assert.equal(isAdministrator(admin), true);
    for (const ptype of ['read', 'write', 'create', 'delete', 'submit', 'export', 'share'] as const) {
      assert.deepEqual(doctypeAccess(none, ptype, admin), { all: true, ownOnly: false }, ptype);
      assert.equal(hasDocPermission(none, ptype, { owner: 'x' }, admin), true);
    }
    // A user merely holding a role named Administrator is not the Administrator user.
    assert.equal(hasDoctypePermission(none, 'read', user(['Administrator', 'System Manager'])), false);
  });

  it('gives Guest and All rows to the users that get those roles automatically', () => {
    const public_ = meta([{ role: 'Guest', read: 1 }]);
    const everyone = meta([{ role: 'All', read: 1 }]);
    const desk = meta([{ role: 'Desk User', read: 1 }]);
    assert.equal(hasDoctypePermission(public_, 'read', GUEST_PRINCIPAL), true);
    assert.equal(hasDoctypePermission(public_, 'read', user([])), true);
    assert.equal(hasDoctypePermission(everyone, 'read', GUEST_PRINCIPAL), false);
    assert.equal(hasDoctypePermission(everyone, 'read', principalFor('web@example.com', [], 'Website User')), true);
    assert.equal(hasDoctypePermission(desk, 'read', principalFor('web@example.com', [], 'Website User')), false);
    assert.equal(hasDoctypePermission(desk, 'read', user([])), true);
  });
});

describe('assert helpers', () => {
  it('throw PermissionError with Frappe messages', () => {
    const stranger = user(['Stranger']);
    assert.throws(
      () => assertDoctypePermission(loan, 'read', stranger),
      (error: unknown) =>
        error instanceof FrappeError &&
        error.excType === 'PermissionError' &&
        error.status === 403 &&
        error.message === 'No permission for Loan' &&
        error.errorMessage === 'No permission for Loan',
    );
    assert.throws(
      () => assertDocPermission(loan, 'write', { name: 'LN-1', owner: 'x' }, stranger),
      (error: unknown) => error instanceof FrappeError && error.message === 'No permission to write Loan LN-1',
    );
    assert.doesNotThrow(() => assertDocPermission(loan, 'write', { name: 'LN-1', owner: 'x' }, user(['Librarian'])));
  });
});

describe('permittedLevels and readableFieldnames', () => {
  it('collects the permlevels the roles may read, with write implying read', () => {
    assert.deepEqual([...permittedLevels(loan, 'read', user(['Librarian']))].sort(), [0, 1]);
    assert.deepEqual([...permittedLevels(loan, 'write', user(['Librarian']))].sort(), [0, 1]);
    // Auditor has write (and no read) at level 2: read is implied.
    assert.deepEqual([...permittedLevels(loan, 'read', user(['Auditor']))], [2]);
    assert.deepEqual([...permittedLevels(loan, 'write', user(['Auditor']))], [2]);
    // Read does not imply write.
    assert.deepEqual([...permittedLevels(loan, 'write', user(['Reader']))], []);
    assert.deepEqual([...permittedLevels(loan, 'read', user(['Reader']))], [0]);
    assert.deepEqual([...permittedLevels(loan, 'read', user(['Stranger']))], []);
  });

  it('gives Administrator every level used by a field', () => {
    assert.deepEqual([...permittedLevels(loan, 'read', admin)].sort(), [0, 1, 2]);
    assert.deepEqual([...permittedLevels(meta([]), 'write', admin)].sort(), [0, 1, 2]);
    assert.deepEqual([...permittedLevels(normalizeDocType({ name: 'Flat', fields: [{ fieldname: 'a' }] }, 'test'), 'write', admin)], [0]);
  });

  it('answers undefined when every field is readable', () => {
    assert.equal(readableFieldnames(loan, admin), undefined);
    assert.equal(readableFieldnames(loan, user(['Librarian', 'Auditor'])), undefined);
    const flat = normalizeDocType({ name: 'Flat', fields: [{ fieldname: 'a' }], permissions: [{ role: 'R', read: 1 }] }, 'test');
    assert.equal(readableFieldnames(flat, user(['R'])), undefined);
  });

  it('lists the readable fields plus the standard columns otherwise', () => {
    const readable = readableFieldnames(loan, user(['Librarian']));
    assert.ok(readable);
    for (const column of [...STANDARD_COLUMNS, ...CHILD_COLUMNS]) assert.ok(readable.has(column), column);
    assert.ok(readable.has('title'));
    assert.ok(readable.has('fee'));
    assert.ok(!readable.has('audit_note'));

    const reader = readableFieldnames(loan, user(['Reader']));
    assert.ok(reader);
    assert.ok(reader.has('title') && reader.has('name') && reader.has('owner'));
    assert.ok(!reader.has('fee') && !reader.has('audit_note'));

    const auditor = readableFieldnames(loan, user(['Auditor']));
    assert.ok(auditor);
    assert.ok(auditor.has('audit_note') && auditor.has('name'));
    assert.ok(!auditor.has('title') && !auditor.has('fee'));
  });
});

describe('principalFor', () => {
  it('adds Guest and All to every signed-in user, and Desk User to system users', () => {
    const system = principalFor('ann@example.com', ['Librarian'], 'System User');
    assert.deepEqual([...system.roles].sort(), ['All', 'Desk User', 'Guest', 'Librarian']);
    assert.equal(system.user, 'ann@example.com');
    assert.equal(system.userType, 'System User');
    const website = principalFor('web@example.com', ['Customer'], 'Website User');
    assert.deepEqual([...website.roles].sort(), ['All', 'Customer', 'Guest']);
    assert.equal(isAdministrator(system), false);
  });

  it('gives the Administrator user the Administrator role', () => {
    assert.ok(admin.roles.has(ADMINISTRATOR));
    assert.ok(admin.roles.has('Desk User') && admin.roles.has('All') && admin.roles.has('Guest'));
  });

  it('answers the shared Guest principal for Guest, ignoring any roles claimed for it', () => {
    const guest = principalFor(GUEST, ['System Manager'], 'System User');
    assert.equal(guest, GUEST_PRINCIPAL);
    assert.deepEqual([...guest.roles], ['Guest']);
    assert.equal(guest.userType, 'Website User');
  });

  it('does not share role sets between principals', () => {
    const assigned = ['Librarian'];
    const a = principalFor('a@example.com', assigned, 'System User');
    const b = principalFor('b@example.com', assigned, 'Website User');
    assert.notEqual(a.roles, b.roles);
    assert.deepEqual(assigned, ['Librarian']);
    assert.ok(!b.roles.has('Desk User'));
  });
});

describe('permission answers are evaluated once per metadata and principal', () => {
  it('the same principal gets the same answer objects; another principal of the same user is judged by its own roles', () => {
    const before = user([]);
    assert.equal(doctypeAccess(loan, 'read', before), doctypeAccess(loan, 'read', before));
    assert.equal(readableFieldnames(loan, before), readableFieldnames(loan, before));
    assert.equal(permittedLevels(loan, 'read', before), permittedLevels(loan, 'read', before));
    assert.equal(hasDoctypePermission(loan, 'read', before), false);
    // The user gains a role: a new principal, as the credential cache and sessions make one.
    const after = user(['Librarian']);
    assert.equal(hasDoctypePermission(loan, 'read', after), true);
    assert.deepEqual([...permittedLevels(loan, 'read', after)].sort(), [0, 1]);
    assert.equal(hasDoctypePermission(loan, 'read', before), false);
  });

  it('new metadata for the DocType is judged by its own rules', () => {
    const reader = user(['Librarian']);
    assert.equal(hasDoctypePermission(loan, 'delete', reader), true);
    const stricter = meta([{ role: 'Librarian', read: 1 }]);
    assert.equal(hasDoctypePermission(stricter, 'delete', reader), false);
    assert.equal(hasDoctypePermission(loan, 'delete', reader), true);
  });
});
