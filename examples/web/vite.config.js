import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// `npm run dev` serves the page with hot reload; the agent (examples/agent.py --web) still
// answers the token, config and invoke requests, so they are proxied to it.
const agent = process.env.AGENT_URL ?? 'http://127.0.0.1:9000';

export default defineConfig({
  plugins: [react()],
  build: { outDir: 'dist', sourcemap: true },
  server: { proxy: { '/auth': agent, '/config': agent, '/invoke': agent } },
});
