/**
 * Methods the desk (`/app`) needs beyond Frappe's: which DocTypes the user may open and with
 * which rights (Frappe ships this in its boot), a user's sessions for System Managers, the
 * OAuth applications a user has authorized (and revoking one), and the API Request Log's
 * counts over time for its chart.
 */
import type { MethodContext, MethodRegistry } from '../api/methods/method-registry.ts';
import { createOAuthTokens, type TokenRow } from '../auth/oauth/oauth-tokens.ts';
import { formatDatetime } from '../core/clock.ts';
import { frappeError } from '../core/errors.ts';
import { assertScope } from '../doctype/document/document-context.ts';
import { getList, metaAsDoc } from '../doctype/document/read-documents.ts';
import type { DocTypeMeta, PermissionType } from '../doctype/meta/types.ts';
import { childPermissionMeta, doctypeAccess, permittedLevels, readableFieldnames } from '../doctype/permissions.ts';
import { GUEST } from '../doctype/principal.ts';
import { buildListQuery } from '../doctype/query/build-list-query.ts';
import type { AuthServices } from './auth-services.ts';

const REQUEST_LOG = 'API Request Log';

function requireUser(ctx: MethodContext): void {
  if (ctx.user === GUEST) throw frappeError('PermissionError', 'Not permitted', { title: 'Not Permitted' });
}

function requireSystemManager(ctx: MethodContext): void {
  if (!ctx.roles.has('System Manager') && !ctx.roles.has('Administrator')) throw frappeError('PermissionError', 'Not permitted', { title: 'Not Permitted' });
}

/** Frappe's route slug: `API Key` → `api-key`. */
export function doctypeSlug(doctype: string): string {
  return doctype.toLowerCase().replace(/ /g, '-');
}

/** 'all', 'own' (if_owner rows only) or null, for each right the desk shows or hides. */
function rights(meta: DocTypeMeta, ctx: MethodContext) {
  const one = (ptype: PermissionType) => {
    const access = doctypeAccess(meta, ptype, ctx.documents.principal);
    return access.all ? 'all' : access.ownOnly ? 'own' : null;
  };
  return { read: one('read'), write: one('write'), create: one('create'), delete: one('delete') };
}

function inScope(ctx: MethodContext, doctype: string): boolean {
  try {
    assertScope(ctx.documents, doctype, 'read');
    return true;
  } catch {
    return false;
  }
}

function readableDoctypes(ctx: MethodContext): DocTypeMeta[] {
  return ctx.documents.registry
    .all()
    .filter((meta) => !meta.istable && !meta.is_virtual && rights(meta, ctx).read !== null && inScope(ctx, meta.name));
}

/** The metadata bundle of `getdoctype` plus what this user may do with it. */
function deskMeta(meta: DocTypeMeta, ctx: MethodContext) {
  const registry = ctx.documents.registry;
  const principal = ctx.documents.principal;
  const children = [...new Set(meta.tableFields.map((f) => f.options))].map((name) => registry.get(name));
  const levels = (ptype: 'read' | 'write') => [...permittedLevels(meta, ptype, principal)].sort((a, b) => a - b);
  return {
    doctype: meta.name,
    slug: doctypeSlug(meta.name),
    rights: rights(meta, ctx),
    read_levels: levels('read'),
    write_levels: levels('write'),
    docs: [meta, ...children].map((m) => metaAsDoc(m === meta ? m : childPermissionMeta(m, meta))),
  };
}

interface Bucketing {
  granularity: 'hour' | 'day' | 'month';
  /** Characters of a stored datetime that name its bucket. */
  length: number;
}

const toMs = (text: string) => Date.parse(`${text.replace(' ', 'T').slice(0, 19)}Z`);

function bucketingFor(first: string, last: string): Bucketing {
  const days = (toMs(last) - toMs(first)) / 86_400_000;
  if (days <= 3) return { granularity: 'hour', length: 13 };
  if (days <= 120) return { granularity: 'day', length: 10 };
  return { granularity: 'month', length: 7 };
}

