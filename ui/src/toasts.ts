/** Short notices in the corner: what a save did, or why the server refused it. */
import { reactive } from 'vue';
import { FrappeError } from './api.ts';

export interface Toast {
  id: number;
  kind: 'success' | 'error';
  title: string;
  message: string;
}

export const toasts = reactive<Toast[]>([]);
let nextId = 1;

export function dismiss(id: number): void {
  const at = toasts.findIndex((t) => t.id === id);
  if (at !== -1) toasts.splice(at, 1);
}

function push(kind: Toast['kind'], title: string, message: string): void {
  const id = nextId++;
  toasts.push({ id, kind, title, message });
  // Errors stay until dismissed: the user may need the whole message.
  if (kind === 'success') setTimeout(() => dismiss(id), 4000);
}

export function showSuccess(message: string): void {
  push('success', message, '');
}

export function showError(error: unknown, title = 'Something went wrong'): void {
  const message = error instanceof Error ? error.message : String(error);
  push('error', (error instanceof FrappeError && error.title) || title, message);
}
