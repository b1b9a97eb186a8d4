/**
 * Frappe's `upload_file` (`frappe.handler.upload_file`): a multipart `file` part, or a
 * `file_url` to register, becomes a `File` document; the bytes go to `<site>/public/files` or
 * `<site>/private/files` under a sanitised name, written atomically. Also the rules every File
 * document obeys (a local `file_url` must exist, a private one must already be readable to
 * whoever registers it) and the private-file access check the download route uses.
 */
import { createHash } from 'node:crypto';
import { link, mkdir, open, realpath, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { constants as fsConstants, createReadStream } from 'node:fs';
import { join, sep } from 'node:path';
import { finished } from 'node:stream/promises';
import type { FastifyMultipartBaseOptions, MultipartFields, MultipartFile } from '@fastify/multipart';
import type { FastifyRequest } from 'fastify';
import { randomHex } from '../../core/crypto.ts';
import { asFrappeError, frappeError } from '../../core/errors.ts';
import type { RequestInfo } from '../../core/request-info.ts';
import { createDbApi, type DbApi } from '../../doctype/db-api.ts';
import type { Doc } from '../../doctype/document/document-context.ts';
import { withoutNulls } from '../../doctype/document/without-nulls.ts';
import { hasDocPermission } from '../../doctype/permissions.ts';
import { GUEST } from '../../doctype/principal.ts';
import { readSystemSettings } from '../../doctype/system-settings.ts';
import type { SqlExecutor } from '../../storage/types.ts';
import type { MethodContext, MethodDefinition, MethodRegistry } from './method-registry.ts';

/** The `file` part of a multipart body, read into memory by the multipart parser. */
export class UploadedFile {
  constructor(
    readonly filename: string,
    readonly mimetype: string,
    readonly content: Buffer,
    readonly sha256: string,
  ) {}
}

function tooLarge(maxFileSize: number): never {
  throw frappeError('RequestEntityTooLarge', `File size exceeded the maximum allowed size of ${maxFileSize} bytes`, {
    title: 'File too large',
    status: 413,
  });
}

/** A multipart body that ends inside a part (the stream closed early): the client's error. */
function malformedBody(cause: unknown): never {
  throw frappeError('ValidationError', 'Malformed multipart body: it ends inside a part', { status: 400, cause });
}

/** Options for @fastify/multipart: the limits of a Frappe upload. */
export function multipartOptions(maxFileSize: number): FastifyMultipartBaseOptions {
  return { limits: { fileSize: maxFileSize, files: 10, fields: 200, fieldSize: 1024 * 1024, parts: 250 } };
}

/**
 * Reads a multipart body into `request.body` as @fastify/multipart's `attachFieldsToBody:
 * 'keyValues'` would (fields become arguments), but called only for multipart requests: the
 * plugin's own option adds an async hook to every request. The first `file` part is buffered
 * (Frappe reads it into memory too) up to `maxFileSize`, other file parts are discarded; a
 * refused upload never touches the disk.
 */
export async function readMultipartBody(request: FastifyRequest, maxFileSize: number): Promise<void> {
  let fields: MultipartFields | undefined;
  for await (const part of request.parts()) {
    fields = part.fields;
    if (part.type === 'file') await readFilePart(part, maxFileSize);
  }
  const body: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(fields ?? {})) {
    const values = (Array.isArray(field) ? field : [field]).map((item) => (item as { value?: unknown }).value).filter((value) => value !== undefined);
    if (values.length > 0) body[key] = Array.isArray(field) ? values : values[0];
  }
  request.body = body;
}

async function readFilePart(part: MultipartFile, maxFileSize: number): Promise<void> {
  const first = part.fieldname === 'file' && part.fields.file === part;
  if (!first) {
    part.file.resume();
    // `finished`, not an 'end' listener: a body cut off inside the part closes the stream
    // without 'end' or 'error', and waiting for 'end' would hang the request.
    await finished(part.file).catch(malformedBody);
    if (part.file.truncated) tooLarge(maxFileSize);
    return;
  }
  const hash = createHash('sha256');
  const chunks: Buffer[] = [];
  try {
    for await (const chunk of part.file as AsyncIterable<Buffer>) {
      chunks.push(chunk);
      hash.update(chunk);
    }
  } catch (error) {
    malformedBody(error);
  }
  if (part.file.truncated) tooLarge(maxFileSize);
  (part as unknown as { value: unknown }).value = new UploadedFile(part.filename, part.mimetype, Buffer.concat(chunks), hash.digest('hex'));
}

