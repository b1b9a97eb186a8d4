/**
 * Role permissions (DocPerm) as Frappe evaluates them: a right is granted by any permission
 * row at permlevel 0 for one of the user's roles; `if_owner` rows grant only on documents the
 * user owns; field permlevels decide which fields a user may read or write. Administrator
 * passes every check.
 */
import { frappeError } from '../core/errors.ts';
import { CHILD_COLUMNS, STANDARD_COLUMNS, type DocTypeMeta, type PermissionType } from './meta/types.ts';
import { isAdministrator, type Principal } from './principal.ts';

export interface DoctypeAccess {
  /** Granted by a row without if_owner. */
  readonly all: boolean;
  /** Granted only by if_owner rows: documents owned by the user. */
  readonly ownOnly: boolean;
}

const NONE: DoctypeAccess = Object.freeze({ all: false, ownOnly: false });
const EVERYTHING: DoctypeAccess = Object.freeze({ all: true, ownOnly: false });

/**
 * Results per (meta, principal, question). Both keys are immutable — a DocType's metadata is
 * built once, a principal once per user and cached credential or session — so each rule is
 * evaluated once per pair instead of on every request; new metadata or a user's new roles come
 * as new objects, and the entries of the old ones go with them (weak keys).
 */
function memoised<T>(compute: (meta: DocTypeMeta, question: string, principal: Principal) => T) {
  const byMeta = new WeakMap<DocTypeMeta, WeakMap<Principal, Map<string, T>>>();
  return (meta: DocTypeMeta, question: string, principal: Principal): T => {
    let byPrincipal = byMeta.get(meta);
    if (!byPrincipal) byMeta.set(meta, (byPrincipal = new WeakMap()));
    let answers = byPrincipal.get(principal);
    if (!answers) byPrincipal.set(principal, (answers = new Map()));
    if (answers.has(question)) return answers.get(question) as T;
    const answer = compute(meta, question, principal);
    answers.set(question, answer);
    return answer;
  };
}

const memoisedAccess = memoised((meta, ptype, principal) => computeDoctypeAccess(meta, ptype as PermissionType, principal));

export function doctypeAccess(meta: DocTypeMeta, ptype: PermissionType, principal: Principal): DoctypeAccess {
  return memoisedAccess(meta, ptype, principal);
}

function computeDoctypeAccess(meta: DocTypeMeta, ptype: PermissionType, principal: Principal): DoctypeAccess {
  if (isAdministrator(principal)) return EVERYTHING;
  if ((ptype === 'submit' || ptype === 'cancel' || ptype === 'amend') && !meta.is_submittable) return NONE;
  let all = false;
  let own = false;
  for (const perm of meta.permissions) {
    if (perm.permlevel !== 0 || !principal.roles.has(perm.role)) continue;
    // `select` is implied by `read`, as in Frappe.
    const granted = perm[ptype] || (ptype === 'select' && perm.read);
    if (!granted) continue;
    if (perm.if_owner) own = true;
    else all = true;
  }
  return Object.freeze({ all, ownOnly: !all && own });
}

export function hasDoctypePermission(meta: DocTypeMeta, ptype: PermissionType, principal: Principal): boolean {
  const access = doctypeAccess(meta, ptype, principal);
  return access.all || access.ownOnly;
}

/** Document-level check: if_owner rows count only when the user owns the document. */
export function hasDocPermission(
  meta: DocTypeMeta,
  ptype: PermissionType,
  doc: { owner?: unknown },
  principal: Principal,
): boolean {
  const access = doctypeAccess(meta, ptype, principal);
  return access.all || (access.ownOnly && doc.owner === principal.user);
}

function notPermitted(meta: DocTypeMeta, ptype: PermissionType, name?: string): never {
  const what = name === undefined ? meta.name : `${meta.name} ${name}`;
  throw frappeError('PermissionError', `No permission to ${ptype} ${what}`.replace('No permission to read', 'No permission for'), {
    title: 'Not Permitted',
    errorMessage: `No permission for ${meta.name}`,
  });
}

export function assertDoctypePermission(meta: DocTypeMeta, ptype: PermissionType, principal: Principal): void {
  if (!hasDoctypePermission(meta, ptype, principal)) notPermitted(meta, ptype);
}

export function assertDocPermission(
  meta: DocTypeMeta,
  ptype: PermissionType,
  doc: { owner?: unknown; name?: unknown },
  principal: Principal,
): void {
  if (!hasDocPermission(meta, ptype, doc, principal)) notPermitted(meta, ptype, String(doc.name ?? ''));
}

/**
 * Permlevels at which the user may read (or write) fields. Level 0 needs a document-level
 * grant; higher levels need a row at that level for one of the user's roles.
 */
export function permittedLevels(meta: DocTypeMeta, ptype: 'read' | 'write', principal: Principal): ReadonlySet<number> {
  return memoisedLevels(meta, ptype, principal);
}

const memoisedLevels = memoised((meta, ptype, principal) => computePermittedLevels(meta, ptype as 'read' | 'write', principal));

function computePermittedLevels(meta: DocTypeMeta, ptype: 'read' | 'write', principal: Principal): ReadonlySet<number> {
  const levels = new Set<number>();
  if (isAdministrator(principal)) {
    for (const field of meta.fields) levels.add(field.permlevel);
    levels.add(0);
    return levels;
  }
  for (const perm of meta.permissions) {
    if (!principal.roles.has(perm.role)) continue;
    // Read access at a level is implied by write access at it (Frappe's get_permlevel_access).
    if (perm[ptype] || (ptype === 'read' && perm.write)) levels.add(perm.permlevel);
  }
  return levels;
}

/**
 * Child rows are governed by their parent's permission rules (Frappe): the child's fields,
 * judged at the parent's DocPerm levels.
 */
export function childPermissionMeta(child: DocTypeMeta, parent: DocTypeMeta): DocTypeMeta {
  // One object per pair, so the memoised answers above apply to child rows too.
  let byParent = childViews.get(child);
  if (!byParent) childViews.set(child, (byParent = new WeakMap()));
  let view = byParent.get(parent);
  if (!view) byParent.set(parent, (view = { ...child, permissions: parent.permissions }));
  return view;
}

const childViews = new WeakMap<DocTypeMeta, WeakMap<DocTypeMeta, DocTypeMeta>>();

/** Field names the user may read (standard columns always), or undefined for "all". */
export function readableFieldnames(meta: DocTypeMeta, principal: Principal): ReadonlySet<string> | undefined {
  return memoisedReadable(meta, '', principal);
}

const memoisedReadable = memoised((meta, _question, principal) => computeReadableFieldnames(meta, principal));

function computeReadableFieldnames(meta: DocTypeMeta, principal: Principal): ReadonlySet<string> | undefined {
  const levels = permittedLevels(meta, 'read', principal);
  if (meta.fields.every((f) => levels.has(f.permlevel))) return undefined;
  return new Set([
    ...STANDARD_COLUMNS,
    ...CHILD_COLUMNS,
    ...meta.fields.filter((f) => levels.has(f.permlevel)).map((f) => f.fieldname),
  ]);
}
