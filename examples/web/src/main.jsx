import * as Ably from 'ably';
import { AblyProvider } from 'ably/react';
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';

import { App } from './App.jsx';
import { deviceSettings } from './settings.js';
import './styles.css';

// The broker is found by options only (endpoint, port, tls): the page's own host, the port the
// backend reports. Credentials come from the backend's token endpoint, never a key in the page.
const start = async () => {
  const settings = deviceSettings(window.location, window.localStorage);
  const config = await fetch('/config').then((response) => response.json());
  const client = new Ably.Realtime({
    endpoint: settings.brokerHost,
    port: settings.brokerPort ?? config.brokerPort,
    tls: config.tls,
    authUrl: '/auth/token',
    authParams: settings.tokenParams,
  });
  window.tetherClient = client; // for the browser tests and the console
  createRoot(document.getElementById('root')).render(
    <StrictMode>
      <AblyProvider client={client}>
        <App settings={settings} />
      </AblyProvider>
    </StrictMode>,
  );
};

void start();
