/// <reference types="vite/client" />
import type { Boot } from './boot.ts';

declare global {
  interface Window {
    /** Injected by the server before `</head>` (nonce'd script). */
    csrf_token?: string;
    cortado_boot?: Boot;
  }
}
