/**
 * Who this device is and which conversation it shows, from the URL (so two tabs, or a tab and a
 * phone, can be different devices of one user): ?user=alice&device=phone&chat=trip.
 * A device without ?device= keeps a random name in localStorage, so a reload is the same device.
 */
const NAME = /^[A-Za-z0-9_]{1,32}$/;

const pick = (value, fallback) => (value && NAME.test(value) ? value : fallback);

export const deviceSettings = (location, storage) => {
  const query = new URLSearchParams(location.search);
  let device = pick(query.get('device'), storage.getItem('tether-device'));
  if (!device) {
    device = `web_${Math.random().toString(36).slice(2, 8)}`;
    storage.setItem('tether-device', device);
  }
  const user = pick(query.get('user'), 'alice');
  const chat = pick(query.get('chat'), 'welcome');
  const tokenParams = { user, device };
  if (query.get('history') === '0') tokenParams.history = '0';
  const brokerPort = query.get('brokerPort');
  return {
    user,
    device,
    chat,
    clientId: `${user}-${device}`,
    channelName: `conversations:${user}:${chat}`,
    brokerHost: location.hostname,
    brokerPort: brokerPort ? Number(brokerPort) : undefined,
    tokenParams,
  };
};
