import { useConnectionStateListener } from 'ably/react';
import { ChatTransportProvider } from '@ably/ai-transport/vercel/react';
import { useState } from 'react';

import { Chat } from './Chat.jsx';

/**
 * One ChatTransportProvider (a ClientSessionProvider with the Vercel codec) per chat id: switching
 * chats closes one session and opens the next on its own channel.
 */
export const App = ({ settings }) => {
  const [connection, setConnection] = useState('connecting');
  useConnectionStateListener((change) => setConnection(change.current));

  return (
    <main>
      <header>
        <h1>Tether chat</h1>
        <span data-testid="identity">
          {settings.user} on <b>{settings.device}</b>
        </span>
        <span
          data-testid="connection"
          data-state={connection}
          className={`connection ${connection}`}
        >
          {connection}
        </span>
        <ChatSwitcher current={settings.chat} />
      </header>
      <ChatTransportProvider
        key={settings.channelName}
        channelName={settings.channelName}
        api="/invoke"
      >
        <Chat settings={settings} />
      </ChatTransportProvider>
    </main>
  );
};

const ChatSwitcher = ({ current }) => {
  const [name, setName] = useState(current);
  const open = (event) => {
    event.preventDefault();
    const url = new URL(window.location.href);
    url.searchParams.set('chat', name);
    window.location.assign(url);
  };
  return (
    <form className="switcher" onSubmit={open}>
      <label>
        chat <input value={name} onChange={(event) => setName(event.target.value)} size={10} />
      </label>
      <button type="submit">open</button>
    </form>
  );
};