/** Every bucket from the first to the last, so quiet periods show as zeros. */
function bucketLabels(first: string, last: string, { granularity, length }: Bucketing): string[] {
  const start = new Date(toMs(`${first.slice(0, length)}${'0000-01-01 00:00:00'.slice(length)}`));
  const end = last.slice(0, length);
  const labels = [formatDatetime(start).slice(0, length)];
  while ((labels.at(-1) ?? end) < end) {
    if (granularity === 'hour') start.setUTCHours(start.getUTCHours() + 1);
    else if (granularity === 'day') start.setUTCDate(start.getUTCDate() + 1);
    else start.setUTCMonth(start.getUTCMonth() + 1);
    labels.push(formatDatetime(start).slice(0, length));
  }
  return labels;
}

/** The API Request Log rows matching `filters`, counted per bucket × status class and × auth method. */
async function requestStats(filters: unknown, ctx: MethodContext) {
  const documents = ctx.documents;
  const bounds = await getList(REQUEST_LOG, { fields: ['min(creation) as first_at', 'max(creation) as last_at', 'count(*) as total'], filters, order_by: '', limit: 0 }, documents);
  const { first_at: first, last_at: last, total } = bounds.rows[0] ?? {};
  if (typeof first !== 'string' || typeof last !== 'string') return { granularity: 'hour', labels: [], by_status: [], by_auth_method: [], total: 0 };
  const bucketing = bucketingFor(first, last);
  // The list engine compiles the filters (field checks, operators, bound values); its query
  // selects the matching names, which are then counted per bucket.
  const matching = buildListQuery(
    { doctype: REQUEST_LOG, fields: ['name'], filters, order_by: '', limit: 0 },
    {
      dialect: documents.db.dialect,
      getMeta: (name) => documents.registry.find(name),
      now: () => documents.clock.now(),
      readableFields: (m) => readableFieldnames(m, documents.principal),
    },
  );
  const q = documents.db.dialect.quote;
  const table = q(documents.registry.get(REQUEST_LOG).tableName);
  const rows = await documents.db.all<{ bucket: string; status: number | null; auth_method: string | null; n: number | string }>(
    `SELECT substr(${q('creation')}, 1, ${bucketing.length}) AS ${q('bucket')}, ${q('status')}, ${q('auth_method')}, count(*) AS ${q('n')} ` +
      `FROM ${table} WHERE ${q('name')} IN (${matching.sql}) GROUP BY 1, 2, 3`,
    matching.params,
  );
  const labels = bucketLabels(first, last, bucketing);
  const index = new Map(labels.map((label, i) => [label, i]));
  const byStatus = new Map<string, number[]>();
  const byAuth = new Map<string, number[]>();
  const add = (map: Map<string, number[]>, name: string, at: number, n: number) => {
    let values = map.get(name);
    if (!values) map.set(name, (values = labels.map(() => 0)));
    values[at] = (values[at] ?? 0) + n;
  };
  for (const row of rows) {
    const at = index.get(row.bucket);
    if (at === undefined) continue;
    const n = Number(row.n);
    add(byStatus, row.status === null ? 'other' : `${Math.floor(Number(row.status) / 100)}xx`, at, n);
    add(byAuth, row.auth_method || 'none', at, n);
  }
  const asList = (map: Map<string, number[]>) => [...map].sort(([a], [b]) => a.localeCompare(b)).map(([name, values]) => ({ name, values }));
  return { granularity: bucketing.granularity, labels, by_status: asList(byStatus), by_auth_method: asList(byAuth), total: Number(total) };
}

