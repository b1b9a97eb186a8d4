/** What the server tells the desk about its user (`window.cortado_boot`). */
export interface Boot {
  user: string;
  full_name: string;
  user_type: string;
  roles: string[];
}

export const boot: Boot = window.cortado_boot ?? { user: 'Guest', full_name: 'Guest', user_type: 'Website User', roles: [] };

export const isSystemManager = boot.user === 'Administrator' || boot.roles.includes('System Manager');
