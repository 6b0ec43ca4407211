import { defineConfig } from 'vitest/config';
import react from '@vitejs/plugin-react';

// `npm run dev` serves the app on :5173 and forwards Socket.IO to an iorelay on :3000,
// so the app's same-origin io("/chat") works in development too. changeOrigin stays
// false: iorelay accepts a browser Origin only if it matches the Host header.
const target = process.env.IORELAY_DEV_TARGET ?? 'http://localhost:3000';

export default defineConfig({
  plugins: [react()],
  server: {
    proxy: {
      '/socket.io': { target, ws: true, changeOrigin: false },
      // The node id for the connection badge, and dev tokens (--dev-auth).
      '/healthz': { target, changeOrigin: false },
      '/auth': { target, changeOrigin: false },
    },
  },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: true,
  },
  test: {
    include: ['src/**/*.test.{ts,tsx}'],
    environment: 'node',
  },
});
