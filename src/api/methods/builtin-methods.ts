/** Methods every site has (Frappe's `frappe.*` whitelisted functions the clients call). */
import { frappeError } from '../../core/errors.ts';
import { registerClientMethods } from './client-methods.ts';
import { registerDocMethodBuiltins } from './doc-methods.ts';
import type { MethodContext, MethodRegistry } from './method-registry.ts';

export interface BuiltinDependencies {
  generateKeys(user: string, ctx: MethodContext): Promise<{ api_key: string; api_secret: string }>;
}

export function registerBuiltinMethods(methods: MethodRegistry, deps: BuiltinDependencies): void {
  const pong = { handler: () => 'pong', allowGuest: true };
  methods.register('ping', pong, 'frappe');
  methods.register('frappe.ping', pong, 'frappe');
  registerDocMethodBuiltins(methods);
  registerClientMethods(methods);
  methods.register(
    'frappe.auth.get_logged_user',
    {
      handler: (_args, ctx) => {
        if (ctx.user === 'Guest') throw frappeError('PermissionError', 'Not permitted', { title: 'Not Permitted' });
        return ctx.user;
      },
    },
    'frappe',
  );
  methods.register(
    'frappe.core.doctype.user.user.generate_keys',
    {
      methods: ['POST'],
      params: ['user'],
      async handler(args, ctx) {
        if (!ctx.roles.has('System Manager') && !ctx.roles.has('Administrator')) throw frappeError('PermissionError', '');
        if (typeof args.user !== 'string' || args.user === '') throw frappeError('ValidationError', 'user is required');
        const { api_secret } = await deps.generateKeys(args.user, ctx);
        return { api_secret };
      },
    },
    'frappe',
  );
}
