// Read a channel's history forwards over REST and describe every message (data type kept).
import { scenario, rest, allPages } from './lib.mjs';

scenario(async (p) => {
  const pages = await allPages(await rest(p).channels.get(p.channel).history({ direction: 'forwards', limit: 100 }));
  return { messages: pages.flatMap((page) => page.items) };
});
