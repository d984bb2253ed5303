import { useChatTransport, useClientSession, useMessageSync, useView } from '@ably/ai-transport/vercel/react';
import { useChat } from '@ai-sdk/react';
import { usePresence, usePresenceListener } from 'ably/react';
import { useState } from 'react';

import { Message } from './Message.jsx';
import { Presence, RunsIndicator } from './Status.jsx';

const PAGE = 20;

/**
 * The conversation: useChat renders it and sends through the ChatTransport; useMessageSync pours in
 * what other devices and the agent publish; useView pages history and answers runs and branches.
 */
export const Chat = ({ settings }) => {
  const [errors, setErrors] = useState([]);
  const report = (error) => setErrors((shown) => [...shown.slice(-2), error.message ?? String(error)]);

  const { session } = useClientSession({ onError: report });
  const { chatTransport } = useChatTransport();
  const { messages, setMessages, sendMessage, regenerate } = useChat({
    id: settings.channelName,
    transport: chatTransport,
    onError: report,
  });
  useMessageSync({ setMessages });
  const view = useView({ limit: PAGE });

  const channel = { channelName: settings.channelName };
  usePresence(channel, { role: 'user', device: settings.device });
  const { presenceData } = usePresenceListener(channel);

  const codecIds = new Map(view.messages.map((entry) => [entry.message.id, entry.codecMessageId]));
  const runs = view.runs();
  const active = runs.filter((run) => run.status === 'active');
  const [input, setInput] = useState('');

  const send = (event) => {
    event.preventDefault();
    if (!input.trim()) return;
    void sendMessage({ text: input });
    setInput('');
  };
  const cancel = () => {
    for (const run of active) void session.cancel(run.runId).catch(report);
  };

  return (
    <section className="chat">
      <aside>
        <Presence members={presenceData} self={settings.clientId} />
        <RunsIndicator runs={active} members={presenceData} self={settings.clientId} />
      </aside>
      {view.loadError && (
        <p className="notice" data-testid="history-error">
          Earlier messages are not available on this device ({view.loadError.message}). New messages still
          arrive live.
        </p>
      )}
      {view.hasOlder && (
        <button type="button" data-testid="load-older" disabled={view.loading} onClick={() => void view.loadOlder()}>
          {view.loading ? 'loading…' : 'load older messages'}
        </button>
      )}
      <ol className="messages" data-testid="messages">
        {messages.map((message) => {
          const codecId = codecIds.get(message.id);
          const run = codecId ? view.runOf(codecId) : undefined;
          return (
            <Message
              key={message.id}
              message={message}
              run={run}
              branch={codecId && message.role === 'assistant' ? view.branchSelection(codecId) : undefined}
              onRegenerate={
                message.role === 'assistant' && active.length === 0
                  ? () => void regenerate({ messageId: message.id }).catch(report)
                  : undefined
              }
            />
          );
        })}
      </ol>
      {errors.map((text, i) => (
        <p key={i} className="notice error" data-testid="error">
          {text}
        </p>
      ))}
      <form className="composer" onSubmit={send}>
        <input
          data-testid="prompt"
          value={input}
          placeholder="Say something"
          onChange={(event) => setInput(event.target.value)}
        />
        <button type="submit" data-testid="send">
          Send
        </button>
        <button type="button" data-testid="cancel" disabled={active.length === 0} onClick={cancel}>
          Stop
        </button>
      </form>
    </section>
  );
};