export function registerDeskMethods(methods: MethodRegistry, auth: () => AuthServices): void {
  methods.register(
    'cortado.desk.doctypes',
    {
      methods: ['GET'],
      params: [],
      handler(_args, ctx) {
        requireUser(ctx);
        return readableDoctypes(ctx)
          .map((meta) => ({ name: meta.name, slug: doctypeSlug(meta.name), module: meta.module, issingle: meta.issingle ? 1 : 0, rights: rights(meta, ctx) }))
          .sort((a, b) => a.name.localeCompare(b.name));
      },
    },
    'frappe',
  );

  methods.register(
    'cortado.desk.meta',
    {
      methods: ['GET'],
      params: ['doctype', 'slug'],
      handler(args, ctx) {
        requireUser(ctx);
        const wanted = (meta: DocTypeMeta) => (typeof args.doctype === 'string' ? meta.name === args.doctype : doctypeSlug(meta.name) === args.slug);
        const meta = readableDoctypes(ctx).find(wanted);
        // An unreadable DocType answers as a missing one, so names are not revealed.
        if (!meta) throw frappeError('DoesNotExistError', 'Page not found', { title: 'Not Found' });
        return deskMeta(meta, ctx);
      },
    },
    'frappe',
  );

  methods.register(
    'cortado.sessions.list_for_user',
    {
      methods: ['GET'],
      params: ['user'],
      async handler(args, ctx) {
        requireSystemManager(ctx);
        if (typeof args.user !== 'string' || !args.user) throw frappeError('ValidationError', 'user is required');
        const sessions = auth().sessions;
        const current = ctx.auth.session?.sidHash;
        return (await sessions.listForUser(args.user)).map((s) => ({
          id: sessions.publicId(s),
          device: s.device,
          ip: s.ip,
          user_agent: s.userAgent,
          created: s.created,
          last_active: s.lastActive,
          current: s.sidHash === current,
        }));
      },
    },
    'frappe',
  );

  methods.register(
    'cortado.oauth.authorized_applications',
    {
      methods: ['GET'],
      params: [],
      async handler(_args, ctx) {
        requireUser(ctx);
        const now = formatDatetime(ctx.documents.clock.now());
        // A grant lives while its access or refresh token does (as the consent screen judges it).
        const rows = await ctx.documents.db.all<{ client: string; app_name: string | null; client_uri: string | null; scopes: string; creation: string }>(
          'SELECT t."client", c."app_name", c."client_uri", t."scopes", t."creation" FROM "tabOAuth Bearer Token" t LEFT JOIN "tabOAuth Client" c ON c."name" = t."client" ' +
            'WHERE t."user" = ? AND t."status" = \'Active\' AND (t."expiration_time" > ? OR t."refresh_expiration_time" > ?) ORDER BY t."creation"',
          [ctx.user, now, now],
        );
        const apps = new Map<string, { client: string; app_name: string; client_uri: string | null; scopes: string[]; tokens: number; first_authorized: string; last_issued: string }>();
        for (const row of rows) {
          const app = apps.get(row.client) ?? { client: row.client, app_name: row.app_name ?? row.client, client_uri: row.client_uri, scopes: [], tokens: 0, first_authorized: row.creation, last_issued: row.creation };
          for (const scope of row.scopes.split(' ')) if (scope && !app.scopes.includes(scope)) app.scopes.push(scope);
          app.tokens += 1;
          app.last_issued = row.creation;
          apps.set(row.client, app);
        }
        return [...apps.values()].sort((a, b) => b.last_issued.localeCompare(a.last_issued));
      },
    },
    'frappe',
  );

  methods.register(
    'cortado.oauth.revoke_application',
    {
      methods: ['POST'],
      params: ['client'],
      async handler(args, ctx) {
        requireUser(ctx);
        if (typeof args.client !== 'string' || !args.client) throw frappeError('ValidationError', 'client is required');
        const services = auth();
        // In the request's transaction: every token of the grant goes, or none does.
        const tokens = createOAuthTokens(ctx.documents.db, services.deps.hashKey, services.deps.clock);
        const rows = await ctx.documents.db.all<TokenRow>('SELECT * FROM "tabOAuth Bearer Token" WHERE "user" = ? AND "client" = ? AND "status" = \'Active\'', [ctx.user, args.client]);
        for (const row of rows) await tokens.revoke(row, row.refresh_token ? 'refresh' : 'access');
        // A code issued just before must not turn into new tokens afterwards.
        await ctx.documents.db.run(
          'UPDATE "tabOAuth Authorization Code" SET "validity" = \'Invalid\' WHERE "user" = ? AND "client" = ? AND "validity" = \'Valid\'',
          [ctx.user, args.client],
        );
        // Not awaited: on SQLite this request's transaction holds the writer the log needs.
        void services.activity.log({ user: ctx.user, operation: 'OAuth', status: 'Success', subject: `Access of OAuth client ${args.client} revoked by the user`, ip: ctx.request.ip, reference_doctype: 'OAuth Client', reference_name: args.client });
        return { revoked: rows.length };
      },
    },
    'frappe',
  );

  methods.register(
    'cortado.logs.request_stats',
    {
      methods: ['GET'],
      params: ['filters'],
      async handler(args, ctx) {
        requireSystemManager(ctx);
        return requestStats(args.filters, ctx);
      },
    },
    'frappe',
  );
}