// ---------------------------------------------------------------------------------------------
// Names and paths

const MAX_NAME_CHARS = 140;
const MAX_NAME_BYTES = 180;
// Control characters, and the invisible ones that disguise a name (bidi overrides, zero width).
// eslint-disable-next-line no-control-regex
const INVISIBLE = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g;
const TROUBLESOME = /[<>:"|?*#%\\/]/g;

function truncateUtf8(text: string, maxChars: number, maxBytes: number): string {
  let out = '';
  let bytes = 0;
  let chars = 0;
  for (const ch of text) {
    const size = Buffer.byteLength(ch);
    if (chars + 1 > maxChars || bytes + size > maxBytes) break;
    out += ch;
    bytes += size;
    chars += 1;
  }
  return out;
}

function splitExtension(name: string): [string, string] {
  const dot = name.lastIndexOf('.');
  if (dot <= 0 || name.length - dot > 16) return [name, ''];
  return [name.slice(0, dot), name.slice(dot)];
}

/**
 * A safe file name from what a client sent: the last path component only, no control or
 * invisible characters, no characters that break URLs or paths, no leading dots (so never
 * `..` or a hidden file), at most 140 characters and 180 UTF-8 bytes with the extension kept.
 * Nothing left → a random name.
 */
export function sanitizeFileName(raw: unknown): string {
  let name = typeof raw === 'string' ? raw.normalize('NFC') : '';
  name = name.split(/[/\\]/).pop() ?? '';
  name = name.replace(INVISIBLE, '').replace(TROUBLESOME, '_').replace(/\s+/g, ' ').replace(/\.{2,}/g, '.');
  name = name.replace(/^[\s.]+/, '').replace(/[\s.]+$/, '');
  const [stem, ext] = splitExtension(name);
  const extension = truncateUtf8(ext, 16, 32);
  name = truncateUtf8(stem, MAX_NAME_CHARS - extension.length, MAX_NAME_BYTES - Buffer.byteLength(extension)).trimEnd() + extension;
  return name === '' ? randomHex(12) : name;
}

/** `stem-abc123.ext`: the name given on a clash. */
function withSuffix(name: string): string {
  const [stem, ext] = splitExtension(name);
  return `${stem}-${randomHex(6)}${ext}`;
}

export function filesFolder(sitePath: string, isPrivate: boolean): string {
  return isPrivate ? join(sitePath, 'private', 'files') : join(sitePath, 'public', 'files');
}

export function fileUrlFor(fileName: string, isPrivate: boolean): string {
  return `${isPrivate ? '/private/files/' : '/files/'}${fileName}`;
}

/** One path component of a served or stored file: never `.`/`..`, hidden, or a separator. */
export function isSafeSegment(segment: string): boolean {
  if (segment === '' || segment.startsWith('.') || segment.includes('/') || segment.includes('\\')) return false;
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(segment)) return false;
  return Buffer.byteLength(segment) <= 255;
}

export interface LocalFile {
  isPrivate: boolean;
  /** The stored form: `/files/a.png` or `/private/files/a.png`. */
  url: string;
  folder: string;
  segments: string[];
}

/** A stored local `file_url` (not percent-encoded) → where it lives; undefined if not local or unsafe. */
export function localFileOf(sitePath: string, url: string): LocalFile | undefined {
  const isPrivate = url.startsWith('/private/files/');
  if (!isPrivate && !url.startsWith('/files/')) return undefined;
  const segments = url.slice(isPrivate ? '/private/files/'.length : '/files/'.length).split('/');
  if (!segments.every(isSafeSegment)) return undefined;
  return { isPrivate, url, folder: filesFolder(sitePath, isPrivate), segments };
}

