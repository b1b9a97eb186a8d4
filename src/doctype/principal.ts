/** Who a request acts as: resolved once per request by the auth layer. */
export interface Principal {
  readonly user: string;
  /** Every role, including the automatic ones (Guest, All, Desk User, Administrator). */
  readonly roles: ReadonlySet<string>;
  readonly userType: 'System User' | 'Website User';
}

export const ADMINISTRATOR = 'Administrator';
export const GUEST = 'Guest';

export const GUEST_PRINCIPAL: Principal = Object.freeze({
  user: GUEST,
  roles: new Set([GUEST]),
  userType: 'Website User',
});

/** Adds Frappe's automatic roles to the roles a user holds in `Has Role`. */
export function principalFor(user: string, assignedRoles: Iterable<string>, userType: Principal['userType']): Principal {
  if (user === GUEST) return GUEST_PRINCIPAL;
  const roles = new Set<string>(assignedRoles);
  roles.add(GUEST);
  roles.add('All');
  if (userType === 'System User') roles.add('Desk User');
  if (user === ADMINISTRATOR) roles.add(ADMINISTRATOR);
  return { user, roles, userType };
}

export function isAdministrator(principal: Principal): boolean {
  return principal.user === ADMINISTRATOR;
}
