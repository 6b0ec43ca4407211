/// <reference types="vite/client" />

interface ImportMetaEnv {
  /** Server origin when the app is not served by iorelay itself (needs --cors-origins there). */
  readonly VITE_IORELAY_URL?: string;
}