/**
 * Opens a local file for reading, refusing anything that resolves outside its folder
 * (symlinks included) or is not a regular file. Undefined when there is no such file.
 */
export async function openLocalFile(file: LocalFile): Promise<{ path: string; size: number; mtime: Date; handle: FileHandle } | undefined> {
  let root: string;
  let real: string;
  try {
    root = await realpath(file.folder);
    real = await realpath(join(file.folder, ...file.segments));
  } catch {
    return undefined;
  }
  if (!real.startsWith(root + sep)) return undefined;
  let handle;
  try {
    handle = await open(real, fsConstants.O_RDONLY | (fsConstants.O_NOFOLLOW ?? 0));
  } catch {
    return undefined;
  }
  try {
    const info = await handle.stat();
    if (info.isFile()) return { path: real, size: info.size, mtime: info.mtime, handle };
  } catch {
    // fall through: closed below
  }
  await handle.close();
  return undefined;
}

const MIME_TYPES: Record<string, string> = {
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  gif: 'image/gif',
  webp: 'image/webp',
  avif: 'image/avif',
  bmp: 'image/bmp',
  ico: 'image/x-icon',
  tif: 'image/tiff',
  tiff: 'image/tiff',
  svg: 'image/svg+xml',
  pdf: 'application/pdf',
  txt: 'text/plain; charset=utf-8',
  csv: 'text/csv; charset=utf-8',
  md: 'text/markdown; charset=utf-8',
  json: 'application/json',
  xml: 'application/xml',
  html: 'text/html; charset=utf-8',
  htm: 'text/html; charset=utf-8',
  xhtml: 'application/xhtml+xml',
  css: 'text/css; charset=utf-8',
  // Served as text so that an upload can never be loaded as a script from the site's origin.
  js: 'text/plain; charset=utf-8',
  mjs: 'text/plain; charset=utf-8',
  doc: 'application/msword',
  docx: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
  xls: 'application/vnd.ms-excel',
  xlsx: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
  ppt: 'application/vnd.ms-powerpoint',
  pptx: 'application/vnd.openxmlformats-officedocument.presentationml.presentation',
  odt: 'application/vnd.oasis.opendocument.text',
  ods: 'application/vnd.oasis.opendocument.spreadsheet',
  odp: 'application/vnd.oasis.opendocument.presentation',
  rtf: 'application/rtf',
  zip: 'application/zip',
  gz: 'application/gzip',
  tar: 'application/x-tar',
  mp3: 'audio/mpeg',
  wav: 'audio/wav',
  ogg: 'audio/ogg',
  mp4: 'video/mp4',
  mov: 'video/quicktime',
  webm: 'video/webm',
  woff: 'font/woff',
  woff2: 'font/woff2',
  ttf: 'font/ttf',
  otf: 'font/otf',
};

export function extensionOf(fileName: string): string {
  const [, ext] = splitExtension(fileName);
  return ext.slice(1).toLowerCase();
}

/** Content-Type by extension; unknown → application/octet-stream. */
export function contentTypeFor(fileName: string): string {
  return MIME_TYPES[extensionOf(fileName)] ?? 'application/octet-stream';
}

/** Types a browser would run script in: served as a download in a sandbox. */
const ACTIVE_EXTENSIONS = new Set(['html', 'htm', 'xhtml', 'shtml', 'svg', 'svgz', 'xml', 'xsl', 'xslt', 'mht', 'mhtml']);

export function isActiveContent(fileName: string): boolean {
  return ACTIVE_EXTENSIONS.has(extensionOf(fileName));
}

/** What Guests and website users may upload (Frappe's ALLOWED_MIMETYPES). */
const RESTRICTED_UPLOAD_TYPES = new Set([
  'image/png',
  'image/jpeg',
  'application/pdf',
  'application/msword',
  'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
  'application/vnd.ms-excel',
  'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
  'application/vnd.oasis.opendocument.text',
  'application/vnd.oasis.opendocument.spreadsheet',
  'text/plain; charset=utf-8',
  'video/quicktime',
  'video/mp4',
  'text/csv; charset=utf-8',
]);

// ---------------------------------------------------------------------------------------------
// Access to private files

