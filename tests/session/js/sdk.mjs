// Load the official @ably/ai-transport 0.8.0 (and ably-js) for the session interop scripts.
// Modules come from AIT_NODE_MODULES if set, else tests/interop/node_modules.
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const nodeModules =
  process.env.AIT_NODE_MODULES ?? fileURLToPath(new URL('../../interop/node_modules/', import.meta.url));

const load = (relative) => import(pathToFileURL(join(nodeModules, relative)).href);

export const core = await load('@ably/ai-transport/dist/ably-ai-transport.js');
export const vercel = await load('@ably/ai-transport/dist/vercel/ably-ai-transport-vercel.js');
export const Ably = (await load('ably/build/ably-node.js')).default;

export const emit = (value) => {
  process.stdout.write(`${JSON.stringify(value)}\n`);
};

export const main = async (body) => {
  const params = JSON.parse(process.argv[2] ?? '{}');
  const timer = setTimeout(() => {
    emit({ error: 'script timed out' });
    process.exit(1);
  }, params.timeoutMs ?? 30000);
  try {
    emit(await body(params));
    clearTimeout(timer);
    process.exit(0);
  } catch (error) {
    emit({ error: String(error?.stack ?? error) });
    process.exit(1);
  }
};
