/** The desk's own pages, for the sidebar and the home page. */
export interface DeskPage {
  label: string;
  to: string;
  description: string;
  icon: string;
  /** Shown to System Managers only (the server refuses the others anyway). */
  managerOnly: boolean;
}

export const DESK_PAGES: DeskPage[] = [
  { label: 'Users', to: '/app/user', description: 'People who can log in, their roles, keys and sessions', icon: 'users', managerOnly: true },
  { label: 'API Keys', to: '/app/api-key', description: 'Named keys with expiry, scopes and IP restriction', icon: 'key', managerOnly: false },
  { label: 'Sessions', to: '/app/sessions', description: 'Where you are logged in; log out other devices', icon: 'device', managerOnly: false },
  { label: 'OAuth Clients', to: '/app/oauth-client', description: 'Applications that may ask users for access', icon: 'apps', managerOnly: true },
  { label: 'Authorized Applications', to: '/app/authorized-applications', description: 'Applications you have given access to your account', icon: 'shield', managerOnly: false },
  { label: 'Activity Log', to: '/app/activity-log', description: 'Logins, logouts, key and session events', icon: 'list', managerOnly: true },
  { label: 'API Request Log', to: '/app/api-request-log', description: 'Requests to the API, by status and authentication', icon: 'chart', managerOnly: true },
  { label: 'System Settings', to: '/app/system-settings', description: 'Sessions, lockout, two-factor and login options', icon: 'settings', managerOnly: true },
  { label: 'OAuth Settings', to: '/app/oauth-settings', description: 'Token lifetimes, consent and client registration', icon: 'settings', managerOnly: true },
];