async function readable(db: DbApi, doctype: string, name: string): Promise<boolean> {
  try {
    await db.getDoc(doctype, name);
    return true;
  } catch (error) {
    const frappe = asFrappeError(error);
    if (frappe && (frappe.is('PermissionError') || frappe.is('ValidationError'))) return false;
    throw error;
  }
}

/**
 * Whether `user` may download the private file at `url`: some File document with that URL is
 * readable to them, or the document it is attached to is. Guests never may (as in Frappe).
 */
export async function canReadFileUrl(url: string, ctx: { user: string; db: DbApi; sql: SqlExecutor }): Promise<boolean> {
  if (ctx.user === GUEST) return false;
  const rows = await ctx.sql.all<{ name: string; attached_to_doctype: string | null; attached_to_name: string | null }>(
    'SELECT "name", "attached_to_doctype", "attached_to_name" FROM "tabFile" WHERE "file_url" = ? ORDER BY "creation" LIMIT 50',
    [url],
  );
  for (const row of rows) {
    if (await readable(ctx.db, 'File', String(row.name))) return true;
    if (row.attached_to_doctype && row.attached_to_name && (await readable(ctx.db, row.attached_to_doctype, row.attached_to_name))) return true;
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// File document rules

/** URLs written by `upload_file` in this process and not yet registered: `${user}\0${url}`. */
const freshUploads = new Set<string>();

async function sha256OfFile(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

function isExternalUrl(url: string): boolean {
  if (!/^https?:\/\//i.test(url) || url.length > 2048) return false;
  try {
    const parsed = new URL(url);
    return (parsed.protocol === 'http:' || parsed.protocol === 'https:') && parsed.hostname !== '';
  } catch {
    return false;
  }
}

function lastSegmentOf(url: string): string {
  const segment = new URL(url).pathname.split('/').pop() ?? '';
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

function invalidUrl(url: string): never {
  throw frappeError('ValidationError', `Invalid file URL: ${url.slice(0, 200)}`, { title: 'Invalid URL' });
}

/**
 * `before_insert` of every File document (from upload_file, /api/resource/File or an app): a
 * local `file_url` must name an existing file of the site, `is_private` follows the URL, size
 * and hash come from the disk; a private URL may only be registered by someone who can
 * already read it, so that a File document never grants access to another user's file.
 */
async function beforeInsertFile(doc: Doc, ctx: { user: string; db: DbApi; sql: SqlExecutor }, sitePath: string): Promise<void> {
  if (Number(doc.is_folder ?? 0) === 1) {
    doc.file_url = null;
    return;
  }
  const url = typeof doc.file_url === 'string' ? doc.file_url.trim() : '';
  if (url === '') throw frappeError('ValidationError', 'A file or a file URL is required', { title: 'No File' });
  doc.file_url = url;
  if (isExternalUrl(url)) {
    doc.is_private = 0;
    doc.content_hash = null;
    doc.file_size = null;
    if (typeof doc.file_name !== 'string' || doc.file_name === '') doc.file_name = sanitizeFileName(lastSegmentOf(url));
    return;
  }
  const local = localFileOf(sitePath, url);
  if (!local) invalidUrl(url);
  doc.is_private = local.isPrivate ? 1 : 0;
  if (typeof doc.file_name !== 'string' || doc.file_name === '') doc.file_name = local.segments[local.segments.length - 1];
  if (freshUploads.has(`${ctx.user}\u0000${url}`)) return;
  if (local.isPrivate && !(await canReadFileUrl(url, ctx))) {
    throw frappeError('PermissionError', 'You do not have permission to access this file', { title: 'Not Permitted' });
  }
  const opened = await openLocalFile(local);
  if (!opened) throw frappeError('ValidationError', `File ${url} does not exist`, { title: 'File Not Found' });
  await opened.handle.close();
  doc.file_size = opened.size;
  doc.content_hash = await sha256OfFile(opened.path);
}

/** Document events of the File DocType (registered with cortado's core events). */
export function fileDocEvents(sitePath: () => string) {
  return {
    before_insert: (doc: Doc, ctx: { user: string; db: DbApi; sql: SqlExecutor }) => beforeInsertFile(doc, ctx, sitePath()),
  };
}

// ---------------------------------------------------------------------------------------------
// Writing

function isTaken(code: unknown): boolean {
  return code === 'EEXIST';
}

/**
 * Writes `content` into `folder` as `wanted` (or `wanted` with a random suffix when the name
 * is taken on disk or by a File document): temp file, fsync, then a hard link that never
 * replaces an existing file (rename where links are not supported). Returns the final name.
 */
async function writeNewFile(folder: string, wanted: string, content: Buffer, isPrivate: boolean, usedByDocument: (name: string) => Promise<boolean>): Promise<string> {
  await mkdir(folder, { recursive: true, mode: isPrivate ? 0o700 : 0o755 });
  const temp = join(folder, `.upload-${randomHex(16)}.tmp`);
  const handle = await open(temp, 'wx', isPrivate ? 0o600 : 0o644);
  try {
    try {
      await handle.writeFile(content);
      await handle.sync();
    } finally {
      await handle.close();
    }
    for (let attempt = 0; attempt < 10; attempt++) {
      const name = attempt === 0 ? wanted : withSuffix(wanted);
      if (await usedByDocument(name)) continue;
      const target = join(folder, name);
      try {
        await link(temp, target);
        return name;
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (isTaken(code)) continue;
        if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'ENOSYS' && code !== 'EXDEV') throw error;
        // No hard links here: rename after checking the name is free (a narrow race remains).
        const exists = await stat(target).then(
          () => true,
          () => false,
        );
        if (exists) continue;
        await rename(temp, target);
        return name;
      }
    }
    throw frappeError('ValidationError', 'Could not find a free file name, try again', { title: 'File Name' });
  } finally {
    await rm(temp, { force: true });
  }
}

/** Files written during a request, removed again if the request does not succeed. */
const writtenByRequest = new WeakMap<RequestInfo, string[]>();

/**
 * Called when a request ends: a failed request's uploads are deleted (the File rows rolled
 * back). Returns a promise only when there is something to delete.
 */
export function settleUploads(request: RequestInfo | undefined, succeeded: boolean): Promise<void> | undefined {
  const paths = request && writtenByRequest.get(request);
  if (!paths) return undefined;
  writtenByRequest.delete(request as RequestInfo);
  if (succeeded) return undefined;
  return Promise.all(paths.map((path) => rm(path, { force: true }).catch(() => undefined))).then(() => undefined);
}

// ---------------------------------------------------------------------------------------------
// The method

const truthy = (value: unknown): boolean => value === true || value === 1 || value === '1' || value === 'true' || value === 'True';
const text = (value: unknown): string => (typeof value === 'string' ? value.trim() : typeof value === 'number' ? String(value) : '');

interface AttachTarget {
  doctype: string;
  docname: string;
  fieldname: string | undefined;
}

/** The document to attach to: it must exist and the user must be allowed to write it. */
async function attachTarget(args: Record<string, unknown>, ctx: MethodContext): Promise<AttachTarget | undefined> {
  const doctype = text(args.doctype);
  const docname = text(args.docname);
  if (!doctype || !docname) return undefined;
  const meta = ctx.documents.registry.get(doctype);
  const doc = await ctx.db.getDoc(doctype, docname);
  if (!ctx.documents.ignorePermissions && !hasDocPermission(meta, 'write', doc, ctx.documents.principal)) {
    throw frappeError('PermissionError', `No permission to write ${doctype} ${docname}`, {
      title: 'Not Permitted',
      errorMessage: `No permission for ${doctype}`,
    });
  }
  const fieldname = text(args.fieldname) || undefined;
  if (fieldname) {
    const field = meta.fieldMap.get(fieldname);
    if (!field || (field.fieldtype !== 'Attach' && field.fieldtype !== 'Attach Image')) {
      throw frappeError('ValidationError', `${fieldname} is not an Attach field of ${doctype}`, { title: 'Invalid Field' });
    }
  }
  return { doctype, docname: String(doc.name), fieldname };
}

async function uploadFile(args: Record<string, unknown>, ctx: MethodContext, sitePath: string): Promise<Doc> {
  const guest = ctx.user === GUEST;
  if (guest) {
    const settings = await readSystemSettings(ctx.documents.db, ctx.documents.registry);
    if (Number(settings.raw.allow_guests_to_upload_files ?? 0) !== 1) {
      throw frappeError('PermissionError', 'Guests are not allowed to upload files', { title: 'Not Permitted' });
    }
  }
  const file = args.file instanceof UploadedFile ? args.file : undefined;
  const fileUrl = text(args.file_url);
  if (!file && !fileUrl) throw frappeError('ValidationError', 'A file or a file URL is required', { title: 'No File' });
  const isPrivate = truthy(args.is_private);
  const folder = text(args.folder) || 'Home';
  const target = await attachTarget(args, ctx);
  // Frappe lets Guests insert their File (ignore_permissions); attaching still needed write above.
  const db = guest ? createDbApi({ ...ctx.documents, ignorePermissions: true }) : ctx.db;
  const base: Doc = {
    doctype: 'File',
    folder,
    attached_to_doctype: target?.doctype ?? null,
    attached_to_name: target?.docname ?? null,
    attached_to_field: target?.fieldname ?? null,
  };

  if (!file) {
    const doc = await db.insert({ ...base, file_url: fileUrl, file_name: text(args.file_name) || null, is_private: isPrivate ? 1 : 0 });
    if (target?.fieldname) await ctx.db.setValue(target.doctype, target.docname, target.fieldname, doc.file_url);
    return withoutNulls(doc);
  }

  const fileName = sanitizeFileName(file.filename);
  if (guest || ctx.documents.principal.userType !== 'System User') {
    if (!RESTRICTED_UPLOAD_TYPES.has(contentTypeFor(fileName))) {
      throw frappeError('ValidationError', 'You can only upload JPG, PNG, PDF, TXT, CSV or Microsoft documents.', { title: 'Not Allowed' });
    }
  }
  const folderPath = filesFolder(sitePath, isPrivate);
  const storedName = await writeNewFile(folderPath, fileName, file.content, isPrivate, async (name) =>
    Boolean(await ctx.documents.db.get('SELECT "name" FROM "tabFile" WHERE "file_url" = ?', [fileUrlFor(name, isPrivate)])),
  );
  const path = join(folderPath, storedName);
  const url = fileUrlFor(storedName, isPrivate);
  const written = writtenByRequest.get(ctx.request) ?? [];
  written.push(path);
  writtenByRequest.set(ctx.request, written);
  const token = `${ctx.user}\u0000${url}`;
  freshUploads.add(token);
  try {
    const ext = extensionOf(storedName);
    const doc = await db.insert({
      ...base,
      file_name: storedName,
      file_url: url,
      is_private: isPrivate ? 1 : 0,
      file_size: file.content.length,
      content_hash: file.sha256,
      file_type: ext && MIME_TYPES[ext] ? (ext === 'jpeg' ? 'JPG' : ext.toUpperCase()) : null,
    });
    if (target?.fieldname) await ctx.db.setValue(target.doctype, target.docname, target.fieldname, url);
    return withoutNulls(doc);
  } catch (error) {
    await rm(path, { force: true });
    throw error;
  } finally {
    freshUploads.delete(token);
  }
}

const UPLOAD_PARAMS = ['file', 'file_url', 'file_name', 'is_private', 'folder', 'doctype', 'docname', 'fieldname', 'optimize', 'max_width', 'max_height'];

/** Registers `upload_file` and its dotted name `frappe.handler.upload_file`. */
export function registerUploadFile(methods: MethodRegistry, deps: { sitePath: () => string }): void {
  const definition: MethodDefinition = {
    // Guests are admitted here and refused unless System Settings allow guest uploads.
    allowGuest: true,
    // A GET never commits: only POST can register a file.
    methods: ['POST'],
    params: UPLOAD_PARAMS,
    handler: (args, ctx) => uploadFile(args, ctx, deps.sitePath()),
  };
  methods.register('upload_file', definition, 'frappe');
  methods.register('frappe.handler.upload_file', definition, 'frappe');
}
