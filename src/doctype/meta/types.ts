/**
 * DocType metadata as read from Frappe's doctype JSON (unknown keys ignored). Loaded once,
 * normalised and deep-frozen, so a request can never change it for the next one.
 */
export const FIELD_TYPES = [
  'Data', 'Small Text', 'Text', 'Long Text', 'Text Editor', 'Markdown Editor', 'HTML Editor', 'Code',
  'Int', 'Float', 'Currency', 'Percent', 'Check', 'Select', 'Link', 'Dynamic Link',
  'Date', 'Datetime', 'Time', 'Duration', 'Password', 'Table', 'Table MultiSelect', 'JSON',
  'Attach', 'Attach Image', 'Read Only', 'Color', 'Rating', 'Phone', 'Autocomplete', 'Signature',
  'Geolocation', 'Barcode', 'Icon',
  // Layout-only types: no column, no value.
  'Section Break', 'Column Break', 'Tab Break', 'HTML', 'Button', 'Image', 'Heading', 'Fold',
] as const;

export type FieldType = (typeof FIELD_TYPES)[number];

/** Field types that lay out the form and store nothing. */
export const NO_VALUE_TYPES: ReadonlySet<string> = new Set([
  'Section Break', 'Column Break', 'Tab Break', 'HTML', 'Button', 'Image', 'Heading', 'Fold',
]);

/** Field types whose value is a list of child rows in another table. */
export const TABLE_TYPES: ReadonlySet<string> = new Set(['Table', 'Table MultiSelect']);

export interface DocField {
  readonly fieldname: string;
  readonly fieldtype: FieldType;
  readonly label: string;
  readonly options: string;
  readonly reqd: boolean;
  readonly unique: boolean;
  readonly default: string | undefined;
  readonly read_only: boolean;
  readonly hidden: boolean;
  readonly permlevel: number;
  readonly length: number;
  readonly in_list_view: boolean;
  readonly allow_on_submit: boolean;
  readonly set_only_once: boolean;
  readonly search_index: boolean;
  readonly no_copy: boolean;
}

export interface DocPerm {
  readonly role: string;
  readonly permlevel: number;
  readonly if_owner: boolean;
  readonly select: boolean;
  readonly read: boolean;
  readonly write: boolean;
  readonly create: boolean;
  readonly delete: boolean;
  readonly submit: boolean;
  readonly cancel: boolean;
  readonly amend: boolean;
  readonly report: boolean;
  readonly export: boolean;
  readonly import: boolean;
  readonly share: boolean;
  readonly print: boolean;
  readonly email: boolean;
}

export type PermissionType =
  | 'select' | 'read' | 'write' | 'create' | 'delete' | 'submit' | 'cancel' | 'amend'
  | 'report' | 'export' | 'import' | 'share' | 'print' | 'email';

export interface DocTypeMeta {
  readonly name: string;
  readonly module: string;
  readonly app: string;
  readonly fields: readonly DocField[];
  readonly permissions: readonly DocPerm[];
  readonly autoname: string;
  readonly naming_rule: string;
  readonly istable: boolean;
  readonly issingle: boolean;
  readonly is_submittable: boolean;
  readonly title_field: string;
  readonly sort_field: string;
  readonly sort_order: 'ASC' | 'DESC';
  readonly track_changes: boolean;
  readonly is_virtual: boolean;
  readonly allow_rename: boolean;
  /** Fields that hold a value in this DocType's table (no layout, no child tables). */
  readonly valueFields: readonly DocField[];
  /** Table and Table MultiSelect fields. */
  readonly tableFields: readonly DocField[];
  readonly fieldMap: ReadonlyMap<string, DocField>;
  /** `tab<DocType>` */
  readonly tableName: string;
}

/** Columns every DocType table has, in Frappe's order. */
export const STANDARD_COLUMNS = ['name', 'owner', 'creation', 'modified', 'modified_by', 'docstatus', 'idx'] as const;
/** Columns child-table rows have in addition. */
export const CHILD_COLUMNS = ['parent', 'parentfield', 'parenttype'] as const;
